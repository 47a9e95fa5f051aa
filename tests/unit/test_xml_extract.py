"""Invoice XML -> the facts KSeF reads (reference B §7.3), from the official samples."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from mockksef.xml import xsd
from mockksef.xml.extract import ExtractionError, extract
from tests import kit

NIP = "5265877635"


def _facts(document: bytes, code: dict[str, str]):  # type: ignore[no-untyped-def]
    form = xsd.find_form(code["systemCode"], code["schemaVersion"], code["value"])
    assert form is not None
    return extract(xsd.parse_document(document), form)


def test_fa3_sample():
    facts = _facts(kit.fa3(NIP, "7", issue=date(2026, 2, 27), buyer="7352765225"), kit.FA3)
    assert facts.seller_nip == NIP
    assert facts.seller_name == "Elektrownia S.A."
    assert facts.invoice_number == "FA/GRQMB-7/05/2025"
    assert facts.invoice_type == "Vat"
    assert facts.issue_date == date(2026, 2, 27)
    assert facts.buyer_identifier == ("Nip", "7352765225")
    assert facts.buyer_name == "F.H.U. Jan Kowalski"
    assert facts.currency == "PLN"
    assert (facts.net_amount, facts.vat_amount, facts.gross_amount) == (
        Decimal("43.60"),
        Decimal("10.03"),
        Decimal("53.63"),
    )
    assert facts.is_self_invoicing is False
    assert facts.has_attachment is False
    assert facts.duplicate_key == (NIP, "Vat", "FA/GRQMB-7/05/2025")
    assert ("Podmiot1", NIP) in facts.identifiers


def test_fa3_attachment_and_third_subjects():
    with_attachment = _facts(
        kit.fa3(NIP, name="invoice-template-fa-3-with-attachment.xml"), kit.FA3
    )
    assert with_attachment.has_attachment is True
    third = _facts(
        kit.fa3(NIP, buyer="7352765225", name="invoice-template-fa-3-with-custom-Subject3.xml"),
        kit.FA3,
    )
    assert third.third_subjects
    kind, value, _name, role = third.third_subjects[0]
    assert (kind, value) == ("Nip", "7352765225")
    assert isinstance(role, int)


def test_vat_in_pln_comes_from_the_w_fields():
    document = (
        kit.fa3(NIP)
        .replace(b"<KodWaluty>PLN</KodWaluty>", b"<KodWaluty>EUR</KodWaluty>")
        .replace(b"<P_14_1>10.03</P_14_1>", b"<P_14_1>10.03</P_14_1><P_14_1W>43.12</P_14_1W>")
    )
    facts = _facts(document, kit.FA3)
    assert facts.currency == "EUR"
    assert facts.vat_amount == Decimal("43.12")
    assert facts.gross_amount == Decimal("53.63")


def test_fa2_and_fa_rr():
    fa2 = _facts(kit.fa2(NIP, "9"), kit.FA2)
    assert (fa2.seller_nip, fa2.invoice_type, fa2.invoice_number) == (
        NIP,
        "Vat",
        "FA/GRQMB-9/05/2025",
    )
    rr = _facts(kit.fa_rr(NIP, "RR/7", buyer="7352765225"), kit.FA_RR)
    assert (rr.invoice_type, rr.invoice_number, rr.issue_date) == (
        "VatRr",
        "RR/7",
        date(2026, 2, 23),
    )
    assert (rr.net_amount, rr.vat_amount, rr.gross_amount) == (
        Decimal("2000.00"),
        Decimal("140.00"),
        Decimal("2140.00"),
    )
    assert rr.buyer_identifier == ("Nip", "7352765225")


def test_pef_invoice_and_credit_note():
    def fill(name: str) -> bytes:
        return kit.pef(NIP, buyer="7352765225", name=name)

    invoice = _facts(fill("invoice-template-fa-3-pef.xml"), kit.PEF)
    assert (invoice.seller_nip, invoice.invoice_type, invoice.invoice_number) == (
        NIP,
        "VatPef",
        "PEF/1",
    )
    assert invoice.buyer_identifier == ("Nip", "7352765225")
    assert invoice.currency == "EUR"
    credit = _facts(
        fill("invoice-template-fa-3-pef-correction.xml"),
        {"systemCode": "PEF_KOR (3)", "schemaVersion": "2-1", "value": "PEF"},
    )
    assert credit.invoice_type == "KorPef"


def test_missing_seller_is_an_extraction_error():
    form = xsd.find_form("FA (3)", "1-0E", "FA")
    assert form is not None
    document = kit.fa3(NIP).replace(b"<Fa>", b"<Fx>").replace(b"</Fa>", b"</Fx>")
    with pytest.raises(ExtractionError):
        extract(xsd.parse_document(document), form)
