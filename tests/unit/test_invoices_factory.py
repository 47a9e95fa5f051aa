"""Builds ``StoredInvoice`` rows from the official FA(3) sample (read at run time).

Until sessions file invoices, the invoice tests put rows into the store through
its public API; the documents are real FA(3) XML so that downloads and exports
carry what a client would have sent.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date, datetime, timedelta

from mockksef.models import ContextIdentifier
from mockksef.services.invoices.models import StoredInvoice
from tests import kit


def fa3_xml(seller_nip: str, buyer_nip: str, number: str, issue: date) -> bytes:
    """The official FA(3) sample whose P_2 is ``number`` itself (the stored row's number)."""
    xml = kit.fa3(seller_nip, number, issue, buyer=buyer_nip)
    return xml.replace(f"FA/GRQMB-{number}/05/2025".encode(), number.encode())


def make_invoice(
    env,  # type: ignore[no-untyped-def]
    *,
    seller: str = "5265877635",
    buyer: str | None = "7352765225",
    buyer_identifier: tuple[str, str | None] | None = None,
    number: str | None = None,
    accepted: datetime | None = None,
    storage_delay: float = 1.0,
    issue: date | None = None,
    third_subjects: tuple = (),  # type: ignore[type-arg]
    authorized: tuple | None = None,  # type: ignore[type-arg]
    invoice_type: str = "Vat",
    gross: float = 53.63,
    net: float = 43.60,
    vat: float = 10.03,
    currency: str = "PLN",
    mode: str = "Online",
    self_invoicing: bool = False,
    attachment: bool = False,
    form_code: tuple[str, str, str] = ("FA (3)", "1-0E", "FA"),
    sender: ContextIdentifier | None = None,
    document: bytes | None = None,
) -> StoredInvoice:
    """A stored invoice as sessions would file it (not yet stored).

    ``document`` replaces the FA(3) body (bulk tests that never read it).
    """
    accepted = accepted or env.clock.now()
    issue = issue or accepted.date()
    number = number or f"FV/{env.rng.hex(8)}"
    xml = (
        document if document is not None else fa3_xml(seller, buyer or "1111111111", number, issue)
    )
    if buyer_identifier is None:
        buyer_identifier = ("Nip", buyer) if buyer else ("None", None)
    return StoredInvoice(
        ksef_number=env.invoices.next_ksef_number(seller, accepted),
        invoice_reference_number=env.rng.reference_number("EE", accepted),
        session_reference_number=env.rng.reference_number("SO", accepted),
        sender_context=sender or ContextIdentifier("Nip", seller),
        seller_nip=seller,
        seller_name="Elektrownia S.A.",
        buyer_identifier=buyer_identifier,
        buyer_name="F.H.U. Jan Kowalski",
        third_subjects=third_subjects,
        authorized_subject=authorized,
        invoice_number=number,
        invoice_type=invoice_type,
        form_code=form_code,
        issue_date=issue,
        invoicing_date=accepted,
        acquisition_date=accepted + timedelta(milliseconds=300),
        permanent_storage_date=accepted + timedelta(seconds=storage_delay),
        net_amount=net,
        gross_amount=gross,
        vat_amount=vat,
        currency=currency,
        invoicing_mode=mode,
        is_self_invoicing=self_invoicing,
        has_attachment=attachment,
        invoice_hash=base64.b64encode(hashlib.sha256(xml).digest()).decode(),
        xml=xml,
    )


def bulk_invoices(env, start: datetime, count: int) -> list[StoredInvoice]:  # type: ignore[no-untyped-def]
    """``count`` rows accepted a millisecond apart from ``start``, stored half a second later,
    with a stub body (the record-cap tests never read it)."""
    return [
        make_invoice(
            env,
            accepted=start + timedelta(milliseconds=i),
            storage_delay=0.5,
            number=f"FV/{i}",
            document=b"<Faktura/>",
        )
        for i in range(count)
    ]


def put(env, **kwargs) -> StoredInvoice:  # type: ignore[no-untyped-def]
    """Make and store one invoice."""
    invoice = make_invoice(env, **kwargs)
    env.invoices.store(invoice)
    return invoice


def test_factory_builds_the_official_sample_with_our_values(mock) -> None:  # type: ignore[no-untyped-def]
    env = mock.env("test")
    inv = make_invoice(env, seller="5265877635", buyer="7352765225", number="FV/1")
    text = inv.xml.decode()
    assert "<NIP>5265877635</NIP>" in text and "<NIP>7352765225</NIP>" in text
    assert "<P_2>FV/1</P_2>" in text and "#" not in text
    assert inv.invoice_size == len(inv.xml)
