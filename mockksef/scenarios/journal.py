"""The request journal: a bounded ring buffer of what the server answered.

Each API request gives one entry (time on the Clock, environment, method, path,
operation id, context, status, exception codes, the scenario rule that fired
and its explanation); scenario happenings (activation, scheduled resets, clock
moves) give entries of ``kind: "event"``. ``durationMs`` is the only wall-clock
field: leave it out to compare two runs (same scenario and seed -> same entries).

Cheap by design, because throughput is measured with it on: one dict and one
``deque.append`` under a lock per request; ``sample_every=n`` keeps every n-th
request; ``MockConfig.journal_enabled=False`` turns it off.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from mockksef.clock import format_datetime

WALL_CLOCK_FIELDS = ("durationMs",)


class Journal:
    def __init__(self, size: int = 1000, sample_every: int = 1, enabled: bool = True) -> None:
        self.enabled = enabled
        self.size = max(1, int(size))
        self.sample_every = max(1, int(sample_every))
        self._entries: deque[dict[str, Any]] = deque(maxlen=self.size)
        self._lock = threading.Lock()
        self._seq = 0
        self._seen = 0

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

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)
        return entry

    def event(self, time: datetime | str, event: str, **fields: Any) -> dict[str, Any]:
        return self.record({"kind": "event", "time": time, "event": event, **fields})

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

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
    ) -> list[dict[str, Any]]:
        """Entries with ``seq > since``, oldest first, filtered."""
        with self._lock:
            items: Iterable[dict[str, Any]] = list(self._entries)
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
            if isinstance(entry.get("time"), datetime):
                # Stored raw (cheap on the request path), rendered when read.
                entry = {**entry, "time": format_datetime(entry["time"])}
            out.append(entry)
        if limit is not None and limit >= 0:
            out = out[:limit]
        return out


def _glob(pattern: str, value: str | None) -> bool:
    import fnmatch

    return value is not None and fnmatch.fnmatchcase(value, pattern)


def without_wall_clock(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries minus wall-clock fields: what two runs must agree on."""
    return [{k: v for k, v in e.items() if k not in WALL_CLOCK_FIELDS} for e in entries]
