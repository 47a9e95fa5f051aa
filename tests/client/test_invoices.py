"""Sending, statuses, UPO, downloads and the three import modes, through the client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lxml import etree

from ksefclient import (
    Checkpoint,
    DateRange,
    InvoiceQueryFilters,
    KsefBadRequestError,
    KsefInvoiceRejectedError,
)
from tests.client.support import NIP_A, NIP_B, START, Fault, Harness, invoice


def _stored(harness: Harness) -> set[str]:
    store = harness.state.env("test").invoices.invoices
    return {store.row(i).ksef_number for i in range(store.count())}


def test_send_invoices_end_to_end(harness: Harness) -> None:
    client = harness.client(NIP_A)
    result = client.send_invoices([invoice(NIP_A, "FV/1"), invoice(NIP_A, "FV/2")])
    statuses = result.invoices
    assert result.status.status.code == 200
    assert [s.status.code for s in statuses] == [200, 200]
    assert all(s.ksef_number and s.ksef_number.startswith(NIP_A) for s in statuses)
    assert _stored(harness) == {s.ksef_number for s in statuses}


def test_a_rejected_invoice_raises_only_when_asked(harness: Harness) -> None:
    client = harness.client(NIP_A)
    # Seller NIP_B sent from context NIP_A: KSeF rejects it (status 410).
    (status,) = client.send_invoices([invoice(NIP_B, "FV/obca")]).invoices
    assert status.status.code >= 400 and status.is_final and not status.is_accepted
    with pytest.raises(KsefInvoiceRejectedError) as caught:
        status.raise_for_status()
    assert caught.value.code == status.status.code
    assert caught.value.explanation


def test_online_session_step_by_step_with_upo(harness: Harness) -> None:
    client = harness.client(NIP_A)
    session = client.open_online_session()
    sent = client.send_invoice(session, invoice(NIP_A, "FV/10"))
    again = client.send_invoice(session, invoice(NIP_A, "FV/10"))
    assert again.reference_number == sent.reference_number and again.recovered
    status = client.wait_for_invoice(session.reference_number, sent.reference_number)
    assert status.is_accepted
    client.close_online_session(session)
    final = client.wait_for_session(session.reference_number)
    assert final.status.code == 200 and final.invoice_count == 1
    upo = client.invoice_upo(session.reference_number, ksef_number=status.ksef_number)
    assert etree.fromstring(upo).tag.endswith("Potwierdzenie")
    by_reference = client.invoice_upo(
        session.reference_number, invoice_reference=sent.reference_number
    )
    assert by_reference == upo
    pages = client.session_upo(session.reference_number)
    assert len(pages) == len(final.upo_pages) == 1
    assert status.ksef_number is not None
    assert status.ksef_number.encode() in pages[0]


def test_lost_answer_on_send_does_not_send_twice(harness: Harness) -> None:
    client = harness.client(NIP_A)
    session = client.open_online_session()
    harness.plan.load(
        [Fault("lost"), Fault("status_after", 503, 2)],
        target=lambda r: r.method == "POST" and r.url.path.endswith("/invoices"),
    )
    sent = client.send_invoice(session, invoice(NIP_A, "FV/20"))
    assert sent.recovered
    submitted = client.session_invoices(session.reference_number)
    assert [i.reference_number for i in submitted] == [sent.reference_number]
    sends = [e for e in harness.plan.log if e.kind == "request" and e.detail.endswith("/invoices")]
    assert len([e for e in sends if e.detail.startswith("POST")]) == 1


def test_invoice_of_an_uncertain_send_is_looked_up_before_sending_again(harness: Harness) -> None:
    client = harness.client(NIP_A)
    session = client.open_online_session()
    harness.plan.load([Fault("lost")] * 12, target=lambda r: "/sessions/" in r.url.path)
    with pytest.raises(Exception) as caught:
        client.send_invoice(session, invoice(NIP_A, "FV/30"))
    assert type(caught.value).__module__ == "ksefclient._exceptions"
    assert session.uncertain
    harness.plan.load([])
    sent = client.send_invoice(session, invoice(NIP_A, "FV/30"))
    assert len(client.session_invoices(session.reference_number)) == 1
    assert sent.reference_number in session.sent.values()


def test_batch_session(harness: Harness) -> None:
    client = harness.client(NIP_A)
    documents = {f"faktura-{i}.xml": invoice(NIP_A, f"FV/B/{i}") for i in range(3)}
    result = client.send_batch(documents, part_size=2000)  # several parts
    assert result.status.status.code == 200
    assert sorted(i.invoice_file_name or "" for i in result.invoices) == sorted(documents)
    assert all(i.is_accepted for i in result.invoices)


def test_batch_survives_faults_on_uploads_and_close(harness: Harness) -> None:
    client = harness.client(NIP_A)
    harness.plan.load(
        [Fault("lost"), Fault("status_before", 503, 1), Fault("lost")],
        target=lambda r: "/storage/" in r.url.path or r.url.path.endswith("/close"),
    )
    result = client.send_batch([invoice(NIP_A, "FV/B/x"), invoice(NIP_A, "FV/B/y")])
    assert result.status.status.code == 200
    assert len(result.invoices) == 2


def test_download_one_invoice_by_ksef_number(harness: Harness) -> None:
    client = harness.client(NIP_A)
    document = invoice(NIP_A, "FV/40")
    (status,) = client.send_invoices([document]).invoices
    harness.clock.advance(1)
    assert status.ksef_number is not None
    assert client.download_invoice(status.ksef_number) == document
    with pytest.raises(KsefBadRequestError) as caught:
        harness.client(NIP_B).download_invoice(status.ksef_number)
    assert caught.value.code == 21164  # another context never sees it


def test_import_new_yields_every_invoice_exactly_once(harness: Harness) -> None:
    seller = harness.client(NIP_A)
    buyer = harness.client(NIP_B)
    checkpoint = Checkpoint.start(START - timedelta(days=1), "Subject2")
    seen: list[str] = []
    for round_ in range(3):
        seller.send_invoices([invoice(NIP_A, f"FV/{round_}/{i}", buyer=NIP_B) for i in range(2)])
        result = buyer.import_new(checkpoint)
        seen += [i.ksef_number for i in result.invoices]
        assert all(i.xml and f"<NIP>{NIP_B}</NIP>".encode() in i.xml for i in result.invoices)
        checkpoint = Checkpoint.from_json(result.checkpoint.to_json())  # persisted and loaded
        harness.clock.advance(1)
    final = buyer.import_new(checkpoint)
    seen += [i.ksef_number for i in final.invoices]
    assert sorted(seen) == sorted(set(seen))
    assert set(seen) == _stored(harness)


def test_import_period(harness: Harness) -> None:
    client = harness.client(NIP_A)
    client.send_invoices(
        [
            invoice(NIP_A, "FV/P/1"),
            invoice(NIP_A, "FV/P/2", issue=START.date() - timedelta(days=200)),
        ]
    )
    harness.clock.advance(1)
    recent = client.import_period(START - timedelta(days=10))
    assert [i.metadata.invoice_number for i in recent] == ["FV/P/1"]
    everything = client.import_period(START - timedelta(days=400), fetch_xml=False)
    assert sorted(i.metadata.invoice_number for i in everything) == ["FV/P/1", "FV/P/2"]
    assert all(i.xml is None for i in everything)


def test_query_metadata_page(harness: Harness) -> None:
    client = harness.client(NIP_A)
    client.send_invoices([invoice(NIP_A, "FV/Q/1")])
    harness.clock.advance(1)
    page = client.query_invoice_metadata(
        InvoiceQueryFilters("Subject1", DateRange("PermanentStorage", START - timedelta(days=1)))
    )
    assert [m.invoice_number for m in page.invoices] == ["FV/Q/1"]
    assert page.permanent_storage_hwm_date is not None
    assert not page.has_more


def test_session_lists_and_failed_invoices(harness: Harness) -> None:
    client = harness.client(NIP_A)
    result = client.send_invoices([invoice(NIP_A, "FV/S/1"), invoice(NIP_B, "FV/S/obca")])
    failed = client.session_invoices(result.reference_number, failed=True)
    assert [f.invoice_number for f in failed] == ["FV/S/obca"]
    listed = client.list_sessions("Online")
    mine = [s for s in listed if s.reference_number == result.reference_number]
    assert mine and mine[0].total_invoice_count == 2 and mine[0].failed_invoice_count == 1
    assert client.session_status(result.reference_number).successful_invoice_count == 1
