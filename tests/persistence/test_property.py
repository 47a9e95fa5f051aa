"""A persisted server and an in-memory twin, driven in lockstep, answer alike; restarts included.

Hypothesis draws a run of operations (log in, open/close online sessions, send
accepted, rejected and duplicate invoices, create/revoke/use KSeF tokens, grant
permissions, move the clock, reset the data, and RESTART the persisted one:
drop it and open a new state on its directory). Both get the same requests;
their answers must be the same, except for identifiers, which legitimately
differ (JWT and URL secrets always; reference and KSeF numbers after a
restart, whose random streams are re-seeded). Identifiers are compared as a
bijection: the first time one appears on each side the two are paired, and
from then on each side must keep using its partner (an invoice that comes
back under another KSeF number after a restart is a divergence).
"""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from mockksef import official
from mockksef.spec import Spec
from tests import kit
from tests.persistence.support import client_of, new_state
from tests.unit.test_permissions_backend import person_body

ACTORS = (kit.random_nip(1480), kit.random_nip(1481))
OTHER = "7352765225"
# Statuses that take time on the clock, so that reads settle things lazily (a session's
# UPO pages are numbered by the first status read after its processing time).
TIMINGS = {"online_close_seconds": 20, "invoice_processing_seconds": 2}
KINDS = ("new", "rejected", "fixed-1", "fixed-2")
PESELS = ("15062788702", "22271569167")

# Identifiers that may differ between the two servers, as they appear in answers
# (also inside URLs and KSeF tokens): JWTs, reference numbers, KSeF numbers,
# UUIDs, trace ids and hex secrets, URL signatures.
IDENTIFIER = re.compile(
    r"eyJ[\w-]+\.[\w-]+\.[\w-]+"
    r"|\d{8}-[A-Za-z]{2}-[0-9A-Fa-f]{10}-[0-9A-Fa-f]{10}-[0-9A-Fa-f]{2}"
    r"|\d{10}-\d{8}-[0-9A-F]{12}-[0-9A-F]{2}"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\b[0-9a-f]{16,}\b"
    r"|sig=[^&\"]+"
)


TIME_KEYS = ("dateCreated", "startDate", "permanentStorageDate", "acquisitionDate")


@functools.cache
def spec() -> Spec:
    return Spec.from_dir(official.locate())


SIGNATURE = re.compile(r"<ds:Signature\b.*?</ds:Signature>", re.DOTALL)


# The hash of the signed authentication request: it holds each server's own challenge.
AUTH_DOCUMENT = re.compile(r"(<SkrotDokumentuUwierzytelniajacego>)[^<]*")


def unsigned(text: str) -> str:
    return AUTH_DOCUMENT.sub(r"\1#", SIGNATURE.sub("<ds:Signature/>", text))


class Divergence(AssertionError):
    pass


class Pairing:
    """Identifiers of the persisted server <-> the twin's: a bijection built as they appear."""

    def __init__(self) -> None:
        self.ours: dict[str, str] = {}
        self.theirs: dict[str, str] = {}
        self.log: list[tuple[str, str]] = []  # pairs in the order made, to undo a trial

    def pair(self, ours: str, theirs: str, where: str) -> None:
        known, known_back = self.ours.get(ours), self.theirs.get(theirs)
        if known is None and known_back is None:
            self.ours[ours], self.theirs[theirs] = theirs, ours
            self.log.append((ours, theirs))
        elif known != theirs or known_back != ours:
            raise Divergence(
                f"{where}: persisted {ours!r} (paired with {known!r}) vs twin {theirs!r} "
                f"(paired with {known_back!r})"
            )

    def same(self, ours: Any, theirs: Any, where: str) -> None:
        if isinstance(ours, dict) and isinstance(theirs, dict):
            if sorted(ours) != sorted(theirs):
                raise Divergence(f"{where}: keys {sorted(ours)} vs {sorted(theirs)}")
            for key in ours:
                self.same(ours[key], theirs[key], f"{where}.{key}")
        elif isinstance(ours, list) and isinstance(theirs, list):
            if len(ours) != len(theirs):
                raise Divergence(f"{where}: {len(ours)} items vs {len(theirs)}")
            mark = len(self.log)
            try:
                for n, (a, b) in enumerate(zip(ours, theirs, strict=True)):
                    self.same(a, b, f"{where}[{n}]")
            except Divergence:
                self.undo(mark)
                self.same_ties_reordered(ours, theirs, where)
        elif isinstance(ours, str) and isinstance(theirs, str):
            a_ids, b_ids = IDENTIFIER.findall(ours), IDENTIFIER.findall(theirs)
            if IDENTIFIER.sub("#", ours) != IDENTIFIER.sub("#", theirs) or len(a_ids) != len(b_ids):
                raise Divergence(f"{where}: {ours!r} vs {theirs!r}")
            for a, b in zip(a_ids, b_ids, strict=True):
                self.pair(a, b, where)
        elif ours != theirs:
            raise Divergence(f"{where}: {ours!r} vs {theirs!r}")

    def undo(self, mark: int) -> None:
        """Forget the pairs made since ``mark`` (a trial match that failed)."""
        while len(self.log) > mark:
            ours, theirs = self.log.pop()
            del self.ours[ours], self.theirs[theirs]

    def same_ties_reordered(self, ours: list[Any], theirs: list[Any], where: str) -> None:
        """Lists ordered by time, ties broken by identifier (sessions, tokens, grants):
        after a restart, items of the same instant may come in another order. The
        times must still run alike; the items must match one to one."""
        if not all(isinstance(item, dict) for item in [*ours, *theirs]):
            raise Divergence(f"{where}: {ours!r} vs {theirs!r}")
        # The time the list is ordered by (the first of these its items carry) runs alike.
        key = next((k for k in TIME_KEYS if any(k in item for item in ours)), None)
        if key is None or [i.get(key) for i in ours] != [i.get(key) for i in theirs]:
            raise Divergence(f"{where}: {key} order {ours!r} vs {theirs!r}")
        left = list(range(len(theirs)))
        for n, item in enumerate(ours):
            for m in left:
                mark = len(self.log)
                try:
                    self.same(item, theirs[m], f"{where}[{n}]")
                except Divergence:
                    self.undo(mark)
                    continue
                left.remove(m)
                break
            else:
                raise Divergence(f"{where}[{n}]: no partner for {item!r} in {theirs!r}")

    def answers(self, ours: httpx.Response, theirs: httpx.Response, where: str) -> Any:
        if ours.status_code != theirs.status_code:
            raise Divergence(
                f"{where}: status {ours.status_code} vs {theirs.status_code}: "
                f"{ours.text[:300]} | {theirs.text[:300]}"
            )
        kind = ours.headers.get("content-type", "")
        if kind != theirs.headers.get("content-type", ""):
            raise Divergence(
                f"{where}: content-type {kind} vs {theirs.headers.get('content-type')}"
            )
        if "json" in kind:
            self.same(ours.json(), theirs.json(), where)
            return ours.json()
        # Signed documents (UPO): each server signs with its own key (from the OS).
        self.same(unsigned(ours.text), unsigned(theirs.text), where)
        return ours.content


@dataclass
class OnlineSession:
    actor: str
    ours: str
    theirs: str
    crypto: kit.Crypto


@dataclass
class Token:
    actor: str
    ours: tuple[str, str]  # reference number, token
    theirs: tuple[str, str]


class Side:
    """One server in-process: its state, its client, the access token of each actor."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self.stack = contextlib.ExitStack()
        self.state = new_state(directory, spec(), **TIMINGS)
        self.client = self.stack.enter_context(client_of(self.state))
        self.access: dict[str, dict[str, str]] = {}

    def close(self) -> None:
        self.stack.close()
        if self.state.persistence is not None:
            self.state.persistence.close()

    def restart(self) -> None:
        """Drop the state without a last commit (as a kill would) and open the directory again."""
        access = self.access
        self.close()
        self.__init__(self.directory)  # type: ignore[misc]
        self.access = access


class PersistedAndTwin(RuleBasedStateMachine):
    sessions = Bundle("sessions")
    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp(prefix="mockksef-twin-")
        self.ours = Side(self.directory)
        self.theirs = Side(None)
        self.pairing = Pairing()
        self.counter = 0
        self.restarts = 0
        self.steps = 0
        self.all_sessions: list[OnlineSession] = []
        self.invoices: list[tuple[OnlineSession, str, str]] = []  # (session, our ref, their ref)

    def teardown(self) -> None:
        event(f"{len(self.invoices)} invoices, {self.restarts} restarts, {self.steps} steps")
        try:
            self.observe_everything("teardown")
        finally:
            self.ours.close()
            self.theirs.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- doing the same on both ---------------------------------------------------------

    def both(
        self,
        method: str,
        path: str | tuple[str, str],
        actor: str | None = None,
        **kwargs: Any,
    ) -> tuple[httpx.Response, httpx.Response]:
        ours_path, theirs_path = (path, path) if isinstance(path, str) else path
        out = []
        for side, where in ((self.ours, ours_path), (self.theirs, theirs_path)):
            headers = side.access.get(actor, {}) if actor else {}
            out.append(side.client.request(method, where, headers=headers, **kwargs))
        return out[0], out[1]

    def same(
        self, method: str, path: str | tuple[str, str], actor: str | None = None, **kw: Any
    ) -> Any:
        ours, theirs = self.both(method, path, actor, **kw)
        return self.pairing.answers(ours, theirs, f"{method} {path}"), ours.status_code

    # -- rules ---------------------------------------------------------------------------

    @initialize(target=sessions, kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=3))
    def everyone_logged_in_with_a_session(self, kinds: list[str]) -> Any:
        """Both actors start logged in, with an open session each holding a few invoices
        (so that most rules apply at once, and a restart has invoices to give back)."""
        opened = []
        for actor in ACTORS:
            self.login(actor)
            session = self.open_for(actor)
            assert session is not None
            self.send_invoices(session, kinds)
            opened.append(session)
        return multiple(*opened)

    @rule(actor=st.sampled_from(ACTORS))
    def login(self, actor: str) -> None:
        ours = kit.xades_login(self.ours.client, actor)
        theirs = kit.xades_login(self.theirs.client, actor)
        self.pairing.same(ours.status, theirs.status, "login status")
        self.pairing.pair(ours.reference_number, theirs.reference_number, "login")
        self.ours.access[actor] = ours.headers
        self.theirs.access[actor] = theirs.headers

    @precondition(lambda self: self.ours.access)
    @rule(target=sessions, data=st.data())
    def open_session(self, data: st.DataObject) -> Any:
        actor = data.draw(st.sampled_from(sorted(self.ours.access)))
        opened = self.open_for(actor)
        return multiple() if opened is None else opened

    def open_for(self, actor: str) -> OnlineSession | None:
        crypto = kit.Crypto()
        opened = []
        for side in (self.ours, self.theirs):
            body = {"formCode": kit.FA3, "encryption": crypto.encryption(side.client)}
            opened.append(
                side.client.post("/sessions/online", json=body, headers=side.access[actor])
            )
        self.pairing.answers(*opened, "open session")
        if opened[0].status_code != 201:
            return None
        session = OnlineSession(
            actor, opened[0].json()["referenceNumber"], opened[1].json()["referenceNumber"], crypto
        )
        self.all_sessions.append(session)
        return session

    @rule(
        session=sessions,
        kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=3),
    )
    def send_invoices(self, session: OnlineSession, kinds: list[str]) -> None:
        for kind in kinds:
            self.send_invoice(session, kind)

    def send_invoice(self, session: OnlineSession, kind: str) -> None:
        self.counter += 1
        if kind == "new":
            xml = kit.fa3(session.actor, f"P{self.counter}")
        elif kind == "rejected":
            xml = kit.fa3(OTHER, f"P{self.counter}")  # seller is not the context: 410
        else:
            xml = kit.fa3(session.actor, kind)  # the second one is a duplicate (440)
        body = session.crypto.invoice_body(xml)
        path = (
            f"/sessions/online/{session.ours}/invoices",
            f"/sessions/online/{session.theirs}/invoices",
        )
        answer, status = self.same("POST", path, session.actor, json=body)
        if status == 401:
            # The access token expired (clock) or died (reset): a client logs in again.
            self.login(session.actor)
            answer, status = self.same("POST", path, session.actor, json=body)
        if status == 202:
            ours = self.ours.client.get(
                f"/sessions/{session.ours}/invoices/{answer['referenceNumber']}",
                headers=self.ours.access[session.actor],
            )
            theirs_ref = self.pairing.ours[answer["referenceNumber"]]
            theirs = self.theirs.client.get(
                f"/sessions/{session.theirs}/invoices/{theirs_ref}",
                headers=self.theirs.access[session.actor],
            )
            self.pairing.answers(ours, theirs, "invoice status")
            self.invoices.append((session, answer["referenceNumber"], theirs_ref))
            if self.restarts:
                event("an invoice sent after a restart")

    @rule(session=sessions)
    def close_session(self, session: OnlineSession) -> None:
        path = (
            f"/sessions/online/{session.ours}/close",
            f"/sessions/online/{session.theirs}/close",
        )
        self.same("POST", path, session.actor)

    @rule(session=sessions)
    def read_session(self, session: OnlineSession) -> None:
        """A status read (it may number the UPO pages), and the UPO pages it lists."""
        status, code = self.same(
            "GET", (f"/sessions/{session.ours}", f"/sessions/{session.theirs}"), session.actor
        )
        if code == 200:
            for page in (status.get("upo") or {}).get("pages", []):
                ours = page["referenceNumber"]
                path = (f"/sessions/{session.ours}/upo/{ours}", "")
                path = (path[0], f"/sessions/{session.theirs}/upo/{self.pairing.ours[ours]}")
                self.same("GET", path, session.actor)

    @precondition(lambda self: self.ours.access)
    @rule(target=tokens, data=st.data(), read_only=st.booleans())
    def create_token(self, data: st.DataObject, read_only: bool) -> Any:
        actor = data.draw(st.sampled_from(sorted(self.ours.access)))
        permissions = ["InvoiceRead"] if read_only else ["InvoiceRead", "InvoiceWrite"]
        body = {"permissions": permissions, "description": f"token {self.counter}"}
        ours, theirs = self.both("POST", "/tokens", actor, json=body)
        self.pairing.answers(ours, theirs, "create token")
        if ours.status_code != 202:
            return multiple()
        return Token(
            actor,
            (ours.json()["referenceNumber"], ours.json()["token"]),
            (theirs.json()["referenceNumber"], theirs.json()["token"]),
        )

    @rule(token=consumes(tokens))
    def revoke_token(self, token: Token) -> None:
        self.same("DELETE", (f"/tokens/{token.ours[0]}", f"/tokens/{token.theirs[0]}"), token.actor)

    @rule(token=tokens)
    def token_login(self, token: Token) -> None:
        started = [
            kit.start_token(side.client, secret, token.actor)
            for side, (_, secret) in ((self.ours, token.ours), (self.theirs, token.theirs))
        ]
        self.pairing.answers(*started, "token login")
        if started[0].status_code != 202:
            return
        statuses = [
            kit.auth_status(side.client, init)
            for side, init in zip((self.ours, self.theirs), started, strict=True)
        ]
        self.pairing.same(*statuses, "token login status")
        if statuses[0]["status"]["code"] != 200:
            return
        redeemed = [
            side.client.post(
                "/auth/token/redeem",
                headers=kit.bearer(init.json()["authenticationToken"]["token"]),
            )
            for side, init in zip((self.ours, self.theirs), started, strict=True)
        ]
        self.pairing.answers(*redeemed, "redeem")
        for side, answer in zip((self.ours, self.theirs), redeemed, strict=True):
            side.access[token.actor] = kit.bearer(answer.json()["accessToken"]["token"])

    @precondition(lambda self: self.ours.access)
    @rule(data=st.data(), pesel=st.sampled_from(PESELS), read=st.booleans())
    def grant(self, data: st.DataObject, pesel: str, read: bool) -> None:
        actor = data.draw(st.sampled_from(sorted(self.ours.access)))
        body = person_body(pesel, ["InvoiceRead"] if read else ["InvoiceWrite"])
        answer, status = self.same("POST", "/permissions/persons/grants", actor, json=body)
        if status == 202:
            theirs = self.pairing.ours[answer["referenceNumber"]]
            self.same(
                "GET",
                (
                    f"/permissions/operations/{answer['referenceNumber']}",
                    f"/permissions/operations/{theirs}",
                ),
                actor,
            )

    @rule(seconds=st.sampled_from([1, 30, 300, 901, 4 * 3600]))
    def advance_clock(self, seconds: int) -> None:
        self.same("POST", "http://testserver/_mock/clock", json={"advance": seconds})

    @rule()
    def reset(self) -> None:
        self.same("POST", "http://testserver/_mock/reset", params={"env": "test"})

    @rule(idle=st.sampled_from([0, 25]))
    def restart(self, idle: int) -> None:
        # Time passes (closed sessions finish), clients read statuses (GET only), and
        # the server goes down: what those reads showed must come back as it was.
        if idle:
            self.advance_clock(idle)
        for session in self.all_sessions:
            self.read_session(session)
        self.ours.restart()
        self.restarts += 1
        event(f"restart with {len(self.invoices)} invoices sent so far")
        self.observe_everything(f"after restart {self.restarts}")

    # -- what both must show alike ----------------------------------------------------------

    @invariant()
    def clocks_and_sessions_agree(self) -> None:
        self.steps += 1
        self.same("GET", "http://testserver/_mock/clock")
        for actor in sorted(self.ours.access):
            self.same("GET", "/sessions", actor, params={"sessionType": "Online", "pageSize": 100})

    def observe_everything(self, when: str) -> None:
        self.clocks_and_sessions_agree()
        for actor in sorted(self.ours.access):
            self.same("GET", "/tokens", actor)
            self.same(
                "POST",
                "/permissions/query/persons/grants",
                actor,
                json={"queryType": "PermissionsGrantedInCurrentContext"},
                params={"pageSize": 100},
            )
            self.same(
                "POST",
                "/invoices/query/metadata",
                actor,
                json={
                    "subjectType": "Subject1",
                    "dateRange": {"dateType": "Invoicing", "from": "2026-03-01T00:00:00Z"},
                },
                params={"pageSize": 250},
            )
        seen: set[str] = set()
        for session, ours, theirs in self.invoices:
            status, code = self.same(
                "GET",
                (
                    f"/sessions/{session.ours}/invoices/{ours}",
                    f"/sessions/{session.theirs}/invoices/{theirs}",
                ),
                session.actor,
            )
            if session.ours not in seen:
                seen.add(session.ours)
                self.same(
                    "GET",
                    (f"/sessions/{session.ours}", f"/sessions/{session.theirs}"),
                    session.actor,
                )
            if code == 200 and "ksefNumber" in status:
                number = status["ksefNumber"]
                self.same(
                    "GET",
                    (f"/invoices/ksef/{number}", f"/invoices/ksef/{self.pairing.ours[number]}"),
                    session.actor,
                )


PersistedAndTwin.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
    database=None,
    # No shrinking: a failing run stays as fast as a passing one; the steps are printed.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestPersistedAndTwin = PersistedAndTwin.TestCase
