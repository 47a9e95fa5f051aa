"""UPO v4-3 (Urzędowe Poświadczenie Odbioru) rendering, reference B §5.3.

Documents are built with lxml in the XSD's element order and serialised as
UTF-8 without BOM; rendering is deterministic (same inputs, same bytes), so the
``x-ms-meta-hash`` of a UPO never changes between downloads. Times are written
as the official examples do: Europe/Warsaw local time with milliseconds and
offset (``2025-09-16T11:05:40.841+02:00``).

Simplification: UPOs are not XAdES-signed (the XSD does not declare the
signature; the official examples are unsigned too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from lxml import etree

from mockksef.ids import WARSAW
from mockksef.models import ContextIdentifier
from mockksef.xml.xsd import UPO_NS

# The XSD fixes this value; the real TE/TR environments append a suffix (see
# MockConfig.upo_environment_receiver_name).
RECEIVER_NAME = "Ministerstwo Finansów"

_CONTEXT_ELEMENTS = {
    "Nip": "Nip",
    "InternalId": "IdWewnetrzny",
    "NipVatUe": "IdZlozonyVatUE",
    "PeppolId": "IdDostawcyUslugPeppol",
}


@dataclass(frozen=True)
class UpoDocument:
    """One ``Dokument`` entry: an accepted invoice."""

    seller_nip: str
    ksef_number: str
    invoice_number: str
    issue_date: date
    invoicing_date: datetime
    acquisition_date: datetime
    invoice_hash: str
    invoicing_mode: str


@dataclass(frozen=True)
class UpoHeader:
    receiver_name: str
    session_reference_number: str
    context: ContextIdentifier
    # Exactly one of the two: the KSeF token reference (token authentication) or
    # the Base64 SHA-256 of the signed XAdES document as received.
    ksef_token_reference: str | None
    auth_document_hash: str | None
    logical_name: str
    form_system_code: str


def upo_time(value: datetime) -> str:
    return value.astimezone(WARSAW).isoformat(timespec="milliseconds")


def _el(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, f"{{{UPO_NS}}}{name}")
    if text is not None:
        child.text = text
    return child


def _header(root: etree._Element, header: UpoHeader) -> None:
    _el(root, "NazwaPodmiotuPrzyjmujacego", header.receiver_name)
    _el(root, "NumerReferencyjnySesji", header.session_reference_number)
    auth = _el(root, "Uwierzytelnienie")
    context = _el(auth, "IdKontekstu")
    _el(context, _CONTEXT_ELEMENTS.get(header.context.type, "Nip"), header.context.value)
    if header.ksef_token_reference:
        _el(auth, "NumerReferencyjnyTokenaKSeF", header.ksef_token_reference)
    else:
        _el(auth, "SkrotDokumentuUwierzytelniajacego", header.auth_document_hash or "")


def _documents(root: etree._Element, documents: Sequence[UpoDocument]) -> None:
    for doc in documents:
        node = _el(root, "Dokument")
        _el(node, "NipSprzedawcy", doc.seller_nip)
        _el(node, "NumerKSeFDokumentu", doc.ksef_number)
        _el(node, "NumerFaktury", doc.invoice_number)
        _el(node, "DataWystawieniaFaktury", doc.issue_date.isoformat())
        _el(node, "DataPrzeslaniaDokumentu", upo_time(doc.invoicing_date))
        _el(node, "DataNadaniaNumeruKSeF", upo_time(doc.acquisition_date))
        _el(node, "SkrotDokumentu", doc.invoice_hash)
        _el(node, "TrybWysylki", doc.invoicing_mode)


def _serialise(root: etree._Element) -> bytes:
    etree.indent(root, space="  ")
    body: bytes = etree.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def render_invoice_upo(header: UpoHeader, document: UpoDocument) -> bytes:
    """The UPO of one accepted invoice (no ``OpisPotwierdzenia``)."""
    root = etree.Element(f"{{{UPO_NS}}}Potwierdzenie", nsmap={None: UPO_NS})
    _header(root, header)
    _el(root, "NazwaStrukturyLogicznej", header.logical_name)
    _el(root, "KodFormularza", header.form_system_code)
    _documents(root, [document])
    return _serialise(root)


def render_session_upo(
    header: UpoHeader,
    documents: Sequence[UpoDocument],
    page: int,
    page_count: int,
    first_ordinal: int,
    total: int,
) -> bytes:
    """One page of the collective (session) UPO.

    ``ZakresDokumentowOd``/``Do`` are inclusive, as in the official examples
    (the XSD comment says Do is exclusive).
    """
    root = etree.Element(f"{{{UPO_NS}}}Potwierdzenie", nsmap={None: UPO_NS})
    _header(root, header)
    description = _el(root, "OpisPotwierdzenia")
    _el(description, "Strona", str(page))
    _el(description, "LiczbaStron", str(page_count))
    _el(description, "ZakresDokumentowOd", str(first_ordinal))
    _el(description, "ZakresDokumentowDo", str(first_ordinal + len(documents) - 1))
    _el(description, "CalkowitaLiczbaDokumentow", str(total))
    _el(root, "NazwaStrukturyLogicznej", header.logical_name)
    _el(root, "KodFormularza", header.form_system_code)
    _documents(root, documents)
    return _serialise(root)
