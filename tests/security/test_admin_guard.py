"""The admin plane (/_mock) behind a token, or loopback only; the API never affected.

Before (issue 13): /_mock/* (reset, clock, scenarios, seeding) answered anyone,
also on a public address, and read a 50 MB body without a limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from mockksef import MockConfig, MockState, create_app
from mockksef.admin.guard import COOKIE_NAME, AdminGuard, is_loopback
from tests.conftest import legacy_codes

TOKEN = "s3cr3t-admin-token-for-tests"


@pytest.fixture
def config(config: MockConfig) -> MockConfig:
    return replace(config, admin_token=TOKEN)


@pytest.fixture
def admin(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client


def test_a_configured_token_is_required_on_every_admin_verb(admin, mock) -> None:  # type: ignore[no-untyped-def]
    before = mock.clock.now()
    for method, path in [
        ("GET", "/_mock/health"),
        ("POST", "/_mock/reset"),
        ("POST", "/_mock/clock"),
        ("GET", "/_mock/journal"),
        ("GET", "/_mock/state"),
        ("POST", "/_mock/seed"),
        ("GET", "/_mock/console"),
        ("GET", "/_mock/no-such-verb"),
    ]:
        response = admin.request(method, path, json={"advance": "1h"})
        assert response.status_code == 401, (method, path, response.text)
        body = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert body["status"] == 401 and "X-Mock-Admin-Token" in body["detail"]
        assert body["instance"] == path and body["traceId"]
    assert mock.clock.now() == before  # nothing behind the guard ran


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {TOKEN}"},
        {"authorization": f"bearer {TOKEN}"},
        {"X-Mock-Admin-Token": TOKEN},
    ],
    ids=["bearer", "bearer-lowercase", "x-mock-admin-token"],
)
def test_the_token_opens_the_admin_plane(admin, mock, headers) -> None:  # type: ignore[no-untyped-def]
    assert admin.get("/_mock/health", headers=headers).status_code == 200
    before = mock.clock.now()
    moved = admin.post("/_mock/clock", json={"advance": "1h"}, headers=headers)
    assert moved.status_code == 200, moved.text
    assert (mock.clock.now() - before).total_seconds() == 3600


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"X-Mock-Admin-Token": ""},
        {"Cookie": f"{COOKIE_NAME}={TOKEN}"},  # the cookie holds a proof, not the token
    ],
)
def test_a_wrong_token_is_refused(admin, headers) -> None:  # type: ignore[no-untyped-def]
    assert admin.get("/_mock/health", headers=headers).status_code == 401


def test_the_official_api_never_needs_the_admin_token(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver") as client:
        for prefix in ("/v2", "/api/v2", "/test/v2", "/demo/v2"):
            assert client.post(f"{prefix}/auth/challenge").status_code == 200


def test_the_console_trades_the_token_in_its_address_for_a_cookie(admin) -> None:  # type: ignore[no-untyped-def]
    wrong = admin.get("/_mock/console", params={"token": "nope"})
    assert wrong.status_code == 401
    login = admin.get("/_mock/console/journal", params={"lang": "pl", "token": TOKEN})
    assert login.status_code == 303
    # Out of the address bar and the history: the same page without the token.
    assert login.headers["location"] == "/_mock/console/journal?lang=pl"
    cookie = login.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=") and TOKEN not in cookie
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/_mock"):
        assert attribute.lower() in cookie.lower()
    # The cookie (sent back by the browser) opens the whole admin plane.
    assert admin.get("/_mock/health").status_code == 200
    admin.cookies.clear()
    assert admin.get("/_mock/health").status_code == 401


def test_the_token_in_a_query_only_logs_into_console_pages(admin) -> None:  # type: ignore[no-untyped-def]
    assert admin.get("/_mock/health", params={"token": TOKEN}).status_code == 401
    assert admin.post("/_mock/console", params={"token": TOKEN}).status_code == 401


def plane(config: MockConfig, spec, base_url: str) -> TestClient:  # type: ignore[no-untyped-def]
    """An in-process client whose requests arrive on ``base_url``'s host as local address.

    The test client puts the URL's host into ``scope["server"]``, as uvicorn puts
    the socket's local address: the decision is taken on that string, no socket
    is opened.
    """
    state = MockState(config, spec=spec)
    return TestClient(create_app(state=state), base_url=base_url)


@pytest.mark.parametrize(
    ("base_url", "open_"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.0.0.2:8080", True),
        ("http://[::1]:8080", True),
        ("http://testserver", True),  # in-process transports name a host, not an address
        ("http://192.168.1.20:8080", False),
        ("http://10.0.0.7:8080", False),
        ("http://[2001:db8::1]:8080", False),
    ],
)
def test_without_a_token_the_admin_plane_answers_only_on_loopback(  # type: ignore[no-untyped-def]
    spec, base_url, open_
) -> None:
    config = MockConfig(seed=1, clock_mode="virtual")
    with plane(config, spec, base_url) as client:
        health = client.get("/_mock/health")
        assert health.status_code == (200 if open_ else 401), health.text
        if not open_:
            assert "--admin-token" in health.json()["detail"]
        # The official API answers on every address.
        assert client.post("/v2/auth/challenge").status_code == 200
    with plane(replace(config, admin_insecure=True), spec, base_url) as client:
        assert client.get("/_mock/health").status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.org", False),
        ("myhost", False),  # a name is not resolved: treated as reachable
    ],
)
def test_loopback_is_decided_on_the_host_string(host, loopback) -> None:  # type: ignore[no-untyped-def]
    assert is_loopback(host) is loopback


def test_admin_bodies_are_bounded_in_the_official_shape(spec) -> None:  # type: ignore[no-untyped-def]
    state = MockState(
        MockConfig(seed=1, clock_mode="virtual", max_admin_body_bytes=1000), spec=spec
    )
    with TestClient(create_app(state=state)) as client:
        declared = client.post("/_mock/seed", content=b"{" + b" " * 2000 + b"}")
        assert declared.status_code == 400 and legacy_codes(declared) == [21405]
        assert "1000" in declared.json()["exception"]["exceptionDetailList"][0]["details"][0]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
            for _ in range(50):
                yield b" " * 100

        streamed = client.post("/_mock/scenarios", content=chunks())
        assert streamed.status_code == 400 and legacy_codes(streamed) == [21405]
        # Under the limit the verb works and sees the whole body.
        moved = client.post("/_mock/clock", json={"advance": "2h"})
        assert moved.status_code == 200, moved.text


def test_a_websocket_to_the_admin_plane_needs_the_token(spec) -> None:  # type: ignore[no-untyped-def]
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("admin")
        await websocket.close()

    async def page(request):  # type: ignore[no-untyped-def]
        from starlette.responses import PlainTextResponse

        return PlainTextResponse("page")

    state = MockState(MockConfig(seed=1, admin_token=TOKEN), spec=spec)
    inner = Starlette(routes=[WebSocketRoute("/_mock/live", echo), Route("/_mock/page", page)])
    with TestClient(AdminGuard(inner, state)) as client:
        with pytest.raises(WebSocketDisconnect) as refused:
            with client.websocket_connect("/_mock/live") as ws:
                ws.receive_text()
        assert refused.value.code == 1008
        with client.websocket_connect(
            "/_mock/live", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as ws:
            assert ws.receive_text() == "admin"
        assert client.get("/_mock/page", headers={"X-Mock-Admin-Token": TOKEN}).text == "page"
