"""Heavy work off the event loop, on a few threads of its own.

One event loop serves every client, so a request that computes for a second
(a 3 MB invoice against the XSD, a zip bomb, an export of 10,000 invoices)
would hold every other client for that second. Such work runs here instead:
in anyio's worker threads, but at most ``HEAVY_WORKERS`` at a time, so that a
burst of heavy requests queues behind its own limiter and never takes the
threads that Starlette's own ``run_in_threadpool`` users (the console) need,
and the loop keeps the interpreter often enough to answer everyone else.

The domain is thread-safe (every backend guards its state with a lock); the
operations that run here keep their long computations outside those locks,
so a request on the loop never waits for one.

Small requests stay on the loop: a thread hop costs about as much as
validating a small body, so only bodies above ``OFFLOAD_BYTES`` move.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

from anyio import CapacityLimiter, to_thread
from anyio.lowlevel import RunVar

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# Two cores is the machine this runs on in CI; more heavy threads would only
# take the interpreter from the loop more often.
HEAVY_WORKERS = 2
# JSON bodies above this are parsed and validated off the loop.
OFFLOAD_BYTES = 65_536

# A limiter belongs to the event loop that made it (tests run many loops).
_LIMITER: RunVar[CapacityLimiter] = RunVar("mockksef_heavy_work")


def _limiter() -> CapacityLimiter:
    try:
        return _LIMITER.get()
    except LookupError:
        limiter = CapacityLimiter(HEAVY_WORKERS)
        _LIMITER.set(limiter)
        return limiter


async def run_heavy(func: Callable[[*Ts], T], *args: *Ts) -> T:
    """``func(*args)`` in a worker thread; the caller's task waits, the loop does not."""
    return await to_thread.run_sync(func, *args, limiter=_limiter())
