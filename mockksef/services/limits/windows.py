"""Sliding-window request counters with escalating blocks (reference A §7.1, §7.3).

One counter per key (the caller builds keys: operation, context, client IP).
A counter keeps the times of its accepted requests in one ascending list; the
number of requests in each window (1 s, 60 s, 3600 s) is found by bisection,
and entries older than the longest limited window are dropped as the counter
is used, so its memory is bounded by the limits themselves (a group limited
per second only keeps one second of history). Refused requests are not
counted. Times are integer microseconds on the environment's Clock, so
"released exactly when Retry-After says" holds without float rounding.

Dynamic block [mock] (the real rule is not published): on a violation the key
is blocked for ``base * 2**k`` seconds, where ``base`` is the whole number of
seconds until the request would really be accepted (rounded up) and ``k`` the
number of earlier violations of the same key within the last hour; at most one
hour, never less than ``base``. Requests during a block are refused with the
remaining time and do not lengthen it. ``Retry-After`` is therefore always the
time until the request is really accepted. Idle counters (no request for an
hour, no block) are dropped by a sweep that runs at most once a minute of
Clock time.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from mockksef.services.limits.models import RateLimit

SECOND_US = 1_000_000
# Polish accusative of each window, as in "Przekroczono limit 20 żądań na minutę."
WINDOW_WORDS: tuple[str, str, str] = ("sekundę", "minutę", "godzinę")
BLOCK_CAP_SECONDS = 3600
ESCALATION_MEMORY_US = 3600 * SECOND_US
IDLE_AFTER_US = 3600 * SECOND_US
SWEEP_EVERY_US = 60 * SECOND_US
# Dropped entries are cut off the list in one go once there are this many.
_COMPACT_AFTER = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(when: datetime) -> int:
    """Integer microseconds since the epoch (exact, unlike float timestamps)."""
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * SECOND_US + delta.microseconds


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request is refused and when it would be accepted."""

    retry_after: int  # whole seconds
    limit: int  # the request count of the violated window
    window: int  # 0 = second, 1 = minute, 2 = hour

    @property
    def detail(self) -> str:
        """The 429 detail text (reference A §7.3 template, as in the official example)."""
        seconds = "sekundzie" if self.retry_after == 1 else "sekundach"
        return (
            f"Przekroczono limit {self.limit} żądań na {WINDOW_WORDS[self.window]}. "
            f"Spróbuj ponownie po {self.retry_after} {seconds}."
        )


class _Counter:
    __slots__ = (
        "blocked_limit",
        "blocked_until",
        "blocked_window",
        "head",
        "hits",
        "last",
        "violations",
    )

    def __init__(self, now: int) -> None:
        self.hits: list[int] = []  # ascending; hits[:head] are expired
        self.head = 0
        self.blocked_until = 0
        self.blocked_limit = 0
        self.blocked_window = 0
        self.violations: list[int] | None = None
        self.last = now


def _ceil_seconds(micros_: int) -> int:
    return max(1, -(-micros_ // SECOND_US))


class SlidingWindows:
    """Thread-safe counters for many keys; ``hit`` is the only hot path."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[Hashable, _Counter] = {}
        self._next_sweep = 0

    def __len__(self) -> int:
        return len(self._counters)

    def hit(self, checks: Sequence[tuple[Hashable, RateLimit]], now: int) -> Rejection | None:
        """Count one request against every ``(key, limit)`` pair, or refuse it.

        The request is accepted only when every pair accepts it; then it is
        counted in all of them. A refused request is counted in none.
        """
        with self._lock:
            if now >= self._next_sweep or now < self._next_sweep - SWEEP_EVERY_US:
                self._sweep(now)
            worst: Rejection | None = None
            accepted: list[_Counter] = []
            counters = self._counters
            for key, limit in checks:
                counter = counters.get(key)
                if counter is None or now < counter.last:
                    # New key, or the Clock was set back: start afresh.
                    counter = counters[key] = _Counter(now)
                counter.last = now
                plan = limit.plan
                rejection = self._check(counter, plan, now)
                if rejection is None:
                    if plan:
                        accepted.append(counter)
                elif worst is None or rejection.retry_after > worst.retry_after:
                    worst = rejection
            if worst is not None:
                return worst
            for counter in accepted:
                counter.hits.append(now)
            return None

    @staticmethod
    def _check(
        counter: _Counter, plan: tuple[tuple[int, int, int], ...], now: int
    ) -> Rejection | None:
        if counter.blocked_until > now:
            return Rejection(
                _ceil_seconds(counter.blocked_until - now),
                counter.blocked_limit,
                counter.blocked_window,
            )
        hits = counter.hits
        head = counter.head
        if not plan:
            if hits:
                hits.clear()
                counter.head = 0
            return None
        # Forget what is older than the longest limited window.
        cutoff = now - plan[-1][1]
        if head < len(hits) and hits[head] <= cutoff:
            head = bisect_right(hits, cutoff, head)
            if head >= _COMPACT_AFTER and head * 2 >= len(hits):
                del hits[:head]
                head = 0
            counter.head = head
        size = len(hits)
        wait = 0
        violated: tuple[int, int, int] | None = None
        for entry in plan:
            _, window, allowed = entry
            inside = size - bisect_right(hits, now - window, head)
            if inside >= allowed:
                # The allowed-th newest request must leave the window first;
                # a zero limit admits nothing within a window.
                free_at = (hits[size - allowed] if allowed else now) + window
                if free_at - now > wait:
                    wait, violated = free_at - now, entry
        if violated is None:
            return None
        index, _, allowed = violated
        violations = counter.violations
        if violations is None:
            violations = counter.violations = []
        forget = bisect_right(violations, now - ESCALATION_MEMORY_US)
        if forget:
            del violations[:forget]
        base = _ceil_seconds(wait)
        block = max(base, min(BLOCK_CAP_SECONDS, base << min(len(violations), 12)))
        violations.append(now)
        counter.blocked_until = now + block * SECOND_US
        counter.blocked_limit = allowed
        counter.blocked_window = index
        return Rejection(block, allowed, index)

    def _sweep(self, now: int) -> None:
        """Drop counters idle for an hour (their windows and violations are all expired)."""
        idle = now - IDLE_AFTER_US
        stale = [
            key
            for key, counter in self._counters.items()
            if counter.last <= idle and counter.blocked_until <= now
        ]
        for key in stale:
            del self._counters[key]
        self._next_sweep = now + SWEEP_EVERY_US

    def lift_blocks(self, keys: Callable[[Hashable], bool]) -> None:
        """End the blocks of the chosen keys: their limits changed, so the next request
        is judged by the new ones (the hits and the violations stay counted)."""
        with self._lock:
            for key, counter in self._counters.items():
                if counter.blocked_until and keys(key):
                    counter.blocked_until = 0

    def clear(self) -> None:
        with self._lock:
            self._counters.clear()
