"""Heavy work never runs on the event loop: others are answered while it runs (issue 13).

Before: a 2,000,000-item JSON array held every client for 22.7 s, a zip bomb
batch close for ~1.5 s, a 2.9 MB XSD-invalid invoice ~1.5 s, a padded 1 MB
XAdES document ~0.8 s, an export of 5,000 invoices ~2 s (``bench/hostile.py``
measures them). Each test freezes one operation's heavy step with a ``Gate``
on a real uvicorn socket and asks ``GET /_mock/health`` meanwhile: answered,
the step runs in a worker thread; then the operation ends with its official
answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from mockksef.clock import format_datetime
from mockksef.http import endpoint
from mockksef.seeding import add_invoices
from mockksef.server import ThreadedServer
from mockksef.services.auth import xades
from mockksef.services.invoices.exports import ExportsBackend
from mockksef.services.sessions import batch, online
from tests import kit
from tests.conftest import auth_headers
from tests.security.hostile import PATIENCE, Gate, online_session, padded, while_held

NIP = "5265877635"


@pytest.fixture
def api(server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + "/v2", timeout=PATIENCE) as client:
        yield client


def _gate(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> Gate:
    gate = Gate(getattr(owner, name))
    monkeypatch.setattr(owner, name, gate)
    return gate


def _gate_method(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> Gate:
    gate = Gate(getattr(owner, name))
    monkeypatch.setattr(owner, name, lambda self, *args: gate(self, *args))
    return gate


def test_a_large_json_body_is_parsed_and_validated_off_the_loop(server, api, monkeypatch):  # type: ignore[no-untyped-def]
    gate = _gate(monkeypatch, endpoint, "parse_json")
    body = {
        "subjectType": "Subject1",
        "dateRange": {
            "dateType": "Issue",
            "from": "2026-02-01T00:00:00Z",
            "to": "2026-03-01T00:00:00Z",
        },
        # Unknown members are ignored; this one only makes the body large.
        "padding": "x" * 100_000,
    }
    answer = while_held(
        server,
        gate,
        lambda: api.post(
            "/invoices/query/metadata", json=body, headers=auth_headers(server.state, NIP)
        ),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["invoices"] == []


def test_a_large_invoice_is_checked_off_the_loop(server, api, monkeypatch):  # type: ignore[no-untyped-def]
    headers, crypto, ref = online_session(api, NIP)
    # The same invoice, over the offload threshold.
    large = padded(kit.fa3(NIP), 100_000)
    gate = _gate(monkeypatch, online, "check_invoice")
    answer = while_held(server, gate, lambda: kit.send(api, headers, ref, crypto, large))
    assert answer.status_code == 202, answer.text
    status = kit.invoice_status(api, headers, ref, answer.json()["referenceNumber"])
    assert status["status"]["code"] == 200, status


def test_a_batch_package_is_unpacked_off_the_loop(server, api, monkeypatch):  # type: ignore[no-untyped-def]
    headers = kit.xades_login(api, NIP).headers
    pkg = kit.package({"1.xml": kit.fa3(NIP, "b1")})
    opened = kit.open_batch(api, headers, pkg)
    kit.upload(api, opened, pkg.parts)
    gate = _gate(monkeypatch, batch, "read_archive")
    ref = opened["referenceNumber"]
    answer = while_held(
        server, gate, lambda: api.post(f"/sessions/batch/{ref}/close", headers=headers)
    )
    assert answer.status_code == 204, answer.text
    assert kit.session_status(api, headers, ref)["status"]["code"] == 200


def test_a_large_xades_signature_is_verified_off_the_loop(server, api, monkeypatch):  # type: ignore[no-untyped-def]
    # A login's own document (~3 ms) is verified on the loop: a thread hop costs as much.
    signed = padded(kit.signed_request(api, None, ("Nip", NIP)), 100_000)
    gate = _gate(monkeypatch, xades, "read_signed_request")
    answer = while_held(
        server,
        gate,
        lambda: api.post("/auth/xades-signature", content=signed, headers=kit.XML),
    )
    assert answer.status_code == 202, answer.text
    assert kit.auth_status(api, answer)["status"]["code"] == 200


def test_an_export_package_is_built_off_the_loop(server, api, monkeypatch):  # type: ignore[no-untyped-def]
    state = server.state
    begin = state.clock.now()
    add_invoices(state.env("test"), 3, seller=NIP, start=begin - timedelta(days=1), end=begin)
    state.clock.advance(60)
    headers = auth_headers(state, NIP, permissions=("InvoiceRead",))
    filters = {
        "subjectType": "Subject1",
        "dateRange": {"dateType": "Invoicing", "from": format_datetime(begin - timedelta(days=2))},
    }
    started = api.post(
        "/invoices/exports",
        json={"encryption": kit.Crypto().encryption(api), "filters": filters},
        headers=headers,
    )
    assert started.status_code == 201, started.text
    gate = _gate_method(monkeypatch, ExportsBackend, "_build_package")
    reference = started.json()["referenceNumber"]
    answer = while_held(
        server, gate, lambda: api.get(f"/invoices/exports/{reference}", headers=headers)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["package"]["invoiceCount"] == 3
