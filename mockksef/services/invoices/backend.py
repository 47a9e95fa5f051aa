"""State and rules of the invoices area.

The store API (``store``, ``get``, ``find_duplicate``, ``next_ksef_number``,
``count``, ``bulk_store``) is what the sessions area uses to file accepted
invoices; the read paths (download, metadata query, exports) live in
``queries.py`` and ``exports.py`` and are reached through this backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mockksef.clock import format_datetime
from mockksef.errors import KsefError
from mockksef.models import ContextIdentifier
from mockksef.services.invoices.exports import ExportsBackend
from mockksef.services.invoices.models import StoredInvoice
from mockksef.services.invoices.queries import build_filter, query_page, visible_to
from mockksef.services.invoices.store import InvoiceStore

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState


class InvoicesBackend:
    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self.invoices = InvoiceStore()
        self.exports = ExportsBackend(env)

    # -- the store API (contracts-invoices.md) ------------------------------------

    def store(self, invoice: StoredInvoice) -> None:
        """File an accepted invoice (O(log n) index inserts).

        The store may move ``permanent_storage_date`` forward so that no invoice
        ever appears at or below an HWM already reported (Part B §8.3). The
        invoice is visible to reads once that date has been reached.
        """
        self.invoices.store(invoice)

    def bulk_store(self, invoices: Iterable[StoredInvoice]) -> int:
        """Seeding path: many invoices at once, indexes sorted once at the end."""
        return self.invoices.bulk_store(invoices)

    def get(self, ksef_number: str) -> StoredInvoice | None:
        return self.invoices.get(ksef_number)

    def find_duplicate(
        self, seller_nip: str, invoice_type: str, invoice_number: str
    ) -> StoredInvoice | None:
        """Duplicate key of Part B §7.2, P_2 trimmed. The "10 full years" window is ignored."""
        return self.invoices.find_duplicate(seller_nip, invoice_type, invoice_number)

    def issued_by(self, seller_nip: str) -> int:
        """How many stored invoices ``seller_nip`` issued (generators number theirs after them)."""
        rows = self.invoices.party_rows("Subject1", seller_nip, "Issue")
        return len(rows) if rows is not None else 0

    def next_ksef_number(self, seller_nip: str, when: datetime) -> str:
        """A fresh KSeF number (Part B §6); the date part is the Europe/Warsaw day of ``when``."""
        return self.invoices.next_ksef_number(seller_nip, when, self.env.rng)

    def count(self) -> int:
        return self.invoices.count()

    def hwm(self) -> datetime:
        """The current permanent-storage high water mark (= now; stores stay above it)."""
        return self.invoices.hwm(self.env.clock.now())

    # -- reading (the three download operations) ------------------------------------

    def visible_to(self, context: ContextIdentifier, invoice: StoredInvoice) -> bool:
        """The context is a subject of the invoice (§8.0) or the context that sent it."""
        return visible_to(context, invoice)

    def download(self, context: ContextIdentifier, ksef_number: str) -> StoredInvoice:
        """``GET /invoices/ksef/{ksefNumber}``: the invoice if the context may see it.

        21164 when unknown or when the context is none of its subjects (§8.0) nor
        its sender [inferred]; 21165 before its permanent-storage date.
        """
        invoice = self.invoices.get(ksef_number)
        if invoice is None or not visible_to(context, invoice):
            raise KsefError(21164, f"Faktura o numerze KSeF {ksef_number} nie została znaleziona.")
        if invoice.permanent_storage_date > self.env.clock.now():
            raise KsefError(
                21165,
                f"Faktura o numerze KSeF {ksef_number} została przetworzona, ale nie jest jeszcze "
                "dostępna do pobrania. Spróbuj ponownie później.",
            )
        return invoice

    def query_metadata(
        self,
        context: ContextIdentifier,
        filters: Mapping[str, Any],
        page_offset: int = 0,
        page_size: int = 10,
        sort_order: str = "Asc",
    ) -> dict[str, Any]:
        """``POST /invoices/query/metadata`` (Part B §8.2, range cap 100 days per part C §4.4).

        Simplified: the HWM is the current time (storage is synchronous here);
        ``Issue`` ranges compare P_1 with the Europe/Warsaw days of from/to.
        """
        now = self.env.clock.now()
        flt = build_filter(filters, context, now, self.hwm())
        page = query_page(
            self.invoices, flt, now, page_offset, page_size, descending=sort_order == "Desc"
        )
        out: dict[str, Any] = {"hasMore": page.has_more, "isTruncated": page.is_truncated}
        if flt.hwm is not None:
            out["permanentStorageHwmDate"] = format_datetime(flt.hwm)
        out["invoices"] = [inv.metadata() for inv in page.invoices]
        return out

    def start_export(self, context: ContextIdentifier, body: dict[str, Any]) -> str:
        return self.exports.start(context, body, self.env.clock.now())

    def export_status(
        self, context: ContextIdentifier, reference: str, base_url: str
    ) -> dict[str, Any]:
        return self.exports.status(context, reference, self.env.clock.now(), base_url)

    def summary(self) -> dict[str, int]:
        return {"invoices": self.invoices.count()}
