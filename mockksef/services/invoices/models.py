"""Entities of the invoices area: the stored (accepted) invoice and an export.

``StoredInvoice`` carries everything ``InvoiceMetadata`` needs plus the document.
It is built for a million rows: ``__slots__``, the XML kept zlib-compressed with a
preset dictionary of FA vocabulary (invoices share most of their bytes), amounts
as floats (the API renders doubles anyway).
"""

from __future__ import annotations

import copy
import zlib
from dataclasses import InitVar, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from mockksef.clock import format_datetime
from mockksef.models import ContextIdentifier

# (type, value) — type in Nip | VatUe | Other | None (value None for "None").
BuyerIdentifier = tuple[str, str | None]
# (identifier type, value, name, role): type in Nip | InternalId | VatUe | Other | None.
ThirdSubject = tuple[str, str | None, str | None, int | None]
# (nip, name, role)
AuthorizedSubject = tuple[str, str | None, int]
# (systemCode, schemaVersion, value), e.g. ("FA (3)", "1-0E", "FA")
FormCode = tuple[str, str, str]

INVOICE_TYPES = (
    "Vat",
    "Zal",
    "Kor",
    "Roz",
    "Upr",
    "KorZal",
    "KorRoz",
    "VatPef",
    "VatPefSp",
    "KorPef",
    "VatRr",
    "KorVatRr",
)

# Preset dictionary for zlib: the tag vocabulary of FA(2)/FA(3)/FA_RR documents,
# written here (not copied from the official files). Deflate looks back into it,
# so even the first occurrence of a tag costs a few bytes instead of its length.
# Most frequent strings go last (closest to the data, cheapest to reference).
_ZDICT = (
    b"<Zalacznik><BlokDanych><ZNaglowek></ZNaglowek><MetaDane><ZKlucz></ZKlucz><ZWartosc>"
    b'</ZWartosc></MetaDane><Tabela><TNaglowek><Kol Typ="txt"><NKom></NKom></Kol>'
    b"</TNaglowek><Wiersz><WKom></WKom></Wiersz></Tabela></BlokDanych></Zalacznik>"
    b"<Stopka><Informacje><StopkaFaktury></StopkaFaktury></Informacje><Rejestry><KRS></KRS>"
    b"<REGON></REGON><BDO></BDO></Rejestry></Stopka>"
    b"<Platnosc><Zaplacono>1</Zaplacono><DataZaplaty></DataZaplaty><TerminPlatnosci><Termin>"
    b"</Termin></TerminPlatnosci><FormaPlatnosci>6</FormaPlatnosci><RachunekBankowy><NrRB>"
    b"</NrRB><NazwaBanku></NazwaBanku></RachunekBankowy></Platnosc>"
    b"<WarunkiTransakcji><Zamowienia><DataZamowienia></DataZamowienia><NrZamowienia>"
    b"</NrZamowienia></Zamowienia></WarunkiTransakcji>"
    b"<Podmiot3><DaneIdentyfikacyjne><IDWew></IDWew></DaneIdentyfikacyjne><Rola></Rola>"
    b"<RolaInna>1</RolaInna><OpisRoli></OpisRoli><Udzial></Udzial></Podmiot3>"
    b"<PodmiotUpowazniony><RolaPU></RolaPU></PodmiotUpowazniony>"
    b"<DaneFaKorygowanej><DataWystFaKorygowanej></DataWystFaKorygowanej><NrFaKorygowanej>"
    b"</NrFaKorygowanej><NrKSeF>1</NrKSeF><NrKSeFFaKorygowanej></NrKSeFFaKorygowanej>"
    b"</DaneFaKorygowanej><PrzyczynaKorekty></PrzyczynaKorekty><TypKorekty></TypKorekty>"
    b"<KodUE></KodUE><NrVatUE></NrVatUE><NrID></NrID><BrakID>1</BrakID>"
    b"<KodKraju>PL</KodKraju><AdresL1></AdresL1><AdresL2></AdresL2><GLN></GLN>"
    b"<DaneKontaktowe><Email></Email><Telefon></Telefon></DaneKontaktowe>"
    b"<JST>2</JST><GV>2</GV><NrKlienta></NrKlienta>"
    b"<Adnotacje><P_16>2</P_16><P_17>2</P_17><P_18>2</P_18><P_18A>2</P_18A><Zwolnienie>"
    b"<P_19N>1</P_19N></Zwolnienie><NoweSrodkiTransportu><P_22N>1</P_22N>"
    b"</NoweSrodkiTransportu><P_23>2</P_23><PMarzy><P_PMarzyN>1</P_PMarzyN></PMarzy>"
    b"</Adnotacje><RodzajFaktury>VAT</RodzajFaktury>"
    b"<P_13_2></P_13_2><P_14_2></P_14_2><P_13_3></P_13_3><P_14_3></P_14_3>"
    b"<P_13_1></P_13_1><P_14_1></P_14_1><P_14_1W></P_14_1W><P_15></P_15>"
    b"<FaWiersz><NrWierszaFa>1</NrWierszaFa><UU_ID></UU_ID><P_7></P_7><P_8A>szt.</P_8A>"
    b"<P_8B>1</P_8B><P_9A></P_9A><P_11></P_11><P_11A></P_11A><P_12>23</P_12></FaWiersz>"
    b'<Faktura xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    b'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    b'xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/">'
    b'<Naglowek><KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA'
    b"</KodFormularza><WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>"
    b"</DataWytworzeniaFa><SystemInfo></SystemInfo></Naglowek>"
    b"<Podmiot1><DaneIdentyfikacyjne><NIP></NIP><Nazwa></Nazwa></DaneIdentyfikacyjne>"
    b"<Adres><KodKraju>PL</KodKraju><AdresL1></AdresL1></Adres></Podmiot1>"
    b"<Podmiot2><DaneIdentyfikacyjne><NIP></NIP><Nazwa></Nazwa></DaneIdentyfikacyjne>"
    b"<Adres><KodKraju>PL</KodKraju><AdresL1></AdresL1></Adres></Podmiot2>"
    b"<Fa><KodWaluty>PLN</KodWaluty><P_1></P_1><P_1M></P_1M><P_2></P_2><P_6></P_6>"
    b"</Fa></Faktura>\n"
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
)

_RAW = b"\x00"  # stored as is (not yet compacted, or compression did not pay)
_ZD1 = b"\x01"  # raw deflate with the built-in vocabulary _ZDICT
_ZD2 = b"\x02"  # raw deflate with a document dictionary (``xml_dict``)
# Deflate looks back at most 32 KiB: a longer dictionary is wasted.
MAX_DICTIONARY = 32 * 1024


def compress_xml(data: bytes, dictionary: bytes | None = None) -> bytes:
    zdict = dictionary or _ZDICT
    packer = zlib.compressobj(6, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict)
    packed = packer.compress(data) + packer.flush()
    if len(packed) >= len(data):
        return _RAW + data
    return (_ZD2 if dictionary else _ZD1) + packed


def decompress_xml(blob: bytes, dictionary: bytes | None = None) -> bytes:
    marker = blob[:1]
    if marker == _RAW:
        return blob[1:]
    zdict = _ZDICT
    if marker == _ZD2:
        if dictionary is None:
            raise ValueError("a blob deflated against a document dictionary needs that dictionary")
        zdict = dictionary
    unpacker = zlib.decompressobj(-15, zdict)
    return unpacker.decompress(blob[1:]) + unpacker.flush()


def fast_datetime(value: datetime) -> str:
    """``clock.format_datetime`` for UTC values, several times faster (hot in big pages)."""
    offset = value.utcoffset()
    if offset is None or offset:
        return format_datetime(value)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "0+00:00"


def _number(value: Any) -> float:
    if isinstance(value, float):
        return value
    if isinstance(value, (int, Decimal, str)):
        return float(value)
    raise TypeError(f"amount must be a number, not {type(value).__name__}")


class _Document:
    """Reading ``.xml``: a property on a base class, because the dataclass below
    takes ``xml`` as an init-only argument (a property in its own body would be
    read as that argument's default)."""

    __slots__ = ()
    xml_blob: bytes
    xml_dict: bytes | None

    @property
    def xml(self) -> bytes:
        return decompress_xml(self.xml_blob, self.xml_dict)


@dataclass(slots=True, kw_only=True, eq=False)
class StoredInvoice(_Document):
    """An accepted invoice. Build with keywords; ``xml=`` takes the plain bytes
    (None for a subclass that renders its document on read).

    ``.xml`` returns the exact bytes given (kept compressed in ``xml_blob``).
    The store may move ``permanent_storage_date`` forward when it is stored,
    so that nothing ever appears below an HWM already reported (Part B §8.3).
    """

    ksef_number: str
    invoice_reference_number: str
    session_reference_number: str
    sender_context: ContextIdentifier
    seller_nip: str
    seller_name: str | None = None
    buyer_identifier: BuyerIdentifier = ("None", None)
    buyer_name: str | None = None
    third_subjects: tuple[ThirdSubject, ...] = ()
    authorized_subject: AuthorizedSubject | None = None
    invoice_number: str
    invoice_type: str
    form_code: FormCode = ("FA (3)", "1-0E", "FA")
    issue_date: date
    invoicing_date: datetime
    acquisition_date: datetime
    permanent_storage_date: datetime
    net_amount: float = 0.0
    gross_amount: float = 0.0
    vat_amount: float = 0.0
    currency: str = "PLN"
    invoicing_mode: str = "Online"
    is_self_invoicing: bool = False
    has_attachment: bool = False
    invoice_hash: str
    invoice_size: int = 0
    hash_of_corrected_invoice: str | None = None
    xml: InitVar[bytes | None]
    xml_blob: bytes = field(default=b"\x00", repr=False)
    # The shared document the blob was deflated against (one object for many rows).
    xml_dict: bytes | None = field(default=None, repr=False)

    def __post_init__(self, xml: bytes | None) -> None:
        if xml is not None:
            # Kept as is until stored: the store compacts it against its dictionary.
            self.xml_blob = _RAW + bytes(xml)
            if not self.invoice_size:
                self.invoice_size = len(xml)
        self.net_amount = _number(self.net_amount)
        self.gross_amount = _number(self.gross_amount)
        self.vat_amount = _number(self.vat_amount)
        if isinstance(self.issue_date, datetime):
            self.issue_date = self.issue_date.date()

    def compact(self, dictionary: bytes | None) -> None:
        """Deflate the document against ``dictionary`` (None: the built-in vocabulary)."""
        if self.xml_blob[:1] == _RAW and len(self.xml_blob) > 1:
            self.xml_blob = compress_xml(self.xml_blob[1:], dictionary)
            self.xml_dict = dictionary if self.xml_blob[:1] == _ZD2 else None

    def detached(self) -> StoredInvoice:
        """A copy without the shared dictionary (persisted once per form, not per row)."""
        twin = copy.copy(self)
        twin.xml_dict = None
        return twin

    def attach_dictionary(self, dictionaries: dict[str, bytes]) -> None:
        """Give a row read back its form's dictionary (see :meth:`detached`)."""
        if self.xml_dict is None and self.xml_blob[:1] == _ZD2:
            self.xml_dict = dictionaries[self.form_code[0]]

    @property
    def form_type(self) -> str:
        """FA | PEF | FA_RR (``formType`` filter), from the form code value."""
        value = self.form_code[2]
        if value.startswith("PEF"):
            return "PEF"
        if value.startswith("FA_RR") or self.form_code[0].startswith("FA_RR"):
            return "FA_RR"
        return "FA"

    def metadata(self) -> dict[str, Any]:
        """The official ``InvoiceMetadata`` object (optional fields left out)."""
        buyer_type, buyer_value = self.buyer_identifier
        identifier: dict[str, Any] = {"type": buyer_type}
        if buyer_value is not None:
            identifier["value"] = buyer_value
        buyer: dict[str, Any] = {"identifier": identifier}
        if self.buyer_name is not None:
            buyer["name"] = self.buyer_name
        seller: dict[str, Any] = {"nip": self.seller_nip}
        if self.seller_name is not None:
            seller["name"] = self.seller_name
        out: dict[str, Any] = {
            "ksefNumber": self.ksef_number,
            "invoiceNumber": self.invoice_number,
            "issueDate": self.issue_date.isoformat(),
            "invoicingDate": fast_datetime(self.invoicing_date),
            "acquisitionDate": fast_datetime(self.acquisition_date),
            "permanentStorageDate": fast_datetime(self.permanent_storage_date),
            "seller": seller,
            "buyer": buyer,
            "netAmount": self.net_amount,
            "grossAmount": self.gross_amount,
            "vatAmount": self.vat_amount,
            "currency": self.currency,
            "invoicingMode": self.invoicing_mode,
            "invoiceType": self.invoice_type,
            "formCode": {
                "systemCode": self.form_code[0],
                "schemaVersion": self.form_code[1],
                "value": self.form_code[2],
            },
            "isSelfInvoicing": self.is_self_invoicing,
            "hasAttachment": self.has_attachment,
            "invoiceHash": self.invoice_hash,
        }
        if self.hash_of_corrected_invoice:
            out["hashOfCorrectedInvoice"] = self.hash_of_corrected_invoice
        if self.third_subjects:
            subjects = []
            for id_type, value, name, role in self.third_subjects:
                ident: dict[str, Any] = {"type": id_type}
                if value is not None:
                    ident["value"] = value
                item: dict[str, Any] = {"identifier": ident}
                if name is not None:
                    item["name"] = name
                item["role"] = role if role is not None else 0
                subjects.append(item)
            out["thirdSubjects"] = subjects
        if self.authorized_subject is not None:
            nip, name, role = self.authorized_subject
            auth: dict[str, Any] = {"nip": nip}
            if name is not None:
                auth["name"] = name
            auth["role"] = role
            out["authorizedSubject"] = auth
        return out
