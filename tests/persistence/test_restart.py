"""A restart on the same ``--data`` directory gives back what clients were told.

In-process: a realistic morning (XAdES and KSeF-token logins, a token revoked,
a permission granted, an online session with an accepted and a rejected
invoice, a batch session, an export, a limits override, the clock moved, a
catalogue scenario active), then the state is dropped and a new one opened on
the same directory. Everything a client can read about what was made must read
the same afterwards, with the JWTs issued before; new invoices get new numbers,
an HWM synchronisation across the restart sees every invoice once, and a data
reset stays a reset.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mockksef.clock import format_datetime
from mockksef.persistence.snapshots import Snapshots
from mockksef.services.invoices.store import is_valid_ksef_number
from tests import kit
from tests.api.test_certificates import enroll
from tests.conftest import bearer, legacy_codes, mint_access_token
from tests.persistence.support import answer, metadata_page, opened
from tests.unit.test_permissions_backend import person_body

OTHER = "7352765225"
LEGACY = "http://testserver/api/online/Session/AuthorisationChallenge"


class World:
    """What the test made, by the identifiers the API gave for it."""

    def __init__(self, nip: str) -> None:
        self.nip = nip
        self.headers: dict[str, str] = {}
        self.token_headers: dict[str, str] = {}
        self.refresh_token = ""
        self.sessions: list[str] = []
        self.invoice_refs: list[tuple[str, str]] = []  # (session, invoice reference)
        self.ksef: dict[str, bytes] = {}  # KSeF number -> the XML sent
        self.tokens: list[str] = []
        self.ksef_token = ""
        self.exports: list[str] = []
        self.auth_refs: list[str] = []


def make_a_morning(client: Any, state: Any, world: World) -> None:
    nip = world.nip
    owner = kit.xades_login(client, nip)
    world.headers = owner.headers
    world.refresh_token = owner.refresh_token
    world.auth_refs.append(owner.reference_number)

    # A KSeF token, used to log in; a second one revoked.
    created = kit.create_ksef_token(client, owner, ["InvoiceRead", "InvoiceWrite"])
    world.tokens.append(created["referenceNumber"])
    world.ksef_token = created["token"]
    by_token = kit.token_login(client, created["token"], nip)
    world.token_headers = by_token.headers
    world.auth_refs.append(by_token.reference_number)
    doomed = kit.create_ksef_token(client, owner, ["InvoiceRead"], "do odwołania")
    world.tokens.append(doomed["referenceNumber"])
    assert (
        client.delete(f"/tokens/{doomed['referenceNumber']}", headers=owner.headers).status_code
        == 204
    )

    # A permission for a person.
    granted = client.post("/permissions/persons/grants", json=person_body(), headers=owner.headers)
    assert granted.status_code == 202, granted.text

    # Online: two accepted, one rejected (seller is not the context: 410), closed.
    crypto = kit.Crypto()
    online = kit.open_online(client, world.token_headers, crypto)
    world.sessions.append(online)
    for xml in (kit.fa3(nip, "R1"), kit.fa3(nip, "R2"), kit.fa3(OTHER, "R3")):
        ref = kit.send_ok(client, world.token_headers, online, crypto, xml)
        world.invoice_refs.append((online, ref))
        status = kit.invoice_status(client, world.token_headers, online, ref)
        if status["status"]["code"] == 200:
            world.ksef[status["ksefNumber"]] = xml
    assert len(world.ksef) == 2
    closed = client.post(f"/sessions/online/{online}/close", headers=world.token_headers)
    assert closed.status_code == 204

    # An online session left open, with one invoice.
    crypto2 = kit.Crypto()
    still_open = kit.open_online(client, owner.headers, crypto2)
    world.sessions.append(still_open)
    xml = kit.fa3(nip, "R4")
    ref = kit.send_ok(client, owner.headers, still_open, crypto2, xml)
    world.invoice_refs.append((still_open, ref))
    world.ksef[kit.invoice_status(client, owner.headers, still_open, ref)["ksefNumber"]] = xml

    # A batch of two.
    files = {"b1.xml": kit.fa3(nip, "B1"), "b2.xml": kit.fa3(nip, "B2")}
    batch = kit.send_batch(client, owner.headers, files)
    world.sessions.append(batch)
    listed = client.get(f"/sessions/{batch}/invoices", headers=owner.headers).json()
    by_number = {"FA/GRQMB-B1/05/2025": files["b1.xml"], "FA/GRQMB-B2/05/2025": files["b2.xml"]}
    for item in listed["invoices"]:
        assert item["status"]["code"] == 200, item
        world.ksef[item["ksefNumber"]] = by_number[item["invoiceNumber"]]
        world.invoice_refs.append((batch, item["referenceNumber"]))
    assert len(world.ksef) == 5

    # An export of everything so far.
    export = client.post(
        "/invoices/exports",
        headers=owner.headers,
        json={
            "encryption": kit.Crypto().encryption(client, with_key_id=False),
            "filters": since(state, "Subject1", timedelta(days=1)),
        },
    )
    assert export.status_code == 201, export.text
    world.exports.append(export.json()["referenceNumber"])

    # Limits override.
    limits = kit.session_limits(online=(2, 4, 77), batch=(3, 5, 88))
    assert (
        client.post(
            "/testdata/limits/context/session", json=limits, headers=owner.headers
        ).status_code
        == 200
    )

    # The clock moves (an admin request: committed like any other answer).
    moved = client.post(
        "http://testserver/_mock/clock", json={"advance": 300}
    )  # JWTs live 15 minutes
    assert moved.status_code == 200, moved.text

    # A catalogue scenario; an in-process call is no request, so commit it by hand.
    state.scenarios.activate("legacy-api-retired")
    state.commit()
    assert client.get(LEGACY).status_code == 410


def since(state: Any, subject: str, back: timedelta, **extra: Any) -> dict[str, Any]:
    return {
        "subjectType": subject,
        "dateRange": {
            "dateType": "PermanentStorage",
            "from": format_datetime(state.clock.now() - back),
            **extra,
        },
    }


def observe(client: Any, world: World) -> dict[str, Any]:
    """Every answer a client can read about what ``world`` holds (reads only, old JWTs)."""
    h = world.headers
    seen: dict[str, Any] = {}

    def get(key: str, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        seen[key] = answer(client.get(path, headers=h if headers is None else headers, **params))
        return seen[key][1]

    for number in world.ksef:
        get(f"download {number}", f"/invoices/ksef/{number}")
    for session in world.sessions:
        status = get(f"session {session}", f"/sessions/{session}")
        get(f"session invoices {session}", f"/sessions/{session}/invoices")
        get(f"session failed {session}", f"/sessions/{session}/invoices/failed")
        for page in (status.get("upo") or {}).get("pages", []):
            get(
                f"upo {page['referenceNumber']}",
                f"/sessions/{session}/upo/{page['referenceNumber']}",
            )
            seen[f"upo link {page['referenceNumber']}"] = answer(
                client.get(page["downloadUrl"], headers={})
            )
    for session, ref in world.invoice_refs:
        status = get(f"invoice status {ref}", f"/sessions/{session}/invoices/{ref}")
        assert isinstance(status.get("status"), dict), (session, ref, status)
        if status["status"]["code"] == 200:
            get(f"invoice upo {ref}", f"/sessions/{session}/invoices/{ref}/upo")
            seen[f"invoice upo link {ref}"] = answer(
                client.get(status["upoDownloadUrl"], headers={})
            )
    for kind in ("Online", "Batch"):
        get(f"sessions {kind}", "/sessions", params={"sessionType": kind, "pageSize": 100})
    get("tokens", "/tokens")
    for ref in world.tokens:
        get(f"token {ref}", f"/tokens/{ref}")
    get("auth sessions", "/auth/sessions", headers=world.token_headers)
    for ref in world.exports:
        get(f"export {ref}", f"/invoices/exports/{ref}")
    get("limits", "/limits/context")
    seen["grants"] = answer(
        client.post(
            "/permissions/query/persons/grants",
            json={"queryType": "PermissionsGrantedInCurrentContext"},
            headers=h,
        )
    )
    seen["metadata"] = answer(
        client.post(
            "/invoices/query/metadata",
            json={
                "subjectType": "Subject1",
                "dateRange": {"dateType": "Invoicing", "from": "2026-03-01T00:00:00Z"},
            },
            params={"pageSize": 100},
            headers=h,
        )
    )
    seen["clock"] = answer(client.get("http://testserver/_mock/clock"))
    scenarios = client.get("http://testserver/_mock/scenarios").json()
    seen["scenarios active"] = [s if isinstance(s, str) else s["name"] for s in scenarios["active"]]
    seen["legacy"] = client.get(LEGACY).status_code
    return seen


def test_a_restart_gives_back_everything_clients_were_told(tmp_path, spec) -> None:  # type: ignore[no-untyped-def]
    world = World(kit.random_nip(1401))
    with opened(tmp_path, spec) as (client, state):
        make_a_morning(client, state, world)
        before = observe(client, world)
        clock_before = state.clock.now()

    # Sanity of what is compared: it holds what the morning made.
    assert sum(1 for k in before if k.startswith("download ")) == 5
    assert before["legacy"] == 410 and before["scenarios active"] == ["legacy-api-retired"]
    statuses = [
        before[f"invoice status {ref}"][1]["status"]["code"] for _, ref in world.invoice_refs
    ]
    assert sorted(statuses) == [200, 200, 200, 200, 200, 410]
    tokens = {before[f"token {ref}"][1]["status"] for ref in world.tokens}
    assert tokens == {"Active", "Revoked"}, tokens
    assert len(before["grants"][1]["permissions"]) == 2
    assert before["export " + world.exports[0]][1]["package"]["invoiceCount"] == 5
    assert before["limits"][1]["onlineSession"]["maxInvoices"] == 77

    with opened(tmp_path, spec) as (client, state):
        assert set(state.persistence.restored) == {"test", "demo", "prod"}
        assert state.clock.now() == clock_before
        after = observe(client, world)
        assert sorted(after) == sorted(before)
        for key in before:
            assert after[key] == before[key], key
        for number, xml in world.ksef.items():
            assert after[f"download {number}"] == (200, xml)

        # The JWTs issued before the restart still work for writes; a refresh too; the
        # KSeF token still logs in.
        refreshed = client.post("/auth/token/refresh", headers=kit.bearer(world.refresh_token))
        assert refreshed.status_code == 200, refreshed.text
        again = kit.token_login(client, world.ksef_token, world.nip)
        assert again.access_token

        # New invoices get new, unique numbers (and nothing old is overwritten).
        crypto = kit.Crypto()
        online = kit.open_online(client, world.token_headers, crypto)
        fresh: dict[str, bytes] = {}
        for i in range(5):
            xml = kit.fa3(world.nip, f"N{i}")
            ref = kit.send_ok(client, world.token_headers, online, crypto, xml)
            status = kit.invoice_status(client, world.token_headers, online, ref)
            assert status["status"]["code"] == 200, status
            assert is_valid_ksef_number(status["ksefNumber"])
            fresh[status["ksefNumber"]] = xml
            assert ref not in {r for _, r in world.invoice_refs}
        assert online not in world.sessions
        assert len(fresh) == 5 and not set(fresh) & set(world.ksef)
        # Filed after a reported HWM (the metadata query above): stored just past it.
        state.clock.advance(1)
        for number, xml in {**world.ksef, **fresh}.items():
            got = client.get(f"/invoices/ksef/{number}", headers=world.headers)
            assert answer(got) == (200, xml), (number, got.text)
        # A duplicate of an invoice filed before the restart is still a duplicate.
        dup = kit.send_ok(client, world.token_headers, online, crypto, kit.fa3(world.nip, "R1"))
        status = kit.invoice_status(client, world.token_headers, online, dup)["status"]
        assert status["code"] == 440, status


def sync(client: Any, headers: dict[str, str], cursor: str, seen: list[str]) -> str:
    stored_since = {
        "dateType": "PermanentStorage",
        "from": cursor,
        "restrictToPermanentStorageHwmDate": True,
    }
    offset = 0
    while True:
        page = metadata_page(client, headers, stored_since, offset, 10)
        seen.extend(i["ksefNumber"] for i in page["invoices"])
        if not page["hasMore"]:
            return page["permanentStorageHwmDate"]  # type: ignore[no-any-return]
        offset += 1


def send_some(client: Any, headers: dict[str, str], nip: str, tag: str, n: int) -> list[str]:
    crypto = kit.Crypto()
    ref = kit.open_online(client, headers, crypto)
    refs = [kit.send_ok(client, headers, ref, crypto, kit.fa3(nip, f"{tag}{i}")) for i in range(n)]
    numbers = [kit.invoice_status(client, headers, ref, r)["ksefNumber"] for r in refs]
    assert client.post(f"/sessions/online/{ref}/close", headers=headers).status_code == 204
    return numbers


def test_an_hwm_synchronisation_across_a_restart_sees_every_invoice_once(tmp_path, spec) -> None:  # type: ignore[no-untyped-def]
    nip = kit.random_nip(1402)
    seen: list[str] = []
    sent: list[str] = []
    with opened(tmp_path, spec, permanent_storage_seconds=2) as (client, state):
        headers = kit.xades_login(client, nip).headers
        cursor = format_datetime(state.clock.now() - timedelta(minutes=1))
        sent += send_some(client, headers, nip, "A", 13)
        client.post("http://testserver/_mock/clock", json={"advance": 5})
        cursor = sync(client, headers, cursor, seen)
        # Sent, and not yet permanently stored when the server goes down.
        sent += send_some(client, headers, nip, "B", 12)
        early = sync(client, headers, cursor, [])
        assert early == cursor
    assert sorted(seen) == sorted(sent[:13])

    with opened(tmp_path, spec, permanent_storage_seconds=2) as (client, state):
        client.post("http://testserver/_mock/clock", json={"advance": 5})
        cursor = sync(client, headers, cursor, seen)
        sent += send_some(client, headers, nip, "C", 11)
        client.post("http://testserver/_mock/clock", json={"advance": 5})
        cursor = sync(client, headers, cursor, seen)
        again: list[str] = []
        sync(client, headers, cursor, again)
        assert again == []
    assert len(sent) == len(set(sent)) == 36
    assert sorted(seen) == sorted(sent) and len(seen) == len(set(seen))


def test_a_data_reset_survives_a_restart(tmp_path, spec) -> None:  # type: ignore[no-untyped-def]
    nip = kit.random_nip(1403)
    with opened(tmp_path, spec) as (client, _state):
        session = kit.xades_login(client, nip)
        token = kit.create_ksef_token(client, session, ["InvoiceRead"])["token"]
        (number,) = send_some(client, session.headers, nip, "X", 1)
        demo = kit.xades_login(client, nip)  # the same NIP, logged in before the reset
        assert client.get(f"/invoices/ksef/{number}", headers=session.headers).status_code == 200
        reset = client.post("http://testserver/_mock/reset", params={"env": "test"})
        assert reset.status_code == 200, reset.text
        assert client.get("/tokens", headers=session.headers).status_code == 401

    with opened(tmp_path, spec) as (client, state):
        assert state.generation("test") == 1
        for old in (session, demo):
            assert client.get("/tokens", headers=old.headers).status_code == 401
            refreshed = client.post("/auth/token/refresh", headers=kit.bearer(old.refresh_token))
            assert refreshed.status_code == 401
        # The KSeF token of the old generation fails like an unknown one (450).
        refused = kit.start_token(client, token, nip)
        assert refused.status_code == 202, refused.text
        assert kit.auth_status(client, refused)["status"]["code"] == 450
        fresh = kit.xades_login(client, nip)
        gone = client.get(f"/invoices/ksef/{number}", headers=fresh.headers)
        assert gone.status_code == 400 and legacy_codes(gone) == [21164], gone.text
        assert client.get("/tokens", headers=fresh.headers).json()["tokens"] == []


def test_what_a_status_read_numbered_survives_a_crash(tmp_path, spec) -> None:  # type: ignore[no-untyped-def]
    """A session's UPO pages are numbered by the first status read after its processing
    time: that read shows the client a random reference, so it must be durable even
    when no write follows before the server dies (before: a restart numbered them anew
    and the reference the client kept answered 404)."""
    nip = kit.random_nip(1404)
    slow = {"online_close_seconds": 30}
    with opened(tmp_path, spec, **slow) as (client, _state):
        session = kit.xades_login(client, nip)
        (number,) = send_some(client, session.headers, nip, "U", 1)
        ref = client.get(
            "/sessions", headers=session.headers, params={"sessionType": "Online"}
        ).json()["sessions"][0]["referenceNumber"]
        assert "upo" not in kit.session_status(client, session.headers, ref)
        assert client.post("http://testserver/_mock/clock", json={"advance": 31}).status_code == 200
        seen = kit.session_status(client, session.headers, ref)
        page = seen["upo"]["pages"][0]
        upo = client.get(f"/sessions/{ref}/upo/{page['referenceNumber']}", headers=session.headers)
        assert upo.status_code == 200
        # The state goes away here without another write (as under kill -9).

    with opened(tmp_path, spec, **slow) as (client, _state):
        assert kit.session_status(client, session.headers, ref) == seen
        again = client.get(
            f"/sessions/{ref}/upo/{page['referenceNumber']}", headers=session.headers
        )
        assert again.status_code == 200, again.text
        assert again.content == upo.content
        assert number in again.text


def test_a_snapshot_loaded_into_a_persisted_state_is_what_a_restart_finds(tmp_path, spec) -> None:  # type: ignore[no-untyped-def]
    nip = kit.random_nip(1405)
    shelf = Snapshots(tmp_path / "shelf")
    with opened(tmp_path / "data", spec) as (client, state):
        headers = kit.xades_login(client, nip).headers
        kept = send_some(client, headers, nip, "S", 2)
        shelf.save(state, "before")
        dropped = send_some(client, headers, nip, "T", 2)
        shelf.load(state, "before")

    def downloads(client: Any, headers: dict[str, str]) -> dict[str, int]:
        return {
            n: client.get(f"/invoices/ksef/{n}", headers=headers).status_code
            for n in kept + dropped
        }

    expected = {**dict.fromkeys(kept, 200), **dict.fromkeys(dropped, 400)}
    with opened(tmp_path / "data", spec) as (client, _state):
        assert downloads(client, headers) == expected
        # The invoices the load dropped may be sent again; numbering goes on.
        again = send_some(client, headers, nip, "T", 2)
        assert not set(again) & set(kept + dropped)


def test_a_certificate_issued_by_a_status_read_survives_a_crash(tmp_path, spec) -> None:  # type: ignore[no-untyped-def]
    """An enrollment is decided by the first status read after its processing time: the
    serial number that read shows (and the certificate behind it) must come back."""
    nip = kit.random_nip(1406)
    slow = {"certificate_processing_seconds": 5}
    with opened(tmp_path, spec, **slow) as (client, state):
        seal = bearer(mint_access_token(state, nip=nip, auth_method="QualifiedSeal"))
        ref = enroll(client, seal)
        pending = client.get(f"/certificates/enrollments/{ref}", headers=seal).json()
        assert pending["status"]["code"] == 100
        assert client.post("http://testserver/_mock/clock", json={"advance": 6}).status_code == 200
        seen = client.get(f"/certificates/enrollments/{ref}", headers=seal).json()
        assert seen["status"]["code"] == 200, seen
        # Down without another write.

    with opened(tmp_path, spec, **slow) as (client, _state):
        again = client.get(f"/certificates/enrollments/{ref}", headers=seal)
        assert again.status_code == 200 and again.json() == seen
        retrieved = client.post(
            "/certificates/retrieve",
            json={"certificateSerialNumbers": [seen["certificateSerialNumber"]]},
            headers=seal,
        )
        assert retrieved.status_code == 200, retrieved.text
        assert len(retrieved.json()["certificates"]) == 1
