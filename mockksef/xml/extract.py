"""Invoice XML -> the facts KSeF reads from it (reference B §7.3).

Works on a document already parsed by ``xsd.parse_document`` and valid against
its form's schema, so the paths below exist where the schema requires them;
optional ones are read defensively. Amounts are ``Decimal``; identifiers follow
the shapes of ``StoredInvoice`` (buyer ``(type, value)``, third subjects
``(type, value, name, role)``, authorised subject ``(nip, name, role)``).

Simplifications: every PEF ``Invoice`` is ``VatPef`` (``VatPefSp`` is never
inferred); a PEF party's NIP is its ``CompanyID`` with an optional ``PL`` prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from mockksef.xml.xsd import UBL_CREDIT_NOTE_NS, FormSpec

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"

FA_TYPES = {
    "VAT": "Vat",
    "ZAL": "Zal",
    "KOR": "Kor",
    "ROZ": "Roz",
    "UPR": "Upr",
    "KOR_ZAL": "KorZal",
    "KOR_ROZ": "KorRoz",
}
RR_TYPES = {"VAT_RR": "VatRr", "KOR_VAT_RR": "KorVatRr"}

_NIP = re.compile(r"^(?:PL)?([1-9]\d{9})$")
_P13 = re.compile(r"^P_13_\d+(?:_\d+)?$")
_P14 = re.compile(r"^P_14_\d+$")
_P14W = re.compile(r"^P_14_\d+W$")


class ExtractionError(Exception):
    """A required value could not be read (invoice status 450)."""


@dataclass
class InvoiceFacts:
    seller_nip: str
    invoice_number: str
    invoice_type: str
    issue_date: date
    seller_name: str | None = None
    buyer_identifier: tuple[str, str | None] = ("None", None)
    buyer_name: str | None = None
    third_subjects: tuple[tuple[str, str | None, str | None, int | None], ...] = ()
    authorized_subject: tuple[str, str | None, int] | None = None
    currency: str = "PLN"
    net_amount: Decimal = Decimal(0)
    gross_amount: Decimal = Decimal(0)
    vat_amount: Decimal = Decimal(0)
    is_self_invoicing: bool = False
    has_attachment: bool = False
    # (where, identifier) pairs whose checksums the subject-identifier validation checks;
    # where is "Podmiot1" … and the identifier a NIP or an internal id (NIP-5 digits).
    identifiers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def duplicate_key(self) -> tuple[str, str, str]:
        return (self.seller_nip, self.invoice_type, self.invoice_number.strip())


def extract(root: etree._Element, form: FormSpec) -> InvoiceFacts:
    if form.kind == "PEF":
        return _pef(root)
    return _fa(root, form)


# -- FA(2), FA(3), FA_RR -------------------------------------------------------------


class _Ns:
    def __init__(self, namespace: str) -> None:
        self.ns = namespace

    def path(self, *names: str) -> str:
        return "/".join(f"{{{self.ns}}}{n}" for n in names)

    def find(self, node: etree._Element | None, *names: str) -> etree._Element | None:
        if node is None:
            return None
        return node.find(self.path(*names))

    def text(self, node: etree._Element | None, *names: str) -> str | None:
        found = self.find(node, *names)
        text: str | None = None if found is None else found.text
        return None if text is None else text.strip()


def _decimal(text: str | None) -> Decimal:
    if not text:
        return Decimal(0)
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return Decimal(0)


def _date(text: str | None, what: str) -> date:
    if not text:
        raise ExtractionError(f"Brak wartości {what}.")
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError as exc:
        raise ExtractionError(f"Nieprawidłowa data {what}: '{text}'.") from exc


def _fa(root: etree._Element, form: FormSpec) -> InvoiceFacts:
    x = _Ns(form.namespace)
    body_name = "FakturaRR" if form.kind == "FA_RR" else "Fa"
    body = x.find(root, body_name)
    if body is None:
        raise ExtractionError(f"Brak elementu {body_name}.")
    seller = x.find(root, "Podmiot1", "DaneIdentyfikacyjne")
    seller_nip = x.text(seller, "NIP")
    if not seller_nip:
        raise ExtractionError("Brak NIP sprzedawcy (Podmiot1).")
    identifiers = [("Podmiot1", seller_nip)]
    buyer = x.find(root, "Podmiot2", "DaneIdentyfikacyjne")
    buyer_identifier, buyer_name = _party(x, buyer)
    if buyer_identifier[0] == "Nip" and buyer_identifier[1]:
        identifiers.append(("Podmiot2", buyer_identifier[1]))
    third: list[tuple[str, str | None, str | None, int | None]] = []
    for node in root.findall(x.path("Podmiot3")):
        ident = x.find(node, "DaneIdentyfikacyjne")
        (kind, value), name = _party(x, ident, allow_internal=True)
        role_text = x.text(node, "Rola")
        role = int(role_text) if role_text and role_text.isdigit() else 0
        third.append((kind, value, name, role))
        if kind in ("Nip", "InternalId") and value:
            identifiers.append(("Podmiot3", value))
    authorized = None
    upowazniony = x.find(root, "PodmiotUpowazniony")
    if upowazniony is not None:
        ident = x.find(upowazniony, "DaneIdentyfikacyjne")
        nip = x.text(ident, "NIP")
        role_text = x.text(upowazniony, "RolaPU")
        if nip:
            authorized = (nip, x.text(ident, "Nazwa"), int(role_text) if role_text else 0)
            identifiers.append(("PodmiotUpowazniony", nip))
    kind_text = x.text(body, "RodzajFaktury") or ""
    if form.kind == "FA_RR":
        invoice_type = RR_TYPES.get(kind_text)
        number = x.text(body, "P_4C")
        issue = _date(x.text(body, "P_4B"), "P_4B")
        net = _decimal(x.text(body, "P_11_1"))
        vat = _decimal(x.text(body, "P_11_2"))
        gross = _decimal(x.text(body, "P_12_1"))
        self_invoicing = False
    else:
        invoice_type = FA_TYPES.get(kind_text)
        number = x.text(body, "P_2")
        issue = _date(x.text(body, "P_1"), "P_1")
        net, vat, gross = _fa_amounts(body)
        self_invoicing = x.text(body, "Adnotacje", "P_17") == "1"
    if invoice_type is None:
        raise ExtractionError(f"Nieobsługiwany rodzaj faktury '{kind_text}'.")
    if not number:
        raise ExtractionError("Brak numeru faktury.")
    return InvoiceFacts(
        seller_nip=seller_nip,
        seller_name=x.text(seller, "Nazwa"),
        invoice_number=number,
        invoice_type=invoice_type,
        issue_date=issue,
        buyer_identifier=buyer_identifier,
        buyer_name=buyer_name,
        third_subjects=tuple(third),
        authorized_subject=authorized,
        currency=x.text(body, "KodWaluty") or "PLN",
        net_amount=net,
        gross_amount=gross,
        vat_amount=vat,
        is_self_invoicing=self_invoicing,
        has_attachment=x.find(root, "Zalacznik") is not None,
        identifiers=identifiers,
    )


def _party(
    x: _Ns, ident: etree._Element | None, allow_internal: bool = False
) -> tuple[tuple[str, str | None], str | None]:
    if ident is None:
        return ("None", None), None
    name = x.text(ident, "Nazwa")
    nip = x.text(ident, "NIP")
    if nip:
        return ("Nip", nip), name
    internal = x.text(ident, "IDWew")
    if allow_internal and internal:
        return ("InternalId", internal), name
    eu_code = x.text(ident, "KodUE")
    if eu_code:
        return ("VatUe", eu_code + (x.text(ident, "NrVatUE") or "")), name
    other = x.text(ident, "NrID")
    if other:
        return ("Other", other), name
    return ("None", None), name


def _fa_amounts(body: etree._Element) -> tuple[Decimal, Decimal, Decimal]:
    net = vat = vat_pln = Decimal(0)
    has_pln = False
    gross = Decimal(0)
    for child in body:
        if not isinstance(child.tag, str):
            continue
        local = etree.QName(child).localname
        if _P13.match(local):
            net += _decimal(child.text)
        elif _P14.match(local):
            vat += _decimal(child.text)
        elif _P14W.match(local):
            has_pln = True
            vat_pln += _decimal(child.text)
        elif local == "P_15":
            gross = _decimal(child.text)
    # vatAmount is in PLN: the W fields when the invoice is in a foreign currency.
    return net, (vat_pln if has_pln else vat), gross


# -- PEF (UBL Invoice / CreditNote) ---------------------------------------------------------


def _ubl_text(node: etree._Element | None, path: str) -> str | None:
    if node is None:
        return None
    found = node.find(path.replace("cbc:", f"{{{CBC}}}").replace("cac:", f"{{{CAC}}}"))
    text: str | None = None if found is None else found.text
    return None if text is None else text.strip()


def _ubl_nip(party: etree._Element | None) -> str | None:
    for path in (
        "cac:PartyTaxScheme/cbc:CompanyID",
        "cac:PartyLegalEntity/cbc:CompanyID",
        "cbc:EndpointID",
    ):
        value = _ubl_text(party, path)
        if value:
            match = _NIP.match(value.replace(" ", "").upper())
            if match:
                return match.group(1)
    return None


def _pef(root: etree._Element) -> InvoiceFacts:
    credit = etree.QName(root).namespace == UBL_CREDIT_NOTE_NS
    supplier = root.find(f"{{{CAC}}}AccountingSupplierParty/{{{CAC}}}Party")
    customer = root.find(f"{{{CAC}}}AccountingCustomerParty/{{{CAC}}}Party")
    seller_nip = _ubl_nip(supplier)
    if not seller_nip:
        raise ExtractionError("Brak NIP sprzedawcy (AccountingSupplierParty).")
    number = _ubl_text(root, "cbc:ID")
    if not number:
        raise ExtractionError("Brak numeru faktury (cbc:ID).")
    buyer_nip = _ubl_nip(customer)
    buyer_identifier: tuple[str, str | None]
    if buyer_nip:
        buyer_identifier = ("Nip", buyer_nip)
    else:
        other = _ubl_text(customer, "cac:PartyLegalEntity/cbc:CompanyID")
        buyer_identifier = ("Other", other) if other else ("None", None)
    currency = _ubl_text(root, "cbc:DocumentCurrencyCode") or "PLN"
    totals = root.find(f"{{{CAC}}}LegalMonetaryTotal")
    vat = Decimal(0)
    for total in root.findall(f"{{{CAC}}}TaxTotal"):
        amount = total.find(f"{{{CBC}}}TaxAmount")
        if amount is None:
            continue
        if amount.get("currencyID") == "PLN" or vat == 0:
            vat = _decimal(amount.text)
    identifiers = [("Podmiot1", seller_nip)]
    if buyer_nip:
        identifiers.append(("Podmiot2", buyer_nip))
    return InvoiceFacts(
        seller_nip=seller_nip,
        seller_name=_ubl_text(supplier, "cac:PartyLegalEntity/cbc:RegistrationName")
        or _ubl_text(supplier, "cac:PartyName/cbc:Name"),
        invoice_number=number,
        invoice_type="KorPef" if credit else "VatPef",
        issue_date=_date(_ubl_text(root, "cbc:IssueDate"), "cbc:IssueDate"),
        buyer_identifier=buyer_identifier,
        buyer_name=_ubl_text(customer, "cac:PartyLegalEntity/cbc:RegistrationName")
        or _ubl_text(customer, "cac:PartyName/cbc:Name"),
        currency=currency,
        net_amount=_decimal(_ubl_text(totals, "cbc:TaxExclusiveAmount")),
        gross_amount=_decimal(_ubl_text(totals, "cbc:TaxInclusiveAmount")),
        vat_amount=vat,
        has_attachment=root.find(
            f"{{{CAC}}}AdditionalDocumentReference/{{{CAC}}}Attachment/{{{CBC}}}EmbeddedDocumentBinaryObject"
        )
        is not None,
        identifiers=identifiers,
    )
