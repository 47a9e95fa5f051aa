"""Hypothesis state machines that drive the client against the mock under faults.

Two workflows, each run with the sync and the async client (``test_stateful.py``):

* :class:`CredentialsMachine` — authenticate (certificate and KSeF token),
  generate / use / revoke tokens, grant a permission and use it, revoke the
  authentication session, let time pass (refresh, re-authentication), reset
  the mock's data;
* :class:`InvoiceMachine` — open, send (and re-send), close, poll, import new
  invoices (HWM checkpoint), import a period, export, revoke, reset.

Faults are drawn per rule (a list, one entry per request: connection refused,
timeouts, a lost answer, 429/5xx before or after the app) and injected by the
harness transport; ``sessions.send`` faults (21184) are armed in the mock.
Invariants, checked after every step:

* the client raises only its documented exceptions, and under faults only the
  transient ones (a budget spent), never a 400 caused by its own retry;
* waits follow ``Retry-After`` exactly, on the mock's virtual clock;
* no invoice is submitted twice in a session; no accepted invoice is lost;
* HWM import yields every visible invoice exactly once, and only invoices of
  the importing context (a credential never reaches another context's data);
* no KSeF token is left alive whose secret the client never received.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    precondition,
    rule,
)

from ksefclient import (
    TRANSIENT_ERRORS,
    Checkpoint,
    ContextIdentifier,
    DateRange,
    InvoiceQueryFilters,
    KsefAuthenticationError,
    KsefBadRequestError,
    KsefError,
    KsefTokenCredentials,
    OnlineSession,
)
from tests.client.support import (
    FAULT_KINDS,
    NIP_A,
    NIP_B,
    NIP_C,
    RETRY_AFTERS,
    START,
    TEST_RETRY,
    Fault,
    Harness,
    SocketHarness,
    check_retry_after,
    invoice,
)

CONTEXTS = (NIP_A, NIP_B)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fast")

# Fast enough for CI (the whole client suite well under a minute on 2 cores);
# HYPOTHESIS_PROFILE=deep digs much further.
FAST = settings(
    max_examples=12,
    stateful_step_count=14,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
DEEP = settings(
    max_examples=250,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SETTINGS = DEEP if PROFILE == "deep" else FAST


def _with_retry_after_on_429(fault: Fault) -> Fault:
    # KSeF always sends Retry-After with 429; 5xx may come without.
    return (
        fault if fault.status != 429 or fault.retry_after is not None else Fault(fault.kind, 429, 1)
    )


faults = st.builds(
    Fault,
    kind=st.sampled_from(FAULT_KINDS),
    status=st.sampled_from([429, 500, 502, 503, 504]),
    retry_after=st.one_of(st.none(), st.sampled_from(RETRY_AFTERS)),
).map(_with_retry_after_on_429)
# Mostly clean requests: a few faults per rule, so that the budget usually suffices.
fault_plans = st.lists(st.one_of(st.none(), st.none(), faults), max_size=6)


# Server-side faults through the mock's scenario engine: (operation glob, action).
SCENARIO_ACTIONS = [
    {"too_many_requests": {"retry_after": "2s"}},
    {"maintenance": {"retry_after": "5s"}},
    {"maintenance": True},
    {"server_error": {"status": 502}},
    {"server_error": True},
    {"reset_connection": True},
    {"close": True},
    {"truncate": {"bytes": 12}},
    {"delay": "2m"},
    {"expire_tokens": True},
    {"revoke_sessions": True},
]


# Effects that change state for everyone fire once; answers may repeat.
_ONCE = ("expire_tokens", "revoke_sessions")


def _scenario(rules: list[tuple[str, dict[str, Any], float]], number: int) -> dict[str, Any]:
    return {
        "name": f"property-faults-{number}",
        "rules": [
            {
                "when": {
                    "operation": op,
                    "probability": p,
                    "times": 1 if any(k in action for k in _ONCE) else 2,
                },
                "then": action,
            }
            for op, action, p in rules
        ],
    }


class Unexpected(AssertionError):
    pass


@dataclass
class Outcome:
    value: Any = None
    error: KsefError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ClientMachine(RuleBasedStateMachine):
    """The shared part: a harness, clients per context, the checked call wrapper."""

    kind = "sync"
    # Set to a running ThreadedServer to run the machine over a real socket.
    server: Any = None

    def __init__(self) -> None:
        super().__init__()
        if self.server is not None:
            self.server.state.reset()
            self.server.state.clock.set(START)
            self.harness: Harness = SocketHarness(self.kind, self.server)
        else:
            self.harness = Harness(self.kind)
        self.generation = 0
        self.scenario: tuple[dict[str, Any], int] | None = None
        self.clients = {nip: self.harness.client(nip) for nip in CONTEXTS}

    def teardown(self) -> None:
        self.harness.close()

    @property
    def env(self) -> Any:
        return self.harness.state.env("test")

    def call(
        self,
        plan: list[Fault | None],
        fn: Any,
        *args: Any,
        allowed: tuple[type, ...] = (),
        **kwargs: Any,
    ) -> Outcome:
        """Run one client call under ``plan``; only documented outcomes may come out."""
        self.harness.plan.log.clear()
        self.harness.plan.load(self.adapt(plan))
        try:
            return Outcome(value=fn(*args, **kwargs))
        except TRANSIENT_ERRORS as error:
            return Outcome(error=error)
        except KsefError as error:
            if isinstance(error, allowed):
                return Outcome(error=error)
            raise Unexpected(f"{type(error).__name__}: {error}") from error
        finally:
            self.harness.plan.load([])
            check_retry_after(self.harness.plan.log, TEST_RETRY.max_retry_after)

    def call_on(
        self, plan: list[Fault | None], gone: bool, codes: tuple[int, ...], fn: Any, *args: Any
    ) -> Outcome:
        """A call on something the machine knows may be gone (a reset, a close): only then
        may KSeF refuse it, with a 400 of one of ``codes``."""
        outcome = self.call(plan, fn, *args, allowed=(KsefBadRequestError,) if gone else ())
        if isinstance(outcome.error, KsefBadRequestError):
            assert outcome.error.code in codes, outcome.error
        return outcome

    def adapt(self, plan: list[Fault | None]) -> list[Fault | None]:
        """Hook for hunting subclasses (see ``hunting``)."""
        return plan

    def clean(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """A call with no faults that must succeed (for the machine's own checks)."""
        scenarios = self.harness.state.scenarios
        scenarios.deactivate_all()
        try:
            outcome = self.call([], fn, *args, **kwargs)
        finally:
            if self.scenario is not None:  # the server-side faults resume afterwards
                # A fresh seed: the same one would replay the same draws, and the mock's
                # expire_tokens would rotate to a JWT secret it already used (reported).
                scenario, seed = self.scenario
                self.scenario = (scenario, seed + 1)
                scenarios.activate(scenario, seed=seed + 1)
        assert outcome.ok, f"a clean call failed: {outcome.error}"
        return outcome.value

    @rule(seconds=st.sampled_from([1, 30, 600, 1000, 4000, 8 * 24 * 3600]))
    def time_passes(self, seconds: int) -> None:
        """Access tokens expire (15 min), refresh tokens too (7 days)."""
        self.harness.clock.advance(seconds)

    # Operation globs the scenario rules of this machine may hit.
    scenario_operations: tuple[str, ...] = ("auth.*", "certificates.public_keys")

    @rule(data=st.data(), seed=st.integers(0, 2**16), extra=st.sampled_from(["none", "rotate"]))
    def server_side_faults(self, data: st.DataObject, seed: int, extra: str) -> None:
        """Activate a scenario of random server-side faults (seeded: the mock draws them)."""
        rules = data.draw(
            st.lists(
                st.tuples(
                    st.sampled_from(self.scenario_operations),
                    st.sampled_from(SCENARIO_ACTIONS),
                    st.sampled_from([0.2, 0.5]),
                ),
                min_size=1,
                max_size=3,
                # One rule per kind of action: two token expiries plus a data reset
                # inside one call would outlast any bounded client (it renews twice).
                unique_by=lambda r: next(iter(r[1])),
            )
        )
        scenario = _scenario(rules, seed)
        if extra == "rotate":
            # Key rotation at most once per scenario: a second 21470 inside one call is fatal.
            usage = data.draw(st.sampled_from(["SymmetricKeyEncryption", "KsefTokenEncryption"]))
            scenario["rules"].append(
                {
                    "when": {"operation": "*", "times": 1},
                    "then": {"rotate_keys": {"usage": usage, "emergency": True}},
                }
            )
        scenarios = self.harness.state.scenarios
        scenarios.deactivate_all()
        scenarios.activate(scenario, seed=seed)
        self.scenario = (scenario, seed)

    @rule()
    def calm(self) -> None:
        self.harness.state.scenarios.deactivate_all()
        self.scenario = None

    @rule(nip=st.sampled_from(CONTEXTS), plan=fault_plans)
    def revoke_authentication(self, nip: str, plan: list[Fault | None]) -> None:
        client = self.clients[nip]
        if client.tokens is None:
            return
        self.call(plan, client.revoke_auth_session)


# -- credentials ------------------------------------------------------------------------------


@dataclass
class TokenModel:
    nip: str
    reference_number: str
    secret: str
    permissions: tuple[str, ...]
    generation: int
    revoked: bool = False


class CredentialsMachine(ClientMachine):
    tokens = Bundle("tokens")
    scenario_operations = ("auth.*", "tokens.*", "limits.*", "permissions.*")

    def __init__(self) -> None:
        super().__init__()
        self.counter = itertools.count(1)
        self.known: dict[str, TokenModel] = {}

    @rule(nip=st.sampled_from(CONTEXTS), plan=fault_plans)
    def authenticate(self, nip: str, plan: list[Fault | None]) -> None:
        outcome = self.call(plan, self.clients[nip].authenticate)
        if outcome.ok:
            assert outcome.value.context == ContextIdentifier("Nip", nip)

    @rule(nip=st.sampled_from(CONTEXTS), plan=fault_plans)
    def read_limits(self, nip: str, plan: list[Fault | None]) -> None:
        outcome = self.call(plan, self.clients[nip].context_limits)
        if outcome.ok:
            assert outcome.value.online_session.max_invoices > 0

    @rule(
        target=tokens,
        nip=st.sampled_from(CONTEXTS),
        permissions=st.sampled_from(
            [("InvoiceRead",), ("InvoiceWrite",), ("InvoiceRead", "CredentialsRead")]
        ),
        plan=fault_plans,
    )
    def generate_token(
        self, nip: str, permissions: tuple[str, ...], plan: list[Fault | None]
    ) -> Any:
        description = f"Token własności {next(self.counter)}"
        outcome = self.call(plan, self.clients[nip].generate_token, list(permissions), description)
        live = self._live_tokens(nip, description)
        if not outcome.ok:
            # Only the last, abandoned attempt can have left a token behind.
            assert len(live) <= 1, f"orphaned tokens: {live}"
            return multiple()
        generated = outcome.value
        assert live == [generated.reference_number], f"orphaned tokens next to ours: {live}"
        model = TokenModel(
            nip, generated.reference_number, generated.token, permissions, self.generation
        )
        self.known[model.reference_number] = model
        return model

    def _live_tokens(self, nip: str, description: str) -> list[str]:
        with self.env.tokens._lock:  # white box: the mock's own records
            records = list(self.env.tokens.tokens.values())
        return [
            t.reference_number
            for t in records
            if t.description == description
            and self.env.tokens._refresh(t).status in ("Pending", "Active")
            and t.context == type(t.context)("Nip", nip)
        ]

    @rule(token=tokens, plan=fault_plans)
    def authenticate_with_token(self, token: TokenModel, plan: list[Fault | None]) -> None:
        client = self.harness.client(None, credentials=KsefTokenCredentials(token.secret))
        outcome = self.call(plan, client.authenticate, allowed=(KsefAuthenticationError,))
        usable = not token.revoked and token.generation == self.generation
        if isinstance(outcome.error, KsefAuthenticationError):
            assert not usable, f"a live token was refused: {outcome.error}"
            assert outcome.error.code == 450
        elif outcome.ok:
            assert usable, "a revoked or reset token authenticated"
            assert set(outcome.value.permissions) == set(token.permissions)
            assert outcome.value.context == ContextIdentifier("Nip", token.nip)

    @rule(token=consumes(tokens), plan=fault_plans)
    def revoke_token(self, token: TokenModel, plan: list[Fault | None]) -> None:
        stale = token.generation != self.generation
        revoke = self.clients[token.nip].revoke_token
        # 21405: the reset forgot the token.
        outcome = self.call_on(plan, stale, (21405,), revoke, token.reference_number)
        if outcome.ok:
            token.revoked = True

    @rule(nip=st.sampled_from(CONTEXTS))
    def tokens_stay_in_their_context(self, nip: str) -> None:
        listed = self.clean(self.clients[nip].list_tokens)
        assert all(t.context_identifier == ContextIdentifier("Nip", nip) for t in listed)
        other = NIP_B if nip == NIP_A else NIP_A
        foreign = [
            m for m in self.known.values() if m.nip == other and m.generation == self.generation
        ]
        for model in foreign[:2]:
            outcome = self.call(
                [], self.clients[nip].get_token, model.reference_number, allowed=(KsefError,)
            )
            assert not outcome.ok, "a credential read another context's token"

    @rule(owner=st.sampled_from(CONTEXTS), plan=fault_plans)
    def delegate_and_use(self, owner: str, plan: list[Fault | None]) -> None:
        """The owner grants InvoiceRead to the other NIP, who then works in the owner's context."""
        delegate_nip = NIP_B if owner == NIP_A else NIP_A
        outcome = self.call(
            plan,
            self.clients[owner].grant_person_permissions,
            ContextIdentifier("Nip", delegate_nip),
            ["InvoiceRead"],
            "Uprawnienie z maszyny stanów",
        )
        if not outcome.ok:
            return
        delegate = self.harness.client(owner, cert_nip=delegate_nip)
        tokens = self.clean(delegate.authenticate)
        assert tokens.context == ContextIdentifier("Nip", owner)
        assert "InvoiceRead" in tokens.permissions and "Owner" not in tokens.permissions

    @rule()
    def reset(self) -> None:
        """A data reset: every JWT and KSeF token dies; certificate clients recover."""
        self.harness.state.reset("test")
        self.generation += 1


# -- invoices -----------------------------------------------------------------------------------


@dataclass
class SessionModel:
    nip: str
    session: OnlineSession
    generation: int
    acked: dict[str, str] = field(default_factory=dict)  # invoice number -> reference
    uncertain: dict[str, bytes] = field(default_factory=dict)  # invoice number -> document
    documents: dict[str, bytes] = field(default_factory=dict)
    closing: bool = False  # a close was attempted (sends may then meet 21180)
    closed: bool = False  # the client confirmed the close


class InvoiceMachine(ClientMachine):
    sessions = Bundle("sessions")
    scenario_operations = (
        "auth.*",
        "certificates.public_keys",
        "sessions.open_online",
        "sessions.send_invoice",
        "sessions.close_online",
        "sessions.invoices",
        "sessions.status",
        "invoices.*",
    )

    def __init__(self) -> None:
        super().__init__()
        self.counter = itertools.count(1)
        self.all_sessions: list[SessionModel] = []
        self.checkpoints = {
            (nip, subject): Checkpoint.start(START - timedelta(days=1), subject)
            for nip in CONTEXTS
            for subject in ("Subject1", "Subject2")
        }
        self.imported: dict[tuple[str, str], list[str]] = {key: [] for key in self.checkpoints}

    # -- rules ------------------------------------------------------------------------------

    @rule(target=sessions, nip=st.sampled_from(CONTEXTS), plan=fault_plans)
    def open_session(self, nip: str, plan: list[Fault | None]) -> Any:
        outcome = self.call(plan, self.clients[nip].open_online_session)
        if not outcome.ok:
            return multiple()
        model = SessionModel(nip, outcome.value, self.generation)
        self.all_sessions.append(model)
        return model

    def _expired(self, model: SessionModel) -> bool:
        valid_until = model.session.valid_until
        return valid_until is not None and self.harness.clock.now() >= valid_until

    def _send(
        self, model: SessionModel, number: str, document: bytes, plan: list[Fault | None]
    ) -> None:
        closed = model.generation != self.generation or model.closing or self._expired(model)
        send = self.clients[model.nip].send_invoice
        outcome = self.call_on(plan, closed, (21173, 21180), send, model.session, document)
        if isinstance(outcome.error, KsefBadRequestError):
            return
        if outcome.ok:
            model.acked[number] = outcome.value.reference_number
            model.uncertain.pop(number, None)
        else:
            model.uncertain[number] = document

    @rule(
        target=sessions,
        nip=st.sampled_from(CONTEXTS),
        buyers=st.lists(st.sampled_from([NIP_A, NIP_B, NIP_C]), min_size=1, max_size=3),
        plans=st.lists(fault_plans, min_size=6, max_size=6),
        finish=st.booleans(),
    )
    def open_and_send(
        self, nip: str, buyers: list[str], plans: list[list[Fault | None]], finish: bool
    ) -> Any:
        """The everyday path: a session, a few invoices, maybe close and wait (faults everywhere)."""
        model = self.open_session(nip, plans[0])
        if not isinstance(model, SessionModel):
            return model
        for buyer, plan in zip(buyers, plans[1:4], strict=False):
            self.send(model, buyer, plan, False)
        if not finish:
            return model
        self.close(model, plans[4])
        self.poll(nip, plans[5])
        return multiple()

    @rule(
        session=sessions,
        buyer=st.sampled_from([NIP_A, NIP_B, NIP_C]),
        plan=fault_plans,
        paused=st.booleans(),
    )
    def send(
        self, session: SessionModel, buyer: str, plan: list[Fault | None], paused: bool
    ) -> None:
        number = f"FV/{next(self.counter)}"
        document = invoice(session.nip, number, buyer=buyer)
        session.documents[number] = document
        if paused and session.generation == self.generation:
            # KSeF pauses the session once (21184); the client waits and retries.
            self.env.sessions.arm_fault("send", 21184, ContextIdentifier("Nip", session.nip))
        self._send(session, number, document, plan)
        self.env.sessions.disarm_faults()

    @precondition(lambda self: any(m.uncertain or m.acked for m in self.all_sessions))
    @rule(data=st.data(), plan=fault_plans)
    def send_again(self, data: st.DataObject, plan: list[Fault | None]) -> None:
        """The caller re-sends an invoice (after an error, or by mistake): never a second submission."""
        candidates = [m for m in self.all_sessions if m.uncertain or m.acked]
        model = data.draw(st.sampled_from(candidates))
        numbers = sorted({*model.uncertain, *model.acked})
        number = data.draw(st.sampled_from(numbers))
        before = model.acked.get(number)
        self._send(model, number, model.documents[number], plan)
        if before is not None and number in model.acked:
            assert model.acked[number] == before

    @rule(session=consumes(sessions), plan=fault_plans)
    def close(self, session: SessionModel, plan: list[Fault | None]) -> None:
        stale = session.generation != self.generation
        session.closing = True
        close = self.clients[session.nip].close_online_session
        outcome = self.call_on(plan, stale, (21173,), close, session.session)
        session.closed = outcome.ok

    @rule(nip=st.sampled_from(CONTEXTS), plan=fault_plans)
    def poll(self, nip: str, plan: list[Fault | None]) -> None:
        """Wait for the closed sessions; every acknowledged invoice is then accepted and stored."""
        for model in self.all_sessions:
            if model.nip != nip or not model.closed or model.generation != self.generation:
                continue
            outcome = self.call(
                plan, self.clients[nip].wait_for_session, model.session.reference_number
            )
            if not outcome.ok:
                continue
            if outcome.value.status.code == 100:
                continue  # the close itself was abandoned; still open
            statuses = self.clean(
                self.clients[nip].session_invoices, model.session.reference_number
            )
            by_reference = {s.reference_number: s for s in statuses}
            for number, reference in model.acked.items():
                status = by_reference[reference]
                assert status.is_accepted, f"{number}: {status.status}"
                assert self.env.invoices.get(status.ksef_number) is not None, f"{number} lost"

    @rule(
        nip=st.sampled_from(CONTEXTS),
        subject=st.sampled_from(["Subject1", "Subject2"]),
        plan=fault_plans,
    )
    def import_new(self, nip: str, subject: str, plan: list[Fault | None]) -> None:
        key = (nip, subject)
        outcome = self.call(plan, self.clients[nip].import_new, self.checkpoints[key])
        if not outcome.ok:
            return
        result = outcome.value
        for item in result.invoices:
            stored = self.env.invoices.get(item.ksef_number)
            assert stored is not None
            party = stored.seller_nip if subject == "Subject1" else stored.buyer_identifier[1]
            assert party == nip, f"{nip} imported {item.ksef_number} of another context"
            assert item.xml == stored.xml, "the imported document differs from the stored one"
        self.imported[key] += [i.ksef_number for i in result.invoices]
        self.checkpoints[key] = Checkpoint.from_json(result.checkpoint.to_json())

    @rule(nip=st.sampled_from(CONTEXTS), plan=fault_plans)
    def import_period(self, nip: str, plan: list[Fault | None]) -> None:
        outcome = self.call(
            plan, self.clients[nip].import_period, START - timedelta(days=2), fetch_xml=False
        )
        if outcome.ok:
            numbers = [i.ksef_number for i in outcome.value]
            assert len(numbers) == len(set(numbers))
            assert all(self.env.invoices.get(n).seller_nip == nip for n in numbers)

    @rule(nip=st.sampled_from(CONTEXTS), plan=fault_plans)
    def export(self, nip: str, plan: list[Fault | None]) -> None:
        filters = InvoiceQueryFilters(
            "Subject1", DateRange("PermanentStorage", START - timedelta(days=1))
        )
        outcome = self.call(plan, self.clients[nip].export_invoices, filters)
        if outcome.ok:
            for number, document in outcome.value.invoices.items():
                stored = self.env.invoices.get(number)
                assert stored is not None and stored.seller_nip == nip
                assert document == stored.xml

    @rule()
    def reset(self) -> None:
        self.harness.state.reset("test")
        self.generation += 1
        self.imported = {key: [] for key in self.imported}

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def no_invoice_is_submitted_twice_in_a_session(self) -> None:
        for session in list(self.env.sessions.sessions.values()):
            counts = Counter(i.invoice_hash for i in session.invoices)
            doubled = [h for h, n in counts.items() if n > 1]
            assert not doubled, f"session {session.reference_number} received {doubled} twice"

    @invariant()
    def imports_never_repeat_an_invoice(self) -> None:
        for key, numbers in self.imported.items():
            assert len(numbers) == len(set(numbers)), f"{key} imported an invoice twice"

    def teardown(self) -> None:
        try:
            self._final_import_is_complete()
        finally:
            super().teardown()

    def _final_import_is_complete(self) -> None:
        """After time passes, one more import brings exactly the invoices not yet imported."""
        self.harness.clock.advance(1)
        for (nip, subject), checkpoint in self.checkpoints.items():
            result = self.clean(self.clients[nip].import_new, checkpoint, fetch_xml=False)
            numbers = self.imported[(nip, subject)] + [i.ksef_number for i in result.invoices]
            assert len(numbers) == len(set(numbers)), f"{nip}/{subject}: imported twice"
            store = self.env.invoices.invoices
            visible = {
                store.row(i).ksef_number
                for i in range(store.count())
                if (
                    store.row(i).seller_nip
                    if subject == "Subject1"
                    else store.row(i).buyer_identifier[1]
                )
                == nip
            }
            assert set(numbers) == visible, f"{nip}/{subject}: imported {set(numbers)} != {visible}"


def with_kind(machine: type[ClientMachine], kind: str, server: Any = None) -> type[ClientMachine]:
    lane = "Socket" if server is not None else ""
    return type(
        f"{machine.__name__}{kind.title()}{lane}", (machine,), {"kind": kind, "server": server}
    )


def hunting(machine: type[ClientMachine]) -> type[ClientMachine]:
    """The machine with every injected fault turned into a lost answer (the double-send trap).

    Used to show that an injected bug is found reliably: drawn plans keep their
    shape (and shrink the same way), only the fault kind is fixed.
    """

    def adapt(self: ClientMachine, plan: list[Fault | None]) -> list[Fault | None]:
        return [None if f is None else Fault("lost") for f in plan]

    return type(f"Hunting{machine.__name__}", (machine,), {"adapt": adapt})
