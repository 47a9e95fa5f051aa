"""The three import modes integrators use, over queries or exports.

A period of any length (90-day windows); everything new since a checkpoint,
each invoice exactly once, by metadata queries (reference B §8.3) or by
exports (§8.4). Both incremental modes rest on KSeF's high water mark.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from ksefclient._areas.exports import export_invoices
from ksefclient._areas.invoices import download_invoice, fetch, query_all_metadata
from ksefclient._areas.limits import rate_limits
from ksefclient._core import Flow, ProtocolCore, Sleep
from ksefclient._models import (
    Checkpoint,
    DateRange,
    ImportedInvoice,
    ImportResult,
    InvoiceMetadata,
    InvoiceQueryFilters,
    RateLimit,
)

__all__ = ["OnInvoice", "WINDOW", "import_new", "import_period"]

# Called after each invoice with the checkpoint to persist once it is stored.
OnInvoice = Callable[[ImportedInvoice, Checkpoint], None]

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
    core: ProtocolCore,
    checkpoint: Checkpoint,
    *,
    fetch_xml: bool = True,
    use_export: bool | None = False,
    on_invoice: OnInvoice | None = None,
) -> Flow[ImportResult]:
    """Every invoice stored since ``checkpoint``, exactly once; persist ``result.checkpoint``.

    Persist ``result.checkpoint`` after storing ``result.invoices``: a crash in
    between imports again, never skips. ``on_invoice(invoice, checkpoint)`` is
    called after each invoice, in storage order, with the checkpoint to persist
    once that invoice is stored: an import cut short (a 429 beyond the wait
    budget, a crash) resumes after the last invoice stored.

    ``use_export=None`` chooses: downloads one by one while the hour's budget
    (``GET /rate-limits``, ``invoiceDownload``) covers the invoices due, an
    export (the official way to fetch many) when it does not.
    """
    if use_export:
        return (yield from _import_new_by_export(core, checkpoint, on_invoice))
    return (yield from _import_new_by_query(core, checkpoint, fetch_xml, use_export, on_invoice))


def _import_new_by_query(
    core: ProtocolCore,
    checkpoint: Checkpoint,
    fetch_xml: bool,
    use_export: bool | None,
    on_invoice: OnInvoice | None,
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
    pace = _Pace(None, core.clock)
    if use_export is None and fetch_xml and ordered:
        limits = yield from rate_limits(core)
        budget = limits.groups.get("invoiceDownload")
        if budget is not None and 0 <= budget.per_hour < len(ordered):
            return (yield from _import_new_by_export(core, checkpoint, on_invoice))
        pace = _Pace(budget, core.clock)
    progress = _Progress(checkpoint, on_invoice)
    invoices = []
    for item in ordered:
        xml = None
        if fetch_xml:
            wait = pace.wait()
            if wait > 0:
                yield Sleep(wait)
            xml = yield from download_invoice(core, item.ksef_number)
        invoices.append(progress.delivered(ImportedInvoice(item, xml)))
    return ImportResult(tuple(invoices), _next_checkpoint(checkpoint, hwm, ordered))


class _Pace:
    """Spaces downloads within the per-second and per-minute budgets.

    Running into a limit costs more than the wait: KSeF blocks a caller that
    keeps exceeding for longer each time (reference A §7.3).
    """

    def __init__(self, limit: RateLimit | None, clock: Callable[[], float]) -> None:
        windows = [] if limit is None else [(limit.per_second, 1.0), (limit.per_minute, 60.0)]
        self.windows = [(count, seconds) for count, seconds in windows if count > 0]
        self.clock = clock
        self.sent: deque[float] = deque()

    def wait(self) -> float:
        """Seconds to wait before the next download (then it counts as sent)."""
        now = self.clock()
        wait = 0.0
        for count, seconds in self.windows:
            recent = [t for t in self.sent if t > now - seconds]
            if len(recent) >= count:
                # A little past the edge: the server counts on its own clock.
                wait = max(wait, recent[-count] + seconds - now + 0.05)
        self.sent.append(now + wait)
        longest = max((seconds for _, seconds in self.windows), default=0.0)
        while self.sent and self.sent[0] <= now + wait - longest:
            self.sent.popleft()
        return wait


def _import_new_by_export(
    core: ProtocolCore, checkpoint: Checkpoint, on_invoice: OnInvoice | None = None
) -> Flow[ImportResult]:
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
    _Progress(checkpoint, on_invoice).deliver_all(ordered)
    hwm = package.permanent_storage_hwm_date
    return ImportResult(
        tuple(ordered), _next_checkpoint(checkpoint, hwm, [i.metadata for i in ordered])
    )


class _Progress:
    """The checkpoint after each invoice delivered in storage order (``on_invoice``)."""

    def __init__(self, checkpoint: Checkpoint, on_invoice: OnInvoice | None) -> None:
        self.subject_type = checkpoint.subject_type
        self.position = checkpoint.position
        self.boundary = set(checkpoint.boundary)
        self.on_invoice = on_invoice

    def delivered(self, invoice: ImportedInvoice) -> ImportedInvoice:
        if self.on_invoice is not None:
            stored = invoice.metadata.permanent_storage_date
            if stored != self.position:
                # Every invoice stored earlier is delivered: the next import starts here.
                self.position, self.boundary = stored, set()
            self.boundary.add(invoice.ksef_number)
            self.on_invoice(
                invoice, Checkpoint(self.subject_type, self.position, set(self.boundary))
            )
        return invoice

    def deliver_all(self, invoices: Iterable[ImportedInvoice]) -> None:
        for invoice in invoices:
            self.delivered(invoice)


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
