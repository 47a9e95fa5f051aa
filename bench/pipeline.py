"""2. Invoice pipeline: encrypt -> send -> processed -> KSeF number, invoices per second.

    python -m bench.pipeline [--rounds 3] [--invoices 2000] [--batch 1000,10000]

Per invoice, as a client does it: fill the official FA(3) sample, AES-encrypt
it, ``POST /sessions/online/{ref}/invoices``, then read
``GET /sessions/{ref}/invoices/{invoiceRef}`` until it is final and carries its
KSeF number. Lanes:

* in-process, ``httpx.AsyncClient`` over ``ASGITransport`` (no socket), one
  invoice at a time, and Starlette's ``TestClient`` (what the test suite uses);
* over a socket to one uvicorn worker (``python -m bench._serve mock``), with a
  lean asyncio HTTP/1.1 client (``_kit.SocketClient``) one invoice at a time
  and 8 in flight, and with httpx (whose own CPU per invoice exceeds the
  server's, so it measures the client);
* batch sessions of 1 000 and 10 000 invoices (in-process): build the ZIP and
  encrypt it (client time, reported apart), then open -> upload -> close ->
  status 200 -> list every invoice with its KSeF number.

Authentication is a real XAdES login (not timed). Targets (issue 8): >= 1 000
invoices/s in-process, >= 300/s over a socket.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from bench import _kit
from bench._common import Deadline, Report, Target, at_least, load1, standalone
from bench._procs import start_bench_server
from ksefcontract import wire
from tests import kit

SECTION = "2. Invoice pipeline"
POLLS = 50  # status reads per invoice at most (the default config settles at once)
_runs = itertools.count(1)


def _issue_day() -> date:
    # The benchmark apps run on the real clock: yesterday is a valid issue date.
    return (datetime.now(UTC) - timedelta(days=1)).date()


async def _send_one(client: Any, opened: _kit.Opened, xml: bytes) -> str:
    """Send one invoice and read its status until it has a KSeF number: the timed step."""
    ref, headers = opened.session.reference_number, opened.headers
    sent = _kit.ok(
        await client.post(
            f"/sessions/online/{ref}/invoices",
            json=wire.invoice_body(opened.session.key, xml),
            headers=headers,
        ),
        202,
    )
    for _ in range(POLLS):
        status = _kit.ok(
            await client.get(
                f"/sessions/{ref}/invoices/{sent['referenceNumber']}", headers=headers
            ),
            200,
        )
        code = status["status"]["code"]
        if code == 200 and status.get("ksefNumber"):
            return status["ksefNumber"]  # type: ignore[no-any-return]
        if code >= 300:
            raise RuntimeError(f"invoice refused: {status['status']}")
    raise RuntimeError(f"invoice not processed after {POLLS} status reads")


async def online_async(
    client: Any,
    setup: httpx.AsyncClient,
    seller: str,
    count: int,
    in_flight: int,
    seconds: float,
    cpu_clock: Callable[[], float] = time.thread_time,
) -> tuple[int, float, float]:
    """``count`` invoices through one online session: (invoices done, seconds, CPU seconds).

    The session is opened through the bundled client over ``setup`` (not
    timed); the invoices go through ``client``.
    """
    opened = await _kit.open_online(setup, seller)
    issue = _issue_day()
    run = next(_runs)
    numbers = iter(range(count))
    deadline = Deadline(seconds)
    done = 0

    async def worker() -> None:
        nonlocal done
        for i in numbers:
            if deadline.passed():
                return
            await _send_one(client, opened, kit.fa3(seller, f"{run}-{i}", issue))
            done += 1

    started, cpu = time.perf_counter(), cpu_clock()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed, cpu = time.perf_counter() - started, cpu_clock() - cpu
    await opened.close()
    return done, elapsed, cpu


class _Awaiting:
    """Starlette's (sync) ``TestClient`` behind the awaitable calls the send loop makes."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(path, json=json, **kw)


async def batch_async(
    client: httpx.AsyncClient, seller: str, count: int, seconds: float
) -> tuple[float, float]:
    """One batch session of ``count`` invoices; returns (client build seconds, server seconds)."""
    tokens = await _kit.seller_client(client, seller).authenticate()
    headers = kit.bearer(tokens.access_token.token)
    listing = _kit.ok(await client.get("/security/public-key-certificates"), 200)
    certificate = wire.public_key(listing, "SymmetricKeyEncryption")
    assert certificate is not None
    issue = _issue_day()
    run = next(_runs)
    built = time.perf_counter()
    files = {f"faktura-{i:05d}.xml": kit.fa3(seller, f"B{run}-{i}", issue) for i in range(count)}
    pkg = kit.package(files)
    del files
    body = {
        "formCode": kit.FA3,
        "batchFile": pkg.batch_file(),
        "encryption": pkg.crypto.encryption_info(certificate),
    }
    started = time.perf_counter()
    opened = _kit.ok(await client.post("/sessions/batch", json=body, headers=headers), 201)
    ref = opened["referenceNumber"]
    for request in opened["partUploadRequests"]:
        data = pkg.parts[request["ordinalNumber"] - 1]
        response = await client.request(
            request["method"], request["url"], content=data, headers=request["headers"]
        )
        _kit.ok(response, 201)
    _kit.ok(await client.post(f"/sessions/batch/{ref}/close", headers=headers), 204)
    deadline = Deadline(seconds)
    while True:
        status = _kit.ok(await client.get(f"/sessions/{ref}", headers=headers), 200)
        if status["status"]["code"] not in (100, 150, 170):
            break
        if deadline.passed():
            raise RuntimeError("batch not processed in time")
        await asyncio.sleep(0.01)
    if status["status"]["code"] != 200 or status.get("successfulInvoiceCount") != count:
        raise RuntimeError(f"batch failed: {status}")
    numbers = 0
    continuation: str | None = None
    for _ in range(count // 1000 + 2):
        page_headers = dict(headers)
        if continuation:
            page_headers["x-continuation-token"] = continuation
        page = _kit.ok(
            await client.get(
                f"/sessions/{ref}/invoices", params={"pageSize": 1000}, headers=page_headers
            ),
            200,
        )
        numbers += sum(1 for item in page["invoices"] if item.get("ksefNumber"))
        continuation = page.get("continuationToken")
        if not continuation:
            break
    finished = time.perf_counter()
    if numbers != count:
        raise RuntimeError(f"{numbers} KSeF numbers listed of {count}")
    return started - built, finished - started


# -- lanes ----------------------------------------------------------------------------------


def _app() -> Any:
    from mockksef import MockConfig, create_app

    return create_app(replace(MockConfig(), rate_limits_enabled=False))


def _in_process(coroutine_factory: Any) -> Any:
    """``coroutine_factory(client, app)`` with an ``httpx.AsyncClient`` over ASGI (no socket)."""
    app = _app()

    async def go() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver/v2", timeout=120
        ) as client:
            return await coroutine_factory(client, app)

    return asyncio.run(go())


def _test_client(
    setup: httpx.AsyncClient, app: Any, seller: str, count: int, seconds: float
) -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Starlette's note about httpx versions
        from starlette.testclient import TestClient

    async def go() -> tuple[int, float, float]:
        with TestClient(app, base_url="http://testserver/v2") as client:
            # The TestClient runs the app in a second thread: CPU time of the process.
            return await online_async(
                _Awaiting(client), setup, seller, count, 1, seconds, time.process_time
            )

    return go()


def run(
    report: Report,
    rounds: int = 3,
    invoices: int = 2000,
    batches: tuple[int, ...] = (1000, 10_000),
    seconds: float = 120.0,
) -> None:
    print(
        f"\n== {SECTION}: {rounds} round(s), {invoices} invoices per online run, "
        f"batches of {', '.join(str(b) for b in batches)}",
        flush=True,
    )
    seller = kit.random_nip(8)
    kit.fa3(seller)  # read the official sample before any timing

    def lane(name: str, measure: Any, target: Target | None = None, cpu_of: str = "") -> None:
        rates, per_invoice, loads = [], [], []
        for n in range(rounds):
            load = load1()
            done, elapsed, cpu = measure()
            rates.append(done / elapsed)
            per_invoice.append(cpu / done * 1000)
            loads.append(load)
            print(
                f"    round {n + 1}: {name:<48} {done:>6} in {elapsed:6.2f} s = "
                f"{done / elapsed:6.0f}/s, {cpu / done * 1000:.2f} ms CPU each (load {load:.2f})",
                flush=True,
            )
        report.add(SECTION, name, rates, "invoices/s", loads=loads, target=target)
        report.add(SECTION, f"  CPU per invoice ({cpu_of})", per_invoice, "ms", loads=loads)

    lane(
        "in-process, ASGI calls (no client library), sequential",
        lambda: _in_process(
            lambda c, app: online_async(_kit.AsgiClient(app), c, seller, invoices, 1, seconds)
        ),
        at_least(1000, ">= 1000/s"),
        "client crypto + server",
    )
    lane(
        "in-process, httpx ASGITransport, sequential",
        lambda: _in_process(lambda c, app: online_async(c, c, seller, invoices, 1, seconds)),
        cpu_of="httpx + client crypto + server",
    )
    lane(
        "in-process, Starlette TestClient, sequential",
        lambda: _in_process(lambda c, app: _test_client(c, app, seller, invoices, seconds)),
        cpu_of="TestClient + client crypto + server",
    )
    server = start_bench_server(["mock"], "/v2/security/public-key-certificates")
    try:

        def httpx_client(in_flight: int) -> httpx.AsyncClient:
            limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
            return httpx.AsyncClient(
                base_url=server.base + "/v2", timeout=60, limits=limits, trust_env=False
            )

        async def lean(in_flight: int) -> tuple[int, float, float]:
            client = _kit.SocketClient(server.base + "/v2", in_flight)
            try:
                async with httpx_client(1) as setup:
                    before = server.cpu_seconds()
                    done, elapsed, _ = await online_async(
                        client, setup, seller, invoices, in_flight, seconds
                    )
                    # Login and session set-up are in the server's CPU too; per invoice it is small.
                    return done, elapsed, server.cpu_seconds() - before
            finally:
                await client.close()

        async def with_httpx(in_flight: int) -> tuple[int, float, float]:
            async with httpx_client(in_flight) as client:
                return await online_async(client, client, seller, invoices, in_flight, seconds)

        lane(
            "socket (1 uvicorn worker), lean client, sequential",
            lambda: asyncio.run(lean(1)),
            cpu_of="server process",
        )
        lane(
            "socket (1 uvicorn worker), lean client, 8 in flight",
            lambda: asyncio.run(lean(8)),
            at_least(300, ">= 300/s"),
            "server process",
        )
        # For scale: httpx needs more CPU per invoice than the server, so it sets the pace.
        lane(
            "socket (1 uvicorn worker), httpx client, 8 in flight",
            lambda: asyncio.run(with_httpx(8)),
            cpu_of="the httpx client process",
        )
    finally:
        server.stop()

    for size in batches:
        builds, rates, totals, loads = [], [], [], []
        batch_rounds = rounds if size <= 1000 else max(1, min(rounds, 2))
        for n in range(batch_rounds):
            load = load1()
            build, elapsed = _in_process(
                lambda c, app, size=size: batch_async(c, seller, size, seconds)
            )
            builds.append(build)
            rates.append(size / elapsed)
            totals.append(elapsed)
            loads.append(load)
            print(
                f"    round {n + 1}: batch of {size:>6}: client build {build:6.2f} s, "
                f"open->KSeF numbers {elapsed:6.2f} s = {size / elapsed:7.0f}/s (load {load:.2f})",
                flush=True,
            )
        report.add(
            SECTION,
            f"batch of {size:,} (in-process), open -> all KSeF numbers",
            rates,
            "invoices/s",
            loads=loads,
        )
        report.add(SECTION, f"batch of {size:,}: server time", totals, "s", loads=loads)
        report.add(SECTION, f"batch of {size:,}: client ZIP + encrypt", builds, "s", loads=loads)


def main() -> None:
    def sizes(report: Report, rounds: int, invoices: int, batch: str) -> None:
        run(report, rounds, invoices, tuple(int(x) for x in batch.split(",") if x.strip()))

    standalone(__doc__, sizes, rounds=3, invoices=2000, batch="1000,10000")


if __name__ == "__main__":
    main()
