"""Shared fixtures: a virtual-clock app in-process, and helpers to mint credentials.

``app``/``mock``/``client`` run in-process (httpx over ASGI, no socket). The
``server`` fixture runs the same app on a real uvicorn socket. Tests move the
clock (``mock.clock.advance``) instead of sleeping.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockksef import MockConfig, MockState, create_app
from mockksef.clock import Clock
from mockksef.environments import Env
from mockksef.http.security import access_claims
from mockksef.models import ContextIdentifier, SubjectIdentifier
from mockksef.server import ThreadedServer
from mockksef.spec import Spec
from mockksef.state import EnvironmentState
from mockksef.testing import InProcessTransport
from tests import spec_check

OFFICIAL = Path(__file__).resolve().parent.parent.parent / "shared" / "ksef-official"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def spec() -> Spec:
    from mockksef import official
    from mockksef.pytest_plugin import freeze_long_lived

    parsed = Spec.from_dir(official.locate())
    freeze_long_lived()  # as the plugin does for users' sessions
    return parsed


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "rate_limits(**config): enforce API rate limits in this test (off by default in the "
        "suite); keyword arguments are further MockConfig fields, e.g. rate_limit_multiplier=10",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``deep`` tests (minutes of load) run only when asked for: ``pytest -m deep``."""
    if "deep" in (config.getoption("markexpr") or ""):
        return
    deep = [item for item in items if item.get_closest_marker("deep")]
    if deep:
        config.hook.pytest_deselected(items=deep)
        items[:] = [item for item in items if not item.get_closest_marker("deep")]


def pytest_sessionstart(session: pytest.Session) -> None:
    # Without the official files nearly every test would fail on its own; say it
    # once, before collection, as `mockksef serve` does.
    from mockksef import official

    try:
        official.locate()
    except official.OfficialFilesMissing as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.fixture
def config(request: pytest.FixtureRequest) -> MockConfig:
    """The suite's config: virtual clock, fixed seed, server errors raised.

    Rate limits are OFF by default: tests send many requests per context on a
    frozen clock. ``@pytest.mark.rate_limits`` turns them on (its keyword
    arguments override further fields).
    """
    base = MockConfig(
        seed=1234,
        clock_mode="virtual",
        rate_limits_enabled=False,
        extra={"raise_server_errors": True},
    )
    marker = request.node.get_closest_marker("rate_limits")
    if marker is not None:
        base = replace(base, **{"rate_limits_enabled": True, **marker.kwargs})
    return base


@pytest.fixture
def mock(config: MockConfig, spec: Spec) -> MockState:
    return MockState(config, spec=spec, clock=Clock.virtual(START))


@pytest.fixture
def env(mock: MockState) -> EnvironmentState:
    """The TEST environment's state, for tests that seed or inspect the domain directly."""
    return mock.env(Env.TEST)


@pytest.fixture
def app(mock: MockState):  # type: ignore[no-untyped-def]
    return create_app(state=mock)


@pytest.fixture
def client(app) -> Iterator[httpx.Client]:  # type: ignore[no-untyped-def]
    """Sync in-process client on the TEST environment (``/v2`` = TEST).

    Over ``mockksef.testing.InProcessTransport``, as users get it from the plugin's
    ``ksef_http``: the app answers in the test's thread (Starlette's ``TestClient``
    crosses threads several times a request)."""
    with _in_process(app) as c:
        yield c


@contextlib.contextmanager
def _in_process(app: Any) -> Iterator[httpx.Client]:
    """A spec-checked sync client on ``app`` under ``/v2`` (TEST)."""
    with httpx.Client(
        # TestClient's peer and agent, which tests of IP policies and the journal name.
        transport=InProcessTransport(app, client=("testclient", 50000)),
        base_url="http://testserver/v2",
        headers={"user-agent": "testclient"},
        follow_redirects=True,
    ) as c:
        c.event_hooks["response"] = [spec_check.hook(app.state.mock.spec)]
        c.app = app  # type: ignore[attr-defined]  # as TestClient.app (and the plugin's ksef_http)
        yield c


@pytest.fixture
def async_client(app) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver/v2"
    )


@contextlib.contextmanager
def tuned_client(mock: MockState, **changes: Any) -> Iterator[tuple[httpx.Client, MockState]]:
    """An in-process client (TEST, spec-checked) on a fresh state whose config differs from
    the suite's by ``changes``; same spec, virtual clock at ``START``."""
    state = MockState(replace(mock.config, **changes), spec=mock.spec, clock=Clock.virtual(START))
    with _in_process(create_app(state=state)) as client:
        yield client, state


@pytest.fixture
def server(config: MockConfig, spec: Spec) -> Iterator[ThreadedServer]:
    """The app on a real uvicorn socket; errors must come back as HTTP answers."""
    state = MockState(replace(config, extra={}), spec=spec, clock=Clock.virtual(START))
    with ThreadedServer(create_app(state=state)) as srv:
        srv.state = state  # type: ignore[attr-defined]
        yield srv


@pytest.fixture(params=["in-process", "socket"])
def lane(request, app):  # type: ignore[no-untyped-def]
    """One test body, two lanes: ``(client, state)`` in-process, then over uvicorn.

    Both clients check every answer against the official spec.
    """
    if request.param == "in-process":
        # Starlette's TestClient on purpose: users' suites drive the app through it.
        with TestClient(app, base_url="http://testserver/v2") as client:
            client.event_hooks["response"] = [spec_check.hook(app.state.mock.spec)]
            yield client, app.state.mock
    else:
        server = request.getfixturevalue("server")
        hooks = {"response": [spec_check.hook(server.state.spec)]}
        with httpx.Client(base_url=server.url + "/v2", timeout=20, event_hooks=hooks) as client:
            yield client, server.state


def mint_access_token(
    mock: MockState,
    *,
    nip: str = "5265877635",
    context: ContextIdentifier | None = None,
    subject: SubjectIdentifier | None = None,
    permissions: tuple[str, ...] = ("Owner",),
    auth_method: str = "QualifiedSeal",
    env: Env = Env.TEST,
    reference_number: str | None = None,
    ip_policy: dict | None = None,  # type: ignore[type-arg]
    lifetime: timedelta = timedelta(minutes=15),
) -> str:
    """An access token as auth would issue it, for tests of other areas.

    It bypasses the authentication flow, so it proves nothing about auth.
    """
    env_state = mock.env(env)
    context = context or ContextIdentifier("Nip", nip)
    subject = subject or SubjectIdentifier("Nip", nip)
    ref = reference_number or env_state.rng.reference_number("AU", mock.clock.now())
    claims = access_claims(
        reference_number=ref,
        context=context,
        subject=subject,
        auth_method=auth_method,
        permissions=permissions,
        ip_policy=ip_policy,
    )
    token, _ = env_state.jwt.issue(claims, lifetime)
    return token


def auth_headers(
    mock: MockState,
    nip: str = "5265877635",
    permissions: tuple[str, ...] = ("Owner",),
    **claims: Any,
) -> dict[str, str]:
    """The ``Authorization`` header of a minted access token (``mint_access_token``'s keywords)."""
    return bearer(mint_access_token(mock, nip=nip, permissions=permissions, **claims))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_missing_permissions(
    response: httpx.Response, required: list[str], present: list[str]
) -> None:
    """A 403 ``missing-permissions`` problem naming what was needed and what the token had."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["reasonCode"] == "missing-permissions"
    assert body["security"] == {
        "requiredAnyOfPermissions": required,
        "presentPermissions": present,
    }


def legacy_codes(response: httpx.Response) -> list[int]:
    """Exception codes of a legacy 400 body."""
    body = response.json()
    return [e["exceptionCode"] for e in body["exception"]["exceptionDetailList"]]


def problem_codes(response: httpx.Response) -> list[int]:
    return [e["code"] for e in response.json()["errors"]]


def wait_until_healthy(proc, base: str, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    """Poll a `mockksef serve` subprocess until /_mock/health answers (bounded in time)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/_mock/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)


@dataclass
class Served:
    """A running ``mockksef serve`` process; ``output`` is filled in once it has stopped."""

    base: str
    process: subprocess.Popen[bytes]
    output: str = ""


@contextlib.contextmanager
def mockksef_serve(*args: str) -> Iterator[Served]:
    """``python -m mockksef serve ARGS`` on a free local port: healthy on entry, stopped on exit."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "mockksef", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--log-level", "warning", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    served = Served(f"http://127.0.0.1:{port}", process)
    try:
        wait_until_healthy(process, served.base)
        yield served
    finally:
        process.terminate()
        served.output = process.communicate(timeout=10)[0].decode()
