"""4. Start-up: ``mockksef serve`` from exec to the first answered request.

    python -m bench.startup [--runs 5]

Each run starts ``python -m mockksef serve --no-rate-limits`` on a free
loopback port and sends ``POST /v2/auth/challenge`` every 2 ms until one is
answered 200; the time from ``Popen`` to that answer is the figure. Then the
first ``GET /v2/security/public-key-certificates`` (the Ministry keys are
generated on first use) is timed apart. For scale: a bare ``python -c pass``
and ``import mockksef.app`` in a fresh interpreter. Target (issue 8): < 1 s.
"""

from __future__ import annotations

import subprocess
import time

from bench._common import ROOT, Report, below, load1, python, standalone
from bench._procs import _env, start_cli_server, status_of

SECTION = "4. Start-up"


def one_start(timeout: float = 30.0) -> tuple[float, float]:
    """(seconds to the first answered challenge, seconds of the first key listing)."""
    started = time.perf_counter()
    server = start_cli_server(["--no-rate-limits"], timeout, ready=("POST", "/v2/auth/challenge"))
    try:
        first = time.perf_counter() - started
        t = time.perf_counter()
        status = status_of(server, "GET", "/v2/security/public-key-certificates")
        keys = time.perf_counter() - t
        if status != 200:
            raise RuntimeError(f"public keys: {status}")
        return first, keys
    finally:
        server.stop()


def _interpreter(code: str) -> float:
    t = time.perf_counter()
    subprocess.run([python(), "-c", code], cwd=ROOT, env=_env(), check=True, timeout=60)
    return time.perf_counter() - t


def run(report: Report, runs: int = 5) -> None:
    print(f"\n== {SECTION}: {runs} run(s)", flush=True)
    firsts, keys, loads, bare, imports = [], [], [], [], []
    for _ in range(runs):
        loads.append(load1())
        first, listing = one_start()
        firsts.append(first)
        keys.append(listing)
        bare.append(_interpreter("pass"))
        imports.append(_interpreter("import mockksef.app"))
    report.add(
        SECTION,
        "`mockksef serve` exec -> first answered POST /v2/auth/challenge",
        firsts,
        "s",
        loads=loads,
        target=below(1, "s"),
    )
    report.add(
        SECTION,
        "first GET /v2/security/public-key-certificates (key generation)",
        [k * 1000 for k in keys],
        "ms",
        loads=loads,
    )
    report.add(SECTION, "for scale: `python -c pass`", bare, "s", loads=loads)
    report.add(SECTION, "for scale: `python -c 'import mockksef.app'`", imports, "s", loads=loads)


def main() -> None:
    standalone(__doc__, run, runs=5)


if __name__ == "__main__":
    main()
