"""Invoices: download by KSeF number and metadata queries (``/invoices/ksef``, ``/invoices/query``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from ksefclient._core import Flow, ProtocolCore, segment
from ksefclient._exceptions import KsefBadRequestError
from ksefclient._models import (
    DateRange,
    ImportedInvoice,
    InvoiceMetadata,
    InvoiceQueryFilters,
    MetadataPage,
)
from ksefclient._responses import parse

__all__ = ["download_invoice", "fetch", "query_all_metadata", "query_invoice_metadata"]


def download_invoice(core: ProtocolCore, ksef_number: str) -> Flow[bytes]:
    """One invoice by KSeF number: the original XML, hash-checked.

    Waits out ``21165`` (accepted, not yet stored) within the retry budget.
    """
    budget = core.budget()
    while True:
        try:
            return (yield from core.download(f"/invoices/ksef/{segment(ksef_number)}"))
        except KsefBadRequestError as error:
            if not error.has(21165):
                raise
            yield from core.wait_or_raise(budget, error)


def query_invoice_metadata(
    core: ProtocolCore,
    filters: InvoiceQueryFilters,
    *,
    page_offset: int = 0,
    page_size: int = 100,
    sort_order: str = "Asc",
) -> Flow[MetadataPage]:
    data = yield from core.json_call(
        "POST",
        "/invoices/query/metadata",
        params={"pageOffset": page_offset, "pageSize": page_size, "sortOrder": sort_order},
        json=filters.to_json(),
    )
    return parse(MetadataPage.from_json, data)


def query_all_metadata(
    core: ProtocolCore, filters: InvoiceQueryFilters
) -> Flow[tuple[list[InvoiceMetadata], datetime | None]]:
    """Every matching record (paging and the 10 000-record truncation handled); the last HWM."""
    found: dict[str, InvoiceMetadata] = {}
    current = filters
    offset = 0
    hwm: datetime | None = None
    date_of = _date_getter(filters.date_range.date_type)
    while True:
        page = yield from query_invoice_metadata(core, current, page_offset=offset, page_size=250)
        hwm = page.permanent_storage_hwm_date or hwm
        for item in page.invoices:
            found.setdefault(item.ksef_number, item)
        if not page.has_more or not page.invoices:
            return list(found.values()), hwm
        if page.is_truncated:
            # Past 10 000 records: restart from the date of the last one (inclusive).
            last = date_of(page.invoices[-1])
            current = _with_from(current, last)
            offset = 0
        else:
            offset += 1


def fetch(
    core: ProtocolCore, items: Iterable[InvoiceMetadata], fetch_xml: bool
) -> Flow[list[ImportedInvoice]]:
    """The records, each with its XML when ``fetch_xml``."""
    out = []
    for item in items:
        xml = (yield from download_invoice(core, item.ksef_number)) if fetch_xml else None
        out.append(ImportedInvoice(item, xml))
    return out


def _date_getter(date_type: str) -> Callable[[InvoiceMetadata], datetime]:
    if date_type == "Invoicing":
        return lambda m: m.invoicing_date
    if date_type == "PermanentStorage":
        return lambda m: m.permanent_storage_date
    return lambda m: datetime(m.issue_date.year, m.issue_date.month, m.issue_date.day, tzinfo=UTC)


def _with_from(filters: InvoiceQueryFilters, start: datetime) -> InvoiceQueryFilters:
    old = filters.date_range
    return InvoiceQueryFilters(
        filters.subject_type,
        DateRange(old.date_type, start, old.date_to, old.restrict_to_permanent_storage_hwm_date),
        filters.ksef_number,
        filters.invoice_number,
        filters.seller_nip,
        filters.extra,
    )
