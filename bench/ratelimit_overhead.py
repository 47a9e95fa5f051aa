"""What the rate limiter costs per request, and how much it keeps in memory.

Not a test: prints numbers. Run from the project root:

    python -m bench.ratelimit_overhead

1. ``LimitsBackend.charge`` alone (the hot path), accepted and refused requests,
   over 50 000 distinct (context, IP) budgets.
2. A whole request (``GET /v2/rate-limits`` straight through the ASGI app)
   with the limiter on and off, interleaved; the difference is its share.
3. Memory: counters alive before and after the idle sweep.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bench._kit import AsgiClient
from mockksef import MockConfig, MockState, create_app, official
from mockksef.clock import Clock
from mockksef.errors import TooManyRequests
from mockksef.models import ContextIdentifier
from mockksef.spec import Spec
from tests.conftest import auth_headers

BASE = MockConfig(seed=1, clock_mode="virtual")


def report(text: str) -> None:
    print(text)


def bench_charge() -> None:
    mock = MockState(BASE, clock=Clock.virtual("2026-03-02T09:00:00Z"))
    limits = mock.env("TEST").limits
    contexts = [ContextIdentifier("Nip", f"{1000000000 + i}") for i in range(5000)]
    ips = [f"10.0.{i // 256}.{i % 256}" for i in range(10)]
    keys = [(c, ip) for c in contexts for ip in ips]  # 50 000 budgets
    calls = 200_000
    # Clock instants prepared beforehand: 20 µs apart, so every budget sees one
    # request a second and all are accepted.
    start_at = mock.clock.now()
    instants = [start_at + timedelta(microseconds=20 * i) for i in range(calls)]
    start = time.perf_counter()
    for i in range(calls):
        context, ip = keys[i % len(keys)]
        limits.charge("tokens.list", context, ip, instants[i])
    accepted = (time.perf_counter() - start) / calls
    report(f"charge, accepted: {accepted * 1e9:,.0f} ns/request over {len(keys):,} budgets")

    # Memory of the same load, measured apart (tracemalloc slows everything down).
    fresh = MockState(BASE, clock=Clock.virtual("2026-03-02T09:00:00Z")).env("TEST").limits
    tracemalloc.start()
    for i in range(calls):
        context, ip = keys[i % len(keys)]
        fresh.charge("tokens.list", context, ip, instants[i])
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    report(f"memory: {len(fresh.usage):,} budgets, {current / len(fresh.usage):,.0f} B each")

    context, ip = keys[0]
    now = instants[-1]
    refused = 0
    start = time.perf_counter()
    for _ in range(50_000):
        try:
            limits.charge("tokens.get", context, ip, now)
        except TooManyRequests:
            refused += 1
    per = (time.perf_counter() - start) / 50_000
    report(f"charge, refused ({refused:,} of 50,000): {per * 1e9:,.0f} ns/request")
    later = now + timedelta(hours=2)
    start = time.perf_counter()
    limits.charge("tokens.list", context, ip, later)
    sweep = time.perf_counter() - start
    report(
        f"idle sweep two hours later: {len(limits.usage)} budget left, took {sweep * 1e3:,.1f} ms"
    )


def _app_and_bearer(enabled: bool, spec: Spec) -> tuple[Any, MockState, dict[str, str]]:
    # Limits 1000x the defaults so that the measured requests are accepted.
    config = replace(BASE, rate_limits_enabled=enabled, rate_limit_multiplier=1000)
    mock = MockState(config, spec=spec, clock=Clock.virtual("2026-03-02T09:00:00Z"))
    headers = auth_headers(mock, lifetime=timedelta(days=1))
    return create_app(state=mock), mock, headers


async def _requests(app: Any, mock: MockState, headers: dict[str, str], count: int) -> float:
    """``count`` requests straight through the ASGI app (the benchmarks' lean path, no socket)."""
    client = AsgiClient(app, client=("10.0.0.1", 40000))
    statuses: list[int] = []
    start = time.perf_counter()
    for _ in range(count):
        mock.clock.advance(0.001)
        statuses.append((await client.get("/rate-limits", headers=headers)).status_code)
    elapsed = (time.perf_counter() - start) / count
    assert set(statuses) == {200}, set(statuses)
    return elapsed


def bench_requests(rounds: int = 9, count: int = 1000) -> None:
    spec = Spec.from_dir(official.locate())
    off = _app_and_bearer(False, spec)
    on = _app_and_bearer(True, spec)
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        # Interleaved, best of each: the machine's noise hits both alike.
        for enabled, (app, mock, headers) in ((False, off), (True, on)):
            times[enabled].append(asyncio.run(_requests(app, mock, headers, count)))
    best_off, best_on = min(times[False]), min(times[True])
    report(
        f"GET /v2/rate-limits through the ASGI app: {best_off * 1e6:,.1f} µs off, "
        f"{best_on * 1e6:,.1f} µs on (difference {(best_on - best_off) * 1e6:+,.1f} µs, "
        f"{(best_on - best_off) / best_off:+.1%})"
    )


def main() -> None:
    bench_charge()
    bench_requests()


if __name__ == "__main__":
    main()
