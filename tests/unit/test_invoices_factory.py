"""Builds ``StoredInvoice`` rows from the official FA(3) sample (read at run time).

Until sessions file invoices, the invoice tests put rows into the store through
its public API; the documents are real FA(3) XML so that downloads and exports
carry what a client would have sent.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date, datetime, timedelta
from functools import cache

from mockksef.models import ContextIdentifier
from mockksef.services.invoices.models import StoredInvoice
from tests.conftest import OFFICIAL

SAMPLE = OFFICIAL / "sample-invoices" / "invoice-template-fa-3.xml"


@cache
def _template() -> str:
    return SAMPLE.read_text(encoding="utf-8")


def fa3_xml(seller_nip: str, buyer_nip: str, number: str, issue: date) -> bytes:
    text = (
        _template()
        .replace("#nip#", seller_nip)
        .replace("<NIP>1111111111</NIP>", f"<NIP>{buyer_nip}</NIP>")
        .replace("FA/GRQMB-#invoice_number#/05/2025", number)
        .replace("<P_1>2025-09-01</P_1>", f"<P_1>{issue.isoformat()}</P_1>")
    )
    return text.encode("utf-8")


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
