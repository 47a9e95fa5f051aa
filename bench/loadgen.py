"""Load generators on loopback: wrk when installed, else a small asyncio one.

``run_load(url, method)`` keeps ``connections`` keep-alive HTTP/1.1
connections busy for ``duration`` seconds (and at most ``max_requests``
requests) and returns requests/s and latency percentiles. Only 127.0.0.1 is
ever targeted.

wrk runs with one thread, so that on a 2-core machine the server keeps the
other core. The Python fallback needs a whole core itself and measures less
precisely (its own event loop adds to every latency); figures say which tool
produced them.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench._common import percentile
from bench._kit import read_answer


@dataclass
class LoadResult:
    tool: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers and socket errors


def _check_local(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.hostname != "127.0.0.1":
        raise ValueError(f"benchmarks send traffic to 127.0.0.1 only, not {parts.hostname}")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, parts.port or 80, path or "/"


def run_load(
    url: str,
    method: str = "GET",
    *,
    connections: int = 32,
    duration: float = 5.0,
    max_requests: int = 2_000_000,
    force_python: bool = False,
) -> LoadResult:
    _check_local(url)
    if shutil.which("wrk") and not force_python:
        return _wrk(url, method, connections, duration)
    coroutine = _python_load(url, method, connections, duration, max_requests)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


# -- wrk ------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _wrk(url: str, method: str, connections: int, duration: float) -> LoadResult:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "method.lua"
        script.write_text(f'wrk.method = "{method}"\n', encoding="ascii")
        seconds = max(1, round(duration))
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "--latency",
            "-s",
            str(script),
            url,
        ]
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 30, check=True
        ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    elapsed = re.search(r"requests in ([\d.]+\w+),", out).group(1)  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_2xx:
        errors += int(non_2xx.group(1))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(x) for x in socket_errors.groups())
    return LoadResult(
        "wrk",
        requests,
        _ms(elapsed) / 1000,
        rps,
        _ms(p50.group(1)) if p50 else float("nan"),
        _ms(p99.group(1)) if p99 else float("nan"),
        errors,
    )


# -- the Python fallback ------------------------------------------------------------------


async def _python_load(
    url: str, method: str, connections: int, duration: float, max_requests: int
) -> LoadResult:
    host, port, path = _check_local(url)
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 0\r\n\r\n"
    ).encode("ascii")
    latencies: list[float] = []
    errors = 0
    budget = [max_requests]
    stop_at = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal errors
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            errors += 1
            return
        try:
            while budget[0] > 0 and time.perf_counter() < stop_at:
                budget[0] -= 1
                started = time.perf_counter()
                writer.write(request)
                status, _ = await read_answer(reader)
                latencies.append(time.perf_counter() - started)
                if not 200 <= status < 400:
                    errors += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    return LoadResult(
        "python",
        len(latencies),
        elapsed,
        len(latencies) / elapsed if elapsed else 0.0,
        percentile(latencies, 50) * 1000,
        percentile(latencies, 99) * 1000,
        errors,
    )
