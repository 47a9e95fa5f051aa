"""UPO v4-3 (Urzędowe Poświadczenie Odbioru) rendering, reference B §5.3.

Documents are built with lxml in the XSD's element order and serialised as
UTF-8 without BOM; rendering is deterministic (same inputs, same bytes), so the
``x-ms-meta-hash`` of a UPO never changes between downloads. Times are written
as the official examples do: Europe/Warsaw local time with milliseconds and
offset (``2025-09-16T11:05:40.841+02:00``).

Real UPOs carry the Ministry's enveloped XAdES-BES signature as the last child
of ``Potwierdzenie`` (the C# UPO models read it as ``Signature``; the XSD does not
declare it, so validators take it off first: ``unsigned``). The mock signs
with a ``UpoSeal``: the environment's Ministry key and the certificate it
publishes, so a client can verify a UPO against ``GET
/security/public-key-certificates``. The signature is deterministic too (fixed
ids, the signing time given), so a UPO's bytes stay the same between downloads.
Not faithful: the real seal is a qualified certificate of the national trust
list, which no mock can present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.util import namespaces as signxml_namespaces
from signxml.xades.xades import XAdESSigner  # the defining module: signxml.xades has no __all__

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


@dataclass(frozen=True)
class UpoSeal:
    """What the Ministry signs UPOs with, and when this UPO was signed."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    signed_at: datetime


class _SealSigner(XAdESSigner):
    """signxml's XAdES-BES signer without its two unrepeatable inputs: ids are counted,
    not random, and the signing time is the UPO's own."""

    def __init__(self, signed_at: datetime) -> None:
        super().__init__(
            signature_algorithm=SignatureMethod.RSA_SHA256,
            digest_algorithm=DigestAlgorithm.SHA256,
            c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0,
        )
        self.signed_at = signed_at
        self.issued_ids = 0

    def _get_token(self, length: int = 4) -> str:
        self.issued_ids += 1
        return f"{self.issued_ids:0{2 * length}X}"

    def add_signing_time(
        self, signed_signature_properties: Any, sig_root: Any, signing_settings: Any
    ) -> None:
        element = etree.SubElement(
            signed_signature_properties, f"{{{signxml_namespaces.xades}}}SigningTime"
        )
        element.text = self.signed_at.astimezone(UTC).isoformat(timespec="seconds")


def unsigned(root: etree._Element) -> etree._Element:
    """A copy of a UPO without its enveloped signature: what the official XSD describes."""
    copy = etree.fromstring(etree.tostring(root))
    for signature in copy.findall(f"{{{signxml_namespaces.ds}}}Signature"):
        copy.remove(signature)
    return copy


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


def _serialise(root: etree._Element, seal: UpoSeal | None) -> bytes:
    # Indented before signing: the signature covers the document as it is sent.
    etree.indent(root, space="  ")
    if seal is not None:
        root = _SealSigner(seal.signed_at).sign(
            root, key=seal.private_key, cert=[seal.certificate], always_add_key_value=False
        )
    body: bytes = etree.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def render_invoice_upo(
    header: UpoHeader, document: UpoDocument, seal: UpoSeal | None = None
) -> bytes:
    """The UPO of one accepted invoice (no ``OpisPotwierdzenia``), signed with ``seal``."""
    root = etree.Element(f"{{{UPO_NS}}}Potwierdzenie", nsmap={None: UPO_NS})
    _header(root, header)
    _el(root, "NazwaStrukturyLogicznej", header.logical_name)
    _el(root, "KodFormularza", header.form_system_code)
    _documents(root, [document])
    return _serialise(root, seal)


def render_session_upo(
    header: UpoHeader,
    documents: Sequence[UpoDocument],
    page: int,
    page_count: int,
    first_ordinal: int,
    total: int,
    seal: UpoSeal | None = None,
) -> bytes:
    """One page of the collective (session) UPO, signed with ``seal``.

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
    return _serialise(root, seal)
