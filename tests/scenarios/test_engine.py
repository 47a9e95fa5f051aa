"""The scenario engine in-process: matching, actions, effects, clock, resets, setup, determinism."""

from __future__ import annotations

import sys
import types
from datetime import UTC, datetime, timedelta

import pytest

from mockksef import MockState, create_app
from mockksef.environments import Env
from mockksef.scenarios import Scenario, ScenarioError
from mockksef.scenarios.faults import NetworkFault
from mockksef.scenarios.manager import ScenarioNotFullyFired
from tests.conftest import bearer, legacy_codes, mint_access_token, problem_codes

NIP = "5265877635"
OTHER = "7740001454"
PD = {"X-Error-Format": "problem-details"}


def scenario(text: str) -> Scenario:
    return Scenario.from_str(text, source="test.yaml")


def rules(*lines: str, extra: str = "") -> Scenario:
    body = "\n".join(f"  - {line}" for line in lines)
    return scenario(f"name: t\n{extra}rules:\n{body}\n")


def challenge(raw, prefix: str = "/v2", **kw):  # type: ignore[no-untyped-def]
    return raw.post(f"{prefix}/auth/challenge", **kw)


# -- the fast path ---------------------------------------------------------------------------


def test_without_scenarios_the_engine_is_disengaged_and_answers_are_untouched(raw, engine, mock):
    assert engine.engaged is False
    assert challenge(raw).status_code == 200
    (entry,) = mock.journal.entries()
    assert entry["operation"] == "auth.challenge" and entry["rule"] is None
    engine.activate(rules("{when: {operation: auth.challenge}, then: {pass: true}}"))
    assert engine.engaged is True
    engine.deactivate("t")
    assert engine.engaged is False


# -- when ------------------------------------------------------------------------------------


def test_nth_call_of_an_operation_gets_429_with_retry_after(raw, engine):
    engine.activate(
        rules(
            "{when: {operation: auth.challenge, nth: 2}, then: {too_many_requests: {retry_after: 5m}}}"
        )
    )
    assert challenge(raw).status_code == 200
    second = challenge(raw)
    assert second.status_code == 429 and second.headers["Retry-After"] == "300"
    assert second.json() == {
        "status": {
            "code": 429,
            "description": "Too Many Requests",
            "details": ["Przekroczono limit żądań. Spróbuj ponownie po 300 sekundach."],
        }
    }
    assert challenge(raw).status_code == 200


def test_every_nth_times_and_lists_consumed_one_call_at_a_time(raw, engine):
    engine.activate(
        rules(
            "{name: every, when: {operation: tokens.list, every: 2, times: 2}, then: {error: 21405}}",
            "{name: seq, when: {operation: auth.challenge}, then: [{error: {code: 21405, details: [a]}}, {maintenance: true}, {pass: true}]}",
            "{name: cyc, when: {operation: auth.list_sessions}, then: [{gone: true}, {pass: true}], cycle: true}",
        )
    )
    statuses = [raw.get("/v2/tokens").status_code for _ in range(6)]
    assert statuses == [401, 400, 401, 400, 401, 401]  # 401: no bearer, the API answers
    first, second, third, fourth = (challenge(raw) for _ in range(4))
    assert legacy_codes(first) == [21405] and first.json()["exception"]["exceptionDetailList"][0][
        "details"
    ] == ["a"]
    assert second.status_code == 503 and second.headers["Retry-After"] == "600"
    assert third.status_code == 200 and fourth.status_code == 200
    status = engine.describe("t")
    assert [r["fired"] for r in status["rules"]] == [2, 3, 0]
    assert status["rules"][1]["spent"] is True
    cycled = [raw.get("/v2/auth/sessions").status_code for _ in range(4)]
    assert cycled == [410, 401, 410, 401]


def test_first_matching_rule_wins_and_method_path_host_environment_filter(raw, engine):
    engine.activate(
        rules(
            "{name: demo, when: {environment: demo, path: '/auth/*'}, then: {error: 21405}}",
            "{name: host, when: {host: 'ksef-test.*'}, then: {gone: true}}",
            "{name: get, when: {method: GET, path: '/v2/security/*'}, then: {respond: {status: 418, body: tea}}}",
            "{name: all, when: {operation: auth.challenge}, then: {unauthorized: true}}",
        )
    )
    assert challenge(raw, "/demo/v2").status_code == 400
    assert challenge(raw, "/v2", headers={"Host": "api-demo.ksef.mf.gov.pl"}).status_code == 400
    assert challenge(raw, "/v2", headers={"Host": "ksef-test.mf.gov.pl"}).status_code == 410
    teapot = raw.get("/v2/security/public-key-certificates")
    assert teapot.status_code == 418 and teapot.text == "tea"
    assert raw.post("/v2/security/public-key-certificates").status_code != 418
    assert challenge(raw, "/prod/v2").status_code == 401


def test_context_from_the_bearer_token_and_from_a_login_body(raw, engine, mock):
    engine.activate(
        rules(f"{{when: {{context: '{NIP}'}}, then: {{forbidden: missing-permissions}}}}")
    )
    mine = raw.get("/v2/tokens", headers=bearer(mint_access_token(mock, nip=NIP)))
    assert mine.status_code == 403 and mine.json()["reasonCode"] == "missing-permissions"
    theirs = raw.get("/v2/tokens", headers=bearer(mint_access_token(mock, nip=OTHER)))
    assert theirs.status_code == 200
    body = {
        "challenge": "x",
        "contextIdentifier": {"type": "Nip", "value": NIP},
        "encryptedToken": "x",
    }
    assert raw.post("/v2/auth/ksef-token", json=body).status_code == 403
    body["contextIdentifier"]["value"] = OTHER
    refused = raw.post("/v2/auth/ksef-token", json=body)
    assert refused.status_code == 400  # went on to the API, which read the replayed body
    xml = f"<AuthTokenRequest><ContextIdentifier><Nip>{NIP}</Nip></ContextIdentifier></AuthTokenRequest>"
    signed = raw.post(
        "/v2/auth/xades-signature", content=xml, headers={"Content-Type": "application/xml"}
    )
    assert signed.status_code == 403
    entries = mock.journal.entries(kind="request")
    assert [e["context"] for e in entries] == [NIP, OTHER, NIP, OTHER, NIP]


def test_time_windows_on_the_clock(raw, engine, mock):
    engine.activate(
        rules(
            "{name: abs, when: {operation: tokens.list, window: {start: 2026-03-02T10:00:00Z, end: 2026-03-02T11:00:00Z}}, then: {error: 21405}}",
            "{name: daily, when: {operation: auth.challenge, window: {start: '22:00', end: '01:00'}}, then: {maintenance: {retry_after: 2h}}}",
        )
    )
    assert raw.get("/v2/tokens").status_code == 401  # 09:00 UTC
    mock.clock.set(datetime(2026, 3, 2, 10, 30, tzinfo=UTC))
    assert raw.get("/v2/tokens").status_code == 400
    mock.clock.set(datetime(2026, 3, 2, 11, 0, tzinfo=UTC))
    assert raw.get("/v2/tokens").status_code == 401
    assert challenge(raw).status_code == 200  # 12:00 Warsaw
    mock.clock.set(datetime(2026, 3, 2, 21, 30, tzinfo=UTC))  # 22:30 Warsaw (CET)
    down = challenge(raw)
    assert down.status_code == 503 and down.headers["Retry-After"] == "7200"
    mock.clock.set(datetime(2026, 3, 3, 0, 30, tzinfo=UTC))  # 01:30 Warsaw
    assert challenge(raw).status_code == 200


def _fire_pattern(mock: MockState, seed: int) -> list[int]:
    from starlette.testclient import TestClient

    mock.scenarios.activate(
        rules("{when: {operation: auth.challenge, probability: 0.5}, then: {maintenance: true}}"),
        seed=seed,
    )
    with TestClient(create_app(state=mock)) as c:
        return [c.post("/v2/auth/challenge").status_code for _ in range(24)]


def test_probability_draws_from_the_seeded_source(mock, config, spec):
    from mockksef.clock import Clock

    first = _fire_pattern(mock, 1)
    again = _fire_pattern(
        MockState(config, spec=spec, clock=Clock.virtual("2026-03-02T09:00:00Z")), 1
    )
    other = _fire_pattern(
        MockState(config, spec=spec, clock=Clock.virtual("2026-03-02T09:00:00Z")), 2
    )
    assert first == again
    assert first != other
    assert 4 < first.count(503) < 20


def test_after_event_waits_for_the_domain_to_report_it(raw, engine, mock):
    engine.activate(
        rules("{when: {operation: tokens.list, after_event: token.created}, then: {error: 21405}}")
    )
    headers = bearer(mint_access_token(mock, nip=NIP))
    assert raw.get("/v2/tokens", headers=headers).status_code == 200
    made = raw.post(
        "/v2/tokens",
        json={"permissions": ["InvoiceRead"], "description": "Token testowy"},
        headers=headers,
    )
    assert made.status_code == 202
    assert raw.get("/v2/tokens", headers=headers).status_code == 400
    assert mock.env(Env.TEST).events.counts["token.created"] == 1
    # Events on another environment do not count.
    engine.activate(
        rules("{when: {operation: tokens.list, after_event: auth.challenge}, then: {error: 21405}}")
    )
    challenge(raw, "/demo/v2")
    assert raw.get("/v2/tokens", headers=headers).status_code == 200
    challenge(raw, "/test/v2")
    assert raw.get("/v2/tokens", headers=headers).status_code == 400


# -- answers ---------------------------------------------------------------------------------


def test_catalogue_answers_in_both_official_formats(raw, engine):
    engine.activate(
        rules(
            "{when: {operation: auth.challenge}, then: [{error: {code: 21418, details: [d]}}, {error: 21418}, {unauthorized: {detail: Nope}}, {gone: true}, {server_error: true}, {server_error: {status: 502}}, {forbidden: {reason: ip-not-allowed}}, {maintenance: {retry_after: 90s, detail: Przerwa}}, {too_many_requests: true}]}"
        )
    )
    legacy = challenge(raw)
    assert legacy.status_code == 400 and legacy_codes(legacy) == [21418]
    problem = challenge(raw, headers=PD)
    assert problem.headers["content-type"].startswith("application/problem+json")
    assert problem_codes(problem) == [21418]
    unauthorized = challenge(raw)
    assert unauthorized.status_code == 401 and unauthorized.json()["detail"] == "Nope"
    assert challenge(raw).status_code == 410
    internal = challenge(raw)
    assert internal.status_code == 500 and internal.json()["exception"]["exceptionDetailList"]
    gateway = challenge(raw)
    assert gateway.status_code == 502 and gateway.text == "502 Bad Gateway"
    forbidden = challenge(raw)
    assert forbidden.status_code == 403 and forbidden.json()["reasonCode"] == "ip-not-allowed"
    maintenance = challenge(raw, headers=PD)
    assert maintenance.status_code == 503 and maintenance.headers["Retry-After"] == "90"
    assert maintenance.json()["detail"] == "Przerwa"
    limited = challenge(raw, headers=PD)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "60"
    assert limited.json()["status"] == 429


def test_raw_answers_and_body_faults_in_process(raw, engine):
    engine.activate(
        rules(
            "{when: {operation: auth.challenge}, then: [{respond: {status: 200, body: {challenge: x}, headers: {X-A: b}}}, {malformed: true}, {malformed: {body: '<html>', status: 502}}, {truncate: {bytes: 5}}]}"
        )
    )
    answered = challenge(raw)
    assert answered.json() == {"challenge": "x"} and answered.headers["X-A"] == "b"
    broken = challenge(raw)
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    html = challenge(raw)
    assert html.status_code == 502 and html.text == "<html>"
    cut = challenge(raw)
    assert cut.status_code == 200 and len(cut.content) == 5


def test_connection_faults_raise_in_process(raw, engine, mock):
    engine.activate(
        rules(
            "{when: {operation: auth.challenge}, then: [{reset_connection: true}, {close: true}, {stall: 30s}]}"
        )
    )
    with pytest.raises(NetworkFault, match="reset"):
        challenge(raw)
    with pytest.raises(NetworkFault, match="closed"):
        challenge(raw)
    before = mock.clock.now()
    with pytest.raises(NetworkFault, match="stalled"):
        challenge(raw)
    assert (mock.clock.now() - before).total_seconds() == 30  # the wait passed on the virtual clock
    assert [e["fault"] for e in mock.journal.entries(kind="request")] == ["reset", "close", "stall"]


def test_delay_moves_a_virtual_clock_then_the_call_goes_through(raw, engine, mock):
    engine.activate(rules("{when: {operation: auth.challenge}, then: {delay: 2m}}"))
    before = mock.clock.now()
    assert challenge(raw).status_code == 200
    assert (mock.clock.now() - before).total_seconds() == 120


# -- effects ---------------------------------------------------------------------------------


def test_data_reset_effect_kills_old_credentials(raw, engine, mock):
    token = mint_access_token(mock, nip=NIP, env=Env.DEMO)
    assert raw.get("/demo/v2/tokens", headers=bearer(token)).status_code == 200
    engine.activate(
        rules("{when: {operation: auth.challenge, environment: demo}, then: {reset_data: true}}")
    )
    assert challenge(raw, "/demo/v2").status_code == 200
    assert raw.get("/demo/v2/tokens", headers=bearer(token)).status_code == 401
    assert any(
        e.get("event") == "data.reset" and e["environment"] == "demo"
        for e in mock.journal.entries(kind="event")
    )


def test_expire_tokens_revoke_tokens_and_revoke_sessions(raw, engine, mock):
    from tests import kit

    api = _api(raw)
    session = kit.xades_login(api, NIP)
    made = kit.create_ksef_token(api, session, ["InvoiceRead"])
    engine.activate(
        rules(
            "{name: revoke, when: {operation: limits.context, nth: 1}, then: {revoke_tokens: {context: '"
            + NIP
            + "'}}}",
            "{name: sessions, when: {operation: limits.rate_limits}, then: {revoke_sessions: true}}",
            "{name: expire, when: {operation: limits.subject}, then: {expire_tokens: true}}",
        )
    )
    api.get("/limits/context", headers=session.headers)
    token = api.get(f"/tokens/{made['referenceNumber']}", headers=session.headers).json()
    assert token["status"] == "Revoked"
    api.get("/rate-limits", headers=session.headers)
    refreshed = api.post("/auth/token/refresh", headers=bearer(session.refresh_token))
    assert refreshed.status_code == 400  # the refresh token's session is revoked
    assert api.get("/tokens", headers=session.headers).status_code == 200
    api.get("/limits/subject", headers=session.headers)
    assert api.get("/tokens", headers=session.headers).status_code == 401


def test_expire_tokens_after_a_reset_never_revives_old_jwts(raw, engine, mock):
    """Same scenario and seed re-activated after a data reset: old JWTs stay dead."""
    from tests.conftest import mint_access_token

    api = _api(raw)
    scenario = rules(
        "{name: expire, when: {operation: auth.challenge}, then: {expire_tokens: true}}"
    )
    engine.activate(scenario, seed=0)
    api.post("/auth/challenge")
    old = mint_access_token(mock)
    assert api.get("/tokens", headers=bearer(old)).status_code == 200
    engine.deactivate_all()
    mock.reset()
    engine.activate(scenario, seed=0)
    api.post("/auth/challenge")
    assert api.get("/tokens", headers=bearer(old)).status_code == 401


def test_expire_sessions_closes_open_online_sessions(raw, engine, mock):
    from tests import kit

    api = _api(raw)
    session = kit.xades_login(api, NIP)
    crypto = kit.Crypto()
    ref = kit.open_online(api, session.headers, crypto)
    engine.activate(rules("{when: {operation: limits.context}, then: {expire_sessions: true}}"))
    api.get("/limits/context", headers=session.headers)
    status = kit.session_status(api, session.headers, ref)
    assert status["status"]["code"] != 100


def test_limits_keys_legacy_and_clock_effects(raw, engine, mock):
    token = bearer(mint_access_token(mock, nip=NIP))
    keys_before = raw.get("/v2/security/public-key-certificates").json()
    before = raw.get("/v2/rate-limits", headers=token).json()
    fixed = ("onlineSessionClose", "batchSessionClose", "anonymous", "global")
    wanted = {k: v for k, v in before.items() if k not in fixed}
    wanted["invoiceMetadata"] = {"perSecond": 1, "perMinute": 2, "perHour": 3}
    engine.activate(
        Scenario.from_dict(
            {
                "name": "t",
                "rules": [
                    {
                        "when": {"operation": "limits.subject"},
                        "then": {
                            "set_limits": {"context": NIP, "rate_limits": {"rateLimits": wanted}}
                        },
                    },
                    {
                        "when": {"operation": "limits.context"},
                        "then": {
                            "rotate_keys": {"usage": "KsefTokenEncryption", "emergency": True}
                        },
                    },
                    {
                        "when": {"operation": "auth.list_sessions"},
                        "then": {"retire_legacy": "gone"},
                    },
                    {"when": {"operation": "auth.challenge"}, "then": {"clock": {"advance": "1d"}}},
                ],
            }
        )
    )
    raw.get("/v2/limits/subject", headers=token)
    after = raw.get("/v2/rate-limits", headers=token).json()
    assert after["invoiceMetadata"] == {"perSecond": 1, "perMinute": 2, "perHour": 3}
    raw.get("/v2/limits/context", headers=token)
    assert raw.get("/v2/security/public-key-certificates").json() != keys_before
    assert raw.get("/api/online/Session/AuthorisationChallenge").status_code == 404
    raw.get("/v2/auth/sessions", headers=token)
    retired = raw.post("/api/online/Session/AuthorisationChallenge")
    assert retired.status_code == 410 and "KSeF 1.0" in retired.json()["detail"]
    before_clock = mock.clock.now()
    challenge(raw)
    assert (mock.clock.now() - before_clock).days == 1


def _api(raw):  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    return TestClient(raw.app, base_url="http://testserver/v2")


# -- the KSeF 1.0 paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["not_found", "gone"])
def test_retired_paths_answer_as_configured(config, spec, mode):
    from dataclasses import replace

    from starlette.testclient import TestClient

    state = MockState(replace(config, legacy_v1=mode), spec=spec)
    with TestClient(create_app(state=state), base_url="https://ksef-test.mf.gov.pl") as c:
        for path in (
            "/api/online/Session/AuthorisationChallenge",
            "/api/online/Session/InitToken",
            "/api/common/Status/x",
            "/api/batch/Init",
        ):
            answer = c.post(path)
            assert answer.status_code == {"not_found": 404, "gone": 410}[mode], path
            assert answer.headers["content-type"].startswith("application/problem+json")
        assert c.post("/api/v2/auth/challenge").status_code == 200  # the 2.0 paths still work
    assert state.scenarios.engaged is (mode != "not_found")


def test_refused_is_a_reset_and_unknown_modes_are_refused(config, spec):
    from dataclasses import replace

    state = MockState(replace(config, legacy_v1="refused"), spec=spec)
    assert state.scenarios.legacy_mode == "reset"
    with pytest.raises(ValueError):
        MockState(replace(config, legacy_v1="teapot"), spec=spec)


# -- clock: activation, timeline ----------------------------------------------------------------


def test_clock_mode_start_and_timeline(raw, engine, mock):
    engine.activate(
        scenario(
            "name: t\n"
            "clock:\n  mode: virtual\n  start: 2026-05-01T08:00:00Z\n  timeline:\n"
            "    - {advance: 1h}\n"
            "    - {after_calls: 2, advance: 30m}\n"
            "    - {after_event: auth.challenge, set: 2026-06-01T00:00:00Z}\n"
            "rules: []\n"
        )
    )
    assert mock.clock.now() == datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    raw.get("/v2/tokens")
    assert mock.clock.now() == datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    raw.get("/v2/tokens")
    assert mock.clock.now() == datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    challenge(raw)
    assert mock.clock.now() == datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
    challenge(raw)  # each move happens once
    assert mock.clock.now() == datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
    moves = [e for e in mock.journal.entries(kind="event") if e["event"] == "clock.moved"]
    assert len(moves) == 4


def test_clock_modes_offset_and_real(mock):
    mock.scenarios.move_clock(mode="offset")
    assert mock.clock.mode == "offset"
    mock.scenarios.move_clock(mode="real")
    assert mock.clock.describe()["offsetSeconds"] == 0
    mock.scenarios.move_clock(mode="virtual", set=datetime(2026, 1, 1, tzinfo=UTC), advance="1h")
    assert mock.clock.now() == datetime(2026, 1, 1, 1, 0, tzinfo=UTC)


# -- scheduled resets ----------------------------------------------------------------------------


def test_scheduled_demo_reset_from_config(config, spec):
    from dataclasses import replace

    from starlette.testclient import TestClient

    from mockksef.clock import Clock

    state = MockState(
        replace(config, reset_schedule="demo@03:00"),
        spec=spec,
        clock=Clock.virtual("2026-03-02T09:00:00Z"),
    )
    day = timedelta(days=2)
    demo = bearer(mint_access_token(state, nip=NIP, env=Env.DEMO, lifetime=day))
    test = bearer(mint_access_token(state, nip=NIP, env=Env.TEST, lifetime=day))
    with TestClient(create_app(state=state)) as c:
        assert c.get("/demo/v2/tokens", headers=demo).status_code == 200
        state.clock.set(datetime(2026, 3, 3, 1, 59, tzinfo=UTC))  # 02:59 Warsaw
        assert c.get("/demo/v2/tokens", headers=demo).status_code == 200
        state.clock.advance(60)
        assert c.get("/demo/v2/tokens", headers=demo).status_code == 401
        assert c.get("/test/v2/tokens", headers=test).status_code == 200
    resets = [e for e in state.journal.entries(kind="event") if e["event"] == "data.reset"]
    assert [(e["environment"], e["time"][:16]) for e in resets] == [("demo", "2026-03-03T02:00")]
    assert state.scenarios.status()["resets"][0]["nextDue"].startswith("2026-03-04T02:00")


def test_scenario_reset_schedules_follow_clock_moves(engine, mock):
    engine.activate(
        scenario(
            "name: t\nresets:\n  - {environment: test, every: 1h}\n  - {environment: demo, at: 2026-03-02T12:00:00Z}\nrules: []\n"
        )
    )
    generations = lambda: (mock.env(Env.TEST).generation, mock.env(Env.DEMO).generation)  # noqa: E731
    assert generations() == (0, 0)
    engine.move_clock(advance="1h")
    assert generations() == (1, 0)
    engine.move_clock(advance="3h")  # missed runs happen once
    assert generations() == (2, 1)
    engine.move_clock(advance="1d")
    assert generations() == (3, 1)  # the one-off reset does not repeat
    engine.deactivate("t")
    engine.move_clock(advance="1d")
    assert generations() == (3, 1)


# -- require_all_fired, lifecycle ------------------------------------------------------------------


def test_require_all_fired(raw, engine):
    engine.activate(
        rules(
            "{name: a, when: {operation: auth.challenge}, then: {pass: true}}",
            "{name: b, when: {operation: tokens.list}, then: {pass: true}}",
            extra="require_all_fired: true\n",
        )
    )
    challenge(raw)
    with pytest.raises(ScenarioNotFullyFired, match="t: b"):
        engine.check()
    raw.get("/v2/tokens")
    engine.check()
    assert engine.describe("t")["allFired"] is True


def test_load_activate_deactivate_unload(engine, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: from-file\nrules: []\n", encoding="utf-8")
    loaded = engine.load(str(path))
    assert loaded.name == "from-file" and engine.active == []
    engine.activate("from-file")
    assert engine.active == ["from-file"]
    engine.activate("from-file")  # activating again restarts it
    assert engine.active == ["from-file"]
    engine.deactivate("from-file")
    with pytest.raises(KeyError):
        engine.deactivate("from-file")
    engine.unload("from-file")
    with pytest.raises(KeyError):
        engine.describe("from-file")


def test_environments_must_be_enabled(config, spec):
    from dataclasses import replace

    state = MockState(replace(config, environments=(Env.TEST,)), spec=spec)
    with pytest.raises(ScenarioError, match="environment prod is not enabled"):
        state.scenarios.activate(scenario("name: x\nenvironments: [prod]\nrules: []\n"))


# -- setup through mockksef.seeding ---------------------------------------------------------------------


SETUP = (
    "name: s\nenvironment: demo\nseed: 5\nsetup:\n  subjects: [{nip: '"
    + NIP
    + "'}]\n  tokens: [{context: '"
    + NIP
    + "', permissions: [InvoiceRead], value: fixed}]\nrules: []\n"
)


def test_setup_calls_the_seeding_handlers_in_order(engine, monkeypatch):
    calls = []

    def handler(kind):  # type: ignore[no-untyped-def]
        def run(env, item, rng):  # type: ignore[no-untyped-def]
            calls.append((kind, env.env.value, item, rng.stream))
            return {"kind": kind}

        return run

    fake = types.ModuleType("mockksef.seeding")
    fake.SETUP_KINDS = {k: handler(k) for k in ("tokens", "subjects")}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mockksef.seeding", fake)
    report = engine.activate(scenario(SETUP))
    assert [c[0] for c in calls] == ["subjects", "tokens"]
    assert calls[1][1] == "demo" and calls[1][2]["value"] == "fixed"
    assert calls[0][3] == "scenario/s/demo/setup"
    assert report["setup"] == {
        "demo": {"subjects": [{"kind": "subjects"}], "tokens": [{"kind": "tokens"}]}
    }
    seeded = engine.seed({"subjects": [{"nip": OTHER}]}, environment="test")
    assert seeded == {"test": {"subjects": [{"kind": "subjects"}]}}


def test_missing_setup_kinds_are_named(engine, monkeypatch):
    fake = types.ModuleType("mockksef.seeding")
    fake.SETUP_KINDS = {"subjects": lambda env, item, rng: None}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mockksef.seeding", fake)
    with pytest.raises(ScenarioError) as caught:
        engine.activate(scenario(SETUP))
    assert caught.value.problems == [
        "test.yaml: /setup/tokens: setup kind 'tokens' is not available (mockksef.seeding has no handler)"
    ]
    assert engine.active == []
    monkeypatch.setitem(sys.modules, "mockksef.seeding", None)
    with pytest.raises(ScenarioError, match="cannot be imported"):
        engine.activate(scenario(SETUP))


def test_setup_errors_name_the_item(engine, monkeypatch):
    def refuse(env, item, rng):  # type: ignore[no-untyped-def]
        raise ValueError("bad NIP")

    fake = types.ModuleType("mockksef.seeding")
    fake.SETUP_KINDS = {"subjects": refuse, "tokens": refuse}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mockksef.seeding", fake)
    with pytest.raises(ScenarioError) as caught:
        engine.activate(scenario(SETUP))
    assert caught.value.problems == ["test.yaml: /setup/subjects/0: bad NIP"]


def test_an_effect_the_domain_refuses_answers_with_its_error(raw, engine, mock):
    engine.activate(
        rules(
            "{when: {operation: auth.challenge}, then: {set_limits: {context: '"
            + NIP
            + "', rate_limits: {rateLimits: {}}}}}"
        )
    )
    refused = challenge(raw)
    assert refused.status_code == 400 and legacy_codes(refused) == [21405]
    (entry,) = mock.journal.entries(kind="request")
    assert entry["codes"] == [21405] and entry["rule"] == "t/rule-1"
    with pytest.raises(ScenarioError, match="'context' is a required property"):
        rules("{then: {set_limits: {production: true}}}")
