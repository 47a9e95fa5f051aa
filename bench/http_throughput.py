"""1. HTTP throughput and latency on one uvicorn worker (uvloop + httptools), 32 connections.

    python -m bench.http_throughput [--rounds 3] [--duration 5] [--python-loadgen]

Measured in the same run, interleaved round by round so that the machine's
noise hits all alike:

* a bare Starlette app with endpoints of the same shape (the framework limit);
* mockksef (``create_app``, rate limits off) with the journal on and off:
  ``POST /v2/auth/challenge`` and ``GET /v2/security/public-key-certificates``;
* ``mockksef serve --no-rate-limits`` as a user starts it (uvicorn defaults,
  access log on, output to /dev/null).

Reported: requests/s, p50 and p99 latency, and the ratio to the bare endpoint
(per round, then the median). Targets (issue 17): the served default (access log
and journal on) >= 0.60 of bare, ``create_app`` with the journal on >= 0.75;
p99 < 10 ms for both.
"""

from __future__ import annotations

from collections import defaultdict

from bench._common import Report, at_least, below, load1, standalone
from bench._procs import ServerProcess, start_bench_server, start_cli_server
from bench.loadgen import LoadResult, run_load

SECTION = "1. HTTP throughput (1 worker, 32 connections)"
OPERATIONS = (
    ("challenge", "POST", "/v2/auth/challenge"),
    ("public keys", "GET", "/v2/security/public-key-certificates"),
)
READY = "/v2/security/public-key-certificates"
SERVED = "`mockksef serve --no-rate-limits`"
# Ratio to the bare endpoint each server is held to (issue 17).
RATIO_TARGETS = {"mockksef, journal on": 0.75, SERVED: 0.60}


def _measure(
    server: ServerProcess, method: str, path: str, duration: float, python_loadgen: bool
) -> tuple[LoadResult, float]:
    url = server.base + path
    run_load(url, method, duration=min(1.0, duration), force_python=python_loadgen)  # warm-up
    load = load1()
    result = run_load(url, method, duration=duration, force_python=python_loadgen)
    if result.errors:
        raise RuntimeError(f"{result.errors} failed requests on {method} {path}")
    return result, load


def run(
    report: Report, rounds: int = 3, duration: float = 5.0, python_loadgen: bool = False
) -> None:
    print(f"\n== {SECTION}: {rounds} round(s) of {duration:.0f} s per figure", flush=True)
    servers: dict[str, ServerProcess] = {}
    try:
        servers["bare Starlette"] = start_bench_server(["bare"], READY)
        servers["mockksef, journal on"] = start_bench_server(["mock", "--journal", "on"], READY)
        servers["mockksef, journal off"] = start_bench_server(["mock", "--journal", "off"], READY)
        servers[SERVED] = start_cli_server(["--no-rate-limits"])
        results: dict[tuple[str, str], list[LoadResult]] = defaultdict(list)
        loads: dict[tuple[str, str], list[float]] = defaultdict(list)
        ratios: dict[tuple[str, str], list[float]] = defaultdict(list)
        tool = ""
        for n in range(rounds):
            for op, method, path in OPERATIONS:
                bare_rps = 0.0
                for name, server in servers.items():
                    result, load = _measure(server, method, path, duration, python_loadgen)
                    tool = result.tool
                    results[(name, op)].append(result)
                    loads[(name, op)].append(load)
                    if name == "bare Starlette":
                        bare_rps = result.rps
                    else:
                        ratios[(name, op)].append(result.rps / bare_rps)
                    print(
                        f"    round {n + 1}: {name:<36} {op:<12} {result.rps:>9,.0f} req/s "
                        f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
                        f"(load {load:.2f})",
                        flush=True,
                    )
        print(f"  medians of {rounds} round(s), load generator: {tool}")
        for op, method, path in OPERATIONS:
            for name in servers:
                key = (name, op)
                runs = results[key]
                label = f"{name}: {method} {path.removeprefix('/v2')}"
                report.add(
                    SECTION, f"{label} req/s", [r.rps for r in runs], "req/s", loads=loads[key]
                )
                report.add(
                    SECTION, f"{label} p50", [r.p50_ms for r in runs], "ms", loads=loads[key]
                )
                wanted = RATIO_TARGETS.get(name)
                measured_mock = wanted is not None
                report.add(
                    SECTION,
                    f"{label} p99",
                    [r.p99_ms for r in runs],
                    "ms",
                    loads=loads[key],
                    target=below(10, "ms") if measured_mock else None,
                )
                if key in ratios:
                    report.add(
                        SECTION,
                        f"{label} / bare",
                        ratios[key],
                        "ratio",
                        loads=loads[key],
                        target=at_least(wanted, f">= {wanted:.2f}") if wanted else None,
                    )
    finally:
        for server in servers.values():
            server.stop()


def main() -> None:
    standalone(__doc__, run, rounds=3, duration=5.0, python_loadgen=False)


if __name__ == "__main__":
    main()
