"""Entities of the sessions area: sessions, the invoices sent in them, status texts.

Statuses are not stored as a moving field: each record keeps the instants at
which its next states begin (on the environment clock), and a read computes
what a client sees *now* (reference B §2.4, §3.5, §11.2). Outcomes are decided
when the request that makes them possible arrives (send, close) so that an
accepted invoice is filed in the invoice store at once and nothing depends on
someone polling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mockksef.models import ContextIdentifier, SubjectIdentifier
from mockksef.xml.xsd import FormSpec

if TYPE_CHECKING:
    from mockksef.services.invoices.models import StoredInvoice

ONLINE = "Online"
BATCH = "Batch"

# Online sessions close automatically 12 h after opening; a batch session that is
# not closed within 12 h is cancelled (reference B §2.1, §3.5).
SESSION_LIFETIME = timedelta(hours=12)
# Largest encrypted part a 100 MB (SI) plaintext part can produce (+16 B padding).
MAX_PART_PLAIN = 100_000_000
MAX_PART_ENCRYPTED = MAX_PART_PLAIN + 16
MAX_PARTS = 50
# Session UPO pages hold at most this many ``Dokument`` entries (XSD maxOccurs).
UPO_PAGE_SIZE = 10_000

ONLINE_STATUS: dict[int, str] = {
    100: "Sesja interaktywna otwarta",
    170: "Sesja interaktywna zamknięta",
    200: "Sesja interaktywna przetworzona pomyślnie",
    415: "Błąd odszyfrowania dostarczonego klucza",
    440: "Sesja anulowana",
    445: "Błąd weryfikacji, brak poprawnych faktur",
}
BATCH_STATUS: dict[int, str] = {
    100: "Sesja wsadowa rozpoczęta",
    150: "Trwa przetwarzanie",
    200: "Sesja wsadowa przetworzona pomyślnie",
    405: "Błąd weryfikacji poprawności dostarczonych elementów paczki",
    415: "Błąd odszyfrowania dostarczonego klucza",
    420: "Przekroczony limit faktur w sesji",
    430: "Błąd dekompresji pierwotnego archiwum",
    435: "Błąd odszyfrowania zaszyfrowanych części archiwum",
    440: "Sesja anulowana",
    445: "Błąd weryfikacji, brak poprawnych faktur",
}
INVOICE_STATUS: dict[int, str] = {
    100: "Faktura przyjęta do dalszego przetwarzania",
    150: "Trwa przetwarzanie",
    200: "Sukces",
    405: "Przetwarzanie anulowane z powodu błędu sesji",
    410: "Nieprawidłowy zakres uprawnień",
    415: "Brak możliwości wysyłania faktury z załącznikiem",
    430: "Błąd weryfikacji pliku faktury",
    435: "Błąd odszyfrowania pliku",
    440: "Duplikat faktury",
    450: "Błąd weryfikacji semantyki dokumentu faktury",
    550: "Operacja została anulowana przez system",
}

# 21173 details: the spec uses both wordings, depending on the operation.
NOT_FOUND_ODNALEZIONA = "Sesja o numerze referencyjnym {} nie została odnaleziona."
NOT_FOUND_ZNALEZIONA = "Sesja o numerze referencyjnym {} nie została znaleziona."

NO_INVOICES = "Nie przesłano faktur"
UPLOAD_TIME_EXCEEDED = "Przekroczono czas wysyłki"
KEY_DECRYPTION_FAILED = "Rozszyfrowania klucza symetrycznego zakończone błędem"
FILE_BADLY_ENCRYPTED = "Plik niepoprawnie zaszyfrowany"
SYSTEM_ABORT = "Przetwarzanie zostało przerwane z przyczyn wewnętrznych systemu. Spróbuj ponownie"

# GET /sessions ``statuses`` filter -> session codes (reference B §4.1).
STATUS_GROUPS: dict[str, frozenset[int]] = {
    "InProgress": frozenset({100, 150, 170}),
    "Succeeded": frozenset({200}),
    "Failed": frozenset({405, 415, 420, 430, 435, 445, 500}),
    "Cancelled": frozenset({440}),
}


def unknown_error(code: int) -> str:
    """``Nieznany błąd ({statusCode})`` of the spec tables, filled in."""
    return f"Nieznany błąd ({code})"


def session_description(kind: str, code: int) -> str:
    table = ONLINE_STATUS if kind == ONLINE else BATCH_STATUS
    return table.get(code) or unknown_error(code)


def invoice_description(code: int) -> str:
    return INVOICE_STATUS.get(code) or unknown_error(code)


@dataclass(frozen=True)
class Outcome:
    """A final invoice or session status: code, details, extensions."""

    code: int
    details: tuple[str, ...] = ()
    extensions: dict[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.code == 200


@dataclass(slots=True, eq=False)
class SessionInvoice:
    """One invoice received in a session (any outcome)."""

    reference_number: str
    ordinal: int
    invoice_hash: str
    # When KSeF accepted it for processing (online: the send; batch: session opening).
    invoicing_date: datetime
    # Status 100 until processing_at, 150 until final_at, then ``outcome``.
    processing_at: datetime
    final_at: datetime
    outcome: Outcome
    invoicing_mode: str
    file_name: str | None = None
    invoice_number: str | None = None
    hash_of_corrected_invoice: str | None = None
    # The accepted invoice as filed in the invoice store (status 200 only).
    stored: StoredInvoice | None = None

    def code_at(self, now: datetime) -> int:
        if now >= self.final_at:
            return self.outcome.code
        return 150 if now >= self.processing_at else 100

    def is_final(self, now: datetime) -> bool:
        return now >= self.final_at


@dataclass
class BatchPart:
    ordinal: int
    size: int
    hash: str
    data: bytes | None = None
    uploaded_at: datetime | None = None


@dataclass
class BatchInfo:
    file_size: int
    file_hash: str
    compression: str
    parts: dict[int, BatchPart]
    upload_deadline: datetime

    def drop_data(self) -> None:
        for part in self.parts.values():
            part.data = None


@dataclass
class UpoPage:
    reference_number: str
    number: int
    first_ordinal: int
    invoices: list[SessionInvoice]


@dataclass(eq=False)
class Session:
    reference_number: str
    kind: str
    context: ContextIdentifier
    opener: SubjectIdentifier | None
    form: FormSpec
    created: datetime
    valid_until: datetime
    ksef_token_reference: str | None
    auth_document_hash: str | None
    key: bytes | None
    iv: bytes
    offline_mode: bool = False
    subject_identifier_validation: bool = False
    invoices: list[SessionInvoice] = field(default_factory=list)
    by_reference: dict[str, SessionInvoice] = field(default_factory=dict)
    closed_at: datetime | None = None
    # Session-level outcome and the instant it shows (None: not decided yet).
    outcome: Outcome | None = None
    final_at: datetime | None = None
    # Batch: invoices are listed only once the archive has been enumerated.
    enumerated: bool = True
    batch: BatchInfo | None = None
    upo_pages: list[UpoPage] | None = None

    def add(self, invoice: SessionInvoice) -> None:
        self.invoices.append(invoice)
        self.by_reference[invoice.reference_number] = invoice
