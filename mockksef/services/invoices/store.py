"""The invoice store: accepted invoices and the indexes every read path uses.

Built so that a query costs about the size of its answer, not the number of
stored invoices (issue 8 measures 1M rows):

* rows live in one list; an invoice's position there (its *row*) is what the
  indexes hold, as 4-byte ints in ``array('i')``;
* per (subject type, party) — Subject1 seller NIP, Subject2 buyer NIP,
  Subject3 third-subject NIP / internal id, SubjectAuthorized NIP — one row
  array per date type (Issue, Invoicing, PermanentStorage), ordered by
  (date, row); a date range is two ``bisect`` calls with a key into the rows;
* ``ksefNumber`` and the trimmed ``P_2`` are dict lookups (the second one also
  serves the duplicate check of Part B §7.2).

The HWM (Part B §8.3) is owned here: ``hwm(now)`` is ``now`` and ``store`` never
lets an invoice land at or below an HWM already reported — it moves such an
invoice's ``permanent_storage_date`` just past it. An invoice is visible once
its ``permanent_storage_date`` has been reached.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter
from typing import Any

from mockksef.ids import WARSAW, crc8
from mockksef.services.invoices.models import MAX_DICTIONARY, StoredInvoice

SUBJECT_TYPES = ("Subject1", "Subject2", "Subject3", "SubjectAuthorized")
DATE_TYPES = ("Issue", "Invoicing", "PermanentStorage")
_EPS = timedelta(microseconds=1)
_FAR_PAST = datetime(1970, 1, 1, tzinfo=UTC)
_DATE_ATTRIBUTES = (
    ("Issue", "issue_date"),
    ("Invoicing", "invoicing_date"),
    ("PermanentStorage", "permanent_storage_date"),
)


def make_ksef_number(nip: str, day: str, tech: str) -> str:
    body = f"{nip}-{day}-{tech.upper()}"
    return f"{body}-{crc8(body.encode('ascii')):02X}"


def is_valid_ksef_number(number: str) -> bool:
    """The official validators' rule: 35 chars, CRC-8 of the first 32 (Part B §6.2)."""
    if len(number) != 35:
        return False
    return f"{crc8(number[:32].encode('ascii')):02X}" == number[33:].upper()


def parties(invoice: StoredInvoice) -> Iterator[tuple[str, str]]:
    """(subject type, party key) pairs under which the invoice is visible (§8.0)."""
    yield "Subject1", invoice.seller_nip
    buyer_type, buyer_value = invoice.buyer_identifier
    if buyer_type == "Nip" and buyer_value:
        yield "Subject2", buyer_value
    seen: set[str] = set()
    for id_type, value, _name, _role in invoice.third_subjects:
        if id_type in ("Nip", "InternalId") and value and value not in seen:
            seen.add(value)
            yield "Subject3", value
    if invoice.authorized_subject is not None:
        yield "SubjectAuthorized", invoice.authorized_subject[0]


def _date_of_row(rows: list[StoredInvoice], date_of: Callable[[Any], Any]) -> Callable[[int], Any]:
    return lambda row: date_of(rows[row])


class _Party:
    """Rows of one (subject type, party), one ordered array per date type."""

    __slots__ = ("issue", "invoicing", "storage")

    def __init__(self) -> None:
        self.issue = array("i")
        self.invoicing = array("i")
        self.storage = array("i")

    def by(self, date_type: str) -> array[int]:
        if date_type == "Issue":
            return self.issue
        if date_type == "Invoicing":
            return self.invoicing
        return self.storage


class InvoiceStore:
    """Accepted invoices and their indexes (thread-safe; writers take a lock)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._rows: list[StoredInvoice] = []
        self._by_number: dict[str, StoredInvoice] = {}
        # trimmed P_2 -> invoice, or a list of invoices when sellers share a number
        self._by_p2: dict[str, StoredInvoice | list[StoredInvoice]] = {}
        self._parties: dict[tuple[str, str], _Party] = {}
        # One document per form (the first small one seen) serves as the deflate
        # dictionary of all later ones: invoices of one form share most bytes.
        self._dictionaries: dict[str, bytes] = {}
        # Equal small tuples (buyer identifiers, third subjects) stored once.
        self._interned: dict[Any, Any] = {}
        self._hwm_reported = _FAR_PAST
        self._max_storage = _FAR_PAST
        self._key_fns: dict[str, Callable[[int], Any]] = {
            "Issue": lambda row: self._rows[row].issue_date,
            "Invoicing": lambda row: self._rows[row].invoicing_date,
            "PermanentStorage": lambda row: self._rows[row].permanent_storage_date,
        }

    # -- writing ---------------------------------------------------------------

    def store(self, invoice: StoredInvoice) -> None:
        with self._lock:
            row = self._add_row(invoice)
            for key in parties(invoice):
                party = self._party(key)
                for date_type in DATE_TYPES:
                    rows = party.by(date_type)
                    key_fn = self._key_fns[date_type]
                    value = key_fn(row)
                    # Fast path: dates mostly arrive in order.
                    if not rows or key_fn(rows[-1]) <= value:
                        rows.append(row)
                    else:
                        rows.insert(bisect_right(rows, value, key=key_fn), row)

    def bulk_store(self, invoices: Iterable[StoredInvoice]) -> int:
        """Store many at once: append everything, then sort each touched index once."""
        with self._lock:
            touched: set[tuple[str, str]] = set()
            count = 0
            for invoice in invoices:
                row = self._add_row(invoice)
                for key in parties(invoice):
                    party = self._party(key)
                    party.issue.append(row)
                    party.invoicing.append(row)
                    party.storage.append(row)
                    touched.add(key)
                count += 1
            self._sort_parties(touched, len(self._rows) - count)
            return count

    def _sort_parties(self, touched: Iterable[tuple[str, str]], first: int) -> None:
        """Order the arrays of ``touched`` parties by (date, row) once rows ``first``… are in.

        Each array holds its old rows in (date, row) order followed by new rows in
        row order, so a stable sort by date alone gives (date, row). When the new
        rows are a large share of the store, each date is looked up through a list
        (a key in C, no lambda per comparison).
        """
        rows = self._rows
        whole = len(rows) - first >= len(rows) // 4
        parties = [self._parties[key] for key in touched]
        for date_type, attribute in _DATE_ATTRIBUTES:
            date_of = attrgetter(attribute)
            key: Callable[[int], Any]
            if whole:
                key = list(map(date_of, rows)).__getitem__
            else:
                key = _date_of_row(rows, date_of)
            for party in parties:
                current = party.by(date_type)
                if len(current) > 1:
                    current[:] = array("i", sorted(current, key=key))

    def _add_row(self, invoice: StoredInvoice) -> int:
        self._admit(invoice)
        self._rows.append(invoice)
        return len(self._rows) - 1

    def _party(self, key: tuple[str, str]) -> _Party:
        party = self._parties.get(key)
        if party is None:
            party = self._parties[key] = _Party()
        return party

    def _admit(self, invoice: StoredInvoice) -> None:
        if invoice.ksef_number in self._by_number:
            raise ValueError(f"KSeF number {invoice.ksef_number} is already stored")
        if invoice.permanent_storage_date <= self._hwm_reported:
            # Never below a reported HWM: later queries up to it must not change.
            invoice.permanent_storage_date = self._hwm_reported + _EPS
        if invoice.permanent_storage_date > self._max_storage:
            self._max_storage = invoice.permanent_storage_date
        self._compact(invoice)
        self._by_number[invoice.ksef_number] = invoice
        key = invoice.invoice_number.strip()
        current = self._by_p2.get(key)
        if current is None:
            self._by_p2[key] = invoice
        elif isinstance(current, list):
            current.append(invoice)
        else:
            self._by_p2[key] = [current, invoice]

    def _compact(self, invoice: StoredInvoice) -> None:
        form = invoice.form_code[0]
        dictionary = self._dictionaries.get(form)
        if dictionary is None and invoice.xml_blob[:1] == b"\x00":
            raw = invoice.xml_blob[1:]
            if 0 < len(raw) <= MAX_DICTIONARY:
                dictionary = self._dictionaries[form] = raw
        invoice.compact(dictionary)
        interned = self._interned
        invoice.buyer_identifier = interned.setdefault(
            invoice.buyer_identifier, invoice.buyer_identifier
        )
        invoice.form_code = interned.setdefault(invoice.form_code, invoice.form_code)

    def restore(
        self,
        invoices: list[StoredInvoice],
        dictionaries: dict[str, bytes],
        hwm_reported: datetime | None,
    ) -> None:
        """Refill an empty store from persisted rows (already compacted, in filing order).

        What ``bulk_store`` does, less what a stored row no longer needs (the HWM
        move and the compaction happened when it was first stored), a column at a
        time: a restart of a million rows is bound by this.
        """
        with self._lock:
            if self._rows:
                raise ValueError("restore needs an empty store")
            self._rows = rows = list(invoices)
            self._dictionaries.update(dictionaries)
            if self._dictionaries:  # none when every row is seeded (no document kept)
                for invoice in rows:
                    invoice.attach_dictionary(self._dictionaries)
            self._by_number = dict(zip(map(attrgetter("ksef_number"), rows), rows, strict=True))
            if len(self._by_number) != len(rows):
                raise ValueError("a KSeF number is stored twice")
            if rows:
                self._max_storage = max(map(attrgetter("permanent_storage_date"), rows))
            # Equal buyer identifiers (one per buyer) are one tuple again, as when filed.
            interned = self._interned.setdefault
            buyers = [interned(b, b) for b in map(attrgetter("buyer_identifier"), rows)]
            for invoice, buyer in zip(rows, buyers, strict=True):
                invoice.buyer_identifier = buyer
            # (Form codes are not: a few copies, one per chunk of rows read.)
            # Trimmed P_2 -> the invoice, or the invoices in filing order when shared.
            numbers = [number.strip() for number in map(attrgetter("invoice_number"), rows)]
            shared = {n for n, times in Counter(numbers).items() if times > 1}
            by_p2: dict[str, StoredInvoice | list[StoredInvoice]] = dict(
                zip(numbers, rows, strict=True)
            )
            lists: dict[str, list[StoredInvoice]] = {n: [] for n in shared}
            if shared:
                for number, invoice in zip(numbers, rows, strict=True):
                    if number in shared:
                        lists[number].append(invoice)
            by_p2.update(lists)
            self._by_p2 = by_p2
            # Party rows (ascending), as parties() names them; in arrays, not lists
            # (a million int objects would be freed afterwards, not given back).
            groups: dict[tuple[str, str], array[int]] = {}
            sellers: dict[str, array[int]] = {}
            for row, nip in enumerate(map(attrgetter("seller_nip"), rows)):
                found = sellers.get(nip)
                if found is None:
                    sellers[nip] = array("i", (row,))
                else:
                    found.append(row)
            bought: dict[str, array[int]] = {}
            for row, (kind, value) in enumerate(buyers):
                if kind == "Nip" and value:
                    found = bought.get(value)
                    if found is None:
                        bought[value] = array("i", (row,))
                    else:
                        found.append(row)
            groups.update((("Subject1", nip), found) for nip, found in sellers.items())
            groups.update((("Subject2", nip), found) for nip, found in bought.items())
            if any(map(attrgetter("third_subjects"), rows)) or any(
                map(attrgetter("authorized_subject"), rows)
            ):
                for row, invoice in enumerate(rows):
                    if invoice.third_subjects or invoice.authorized_subject is not None:
                        for key in parties(invoice):
                            if key[0] in ("Subject3", "SubjectAuthorized"):
                                groups.setdefault(key, array("i")).append(row)
            self._parties = {}
            for key, found in groups.items():
                party = self._party(key)
                party.issue = found
                party.invoicing = array("i", found)
                party.storage = array("i", found)
            self._sort_parties(self._parties, 0)
            if hwm_reported is not None and hwm_reported > self._hwm_reported:
                self._hwm_reported = hwm_reported

    def dictionaries(self) -> dict[str, bytes]:
        """The deflate dictionaries by form (persisted once, read back before the rows)."""
        return dict(self._dictionaries)

    @property
    def hwm_reported(self) -> datetime:
        return self._hwm_reported

    # -- reading ---------------------------------------------------------------

    def get(self, ksef_number: str) -> StoredInvoice | None:
        return self._by_number.get(ksef_number)

    def count(self) -> int:
        return len(self._rows)

    def row(self, index: int) -> StoredInvoice:
        return self._rows[index]

    def rows_table(self) -> list[StoredInvoice]:
        """The row list itself, for read loops (append-only; never mutate)."""
        return self._rows

    def by_invoice_number(self, invoice_number: str) -> list[StoredInvoice]:
        found = self._by_p2.get(invoice_number.strip())
        if found is None:
            return []
        return list(found) if isinstance(found, list) else [found]

    def find_duplicate(
        self, seller_nip: str, invoice_type: str, invoice_number: str
    ) -> StoredInvoice | None:
        """Part B §7.2 key (seller NIP, RodzajFaktury, trimmed P_2); no 10-year window."""
        for invoice in self.by_invoice_number(invoice_number):
            if invoice.seller_nip == seller_nip and invoice.invoice_type == invoice_type:
                return invoice
        return None

    def hwm(self, now: datetime) -> datetime:
        """The permanent-storage high water mark; remembered so stores stay above it."""
        with self._lock:
            if now > self._hwm_reported:
                self._hwm_reported = now
            return self._hwm_reported

    def all_visible(self, now: datetime) -> bool:
        """True when no stored invoice waits for its permanent-storage date."""
        return self._max_storage <= now

    def party_rows(self, subject_type: str, party: str, date_type: str) -> array[int] | None:
        found = self._parties.get((subject_type, party))
        return found.by(date_type) if found is not None else None

    def date_slice(
        self,
        subject_type: str,
        party: str,
        date_type: str,
        low: date | datetime | None,
        high: date | datetime | None,
    ) -> tuple[array[int], int, int]:
        """(rows, start, stop): the party's rows whose date is within [low, high].

        The rows are a copy taken under the lock (a memcpy of 4-byte ints), so a
        reader never sees an index shift under it while a writer inserts.
        """
        rows = self.party_rows(subject_type, party, date_type)
        if rows is None:
            return array("i"), 0, 0
        key_fn = self._key_fns[date_type]
        with self._lock:
            start = 0 if low is None else bisect_left(rows, low, key=key_fn)
            stop = len(rows) if high is None else bisect_right(rows, high, key=key_fn)
            snapshot = rows[start:stop]
        return snapshot, 0, len(snapshot)

    # -- numbering -------------------------------------------------------------

    def next_ksef_number(self, seller_nip: str, when: datetime, rng: Any) -> str:
        """Part B §6: NIP-YYYYMMDD-12 hex-CRC8; the date is the Warsaw acceptance day."""
        day = when.astimezone(WARSAW).strftime("%Y%m%d")
        while True:
            number = make_ksef_number(seller_nip, day, rng.hex(12))
            if number not in self._by_number:
                return number
