"""The domain reports what happened on ``env.events`` (used by ``after_event`` and timelines)."""

from __future__ import annotations

from mockksef.environments import Env
from mockksef.events import EVENTS, EventBus
from mockksef.scenarios import schema
from tests import kit
from tests.conftest import bearer

NIP = "5265877635"


def test_the_schema_lists_exactly_the_events_the_bus_knows():
    assert tuple(schema()["$defs"]["event"]["enum"]) == EVENTS


def test_the_bus_counts_and_forwards_to_the_root_sinks():
    seen: list[tuple[str, str, dict]] = []  # type: ignore[type-arg]
    bus = EventBus("test", [lambda env, name, fields: seen.append((env, name, fields))])
    bus.emit("token.created", reference="r")
    bus.emit("token.created", reference="s")
    assert bus.counts == {"token.created": 2}
    assert seen[1] == ("test", "token.created", {"reference": "s"})


def test_a_working_day_emits_the_domain_events(client, mock):
    seen: list[str] = []
    mock.event_sinks.append(lambda env, name, fields: seen.append(name))
    session = kit.xades_login(client, NIP)
    token = kit.create_ksef_token(client, session, ["InvoiceRead"])
    assert (
        client.delete(f"/tokens/{token['referenceNumber']}", headers=session.headers).status_code
        == 204
    )
    crypto = kit.Crypto()
    ref = kit.open_online(client, session.headers, crypto)
    kit.send_ok(client, session.headers, ref, crypto, kit.fa3(NIP, "1"))
    kit.send_ok(client, session.headers, ref, crypto, kit.fa3(NIP, "1"))  # a duplicate
    for invoice in client.get(f"/sessions/{ref}/invoices", headers=session.headers).json()[
        "invoices"
    ]:
        assert invoice["status"]["code"] in (200, 440)
    assert client.post(f"/sessions/online/{ref}/close", headers=session.headers).status_code == 204
    assert (
        client.post("/auth/token/refresh", headers=bearer(session.refresh_token)).status_code == 200
    )
    assert client.delete("/auth/sessions/current", headers=session.headers).status_code == 204
    mock.reset(Env.TEST)
    assert seen == [
        "auth.challenge",
        "auth.succeeded",
        "auth.redeemed",
        "token.created",
        "token.revoked",
        "session.opened",
        "invoice.accepted",
        "invoice.rejected",
        "session.closed",
        "auth.refreshed",
        "auth.session_revoked",
        "data.reset",
    ]
