"""One everyday workflow, run in-process and over the suite's uvicorn socket, sync and async."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from ksefclient import Checkpoint, DateRange, InvoiceQueryFilters, KsefTokenCredentials
from mockksef.server import ThreadedServer
from tests.client.support import (
    NIP_A,
    NIP_B,
    START,
    Fault,
    Harness,
    SocketHarness,
    invoice,
)


def everyday(harness: Harness) -> None:
    """Token, send under faults, UPO, import new, export, one invoice, revoke."""
    owner = harness.client(NIP_A)
    token = owner.generate_token(["InvoiceWrite", "InvoiceRead"], "Token ERP")
    erp = harness.client(None, credentials=KsefTokenCredentials(token.token))
    harness.plan.load([None, Fault("lost"), None, Fault("status_before", 429, 2), Fault("timeout")])
    sent = erp.send_invoices([invoice(NIP_A, f"FV/lane/{i}", buyer=NIP_B) for i in range(3)])
    assert [s.status.code for s in sent.invoices] == [200, 200, 200]
    assert len(erp.session_invoices(sent.reference_number)) == 3  # nothing twice
    upo = erp.invoice_upo(sent.reference_number, ksef_number=sent.invoices[0].ksef_number)
    assert b"Potwierdzenie" in upo
    harness.clock.advance(1)
    buyer = harness.client(NIP_B)
    imported = buyer.import_new(Checkpoint.start(START - timedelta(days=1), "Subject2"))
    assert {i.ksef_number for i in imported.invoices} == set(sent.ksef_numbers)
    exported = erp.export_invoices(
        InvoiceQueryFilters("Subject1", DateRange("PermanentStorage", START - timedelta(days=1)))
    )
    assert set(exported.invoices) == set(sent.ksef_numbers)
    number = sent.invoices[1].ksef_number
    assert number is not None
    assert buyer.download_invoice(number) == exported.invoices[number]
    owner.revoke_token(token.reference_number)


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


def test_in_process(kind: str) -> None:
    harness = Harness(kind)
    try:
        everyday(harness)
    finally:
        harness.close()


@pytest.fixture
def socket_harness(kind: str, request: pytest.FixtureRequest) -> Iterator[SocketHarness]:
    server: ThreadedServer = request.getfixturevalue("server")
    harness = SocketHarness(kind, server)
    yield harness
    harness.close()


@pytest.mark.server
def test_over_a_real_socket(socket_harness: SocketHarness) -> None:
    everyday(socket_harness)
