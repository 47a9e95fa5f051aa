"""The one source of time.

Every timestamp, expiry, rate-limit window and asynchronous transition reads
``Clock.now()``. The clock runs in one of three modes:

* ``real``    – wall time;
* ``offset``  – wall time shifted by a fixed amount (real but in the future/past);
* ``virtual`` – frozen; moves only when told to (tests, scenarios, admin API).

``advance`` and ``set`` work in every mode: on a running clock they change the
offset, on a virtual one they move the frozen instant. Nothing here sleeps.
"""

from __future__ import annotations

import threading
import time as _time
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal

ClockMode = Literal["real", "offset", "virtual"]
CLOCK_MODES: tuple[ClockMode, ...] = ("real", "offset", "virtual")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _wall() -> datetime:
    return datetime.now(UTC)


class Clock:
    def __init__(self, mode: ClockMode = "real", start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._mode: ClockMode = mode
        self._offset = timedelta(0)
        self._frozen = _aware(start) if start else _wall()
        if mode == "offset" and start is not None:
            self._offset = _aware(start) - _wall()

    @classmethod
    def virtual(cls, start: datetime | str | None = None) -> Clock:
        if isinstance(start, str):
            start = parse_datetime(start)
        return cls("virtual", start or datetime(2026, 3, 2, 9, 0, tzinfo=UTC))

    @property
    def mode(self) -> ClockMode:
        return self._mode

    def export_state(self) -> dict[str, Any]:
        """Mode, offset from wall time and the frozen instant (persisted with the data)."""
        with self._lock:
            return {"mode": self._mode, "offset": self._offset, "frozen": self._frozen}

    def import_state(self, saved: dict[str, Any]) -> None:
        """Continue where a stored clock stood: frozen stays frozen, an offset runs on."""
        if saved.get("mode") not in ("real", "offset", "virtual"):
            raise ValueError(f"unknown clock mode in stored state: {saved.get('mode')!r}")
        with self._lock:
            self._mode = saved["mode"]
            self._offset = saved["offset"]
            self._frozen = saved["frozen"]

    def now(self) -> datetime:
        if self._mode == "virtual":
            return self._frozen
        return _wall() + self._offset

    def timestamp(self) -> float:
        return (self.now() - _EPOCH).total_seconds()

    def monotonic(self) -> float:
        """Seconds for measuring durations; follows virtual moves too."""
        if self._mode == "virtual":
            return self.timestamp()
        return _time.monotonic() + self._offset.total_seconds()

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the clock only moves forward; use set() to go back")
        with self._lock:
            if self._mode == "virtual":
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)
                self._mode = "offset" if self._offset else "real"
        return self.now()

    def set(self, when: datetime) -> datetime:
        when = _aware(when)
        with self._lock:
            if self._mode == "virtual":
                self._frozen = when
            else:
                self._offset = when - _wall()
                self._mode = "offset"
        return self.now()

    def freeze(self) -> None:
        with self._lock:
            self._frozen = self.now()
            self._mode = "virtual"

    def run(self) -> None:
        """Let a virtual clock run again from where it stands."""
        with self._lock:
            if self._mode == "virtual":
                self._offset = self._frozen - _wall()
                self._mode = "offset"

    def use_wall_time(self) -> None:
        """Back to plain wall time: mode ``real``, no offset."""
        with self._lock:
            self._offset = timedelta(0)
            self._mode = "real"

    def set_mode(self, mode: str) -> datetime:
        """``virtual`` freezes where it stands, ``offset`` runs on from where it stands,
        ``real`` goes back to wall time."""
        if mode == "virtual":
            self.freeze()
        elif mode == "offset":
            if self._mode == "virtual":
                self.run()
            else:
                with self._lock:
                    self._mode = "offset"
        elif mode == "real":
            self.use_wall_time()
        else:
            raise ValueError(f"unknown clock mode {mode!r} (real, virtual, offset)")
        return self.now()

    def describe(self) -> dict[str, object]:
        return {
            "mode": self._mode,
            "now": format_datetime(self.now()),
            "offsetSeconds": self._offset.total_seconds() if self._mode != "virtual" else None,
        }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_datetime(value: datetime) -> str:
    """Render like .NET's DateTimeOffset: 7 fractional digits and ``+00:00``."""
    # isoformat gives "...SS.ffffff+00:00" for UTC; it is several times faster than
    # strftime, and this runs on nearly every response. Without a timespec it is
    # faster still, and leaves the fraction out only when it is zero.
    if value.tzinfo is not UTC:  # the Clock's own values are UTC already
        value = value.astimezone(UTC)
    if value.microsecond:
        return value.isoformat()[:-6] + "0+00:00"
    return value.isoformat()[:-6] + ".0000000+00:00"


def format_datetime_seconds(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def to_millis(value: datetime) -> int:
    delta = _aware(value) - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def parse_datetime(text: str, naive: tzinfo = UTC) -> datetime:
    """Parse ISO 8601 as KSeF reads it: ``Z`` or an offset, any number of fractional
    digits (.NET sends 7, Java 9; microseconds are kept), a date alone.

    Python 3.11's ``fromisoformat`` reads all of these (reference B §0). A value
    without an offset is read in ``naive`` (UTC unless said otherwise).
    """
    value = text.strip()
    parsed = datetime.fromisoformat(value[:-1] + "Z" if value.endswith("z") else value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=naive)
