"""``mockksef.testing.InProcessTransport``: a sync httpx client answered in its own thread.

The bundled client runs a whole flow over it; answers, bodies and headers are the
app's own (the same bytes as Starlette's ``TestClient`` gets); what the app raises
reaches the caller; it refuses use after close and from inside a running loop.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from ksefclient import CertificateCredentials, KsefClient
from ksefclient.xades import personal_certificate
from mockksef import MockState, create_app
from mockksef.testing import InProcessTransport
from tests import kit
from tests.conftest import START

BASE = "http://testserver/v2"


def _client(app: Any) -> httpx.Client:
    return httpx.Client(transport=InProcessTransport(app), base_url=BASE)


def test_the_bundled_client_runs_a_whole_flow_over_it(mock: MockState) -> None:
    seller = kit.random_nip(7)
    with (
        _client(create_app(state=mock)) as http,
        KsefClient(
            base_url=BASE,
            http_client=http,
            nip=seller,
            clock=lambda: mock.clock.now().timestamp(),
            sleep=mock.clock.advance,
        ) as ksef,
    ):
        signing = personal_certificate(nip=seller, not_before=START - timedelta(days=1))
        ksef.credentials = CertificateCredentials(signing)
        ksef.authenticate()
        xml = kit.fa3(seller, "1", START.date())
        with ksef.online_session() as session:
            sent = ksef.send_invoice(session, xml)
            status = ksef.wait_for_invoice(sent.session_reference_number, sent.reference_number)
        assert status.ksef_number
        mock.clock.advance(10)
        assert ksef.download_invoice(status.ksef_number) == xml


def test_answers_are_the_apps_bytes_as_testclient_gets_them(mock: MockState) -> None:
    app = create_app(state=mock)
    requests = [
        ("GET", "/security/public-key-certificates", None),
        ("GET", "/auth/sessions", None),  # 401 in the official shape
        ("POST", "/tokens", b"{not json"),
        ("GET", "/no/such/operation", None),
    ]
    with _client(app) as ours, TestClient(app, base_url=BASE) as theirs:
        for method, path, body in requests:
            mine = ours.request(method, path, content=body)
            reference = theirs.request(method, path, content=body)
            assert mine.status_code == reference.status_code, path
            assert mine.headers.get("content-type") == reference.headers.get("content-type")
            if mine.status_code == 200:
                assert mine.content == reference.content, path
            else:  # error answers carry a fresh trace id each
                assert mine.json().keys() == reference.json().keys(), path


def test_what_the_app_raises_reaches_the_caller() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise LookupError("from the app")

    with _client(broken) as http, pytest.raises(LookupError, match="from the app"):
        http.get("/anything")


def test_threads_sharing_one_client_take_turns(mock: MockState) -> None:
    statuses: list[int] = []
    with _client(create_app(state=mock)) as http:

        def worker() -> None:
            for _ in range(10):
                statuses.append(http.post("/auth/challenge").status_code)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses == [200] * 40


def test_it_refuses_after_close_and_inside_a_running_loop(mock: MockState) -> None:
    transport = InProcessTransport(create_app(state=mock))
    http = httpx.Client(transport=transport, base_url=BASE)

    async def inside() -> None:
        http.get("/security/public-key-certificates")

    with pytest.raises(RuntimeError, match="running event loop"):
        asyncio.run(inside())
    assert http.get("/security/public-key-certificates").status_code == 200
    http.close()
    with pytest.raises(RuntimeError, match="after close"):
        transport.handle_request(httpx.Request("GET", f"{BASE}/security/public-key-certificates"))
