"""Reading invoices: who may see what (Part B §8.0), filters and paging (§8.2).

A query is turned into an ``InvoiceFilter``; the store gives the rows of the
context's party for the date type, already ordered and cut to the date range
by ``bisect``; the remaining filters are checked row by row. With no row filter
(the HWM synchronisation case) a page is a plain slice of the index.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Any

from mockksef import violations
from mockksef.clock import parse_datetime
from mockksef.errors import InvalidInputData, KsefError
from mockksef.ids import WARSAW
from mockksef.models import ContextIdentifier
from mockksef.services.invoices.models import StoredInvoice
from mockksef.services.invoices.store import InvoiceStore, parties

MAX_RECORDS = 10_000
MAX_RANGE_DAYS = 100
HWM_DETAIL = (
    "Parametr dateRange.from jest późniejszy niż PermanentStorageHwmDate "
    "przy włączonym restrictToPermanentStorageHwmDate."
)

_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def parse_query_datetime(text: str, where: str) -> datetime:
    """ISO 8601 with ``Z`` or an offset; without one it is Europe/Warsaw time (spec text)."""
    value = text.strip()
    if not _DATETIME_RE.match(value):
        raise InvalidInputData(violations.bad_format(where))
    try:
        # Compare and render in UTC; years 1 and 9999 may not survive the shift.
        return parse_datetime(value, naive=WARSAW).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidInputData(violations.bad_format(where)) from exc


# Filters that ask an invoice field to equal the filter field of the same name: the
# selective ones run first, the flags after the buyer, currency, type and amount checks.
_SELECTIVE_FIELDS = ("ksef_number", "invoice_number", "seller_nip")
_FLAG_FIELDS = ("invoicing_mode", "is_self_invoicing", "form_type", "has_attachment")


def _equals(name: str, value: object) -> Callable[[StoredInvoice], bool]:
    field = attrgetter(name)
    return lambda inv: field(inv) == value


@dataclass(slots=True)
class InvoiceFilter:
    """One validated ``InvoiceQueryFilters`` bound to the caller's context."""

    subject_type: str  # the index searched (a NipVatUe context's Subject2 is Subject1)
    party: str | None  # None: nothing is visible to this context for the subject type
    date_type: str
    date_from: datetime
    date_to: datetime  # effective end (default now; clamped to the HWM when asked)
    hwm: datetime | None  # permanentStorageHwmDate to report (PermanentStorage only)
    ksef_number: str | None = None
    invoice_number: str | None = None
    amount_type: str | None = None
    amount_from: float | None = None
    amount_to: float | None = None
    seller_nip: str | None = None
    buyer_type: str | None = None
    buyer_value: str | None = None
    currencies: frozenset[str] | None = None
    invoicing_mode: str | None = None
    is_self_invoicing: bool | None = None
    form_type: str | None = None
    invoice_types: frozenset[str] | None = None
    has_attachment: bool | None = None
    # NipVatUe contexts see only the invoices with that EU buyer.
    vat_ue_buyer: str | None = None

    @property
    def bounds(self) -> tuple[date | datetime, date | datetime]:
        if self.date_type == "Issue":
            # P_1 is a Polish calendar date: compare with the Warsaw days of the range.
            return _warsaw_day(self.date_from), _warsaw_day(self.date_to)
        return self.date_from, self.date_to

    def predicates(self) -> list[Callable[[StoredInvoice], bool]]:
        """One small check per filter given (most selective first), for the row scan."""
        # Closures bind late: every check closes over a local of its own.
        checks = self._equal_checks(_SELECTIVE_FIELDS)
        if self.vat_ue_buyer is not None:
            eu_buyer = ("VatUe", self.vat_ue_buyer)
            checks.append(lambda inv: inv.buyer_identifier == eu_buyer)
        if (buyer_type := self.buyer_type) is not None:
            if self.buyer_value is not None:
                buyer = (buyer_type, self.buyer_value)
                checks.append(lambda inv: inv.buyer_identifier == buyer)
            else:
                checks.append(lambda inv: inv.buyer_identifier[0] == buyer_type)
        if (currencies := self.currencies) is not None:
            checks.append(lambda inv: inv.currency in currencies)
        if (invoice_types := self.invoice_types) is not None:
            checks.append(lambda inv: inv.invoice_type in invoice_types)
        if self.amount_type is not None:
            field = {"Brutto": "gross_amount", "Netto": "net_amount"}.get(
                self.amount_type, "vat_amount"
            )
            low = -math.inf if self.amount_from is None else self.amount_from
            high = math.inf if self.amount_to is None else self.amount_to
            amount: Callable[[StoredInvoice], float] = attrgetter(field)
            checks.append(lambda inv: low <= amount(inv) <= high)
        checks += self._equal_checks(_FLAG_FIELDS)
        return checks

    def _equal_checks(self, names: tuple[str, ...]) -> list[Callable[[StoredInvoice], bool]]:
        return [
            _equals(name, value) for name in names if (value := getattr(self, name)) is not None
        ]

    def has_row_filters(self) -> bool:
        return bool(self.predicates())

    def matches(self, inv: StoredInvoice) -> bool:
        return all(check(inv) for check in self.predicates())

    def date_of(self, inv: StoredInvoice) -> date | datetime:
        if self.date_type == "Issue":
            return inv.issue_date
        if self.date_type == "Invoicing":
            return inv.invoicing_date
        return inv.permanent_storage_date


# -- who sees what -------------------------------------------------------------------------


def party_for(context: ContextIdentifier, subject_type: str) -> tuple[str, str, str | None] | None:
    """(index subject type, party key, EU buyer restriction) of a context, or None.

    Nip contexts: their NIP under every subject type. InternalId contexts: the
    internal id as a third subject (``IDWew``). NipVatUe contexts (an EU entity
    acting for a Polish NIP): the NIP's invoices to that EU buyer, as Subject1 or
    Subject2 [inferred]. PeppolId contexts see nothing.
    """
    if context.type == "Nip":
        return subject_type, context.value, None
    if context.type == "InternalId":
        return (subject_type, context.value, None) if subject_type == "Subject3" else None
    if context.type == "NipVatUe":
        nip, _, vat_ue = context.value.partition("-")
        return ("Subject1", nip, vat_ue) if subject_type in ("Subject1", "Subject2") else None
    return None


def visible_to(context: ContextIdentifier, inv: StoredInvoice) -> bool:
    """The context is a subject of the invoice under some subject type, or sent it."""
    if inv.sender_context == context:
        return True
    for subject_type, party in parties(inv):
        scope = party_for(context, subject_type)
        if scope is None or scope[0] != subject_type or scope[1] != party:
            continue
        if scope[2] is None or inv.buyer_identifier == ("VatUe", scope[2]):
            return True
    return False


# -- parsing -------------------------------------------------------------------------------


def build_filter(
    body: Mapping[str, Any], context: ContextIdentifier, now: datetime, hwm: datetime
) -> InvoiceFilter:
    """Validate a (schema-checked, canonical) ``InvoiceQueryFilters`` body.

    21405 for a ``from`` later than ``to`` and for a range over 100 UTC calendar
    days (part C §4.4); 21183 when ``restrictToPermanentStorageHwmDate`` is set
    and ``from`` is later than the HWM.
    """
    subject_type = body["subjectType"]
    date_range = body["dateRange"]
    date_type = date_range["dateType"]
    date_from = parse_query_datetime(date_range["from"], "dateRange.from")
    raw_to = date_range.get("to")
    date_to = parse_query_datetime(raw_to, "dateRange.to") if raw_to else now
    restrict = date_type == "PermanentStorage" and bool(
        date_range.get("restrictToPermanentStorageHwmDate")
    )
    if restrict and date_from > hwm:
        raise KsefError(21183, HWM_DETAIL)
    if date_from > date_to:
        raise InvalidInputData(violations.service("range_reversed", "dateRange"))
    if (date_to.date() - date_from.date()).days > MAX_RANGE_DAYS:
        raise InvalidInputData(
            violations.service("range_too_long", "dateRange", days=MAX_RANGE_DAYS)
        )
    reported_hwm: datetime | None = None
    if date_type == "PermanentStorage":
        if restrict:
            date_to = min(date_to, hwm)
        reported_hwm = min(date_to, hwm)
    scope = party_for(context, subject_type)
    flt = InvoiceFilter(
        subject_type=scope[0] if scope else subject_type,
        party=scope[1] if scope else None,
        vat_ue_buyer=scope[2] if scope else None,
        date_type=date_type,
        date_from=date_from,
        date_to=date_to,
        hwm=reported_hwm,
    )
    flt.ksef_number = body.get("ksefNumber") or None
    flt.invoice_number = body.get("invoiceNumber")
    amount = body.get("amount")
    if amount:
        flt.amount_type = amount["type"]
        flt.amount_from = _float(amount.get("from"))
        flt.amount_to = _float(amount.get("to"))
    flt.seller_nip = body.get("sellerNip") or None
    buyer = body.get("buyerIdentifier")
    if buyer:
        flt.buyer_type = buyer["type"]
        flt.buyer_value = buyer.get("value")
    currencies = body.get("currencyCodes")
    if currencies:
        flt.currencies = frozenset(currencies)
    flt.invoicing_mode = body.get("invoicingMode")
    flt.is_self_invoicing = body.get("isSelfInvoicing")
    flt.form_type = body.get("formType")
    types = body.get("invoiceTypes")
    if types:
        flt.invoice_types = frozenset(types)
    flt.has_attachment = body.get("hasAttachment")
    return flt


def _warsaw_day(when: datetime) -> date:
    try:
        return when.astimezone(WARSAW).date()
    except OverflowError:  # the edges of the calendar
        return when.date()


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# -- running ------------------------------------------------------------------------------


def iter_matches(
    store: InvoiceStore, flt: InvoiceFilter, now: datetime, descending: bool = False
) -> Iterator[StoredInvoice]:
    """Matching visible invoices in date order (ties: storage order)."""
    if flt.party is None:
        return
    low, high = flt.bounds
    visible_all = store.all_visible(now)
    # Narrow lookups first: an exact KSeF number or invoice number beats any date index.
    if flt.ksef_number is not None or flt.invoice_number is not None:
        if flt.ksef_number is not None:
            found = store.get(flt.ksef_number)
            candidates = [found] if found is not None else []
        else:
            candidates = store.by_invoice_number(flt.invoice_number or "")
        keyed = []
        for inv in candidates:
            if not _in_party(flt, inv):
                continue
            when = flt.date_of(inv)
            if low <= when <= high:
                keyed.append(inv)
        keyed.sort(key=flt.date_of, reverse=descending)
        checks = flt.predicates()
        for inv in keyed:
            if (visible_all or inv.permanent_storage_date <= now) and all(
                check(inv) for check in checks
            ):
                yield inv
        return
    rows, start, stop = store.date_slice(flt.subject_type, flt.party, flt.date_type, low, high)
    checks = flt.predicates()
    indices = range(stop - 1, start - 1, -1) if descending else range(start, stop)
    table = store.rows_table()
    # The hot loop of every filtered query: locals only, one check per given filter.
    if len(checks) == 1:
        check = checks[0]
        for i in indices:
            inv = table[rows[i]]
            if (visible_all or inv.permanent_storage_date <= now) and check(inv):
                yield inv
        return
    for i in indices:
        inv = table[rows[i]]
        if not visible_all and inv.permanent_storage_date > now:
            continue
        for check in checks:
            if not check(inv):
                break
        else:
            yield inv


def _in_party(flt: InvoiceFilter, inv: StoredInvoice) -> bool:
    return any(st == flt.subject_type and p == flt.party for st, p in parties(inv))


@dataclass(slots=True)
class Page:
    invoices: list[StoredInvoice]
    has_more: bool
    is_truncated: bool


def query_page(
    store: InvoiceStore,
    flt: InvoiceFilter,
    now: datetime,
    page_offset: int,
    page_size: int,
    descending: bool,
) -> Page:
    """One page of a metadata query (``pageOffset`` is a page index).

    Only the first 10 000 matches are reachable: a page starting at or past the
    10 000th record is 21405 (observed text, CIRFMF/ksef-api#165); the page that
    reaches the cap while more records exist has ``isTruncated`` true.
    """
    skip = page_offset * page_size
    if skip >= MAX_RECORDS:
        raise InvalidInputData(violations.service("metadata_page_past_10000"))
    end = min(skip + page_size, MAX_RECORDS)
    fast = (
        flt.party is not None
        and flt.ksef_number is None
        and flt.invoice_number is None
        and not flt.has_row_filters()
        and (store.all_visible(now) or (flt.date_type == "PermanentStorage" and flt.date_to <= now))
    )
    if fast:
        assert flt.party is not None
        low, high = flt.bounds
        rows, start, stop = store.date_slice(flt.subject_type, flt.party, flt.date_type, low, high)
        total = stop - start
        if descending:
            picked = [rows[stop - 1 - i] for i in range(skip, min(end, total))]
        else:
            picked = [rows[start + i] for i in range(skip, min(end, total))]
        invoices = [store.row(r) for r in picked]
        has_more = total > end
    else:
        invoices = []
        has_more = False
        for position, inv in enumerate(iter_matches(store, flt, now, descending)):
            if position < skip:
                continue
            if position >= end:
                has_more = True
                break
            invoices.append(inv)
    return Page(invoices, has_more, has_more and end >= MAX_RECORDS)
