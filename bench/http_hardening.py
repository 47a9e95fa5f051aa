"""Hostile connections against the served socket: does a normal client still get through?

    python -m bench.http_hardening                      # 500 connections, 30 s, before and after
    python -m bench.http_hardening --connections 200 --duration 15 --only after

Opt-in (not part of ``python -m bench``): it holds hundreds of sockets and takes
a minute. Two servers, both uvicorn with uvloop + httptools on 127.0.0.1:

* ``before`` – the app on uvicorn's own httptools protocol, as ``mockksef serve``
  ran it until issue 13 (``python -m bench._serve mock``);
* ``after``  – ``mockksef serve`` as shipped (``mockksef.server``'s guarded protocol,
  default limits: 10 s header deadline, 5 s keep-alive, 30 s body pause).

An attacker process keeps ``--connections`` sockets open, a third each idle
(connected, silent), trickling a header one byte a second, and stalled in a
body (headers done, 1 of 1,000,000 body bytes sent); whenever the server closes
one, it reconnects, so the pressure stays constant. Meanwhile a probe sends
``GET /_mock/health`` on a fresh connection every 20 ms. Figures: probe p50/p99/
max, attack connections the server closed, and three single shots (an 8 MB
header, 100,000 header fields, a 50 MB admin body): status and seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import multiprocessing
import socket
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from bench._common import percentile
from bench._procs import ServerProcess, start_bench_server, start_cli_server

HEALTH = b"GET /_mock/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"


# -- the attacker (its own process, its own event loop) -----------------------------------------


async def _hold(port: int, kind: str, stop: asyncio.Event, closed: list[int]) -> None:
    """One attack slot: open, misbehave, count the server's close, open again."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        try:
            if kind == "body":
                writer.write(HEALTH.replace(b"GET", b"POST") + b"Content-Length: 1000000\r\n\r\n{")
            elif kind == "trickle":
                writer.write(HEALTH[:1])
            pending = HEALTH[1:] + b"X-Pad: " if kind == "trickle" else b""
            while not stop.is_set():
                try:
                    data = await asyncio.wait_for(reader.read(65536), timeout=1.0)
                except TimeoutError:
                    if kind == "trickle":
                        writer.write(pending[:1] or b"a")
                        pending = pending[1:]
                    continue
                if not data:
                    closed[0] += 1
                    break
        except OSError:
            closed[0] += 1
        finally:
            writer.close()


def _attacker(port: int, connections: int, seconds: float, out: Connection) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        closed = [0]
        kinds = ("idle", "trickle", "body")
        tasks = [
            asyncio.create_task(_hold(port, kinds[i % 3], stop, closed)) for i in range(connections)
        ]
        out.send("ready")
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        out.send(closed[0])

    asyncio.run(main())


# -- the probe and the single shots ---------------------------------------------------------------


def _probe(port: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/_mock/health")
            ok = conn.getresponse().status == 200
            conn.close()
        except OSError:
            ok = False
        latencies.append(time.perf_counter() - started)
        failures += not ok
        time.sleep(0.02)
    return latencies, failures


def _shot(port: int, payload: Callable[[socket.socket], None]) -> tuple[str, float]:
    """Send a hostile request; the status line and the seconds until it came."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        try:
            payload(sock)
        except OSError:
            pass
        try:
            answer = sock.recv(4096)
        except OSError as exc:
            answer = f"({exc.__class__.__name__})".encode()
    status = answer.split(b"\r\n", 1)[0].decode("latin-1") or "(closed)"
    return status, time.perf_counter() - started


def _big_header(sock: socket.socket) -> None:
    sock.sendall(HEALTH + b"X-Big: " + b"a" * 8_000_000 + b"\r\n\r\n")


def _many_headers(sock: socket.socket) -> None:
    sock.sendall(HEALTH + b"".join(b"X-F%d: v\r\n" % i for i in range(100_000)) + b"\r\n")


def _admin_body(sock: socket.socket) -> None:
    head = b"POST /_mock/seed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50000000\r\n\r\n"
    sock.sendall(head)
    chunk = b" " * 1_000_000
    for _ in range(50):
        sock.sendall(chunk)


def measure(label: str, server: ServerProcess, connections: int, seconds: float) -> dict[str, Any]:
    port = server.port
    shots = {
        "8 MB header": _shot(port, _big_header),
        "100,000 header fields": _shot(port, _many_headers),
        "50 MB admin body": _shot(port, _admin_body),
    }
    quiet, _ = _probe(port, 3.0)
    ours, theirs = multiprocessing.Pipe()
    attacker = multiprocessing.Process(
        target=_attacker, args=(port, connections, seconds, theirs), daemon=True
    )
    attacker.start()
    assert ours.recv() == "ready"
    time.sleep(1.0)  # let every attack connection open
    latencies, failures = _probe(port, seconds - 2.0)
    closed = ours.recv()
    attacker.join(timeout=30)
    result = {
        "label": label,
        "quiet_p99_ms": percentile(quiet, 99) * 1000,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "probes": len(latencies),
        "failed": failures,
        "closed_by_server": closed,
        "shots": shots,
    }
    print(
        f"{label:6}  probe p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
        f"max {result['max_ms']:.1f} ms  ({result['probes']} probes, {failures} failed; "
        f"quiet p99 {result['quiet_p99_ms']:.1f} ms)  attack connections closed by the server: "
        f"{closed}",
        flush=True,
    )
    for name, (status, took) in shots.items():
        print(f"        {name}: {status}  in {took:.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds under attack")
    parser.add_argument("--only", choices=["before", "after"], default=None)
    args = parser.parse_args()
    print(
        f"{args.connections} hostile connections (idle / trickling headers / stalled body), "
        f"{args.duration:g} s; probe: GET /_mock/health every 20 ms",
        flush=True,
    )
    if args.only in (None, "before"):
        with start_bench_server(["mock"], "/_mock/health") as server:
            measure("before", server, args.connections, args.duration)
    if args.only in (None, "after"):
        with start_cli_server(["--log-level", "warning"]) as server:
            measure("after", server, args.connections, args.duration)


if __name__ == "__main__":
    main()
