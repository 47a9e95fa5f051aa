"""The journal as its own middleware, its live readers, and the effect registry."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import httpx
import pytest
from starlette.testclient import TestClient

from mockksef import MockState, create_app
from mockksef.scenarios import Scenario, model
from mockksef.scenarios.effects import EFFECTS, effect
from mockksef.scenarios.journal import Journal

NIP = "5265877635"
REFUSE = "name: t\nrules:\n  - {name: r, when: {operation: auth.challenge}, then: {error: 21405}}\n"


def test_listeners_get_rendered_entries_from_since_then_live_until_stopped(raw, mock):
    raw.post("/v2/auth/challenge")
    raw.post("/v2/auth/challenge")
    seen: list[dict] = []  # type: ignore[type-arg]
    stop = mock.journal.listen(seen.append, since=1)
    raw.get("/v2/tokens")
    assert [e["seq"] for e in seen] == [2, 3]
    assert seen[-1]["operation"] == "tokens.list" and seen[-1]["status"] == 401
    assert isinstance(seen[-1]["time"], str)  # rendered, as entries() gives them
    stop()
    raw.post("/v2/auth/challenge")
    assert len(seen) == 2 and mock.journal.listeners == 0


def test_a_subscription_streams_requests_and_events_in_order(mock):
    async def scenario() -> list[dict]:  # type: ignore[type-arg]
        transport = httpx.ASGITransport(app=create_app(state=mock))
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
            mock.journal.subscribe() as live,
        ):
            await client.post("/v2/auth/challenge")
            # Recorded from another thread (a test driving the Python twin): still delivered.
            worker = threading.Thread(
                target=mock.scenarios.activate, args=(Scenario.from_str(REFUSE),)
            )
            worker.start()
            await asyncio.to_thread(worker.join)
            await client.post("/v2/auth/challenge")
            got = [await asyncio.wait_for(live.__anext__(), 5) for _ in range(3)]
        assert [e async for e in live] == []  # closed: the iteration ends
        return got

    got = asyncio.run(scenario())
    assert [e.get("operation") or e["event"] for e in got] == [
        "auth.challenge",
        "scenario.activated",
        "auth.challenge",
    ]
    assert [e["seq"] for e in got] == [1, 2, 3]
    assert got[2]["rule"] == "t/r" and got[2]["codes"] == [21405]
    assert mock.journal.listeners == 0


def test_a_slow_subscriber_loses_the_oldest_and_counts_them():
    journal = Journal(size=10)

    async def scenario() -> tuple[list[int], int]:
        live = journal.subscribe(maxsize=2)
        for n in range(5):
            journal.record({"kind": "request", "n": n})
        live.close()
        return [e["n"] async for e in live], live.dropped

    assert asyncio.run(scenario()) == ([3, 4], 3)


def test_a_subscriber_whose_loop_ended_never_fails_a_request():
    journal = Journal()

    async def forgotten():  # type: ignore[no-untyped-def]
        return journal.subscribe()  # never closed: its loop ends with asyncio.run

    live = asyncio.run(forgotten())
    journal.record({"kind": "request"})  # from this thread, into a closed loop
    journal.record({"kind": "request"})
    assert journal.last_seq == 2 and journal.listeners == 1
    live.close()
    assert journal.listeners == 0


def test_a_failing_listener_is_logged_and_the_others_still_hear(caplog):
    journal = Journal()
    heard: list[int] = []

    def broken(entry: dict) -> None:  # type: ignore[type-arg]
        raise RuntimeError("console bug")

    journal.listen(broken)
    journal.listen(lambda entry: heard.append(entry["seq"]))
    journal.record({"kind": "request"})
    assert heard == [1] and "journal listener" in caplog.text


def test_journal_and_scenarios_are_independent_layers(config, spec):
    off = MockState(replace(config, journal_enabled=False), spec=spec)
    off.scenarios.activate(Scenario.from_str(REFUSE))
    with TestClient(create_app(state=off)) as client:
        assert client.post("/v2/auth/challenge").status_code == 400
    assert off.journal.last_seq == 0
    on = MockState(config, spec=spec)
    with TestClient(create_app(state=on)) as client:
        client.post("/v2/auth/challenge")
    (entry,) = on.journal.entries()
    assert on.scenarios.engaged is False
    assert entry["operation"] == "auth.challenge" and entry["status"] == 200


def test_every_effect_of_the_schema_has_exactly_one_function():
    assert set(EFFECTS) == set(model.EFFECTS)
    with pytest.raises(ValueError, match="not an effect"):
        effect("revoke_everything")
