"""UPO v4-3 rendering: valid against the official XSD, deterministic, in the examples' shape."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from lxml import etree

from mockksef.ids import with_checksum
from mockksef.models import ContextIdentifier
from mockksef.xml import xsd
from mockksef.xml.upo import (
    RECEIVER_NAME,
    UpoDocument,
    UpoHeader,
    render_invoice_upo,
    render_session_upo,
    upo_time,
)
from tests.conftest import OFFICIAL

NS = {"u": xsd.UPO_NS}


def page_description(root: etree._Element) -> list[str | None]:
    """A session UPO page's place: page, of pages, first and last document, all documents."""
    return [
        root.findtext(f"u:OpisPotwierdzenia/u:{name}", namespaces=NS)
        for name in (
            "Strona",
            "LiczbaStron",
            "ZakresDokumentowOd",
            "ZakresDokumentowDo",
            "CalkowitaLiczbaDokumentow",
        )
    ]


SESSION = with_checksum("20260302-SO-2C3E6C8000-B675CF5D68")
HASH = "GZMGNVzs3krF6URKgvaw77OOeG3nJ+WGziT5xguliQ8="


def _header(context: ContextIdentifier, token: str | None = None) -> UpoHeader:
    return UpoHeader(
        receiver_name=RECEIVER_NAME,
        session_reference_number=SESSION,
        context=context,
        ksef_token_reference=token,
        auth_document_hash=None if token else HASH,
        logical_name="Schemat_FA(3)_v1-0E.xsd",
        form_system_code="FA (3)",
    )


def _document(n: int) -> UpoDocument:
    return UpoDocument(
        seller_nip="5265877635",
        ksef_number=f"5265877635-20260302-0200A0D6723{n:X}-C2",
        invoice_number=f"FA/{n}",
        issue_date=date(2026, 3, 2),
        invoicing_date=datetime(2026, 3, 2, 10, 5, 40, 841000, tzinfo=UTC),
        acquisition_date=datetime(2026, 3, 2, 10, 5, 41, 45000, tzinfo=UTC),
        invoice_hash=HASH,
        invoicing_mode="Online",
    )


def _valid(document: bytes) -> etree._Element:
    schema = xsd.upo_schema(OFFICIAL)
    root = etree.fromstring(document)
    assert schema.validate(root), schema.error_log
    return root


@pytest.mark.parametrize(
    "context",
    [
        ContextIdentifier("Nip", "5265877635"),
        ContextIdentifier("InternalId", "5265877635-12345"),
        ContextIdentifier("NipVatUe", "5265877635-ATU12345678"),
        ContextIdentifier("PeppolId", "PPL123456"),
    ],
    ids=lambda c: c.type,
)
def test_invoice_upo_is_valid_for_every_context_type(context):
    document = render_invoice_upo(_header(context), _document(1))
    root = _valid(document)
    assert root.find("u:OpisPotwierdzenia", NS) is None
    assert len(root.find("u:Uwierzytelnienie/u:IdKontekstu", NS)) == 1


def test_token_authentication_is_named_by_its_reference():
    token = with_checksum("20260302-EC-2C3E6C8000-B675CF5D68")
    root = _valid(
        render_invoice_upo(_header(ContextIdentifier("Nip", "5265877635"), token), _document(1))
    )
    assert root.findtext("u:Uwierzytelnienie/u:NumerReferencyjnyTokenaKSeF", namespaces=NS) == token
    assert root.find("u:Uwierzytelnienie/u:SkrotDokumentuUwierzytelniajacego", NS) is None


def test_session_upo_page_describes_its_range():
    documents = [_document(n) for n in range(1, 4)]
    document = render_session_upo(
        _header(ContextIdentifier("Nip", "5265877635")), documents, 1, 1, 1, 3
    )
    root = _valid(document)
    assert page_description(root) == ["1", "1", "1", "3", "3"]
    assert len(root.findall("u:Dokument", NS)) == 3


def test_rendering_is_byte_for_byte_deterministic_utf8_without_bom():
    header = _header(ContextIdentifier("Nip", "5265877635"))
    first = render_invoice_upo(header, _document(1))
    assert first == render_invoice_upo(header, _document(1))
    assert first.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert "Ministerstwo Finansów".encode() in first


def test_times_are_warsaw_local_with_milliseconds():
    assert upo_time(datetime(2026, 3, 2, 10, 5, 40, 841000, tzinfo=UTC)) == (
        "2026-03-02T11:05:40.841+01:00"
    )
    assert upo_time(datetime(2026, 7, 1, 10, 0, tzinfo=UTC)) == "2026-07-01T12:00:00.000+02:00"


def test_official_examples_differ_only_by_the_receiver_suffix():
    # The real TE examples carry " - środowisko testowe (TE)", which the XSD's fixed
    # value refuses; with the plain name they validate.
    schema = xsd.upo_schema(OFFICIAL)
    example = OFFICIAL / "faktury/upo/przyklady/v4-3/kontekst-nip/upo-faktura-kontekst-id-nip.xml"
    text = example.read_text(encoding="utf-8")
    assert not schema.validate(etree.fromstring(text.encode()))
    fixed = text.replace(" - środowisko testowe (TE)", "")
    assert schema.validate(etree.fromstring(fixed.encode()))


def test_a_sealed_upo_is_deterministic_verifiable_and_valid_without_its_signature():
    from signxml import SignatureConfiguration
    from signxml.xades import XAdESVerifier

    from mockksef import crypto
    from mockksef.xml.upo import UpoSeal, unsigned

    key = crypto.new_rsa_key(2048)
    subject = crypto.name(common_name="Ministerstwo Finansów", country="PL")
    certificate = crypto.self_signed(key, subject, datetime(2026, 1, 1, tzinfo=UTC), 730, 7)
    seal = UpoSeal(key, certificate, datetime(2026, 3, 2, 10, 5, 41, tzinfo=UTC))
    header = _header(ContextIdentifier("Nip", "5265877635"))
    signed = render_invoice_upo(header, _document(1), seal)
    assert signed == render_invoice_upo(header, _document(1), seal)
    root = etree.fromstring(signed)
    assert root[-1].tag == "{http://www.w3.org/2000/09/xmldsig#}Signature"
    assert b"<xades:SigningTime>2026-03-02T10:05:41+00:00</xades:SigningTime>" in signed
    XAdESVerifier().verify(
        signed, x509_cert=certificate, expect_config=SignatureConfiguration(expect_references=3)
    )
    schema = xsd.upo_schema(OFFICIAL)
    assert not schema.validate(root)  # the XSD does not declare the signature
    assert schema.validate(unsigned(root)), schema.error_log
    assert etree.tostring(unsigned(root)) == etree.tostring(
        etree.fromstring(render_invoice_upo(header, _document(1)))
    )
