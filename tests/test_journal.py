"""The request journal: ring buffer, sampling, filters, admin API, CLI, and determinism."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from mockksef import MockState, create_app
from mockksef.cli import main
from mockksef.clock import Clock
from mockksef.scenarios import Scenario
from mockksef.scenarios.faults import NetworkFault
from mockksef.scenarios.journal import Journal, without_wall_clock
from mockksef.server import ThreadedServer
from tests.conftest import bearer, mint_access_token

NIP = "5265877635"


def test_the_ring_buffer_keeps_the_newest_entries():
    journal = Journal(size=3)
    for i in range(5):
        journal.record({"kind": "request", "n": i})
    assert [e["n"] for e in journal.entries()] == [2, 3, 4]
    assert [e["seq"] for e in journal.entries(since=3)] == [4, 5]
    assert journal.last_seq == 5
    journal.clear()
    assert journal.entries() == [] and journal.last_seq == 5


def test_sampling_keeps_every_nth_request():
    journal = Journal(size=10, sample_every=3)
    assert [journal.sampled() for _ in range(7)] == [True, False, False, True, False, False, True]


def test_filters():
    journal = Journal()
    journal.record(
        {
            "kind": "request",
            "environment": "test",
            "operation": "auth.challenge",
            "status": 200,
            "context": None,
            "rule": None,
        }
    )
    journal.record(
        {
            "kind": "request",
            "environment": "demo",
            "operation": "invoices.query_metadata",
            "status": 429,
            "context": NIP,
            "rule": "s/limit",
        }
    )
    journal.event("2026-03-02T09:00:00", "data.reset", environment="demo")
    assert len(journal.entries(kind="request")) == 2
    assert [e["seq"] for e in journal.entries(operation="invoices.*")] == [2]
    assert [e["seq"] for e in journal.entries(status=429, context=NIP, environment="demo")] == [2]
    assert [e["seq"] for e in journal.entries(rule="s/*")] == [2]
    assert [e["seq"] for e in journal.entries(fired=False, kind="request")] == [1]
    assert [e["seq"] for e in journal.entries(limit=1)] == [1]


def test_every_request_is_journaled_with_codes_and_context(client, mock):
    token = bearer(mint_access_token(mock, nip=NIP))
    client.get("/tokens", headers=token)
    client.get("/tokens/nope", headers=token)
    client.get("/tokens")
    entries = mock.journal.entries()
    assert [(e["operation"], e["status"], e["codes"], e["context"]) for e in entries] == [
        ("tokens.list", 200, [], NIP),
        ("tokens.get", 400, [21405], NIP),
        ("tokens.list", 401, [], None),
    ]
    assert all(
        e["environment"] == "test" and e["time"].startswith("2026-03-02T09:00") for e in entries
    )
    assert isinstance(entries[0]["durationMs"], float)


def test_journal_can_be_off_or_sampled(config, spec):
    for changes, expected in (
        ({"journal_enabled": False}, 0),
        ({"journal_sample_every": 2}, 2),
        ({"journal_size": 1}, 1),
    ):
        state = MockState(replace(config, **changes), spec=spec)
        with TestClient(create_app(state=state)) as c:
            for _ in range(4):
                c.post("/v2/auth/challenge")
        assert len(state.journal.entries()) == expected, changes


def test_admin_api_reads_filters_and_clears(client, mock):
    admin = TestClient(client.app)
    client.post("/auth/challenge")
    client.get("/tokens")
    body = admin.get("/_mock/journal", params={"operation": "tokens.*"}).json()
    assert [e["operation"] for e in body["entries"]] == ["tokens.list"]
    assert body["lastSeq"] == 2 and body["enabled"] is True and body["size"] == 1000
    assert [
        e["seq"] for e in admin.get("/_mock/requests", params={"since": 1}).json()["entries"]
    ] == [2]
    assert admin.get("/_mock/journal", params={"status": "x"}).status_code == 400
    assert admin.delete("/_mock/journal").json() == {"cleared": True, "lastSeq": 2}
    assert admin.get("/_mock/journal").json()["entries"] == []
    # The admin plane itself is never journaled.
    assert mock.journal.entries() == []


SCENARIO = """\
name: mixed
seed: 11
clock: {mode: virtual, start: 2026-03-02T09:00:00Z, timeline: [{after_calls: 5, advance: 1h}]}
rules:
  - name: flaky
    explain: {en: "Challenge flaky", pl: "Niestabilne wyzwanie"}
    when: {operation: auth.challenge, probability: 0.4}
    then: [{maintenance: {retry_after: 30}}, {reset_connection: true}, {delay: 5s}]
    cycle: true
  - name: third-list
    when: {operation: tokens.list, nth: 3}
    then: {too_many_requests: {retry_after: 2m}}
"""


def _run(config, spec, seed: int) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    state = MockState(config, spec=spec, clock=Clock.virtual("2026-01-01T00:00:00Z"))
    state.scenarios.activate(Scenario.from_str(SCENARIO), seed=seed)
    token = bearer(mint_access_token(state, nip=NIP))
    with TestClient(create_app(state=state), raise_server_exceptions=True) as c:
        for _ in range(12):
            try:
                c.post("/v2/auth/challenge")
            except NetworkFault:
                pass
            c.get("/v2/tokens", headers=token)
        c.post(
            "/v2/tokens",
            json={"permissions": ["InvoiceRead"], "description": "Token testowy"},
            headers=token,
        )
    return without_wall_clock(state.journal.entries())


def test_same_scenario_and_seed_give_the_same_journal(config, spec):
    first = _run(config, spec, 5)
    second = _run(config, spec, 5)
    assert first == second
    assert any(e.get("rule") == "mixed/flaky" for e in first)
    assert any(e.get("fault") == "reset" for e in first)
    assert any(e.get("explain") == "Challenge flaky" for e in first)
    assert all("durationMs" not in e for e in first)
    assert _run(config, spec, 6) != first


# -- the CLI against a running server ---------------------------------------------------------------


@pytest.fixture
def running(config, spec):  # type: ignore[no-untyped-def]
    state = MockState(
        replace(config, extra={}), spec=spec, clock=Clock.virtual("2026-03-02T09:00:00Z")
    )
    with ThreadedServer(create_app(state=state)) as server:
        server.state = state  # type: ignore[attr-defined]
        yield server


@pytest.mark.server
def test_cli_journal_prints_filters_and_follows(running):
    import httpx

    running.state.scenarios.activate(
        Scenario.from_str(
            "name: cli\nrules:\n  - {name: r, when: {operation: tokens.list}, then: {error: 21405}, explain: Why}\n"
        )
    )
    httpx.post(f"{running.url}/v2/auth/challenge")
    httpx.get(f"{running.url}/v2/tokens")
    runner = CliRunner()
    result = runner.invoke(main, ["journal", "--url", running.url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "* scenario.activated scenario=cli" in lines[0]
    assert "POST /v2/auth/challenge auth.challenge 200" in lines[1]
    assert lines[2].endswith("tokens.list 400 codes=21405 rule=cli/r->error (Why)")
    as_json = runner.invoke(main, ["journal", "--url", running.url, "--json", "--fired"])
    (only,) = [json.loads(line) for line in as_json.output.splitlines()]
    assert only["rule"] == "cli/r"
    followed = runner.invoke(
        main,
        [
            "journal",
            "--url",
            running.url,
            "--follow",
            "--polls",
            "2",
            "--interval",
            "0.01",
            "--since",
            "3",
        ],
    )
    assert followed.exit_code == 0 and followed.output == ""
    unreachable = runner.invoke(main, ["journal", "--url", "http://127.0.0.1:9"])
    assert unreachable.exit_code == 2 and "cannot reach" in unreachable.output


@pytest.mark.server
def test_cli_clock_shows_and_moves(running):
    runner = CliRunner()
    shown = runner.invoke(main, ["clock", "--url", running.url])
    assert shown.output.strip() == "virtual 2026-03-02T09:00:00.0000000+00:00"
    moved = runner.invoke(main, ["clock", "--url", running.url, "--advance", "2h"])
    assert moved.output.strip() == "virtual 2026-03-02T11:00:00.0000000+00:00"
    assert runner.invoke(
        main, ["clock", "--url", running.url, "--mode", "offset"]
    ).output.startswith("offset ")
    bad = runner.invoke(main, ["clock", "--url", running.url, "--set", "yesterday"])
    assert bad.exit_code == 2  # refused before any request


@pytest.mark.server
def test_cli_reset_wipes_an_environment(running):
    runner = CliRunner()
    before = running.state.env("demo").generation
    assert (
        runner.invoke(main, ["reset", "--url", running.url, "--env", "demo"]).output
        == "reset: demo\n"
    )
    assert running.state.env("demo").generation == before + 1
    assert runner.invoke(main, ["reset", "--url", running.url, "--env", "mars"]).exit_code == 2
    events = [e for e in running.state.journal.entries(kind="event") if e["event"] == "data.reset"]
    assert [e["environment"] for e in events] == ["demo"]
