"""API rate limits over HTTP on the virtual clock: windows, 429 formats, budgets, overrides.

Every test here runs with ``@pytest.mark.rate_limits`` (the suite's default
config has them off). Counts are the documented defaults: ``GET /rate-limits``
is in group ``other`` (10/s, 30/min, 120/h), ``POST /auth/challenge`` in
``anonymous`` (60/s per IP).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockksef import MockState, create_app
from mockksef.clock import Clock
from mockksef.environments import Env
from mockksef.models import ContextIdentifier, SubjectIdentifier
from mockksef.server import ThreadedServer
from mockksef.services.limits.models import OVERRIDABLE_GROUPS
from tests import kit, spec_check
from tests.conftest import START, bearer, mint_access_token

pytestmark = pytest.mark.rate_limits

NIP = "5265877635"
OTHER_NIP = "7762811692"
PROBLEM = {"X-Error-Format": "problem-details"}


def make_client(app, ip: str = "10.0.0.1", base: str = "http://testserver/v2") -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(app, base_url=base, client=(ip, 40000))
    client.event_hooks["response"] = [spec_check.hook(app.state.mock.spec)]
    return client


def token(mock, nip: str = NIP, env: Env = Env.TEST) -> dict[str, str]:  # type: ignore[no-untyped-def]
    # Long-lived, so that hour-long waits on the clock do not end in 401.
    return bearer(mint_access_token(mock, nip=nip, env=env, lifetime=timedelta(hours=3)))


def burst(client: TestClient, n: int, path: str = "/rate-limits", **kwargs: Any) -> list[int]:
    return [client.get(path, **kwargs).status_code for _ in range(n)]


def schema_of(spec, method: str, path: str, status: str, media: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return spec.operation(method, path).raw["responses"][status]["content"][media]["schema"]


def overrides(per_second: int, per_minute: int, per_hour: int) -> dict[str, Any]:
    values = {"perSecond": per_second, "perMinute": per_minute, "perHour": per_hour}
    return {"rateLimits": {g: dict(values) for g in OVERRIDABLE_GROUPS}}


# -- the three windows ------------------------------------------------------------------------


def test_second_window_triggers_at_10_and_releases_at_retry_after(app, mock, spec):
    client, auth = make_client(app), token(mock)
    assert burst(client, 10, headers=auth) == [200] * 10
    refused = client.get("/rate-limits", headers=auth)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() == {
        "status": {
            "code": 429,
            "description": "Too Many Requests",
            "details": ["Przekroczono limit 10 żądań na sekundę. Spróbuj ponownie po 1 sekundzie."],
        }
    }
    mock.clock.advance(0.999999)
    assert client.get("/rate-limits", headers=auth).status_code == 429
    mock.clock.advance(0.000001)
    assert client.get("/rate-limits", headers=auth).status_code == 200


def test_minute_window_triggers_at_30_and_releases_at_retry_after(app, mock, spec):
    client, auth = make_client(app), token(mock)
    for _ in range(3):
        assert burst(client, 10, headers=auth) == [200] * 10
        mock.clock.advance(1)
    refused = client.get("/rate-limits", headers={**auth, **PROBLEM})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "57"
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["detail"] == (
        "Przekroczono limit 30 żądań na minutę. Spróbuj ponownie po 57 sekundach."
    )
    assert (body["title"], body["status"], body["instance"]) == (
        "Too Many Requests",
        429,
        "/v2/rate-limits",
    )
    problem = schema_of(spec, "GET", "/rate-limits", "429", "application/problem+json")
    assert spec.validate_value(problem, body).errors == []
    mock.clock.advance(56.999999)
    assert client.get("/rate-limits", headers=auth).headers["Retry-After"] == "1"
    mock.clock.advance(0.000001)
    assert client.get("/rate-limits", headers=auth).status_code == 200


def test_hour_window_triggers_at_120_and_releases_at_retry_after(app, mock, spec):
    client, auth = make_client(app), token(mock)
    for _ in range(4):  # 4 x 30 requests, 30 per minute
        for _ in range(3):
            assert burst(client, 10, headers=auth) == [200] * 10
            mock.clock.advance(1)
        mock.clock.advance(57)
    # 240 s after the first request: the oldest leaves the hour in 3360 s.
    refused = client.get("/rate-limits", headers=auth)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3360"
    assert refused.json()["status"]["details"] == [
        "Przekroczono limit 120 żądań na godzinę. Spróbuj ponownie po 3360 sekundach."
    ]
    legacy = schema_of(spec, "GET", "/rate-limits", "429", "application/json")
    assert spec.validate_value(legacy, refused.json()).errors == []
    mock.clock.advance(3359.999999)
    assert client.get("/rate-limits", headers=auth).status_code == 429
    mock.clock.advance(0.000001)
    assert client.get("/rate-limits", headers=auth).status_code == 200


# -- budgets ----------------------------------------------------------------------------------


def test_contexts_ips_and_operations_are_counted_apart(app, mock):
    here, there = make_client(app, "10.0.0.1"), make_client(app, "10.0.0.2")
    mine, theirs = token(mock), token(mock, OTHER_NIP)
    assert burst(here, 11, headers=mine)[-1] == 429
    assert burst(there, 10, headers=mine) == [200] * 10  # same context, other IP
    assert burst(here, 10, headers=theirs) == [200] * 10  # same IP, other context
    # Each "other" endpoint has its own counter.
    assert burst(here, 10, "/limits/context", headers=mine) == [200] * 10
    # Another subject in the same context shares the context's budget.
    person = bearer(
        mint_access_token(
            mock,
            subject=SubjectIdentifier("Pesel", "15062788702"),
            context=ContextIdentifier("Nip", NIP),
        )
    )
    assert here.get("/rate-limits", headers=person).status_code == 429


def test_unauthenticated_calls_are_counted_per_ip(app, mock):
    here, there = make_client(app, "10.0.0.1"), make_client(app, "10.0.0.2")
    codes = [here.post("/auth/challenge").status_code for _ in range(61)]
    assert codes == [200] * 60 + [429]
    assert there.post("/auth/challenge").status_code == 200
    # Token-less "other" operations (context block) are per IP as well, 10/s.
    body = {"contextIdentifier": {"type": "Nip", "value": OTHER_NIP}}
    codes = [here.post("/testdata/context/block", json=body).status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]


def test_escalation_lengthens_the_block(app, mock):
    client, auth = make_client(app), token(mock)
    # Only the per-second window is tight, so every violation is a per-second one
    # (100/min and 200/h: the highest values TEST accepts for every group, 10x production).
    set_limits = client.post("/testdata/rate-limits", json=overrides(10, 100, 200), headers=auth)
    assert set_limits.status_code == 200
    seen = []
    for _ in range(4):
        assert burst(client, 10, headers=auth) == [200] * 10
        refused = client.get("/rate-limits", headers=auth)
        seen.append(int(refused.headers["Retry-After"]))
        mock.clock.advance(seen[-1] - 0.5)
        # Still blocked just before Retry-After, and asking does not extend it.
        assert client.get("/rate-limits", headers=auth).headers["Retry-After"] == "1"
        mock.clock.advance(0.5)
    assert seen == [1, 2, 4, 8]
    assert "po 8 sekundach" in refused.json()["status"]["details"][0]


def test_the_limit_is_applied_before_the_body_is_read(app, mock):
    client, auth = make_client(app), token(mock)
    # Invalid bodies are refused with 400, but still count.
    for _ in range(10):
        response = client.post("/testdata/rate-limits", json={"rateLimits": {}}, headers=auth)
        assert response.status_code == 400
    assert client.post("/testdata/rate-limits", json={}, headers=auth).status_code == 429
    # No valid bearer, no budget: 401 before counting.
    assert [client.get("/rate-limits").status_code for _ in range(15)] == [401] * 15


# -- client IP --------------------------------------------------------------------------------


def test_forwarded_for_is_ignored_without_a_trusted_proxy(app, mock):
    client, auth = make_client(app, "10.0.0.9"), token(mock)
    statuses = [
        client.get("/rate-limits", headers={**auth, "X-Forwarded-For": f"192.0.2.{i}"}).status_code
        for i in range(11)
    ]
    assert statuses[-1] == 429


@pytest.mark.rate_limits(trusted_proxy=True)
def test_forwarded_for_names_the_client_behind_a_trusted_proxy(app, mock):
    proxy, auth = make_client(app, "10.0.0.9"), token(mock)
    for i in range(11):
        forwarded = {**auth, "X-Forwarded-For": f"192.0.2.{i}, 10.0.0.9"}
        assert proxy.get("/rate-limits", headers=forwarded).status_code == 200
    one = {**auth, "X-Forwarded-For": "198.51.100.7"}
    assert burst(proxy, 11, headers=one)[-1] == 429


@pytest.mark.server
def test_the_socket_peer_is_the_client_over_a_real_server(config, spec):  # type: ignore[no-untyped-def]
    state = MockState(replace(config, extra={}), spec=spec, clock=Clock.virtual(START))
    auth = token(state)
    # As ``mockksef serve`` runs it: uvicorn's own proxy-header handling follows
    # config.trusted_proxy (off), so the peer address is the socket's.
    with (
        ThreadedServer(create_app(state=state), proxy_headers=False) as server,
        httpx.Client(base_url=server.url + "/v2", timeout=10) as client,
    ):
        forged = {**auth, "X-Forwarded-For": "198.51.100.1"}
        codes = [client.get("/rate-limits", headers=forged).status_code for _ in range(10)]
        refused = client.get("/rate-limits", headers=auth)
    assert codes == [200] * 10
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert refused.json()["status"]["code"] == 429


def test_async_transport_client_address(app, mock):
    auth = token(mock)

    async def eleven() -> list[int]:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.5", 123))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver/v2") as c:
            return [(await c.get("/rate-limits", headers=auth)).status_code for _ in range(11)]

    assert asyncio.run(eleven()) == [200] * 10 + [429]
    assert make_client(app, "203.0.113.6").get("/rate-limits", headers=auth).status_code == 200


# -- overrides and environments ---------------------------------------------------------------


def test_testdata_overrides_change_enforcement_and_delete_restores(app, mock, spec):
    client, auth = make_client(app), token(mock)
    assert (
        client.post("/testdata/rate-limits", json=overrides(2, 3, 50), headers=auth).status_code
        == 200
    )
    body = client.get("/rate-limits", headers=auth).json()
    assert body["other"] == {"perSecond": 2, "perMinute": 3, "perHour": 50}
    assert body["onlineSessionClose"] == {"perSecond": 20, "perMinute": 60, "perHour": 240}
    assert len(body) == 17
    ok = schema_of(spec, "GET", "/rate-limits", "200", "application/json")
    assert spec.validate_value(ok, body).errors == []
    refused = burst(client, 3, "/limits/subject", headers=auth)
    assert refused == [200, 200, 429]
    # Another context keeps the defaults.
    assert burst(client, 10, "/limits/subject", headers=token(mock, OTHER_NIP)) == [200] * 10
    assert client.delete("/testdata/rate-limits", headers=auth).status_code == 200
    assert client.get("/rate-limits", headers=auth).json()["other"] == {
        "perSecond": 10,
        "perMinute": 30,
        "perHour": 120,
    }
    mock.clock.advance(1)
    assert burst(client, 10, "/limits/context", headers=auth) == [200] * 10


@pytest.mark.rate_limits(rate_limit_multiplier=10)
def test_test_switched_to_production_values_matches_prod(app, mock, spec):
    root = "http://testserver"
    test = make_client(app, base=f"{root}/test/v2")
    prod = make_client(app, base=f"{root}/prod/v2")
    test_auth, prod_auth = token(mock), token(mock, env=Env.PROD)
    scaled = test.get("/rate-limits", headers=test_auth).json()
    assert scaled["other"] == {"perSecond": 100, "perMinute": 300, "perHour": 1200}
    assert burst(test, 11, "/limits/context", headers=test_auth) == [200] * 11
    assert test.post("/testdata/rate-limits/production", headers=test_auth).status_code == 200
    production = test.get("/rate-limits", headers=test_auth).json()
    assert production == prod.get("/rate-limits", headers=prod_auth).json()
    assert production["other"] == {"perSecond": 10, "perMinute": 30, "perHour": 120}
    ok = schema_of(spec, "GET", "/rate-limits", "200", "application/json")
    assert spec.validate_value(ok, production).errors == []
    mock.clock.advance(1)
    assert burst(test, 11, "/limits/subject", headers=test_auth)[-1] == 429
    assert burst(prod, 11, "/limits/subject", headers=prod_auth)[-1] == 429
    # DELETE brings back the environment's (scaled) defaults.
    assert test.delete("/testdata/rate-limits", headers=test_auth).status_code == 200
    assert test.get("/rate-limits", headers=test_auth).json() == scaled


def test_testdata_rate_limits_are_test_only(app, mock):
    prod = make_client(app, base="http://testserver/prod/v2")
    auth = token(mock, env=Env.PROD)
    assert prod.post("/testdata/rate-limits/production", headers=auth).status_code == 404
    assert (
        prod.post("/testdata/rate-limits", json=overrides(1, 1, 1), headers=auth).status_code == 404
    )


# -- the other limit endpoints -------------------------------------------------------------------


def test_session_and_certificate_overrides_show_in_force(app, mock, spec):
    client, auth = make_client(app), token(mock)
    session = kit.session_limits(online=(2, 4, 7), batch=(5, 10, 100000), collective=2)
    assert (
        client.post("/testdata/limits/context/session", json=session, headers=auth).status_code
        == 200
    )
    in_force = client.get("/limits/context", headers=auth).json()
    assert in_force == session
    context_schema = schema_of(spec, "GET", "/limits/context", "200", "application/json")
    assert spec.validate_value(context_schema, in_force).errors == []
    limits = mock.env("TEST").limits.session_limits(ContextIdentifier("Nip", NIP))
    assert (limits.online.max_invoices, limits.online.max_invoice_size_bytes) == (7, 2_000_000)
    assert client.delete("/testdata/limits/context/session", headers=auth).status_code == 200
    assert (
        client.get("/limits/context", headers=auth).json()["onlineSession"]["maxInvoices"] == 10000
    )

    certificate = {
        "subjectIdentifierType": "Nip",
        "enrollment": {"maxEnrollments": 0},
        "certificate": {"maxCertificates": 3},
    }
    assert (
        client.post(
            "/testdata/limits/subject/certificate", json=certificate, headers=auth
        ).status_code
        == 200
    )
    subject = client.get("/limits/subject", headers=auth).json()
    assert subject == {"enrollment": {"maxEnrollments": 0}, "certificate": {"maxCertificates": 3}}
    subject_schema = schema_of(spec, "GET", "/limits/subject", "200", "application/json")
    assert spec.validate_value(subject_schema, subject).errors == []
    # The certificates area enforces what is in force.
    assert client.get("/certificates/limits", headers=auth).json()["canRequest"] is False
    assert client.delete("/testdata/limits/subject/certificate", headers=auth).status_code == 200
    assert client.get("/limits/subject", headers=auth).json()["enrollment"] == {
        "maxEnrollments": 300
    }


# -- headers ----------------------------------------------------------------------------------


def test_system_warning_echo_on_test_only_and_never_on_429(app, mock):
    client, auth = make_client(app), token(mock)
    warn = {**auth, "X-Test-System-Warning": "[LIM-1]: Zbliżasz się do limitu".encode()}
    ok = client.get("/rate-limits", headers=warn)
    assert ok.headers["X-System-Warning"] == "[LIM-1]: Zblizasz sie do limitu"
    assert "X-System-Warning" not in client.get("/rate-limits", headers=auth).headers
    burst(client, 10, headers=auth)
    refused = client.get("/rate-limits", headers=warn)
    assert refused.status_code == 429 and "X-System-Warning" not in refused.headers
    demo = make_client(app, base="http://testserver/demo/v2")
    demo_warn = {**token(mock, env=Env.DEMO), "X-Test-System-Warning": "[LIM-1]: x"}
    assert "X-System-Warning" not in demo.get("/rate-limits", headers=demo_warn).headers


@pytest.mark.rate_limits(rate_limits_enabled=False)
def test_rate_limits_can_be_switched_off(app, mock):
    client, auth = make_client(app), token(mock)
    assert burst(client, 50, headers=auth) == [200] * 50  # beyond 10/s and 30/min
