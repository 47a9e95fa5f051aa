"""The request journal: a bounded ring buffer of what the server answered, with listeners.

Each API request gives one entry (time on the Clock, environment, method, path,
operation id, context, status, exception codes, the scenario rule that fired
and its explanation); scenario happenings (activation, scheduled resets, clock
moves) give entries of ``kind: "event"``. ``durationMs`` is the only wall-clock
field: leave it out to compare two runs (same scenario and seed -> same entries).
The entries of API requests come from ``JournalMiddleware``
(``mockksef/scenarios/journal_middleware.py``).

Cheap by design, because throughput is measured with it on: one dict and one
``deque.append`` under a lock per request; ``sample_every=n`` keeps every n-th
request; ``MockConfig.journal_enabled=False`` turns it off.

Live readers (a console streaming Server-Sent Events) either register a
callback with ``listen`` or iterate a ``subscribe()`` subscription in their
event loop. Entries reach them rendered (``time`` as text), in ``seq`` order;
a subscription that falls ``maxsize`` entries behind loses the oldest ones and
counts them in ``dropped`` (the ``seq`` gap shows where; ``entries(since=…)``
fills it).
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any

from mockksef.clock import format_datetime

WALL_CLOCK_FIELDS = ("durationMs",)
log = logging.getLogger("mockksef")

Entry = dict[str, Any]
Listener = Callable[[Entry], None]


class Journal:
    def __init__(self, size: int = 1000, sample_every: int = 1, enabled: bool = True) -> None:
        self.enabled = enabled
        self.size = max(1, int(size))
        self.sample_every = max(1, int(sample_every))
        self._entries: deque[Entry] = deque(maxlen=self.size)
        self._lock = threading.Lock()
        self._seq = 0
        self._seen = 0
        # Swapped whole under the lock; the empty tuple keeps record() at one truth test.
        self._listeners: tuple[Listener, ...] = ()

    @property
    def last_seq(self) -> int:
        return self._seq

    def sampled(self) -> bool:
        """Whether the next request is recorded (every n-th one)."""
        if self.sample_every == 1:
            return True
        with self._lock:
            self._seen += 1
            return self._seen % self.sample_every == 1

    def record(self, entry: Entry) -> Entry:
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)
            if self._listeners:
                # Under the lock: listeners see entries in seq order, whatever the thread.
                self._notify(_rendered(entry))
        return entry

    def _notify(self, entry: Entry) -> None:
        for listener in self._listeners:
            try:
                listener(entry)
            except Exception:  # a broken reader must not fail the request being recorded
                log.exception("journal listener %r failed", listener)

    def event(self, time: datetime | str, event: str, **fields: Any) -> Entry:
        return self.record({"kind": "event", "time": time, "event": event, **fields})

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    # -- live readers -------------------------------------------------------------------------

    def listen(self, listener: Listener, *, since: int | None = None) -> Callable[[], None]:
        """Call ``listener(entry)`` for every new entry; returns the function that stops it.

        With ``since``, the kept entries after that ``seq`` are passed first, with
        no gap or repeat between them and the live ones. The listener runs in the
        recording thread, under the journal's lock: it must be quick, must not raise
        and must not call back into the journal.
        """
        with self._lock:
            backlog = [e for e in self._entries if e["seq"] > since] if since is not None else []
            self._listeners = (*self._listeners, listener)
            # Under the lock: an entry recorded meanwhile waits until the backlog is out.
            for entry in backlog:
                listener(_rendered(entry))

        def stop() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return stop

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    def subscribe(self, *, since: int | None = None, maxsize: int = 1000) -> Subscription:
        """An async iterator of new entries for the running event loop (``async with``/``close``)."""
        return Subscription(self, asyncio.get_running_loop(), since, maxsize)

    # -- reading --------------------------------------------------------------------------------

    def entries(
        self,
        since: int = 0,
        limit: int | None = None,
        *,
        kind: str | None = None,
        environment: str | None = None,
        operation: str | None = None,
        status: int | None = None,
        context: str | None = None,
        rule: str | None = None,
        fired: bool | None = None,
    ) -> list[Entry]:
        """Entries with ``seq > since``, oldest first, filtered."""
        with self._lock:
            items: Iterable[Entry] = list(self._entries)
        out = []
        for entry in items:
            if entry["seq"] <= since:
                continue
            if kind and entry.get("kind") != kind:
                continue
            if environment and entry.get("environment") != environment:
                continue
            if operation and not _glob(operation, entry.get("operation")):
                continue
            if status is not None and entry.get("status") != status:
                continue
            if context and entry.get("context") != context:
                continue
            if rule and not _glob(rule, entry.get("rule")):
                continue
            if fired is not None and bool(entry.get("rule")) != fired:
                continue
            out.append(_rendered(entry))
        if limit is not None and limit >= 0:
            out = out[:limit]
        return out


class Subscription:
    """New journal entries, delivered to one event loop; ``async for entry in subscription``.

    Entries may be recorded in any thread (a test thread driving the Python twin,
    uvicorn's loop): they are handed to the subscriber's loop thread-safely.
    """

    def __init__(
        self, journal: Journal, loop: asyncio.AbstractEventLoop, since: int | None, maxsize: int
    ) -> None:
        self._loop = loop
        self._queue: deque[Entry] = deque(maxlen=max(1, maxsize))
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0
        self._stop = journal.listen(self._deliver, since=since)

    def _deliver(self, entry: Entry) -> None:
        # Runs under the journal's lock: never calls back into the journal.
        if self._closed:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._push(entry)
        else:
            try:
                self._loop.call_soon_threadsafe(self._push, entry)
            except RuntimeError:  # the subscriber's loop is closed: nobody is reading
                self._closed = True

    def _push(self, entry: Entry) -> None:
        if self._closed:
            return
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(entry)
        self._ready.set()

    def close(self) -> None:
        """Stop receiving; a pending ``__anext__`` ends the iteration."""
        self._closed = True
        self._stop()
        self._ready.set()

    def __aiter__(self) -> AsyncIterator[Entry]:
        return self

    async def __anext__(self) -> Entry:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _rendered(entry: Entry) -> Entry:
    if isinstance(entry.get("time"), datetime):
        # Stored raw (cheap on the request path), rendered when read.
        return {**entry, "time": format_datetime(entry["time"])}
    return entry


def _glob(pattern: str, value: str | None) -> bool:
    return value is not None and fnmatch.fnmatchcase(value, pattern)


def without_wall_clock(entries: Iterable[Entry]) -> list[Entry]:
    """The entries minus wall-clock fields: what two runs must agree on."""
    return [{k: v for k, v in e.items() if k not in WALL_CLOCK_FIELDS} for e in entries]
