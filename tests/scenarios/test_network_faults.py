"""Network faults seen by real clients on a real socket (uvicorn in a thread on 127.0.0.1)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from mockksef import MockConfig, MockState, create_app
from mockksef.scenarios import Scenario
from mockksef.server import ThreadedServer

pytestmark = pytest.mark.server

REQUEST = b"POST /v2/auth/challenge HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def uvicorn_errors() -> Iterator[_Errors]:
    handler = _Errors()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def _activate(server: ThreadedServer, *then: str) -> None:
    steps = ", ".join(then)
    server.state.scenarios.activate(  # type: ignore[attr-defined]
        Scenario.from_str(
            f"name: net\nrules:\n  - when: {{operation: auth.challenge}}\n    then: [{steps}]\n"
        )
    )


def _raw_exchange(server: ThreadedServer, timeout: float = 3.0) -> bytes:
    """Send one request on a plain socket; return what comes back until the server closes."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(REQUEST)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk


def test_reset_is_a_tcp_rst(server, uvicorn_errors):
    _activate(server, "{reset_connection: true}", "{reset_connection: true}")
    with pytest.raises(ConnectionResetError):
        _raw_exchange(server)
    with httpx.Client(timeout=5) as client, pytest.raises(httpx.ReadError, match="reset"):
        client.post(f"{server.url}/v2/auth/challenge")
    with httpx.Client(timeout=5) as client:
        assert client.post(f"{server.url}/v2/auth/challenge").status_code == 200
    assert uvicorn_errors.records == []
    faults = [e["fault"] for e in server.state.journal.entries(kind="request")]  # type: ignore[attr-defined]
    assert faults == ["reset", "reset", None]


def test_close_is_an_empty_reply(server, uvicorn_errors):
    _activate(server, "{close: true}", "{close: true}")
    assert _raw_exchange(server) == b""
    with httpx.Client(timeout=5) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            client.post(f"{server.url}/v2/auth/challenge")
        assert client.post(f"{server.url}/v2/auth/challenge").status_code == 200
    assert uvicorn_errors.records == []


def test_stall_holds_the_connection_until_the_client_gives_up(server, uvicorn_errors):
    _activate(server, "{stall: 20s}", "{stall: 0.3s}")
    started = time.monotonic()
    with httpx.Client(timeout=0.5) as client, pytest.raises(httpx.ReadTimeout):
        client.post(f"{server.url}/v2/auth/challenge")
    assert 0.4 < time.monotonic() - started < 5
    # A short stall ends with the connection closed and still no answer.
    started = time.monotonic()
    assert _raw_exchange(server) == b""
    assert time.monotonic() - started >= 0.3
    assert uvicorn_errors.records == []


def test_truncated_and_malformed_bodies(server, uvicorn_errors):
    _activate(server, "{truncate: {bytes: 12}}", "{malformed: true}")
    with httpx.Client(timeout=5) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete|complete message body"):
            client.post(f"{server.url}/v2/auth/challenge")
        broken = client.post(f"{server.url}/v2/auth/challenge")
        assert broken.status_code == 200
        assert broken.headers["content-type"].startswith("application/json")
        with pytest.raises(ValueError):
            broken.json()
        assert client.post(f"{server.url}/v2/auth/challenge").status_code == 200
    assert uvicorn_errors.records == []


def test_retired_addresses_can_reset_or_close(server, uvicorn_errors):
    with httpx.Client(timeout=5) as client:
        legacy = f"{server.url}/api/online/Session/AuthorisationChallenge"
        assert client.post(legacy).status_code == 404
        assert client.post(f"{server.url}/_mock/legacy", json={"mode": "refused"}).json() == {
            "mode": "reset"
        }
        with pytest.raises(httpx.ReadError):
            client.post(legacy)
        client.post(f"{server.url}/_mock/legacy", json={"mode": "close"})
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(legacy)
        assert client.post(f"{server.url}/v2/auth/challenge").status_code == 200
    assert uvicorn_errors.records == []


def test_delay_sleeps_for_real_on_a_real_clock(spec):
    state = MockState(MockConfig(clock_mode="real"), spec=spec)
    state.scenarios.activate(Scenario.from_str("name: slow\nrules:\n  - then: {delay: 300ms}\n"))
    with ThreadedServer(create_app(state=state)) as server, httpx.Client(timeout=5) as client:
        started = time.monotonic()
        assert client.post(f"{server.url}/v2/auth/challenge").status_code == 200
        assert time.monotonic() - started >= 0.3
