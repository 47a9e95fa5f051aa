"""The three import modes integrators use, over queries or exports.

A period of any length (90-day windows); everything new since a checkpoint,
each invoice exactly once, by metadata queries (reference B §8.3) or by
exports (§8.4). Both incremental modes rest on KSeF's high water mark.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ksefclient._areas.exports import export_invoices
from ksefclient._areas.invoices import fetch, query_all_metadata
from ksefclient._core import Flow, ProtocolCore
from ksefclient._models import (
    Checkpoint,
    DateRange,
    ImportedInvoice,
    ImportResult,
    InvoiceMetadata,
    InvoiceQueryFilters,
)

__all__ = ["WINDOW", "import_new", "import_period"]

# KSeF accepts query windows of at most 100 days; stay clear of the edge.
WINDOW = timedelta(days=90)


def import_period(
    core: ProtocolCore,
    date_from: datetime,
    date_to: datetime | None = None,
    *,
    subject_type: str = "Subject1",
    date_type: str = "Issue",
    fetch_xml: bool = True,
) -> Flow[list[ImportedInvoice]]:
    """Every invoice of a period (any length: queried in 90-day windows), each once."""
    end = date_to or core.now()
    start = date_from if date_from.tzinfo else date_from.replace(tzinfo=UTC)
    found: dict[str, InvoiceMetadata] = {}
    while True:
        stop = min(end, start + WINDOW)
        filters = InvoiceQueryFilters(subject_type, DateRange(date_type, start, stop))
        items, _ = yield from query_all_metadata(core, filters)
        for item in items:
            found.setdefault(item.ksef_number, item)
        if stop >= end:
            break
        start = stop
    return (yield from fetch(core, found.values(), fetch_xml))


def import_new(
    core: ProtocolCore, checkpoint: Checkpoint, *, fetch_xml: bool = True, use_export: bool = False
) -> Flow[ImportResult]:
    """Every invoice stored since ``checkpoint``, exactly once; persist ``result.checkpoint``.

    Persist ``result.checkpoint`` after storing ``result.invoices``: a crash in
    between imports again, never skips.
    """
    if use_export:
        return (yield from _import_new_by_export(core, checkpoint))
    return (yield from _import_new_by_query(core, checkpoint, fetch_xml))


def _import_new_by_query(
    core: ProtocolCore, checkpoint: Checkpoint, fetch_xml: bool
) -> Flow[ImportResult]:
    """Queries ``PermanentStorage`` from the checkpoint with ``restrictToPermanentStorageHwmDate``.

    KSeF guarantees no invoice will ever appear at or below the high water
    mark it reports, so the next import can start exactly there.
    """
    position = checkpoint.position
    boundary = set(checkpoint.boundary)
    collected: dict[str, InvoiceMetadata] = {}
    hwm: datetime | None = None
    while True:
        window_end = position + WINDOW if core.now() - position > WINDOW else None
        filters = InvoiceQueryFilters(
            checkpoint.subject_type,
            DateRange("PermanentStorage", position, window_end, True),
        )
        items, hwm = yield from query_all_metadata(core, filters)
        for item in items:
            if item.ksef_number not in boundary:
                collected.setdefault(item.ksef_number, item)
        if window_end is None or hwm is None or hwm < window_end:
            break
        position = window_end
    ordered = sorted(collected.values(), key=lambda m: (m.permanent_storage_date, m.ksef_number))
    invoices = yield from fetch(core, ordered, fetch_xml)
    return ImportResult(tuple(invoices), _next_checkpoint(checkpoint, hwm, ordered))


def _import_new_by_export(core: ProtocolCore, checkpoint: Checkpoint) -> Flow[ImportResult]:
    """The documented incremental algorithm over exports (truncated packages continue)."""
    position = checkpoint.position
    boundary = set(checkpoint.boundary)
    collected: dict[str, ImportedInvoice] = {}
    while True:
        window_end = position + WINDOW if core.now() - position > WINDOW else None
        filters = InvoiceQueryFilters(
            checkpoint.subject_type, DateRange("PermanentStorage", position, window_end, True)
        )
        result = yield from export_invoices(core, filters)
        by_number = {m.ksef_number: m for m in result.metadata}
        for number, meta in by_number.items():
            if number not in boundary and number not in collected:
                collected[number] = ImportedInvoice(meta, result.invoices.get(number))
        package = result.status
        if package.is_truncated and package.last_permanent_storage_date is not None:
            position = package.last_permanent_storage_date
            boundary |= {n for n, m in by_number.items() if m.permanent_storage_date == position}
            continue
        hwm = package.permanent_storage_hwm_date
        if window_end is not None and hwm is not None and hwm >= window_end:
            position = window_end
            continue
        break
    ordered = sorted(
        collected.values(), key=lambda i: (i.metadata.permanent_storage_date, i.ksef_number)
    )
    hwm = package.permanent_storage_hwm_date
    return ImportResult(
        tuple(ordered), _next_checkpoint(checkpoint, hwm, [i.metadata for i in ordered])
    )


def _next_checkpoint(
    checkpoint: Checkpoint, hwm: datetime | None, imported: Sequence[InvoiceMetadata]
) -> Checkpoint:
    """Where the next import starts: KSeF's HWM, else the newest invoice imported.

    The invoices stored exactly at that instant are remembered, so that the
    next import (which starts there, inclusive) skips them.
    """
    position = hwm or max((m.permanent_storage_date for m in imported), default=checkpoint.position)
    boundary = {m.ksef_number for m in imported if m.permanent_storage_date == position}
    if position == checkpoint.position:
        boundary |= set(checkpoint.boundary)
    return Checkpoint(checkpoint.subject_type, position, boundary)
