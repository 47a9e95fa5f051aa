"""State and rules of the collective area (collective identifiers, part C §2).

An identifier groups 2..maxInvoices invoices of one seller, each optionally
with a payment (amount + currency) and a description. Who sees an identifier:
the context that created it and, for NIP contexts, the seller of its invoices.
Lists are keyset-paged with opaque Base64 JSON continuation tokens, like the
official example token.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mockksef import paging, violations
from mockksef.clock import format_datetime, parse_datetime
from mockksef.errors import InvalidInputData, KsefError
from mockksef.models import ContextIdentifier
from mockksef.services.collective.models import (
    MAX_CREATED_RANGE_DAYS,
    MAX_NUMBERS_PER_QUERY,
    MAX_PER_INVOICE_IN_CONTEXT,
    NUMBER_RE,
    CollectiveIdentifier,
    CollectiveItem,
    make_number,
)

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState

# The IZ endpoints word 21418 differently from the older list endpoints (2.8.1).
TOKEN_WORDING = "Przesłany token kontynuacji jest nieprawidłowy."

_NUMBERS = "collectiveIdentifierNumbers"


def _bad_token() -> KsefError:
    return KsefError(21418, "Nieprawidłowy token kontynuacji.", wording=TOKEN_WORDING)


def encode_token(data: dict[str, str]) -> str:
    return paging.encode(data)


def decode_token(token: str | None, fields: Sequence[str]) -> tuple[str, ...] | None:
    values = paging.decode_fields(token, fields, _bad_token)
    if values is not None and not all(isinstance(v, str) for v in values):
        raise _bad_token()
    return values


def page_size(raw: Any, low: int, high: int) -> int:
    """``pageSize`` of an operation the decorator cannot check (newer than the spec)."""
    if raw is None:
        return low
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidInputData(violations.bad_format("pageSize")) from exc
    if not low <= value <= high:
        raise InvalidInputData(violations.between("pageSize", low, high, value))
    return value


class CollectiveBackend:
    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self._lock = threading.RLock()
        self._by_number: dict[str, CollectiveIdentifier] = {}
        self._by_creator: dict[ContextIdentifier, list[CollectiveIdentifier]] = {}
        self._by_seller: dict[str, list[CollectiveIdentifier]] = {}
        self._by_invoice: dict[str, list[CollectiveIdentifier]] = {}
        self._per_context: dict[tuple[ContextIdentifier, str], int] = {}

    # -- who sees what ------------------------------------------------------------------

    def _visible(self, context: ContextIdentifier, iz: CollectiveIdentifier) -> bool:
        return iz.creator == context or (context.type == "Nip" and iz.seller_nip == context.value)

    def _has_role_in(self, context: ContextIdentifier, iz: CollectiveIdentifier) -> bool:
        for item in iz.items:
            invoice = self.env.invoices.get(item.ksef_number)
            if invoice is not None and self.env.invoices.visible_to(context, invoice):
                return True
        return False

    # -- POST /collective-identifiers ------------------------------------------------------

    def create(self, context: ContextIdentifier, body: Mapping[str, Any], now: datetime) -> str:
        """Create an identifier over 2..maxInvoices visible invoices of one seller.

        Order of checks (part C §2.3): count (21405), repeated numbers (71005),
        existence and visibility (71001), one seller (71004), 132 identifiers per
        invoice in this context (71002); every failing invoice is one detail.
        """
        entries = body["invoices"]
        limit = self.env.limits.session_limits(context).collective_identifier_max_invoices
        if len(entries) < 2:
            raise InvalidInputData(violations.service("too_few_items", "invoices", limit=2))
        if len(entries) > limit:
            raise InvalidInputData(violations.service("too_many_items", "invoices", limit=limit))
        numbers = [e["ksefNumber"] for e in entries]
        seen: set[str] = set()
        repeated: list[str] = []
        for number in numbers:
            if number in seen and number not in repeated:
                repeated.append(number)
            seen.add(number)
        if repeated:
            raise KsefError(71005, *(f"Powtórzony numer KSeF {n}." for n in repeated))
        now_visible = []
        missing = []
        for number in numbers:
            invoice = self.env.invoices.get(number)
            if (
                invoice is None
                or invoice.permanent_storage_date > now
                or not self.env.invoices.visible_to(context, invoice)
            ):
                missing.append(number)
            else:
                now_visible.append(invoice)
        if missing:
            raise KsefError(
                71001, *(f"Faktura o numerze KSeF {n} nie została znaleziona." for n in missing)
            )
        seller = now_visible[0].seller_nip
        others = [inv.ksef_number for inv in now_visible if inv.seller_nip != seller]
        if others:
            raise KsefError(
                71004, *(f"Faktura o numerze KSeF {n} ma innego sprzedawcę." for n in others)
            )
        with self._lock:
            full = [
                n
                for n in numbers
                if self._per_context.get((context, n), 0) >= MAX_PER_INVOICE_IN_CONTEXT
            ]
            if full:
                raise KsefError(
                    71002,
                    *(
                        f"Faktura o numerze KSeF {n} jest już przypisana do maksymalnej liczby "
                        "Identyfikatorów Zbiorczych."
                        for n in full
                    ),
                )
            while True:
                number = make_number(seller, now, self.env.rng.hex(12))
                if number not in self._by_number:
                    break
            items = tuple(_item(entry) for entry in entries)
            iz = CollectiveIdentifier(number, context, seller, now, items)
            self._by_number[number] = iz
            self._by_creator.setdefault(context, []).append(iz)
            self._by_seller.setdefault(seller, []).append(iz)
            for item in items:
                self._by_invoice.setdefault(item.ksef_number, []).append(iz)
                key = (context, item.ksef_number)
                self._per_context[key] = self._per_context.get(key, 0) + 1
        return number

    # -- POST /collective-identifiers/query --------------------------------------------

    def query(
        self,
        context: ContextIdentifier,
        body: Mapping[str, Any],
        size: int,
        token: str | None,
    ) -> dict[str, Any]:
        """Identifiers created in the context, plus (NIP contexts) those of its invoices as seller.

        Sorted by ``dateCreated`` then number, both descending; ``invoiceCountFrom``/``To``
        are inclusive [inferred].
        """
        date_from = parse_datetime(body["dateCreatedFrom"])
        date_to = parse_datetime(body["dateCreatedTo"])
        if date_from > date_to:
            raise InvalidInputData(violations.service("range_reversed", "dateCreatedFrom"))
        if date_to - date_from > timedelta(days=MAX_CREATED_RANGE_DAYS):
            raise InvalidInputData(
                violations.service("range_too_long", "dateCreatedTo", days=MAX_CREATED_RANGE_DAYS)
            )
        after = decode_token(token, ("DateCreated", "CollectiveIdentifierNumber"))
        wanted_number = body.get("collectiveIdentifierNumber")
        count_from = body.get("invoiceCountFrom")
        count_to = body.get("invoiceCountTo")
        in_current = body.get("createdInCurrentContext")
        candidates: dict[str, CollectiveIdentifier] = {}
        for iz in self._by_creator.get(context, ()):
            candidates[iz.number] = iz
        if context.type == "Nip":
            for iz in self._by_seller.get(context.value, ()):
                candidates[iz.number] = iz
        rows = []
        for iz in candidates.values():
            if not date_from <= iz.date_created <= date_to:
                continue
            if wanted_number and iz.number != wanted_number:
                continue
            if count_from is not None and iz.invoice_count < count_from:
                continue
            if count_to is not None and iz.invoice_count > count_to:
                continue
            mine = iz.creator == context
            if in_current is not None and mine != in_current:
                continue
            rows.append(iz)
        page, next_token = _by_date_created(rows, after, size)
        return {
            "continuationToken": next_token,
            "collectiveIdentifiers": [
                {
                    "collectiveIdentifierNumber": iz.number,
                    "dateCreated": format_datetime(iz.date_created),
                    "invoiceCount": iz.invoice_count,
                    "createdInCurrentContext": iz.creator == context,
                }
                for iz in page
            ],
        }

    # -- POST /collective-identifiers/invoices (and the 2.7.0 GET) --------------------------

    def parse_invoices_request(self, body: Any) -> list[str]:
        """Validate ``CollectiveIdentifierInvoicesQueryRequest`` (not in the spec we read)."""
        if not isinstance(body, Mapping):
            raise InvalidInputData(violations.service("body_not_an_object"))
        numbers: Any = None
        for key, value in body.items():
            if isinstance(key, str) and key.lower() == "collectiveidentifiernumbers":
                numbers = value
        if numbers is None:
            raise InvalidInputData(violations.not_empty(_NUMBERS))
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            raise InvalidInputData(violations.bad_format(_NUMBERS))
        if not numbers:
            raise InvalidInputData(violations.not_empty(_NUMBERS))
        if len(numbers) > MAX_NUMBERS_PER_QUERY:
            raise InvalidInputData(
                violations.service("too_many_items", _NUMBERS, limit=MAX_NUMBERS_PER_QUERY)
            )
        bad = [i for i, n in enumerate(numbers) if len(n) != 35 or not NUMBER_RE.match(n)]
        if bad:
            raise InvalidInputData(*(violations.bad_format(f"{_NUMBERS}[{i}]") for i in bad))
        if len(set(numbers)) != len(numbers):
            raise InvalidInputData(violations.service("repeated_items", _NUMBERS))
        return numbers

    def invoices(
        self,
        context: ContextIdentifier,
        numbers: Sequence[str],
        size: int,
        token: str | None,
    ) -> dict[str, Any]:
        """Invoices of up to 10 identifiers, ``ksefNumber`` descending.

        Payment and description go only to the creating context or to a subject
        of the invoice; otherwise they are left out and ``detailsHidden`` is true.
        An identifier is listed to its creator, its seller (NIP contexts) and any
        subject of one of its invoices [inferred: the hidden-details flag implies
        rows the caller has no access to]; an unknown or foreign one gives no rows.
        """
        after = decode_token(token, ("KsefNumber", "CollectiveIdentifierNumber"))
        rows = []
        for number in dict.fromkeys(numbers):
            iz = self._by_number.get(number)
            if iz is None or not (self._visible(context, iz) or self._has_role_in(context, iz)):
                continue
            for item in iz.items:
                rows.append((iz, item))
        page, next_token = _keyset_page(
            rows,
            key=lambda r: (r[1].ksef_number, r[0].number),
            after=after,
            size=size,
            token_of=lambda r: {
                "KsefNumber": r[1].ksef_number,
                "CollectiveIdentifierNumber": r[0].number,
            },
        )
        out = []
        for iz, item in page:
            entry: dict[str, Any] = {
                "ksefNumber": item.ksef_number,
                "collectiveIdentifierNumber": iz.number,
            }
            hidden = False
            if item.has_details:
                invoice = self.env.invoices.get(item.ksef_number)
                allowed = iz.creator == context or (
                    invoice is not None and self.env.invoices.visible_to(context, invoice)
                )
                if allowed:
                    if item.amount is not None:
                        entry["payment"] = {"amount": item.amount, "currency": item.currency}
                    if item.description is not None:
                        entry["description"] = item.description
                else:
                    hidden = True
            entry["detailsHidden"] = hidden
            out.append(entry)
        return {"continuationToken": next_token, "invoices": out}

    # -- GET /collective-identifiers/ksef/{ksefNumber} ----------------------------------

    def by_ksef_number(
        self, context: ContextIdentifier, ksef_number: str, size: int, token: str | None
    ) -> dict[str, Any]:
        """Identifiers holding the invoice that the context may see (an empty list, never 400)."""
        after = decode_token(token, ("DateCreated", "CollectiveIdentifierNumber"))
        rows = [iz for iz in self._by_invoice.get(ksef_number, ()) if self._visible(context, iz)]
        page, next_token = _by_date_created(rows, after, size)
        return {
            "continuationToken": next_token,
            "collectiveIdentifiers": [
                {
                    "collectiveIdentifierNumber": iz.number,
                    "createdInCurrentContext": iz.creator == context,
                    "dateCreated": format_datetime(iz.date_created),
                }
                for iz in page
            ],
        }

    def summary(self) -> dict[str, int]:
        return {"collectiveIdentifiers": len(self._by_number)}


def _item(entry: Mapping[str, Any]) -> CollectiveItem:
    payment = entry.get("payment")
    amount = currency = None
    if payment:
        amount = float(payment["amount"])
        currency = payment["currency"]
    return CollectiveItem(entry["ksefNumber"], amount, currency, entry.get("description"))


def _date_key(after: tuple[str, ...] | None) -> tuple[Any, ...] | None:
    if after is None:
        return None
    try:
        return (parse_datetime(after[0]), after[1])
    except ValueError as exc:
        raise _bad_token() from exc


def _by_date_created(
    rows: list[CollectiveIdentifier], after: tuple[str, ...] | None, size: int
) -> tuple[list[CollectiveIdentifier], str | None]:
    """One page of identifiers in (dateCreated, number) order, after the token's position."""
    return _keyset_page(
        rows,
        key=lambda iz: (iz.date_created, iz.number),
        after=_date_key(after),
        size=size,
        token_of=lambda iz: {
            "DateCreated": format_datetime(iz.date_created),
            "CollectiveIdentifierNumber": iz.number,
        },
    )


def _keyset_page(
    rows: list[Any],
    key: Any,
    after: tuple[Any, ...] | None,
    size: int,
    token_of: Any,
) -> tuple[list[Any], str | None]:
    """Descending keyset paging: rows strictly below the cursor, ``size`` of them."""
    rows = sorted(rows, key=key, reverse=True)
    if after is not None:
        rows = [r for r in rows if key(r) < after]
    page = rows[:size]
    next_token = encode_token(token_of(page[-1])) if len(rows) > size else None
    return page, next_token
