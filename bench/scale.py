"""3. Scale: 10k, 100k and 1M stored invoices; load time, RSS, query latency, HWM sync, export.

    python -m bench.scale [--sizes 10000,100000,1000000] [--samples 300]

Each size runs in a fresh process (clean RSS). Invoices come through the
seeding path (``InvoiceGenerator.stored_invoices`` -> ``env.invoices.bulk_store``,
not the HTTP path): 1 000 sellers, one of which sends a fifth of all invoices
("the big seller"), 5 000 buyers, ``invoicingDate`` spread over 90 days.

Figures per size:

* load time and RSS growth per stored invoice (after ``gc.collect()``);
* metadata query p50/p99, through the backend and through the ASGI app
  (in-process HTTP + JSON): a small seller's month (page of 10), the big
  seller's month (page of 100 at a random offset), a buyer's 90 days, the
  big seller with row filters (amount + invoice type), an HWM page (250,
  ``restrictToPermanentStorageHwmDate``) at a random offset;
* HWM sync of the big seller's whole context, page by page as the docs
  prescribe (restart from the last ``permanentStorageDate`` when truncated);
* export of up to 10 000 invoices: POST -> status -> download every part.

Targets (issue 8) at 1M: query p99 < 20 ms, HWM page < 20 ms, RSS < 2 KB per
invoice beyond the baseline, load < 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import ROOT, Deadline, Report, Target, below, load1, percentile, rss_kb

SECTION = "3. Scale"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SPAN = timedelta(days=90)
SELLERS = 1000
BUYERS = 5000


def _fmt_time(value: datetime) -> str:
    from mockksef.clock import format_datetime

    return format_datetime(value)


def _seed(env: Any, count: int) -> tuple[list[str], str, list[str], float]:
    """Load ``count`` invoices through the seeding path; (sellers, big seller, buyers, seconds).

    ``mockksef.seeding.add_invoices`` (what a scenario's ``setup.invoices`` runs):
    a fifth from the big seller, the rest from 999 others, one buyer pool.
    """
    from mockksef import seeding
    from tests.kit import random_nip

    window = {"start": START - SPAN, "end": START - timedelta(minutes=1)}
    big = random_nip(4242)
    started = time.perf_counter()
    first = seeding.add_invoices(
        env, count // 5, seller=big, buyers=BUYERS, seed="bench-big", **window
    )
    rest = seeding.add_invoices(
        env,
        count - count // 5,
        sellers=SELLERS - 1,
        buyers=list(first.buyers),
        seed="bench-rest",
        **window,
    )
    elapsed = time.perf_counter() - started
    assert env.invoices.count() == count, (env.invoices.count(), count)
    return list(rest.sellers), big, list(first.buyers), elapsed


def _cases(sellers: list[str], big: str, buyers: list[str], rng: random.Random) -> list[Any]:
    month = {
        "dateType": "Invoicing",
        "from": _fmt_time(START - timedelta(days=30)),
        "to": _fmt_time(START),
    }
    return [
        (
            "small seller, 30 days, page of 10",
            lambda: rng.choice(sellers),
            lambda: {"subjectType": "Subject1", "dateRange": month},
            lambda: (0, 10),
        ),
        (
            "big seller, 30 days, page of 100 at a random offset",
            lambda: big,
            lambda: {"subjectType": "Subject1", "dateRange": month},
            lambda: (rng.randint(0, 99), 100),
        ),
        (
            "a buyer (Subject2), 90 days, page of 10",
            lambda: rng.choice(buyers),
            lambda: {
                "subjectType": "Subject2",
                "dateRange": {"dateType": "PermanentStorage", "from": _fmt_time(START - SPAN)},
            },
            lambda: (0, 10),
        ),
        (
            "big seller, 30 days, amount >= 20 000 + type Vat",
            lambda: big,
            lambda: {
                "subjectType": "Subject1",
                "dateRange": month,
                "amount": {"type": "Brutto", "from": 20_000},
                "invoiceTypes": ["Vat"],
            },
            lambda: (0, 100),
        ),
        (
            "HWM page: big seller, 250 at a random offset",
            lambda: big,
            lambda: {
                "subjectType": "Subject1",
                "dateRange": {
                    "dateType": "PermanentStorage",
                    "from": _fmt_time(START - SPAN + timedelta(days=rng.randint(0, 80))),
                    "restrictToPermanentStorageHwmDate": True,
                },
            },
            lambda: (rng.randint(0, 39), 250),
        ),
    ]


def _hwm_pages(since: datetime) -> Generator[tuple[dict[str, Any], int], dict[str, Any], None]:
    """The big seller's HWM sync as the docs prescribe: sent each page, yields the next request
    (body, page offset); restarts from the last ``permanentStorageDate`` when truncated."""
    cursor = since
    while True:
        offset = 0
        while True:
            body = {
                "subjectType": "Subject1",
                "dateRange": {
                    "dateType": "PermanentStorage",
                    "from": _fmt_time(cursor),
                    "restrictToPermanentStorageHwmDate": True,
                },
            }
            page = yield body, offset
            if page.get("isTruncated"):
                # Continue from the last permanentStorageDate; numbers dedupe the overlap.
                cursor = datetime.fromisoformat(
                    page["invoices"][-1]["permanentStorageDate"][:26] + "+00:00"
                )
                break
            if not page.get("hasMore"):
                return
            offset += 1


async def _hwm_sync(
    query: Any, since: datetime, deadline: Deadline
) -> tuple[int, int, list[float]]:
    """Every invoice of the context since ``since``: (invoices, pages, page seconds).

    ``query(body, offset, size)`` is awaited: the backend's and the HTTP path's alike.
    """
    seen: set[str] = set()
    pages: list[float] = []
    walk = _hwm_pages(since)
    body, offset = next(walk)
    while not deadline.passed():
        t = time.perf_counter()
        page = await query(body, offset, 250)
        pages.append(time.perf_counter() - t)
        seen.update(item["ksefNumber"] for item in page["invoices"])
        try:
            body, offset = walk.send(page)
        except StopIteration:
            break
    return len(seen), len(pages), pages


def child(size: int, samples: int, out: str) -> None:
    from mockksef import MockConfig, MockState, create_app
    from mockksef.clock import Clock
    from mockksef.models import ContextIdentifier

    figures: list[dict[str, Any]] = []

    def add(name: str, value: float, unit: str, **extra: Any) -> None:
        figures.append({"name": name, "value": value, "unit": unit, "load": load1(), **extra})
        print(f"    [{size:>9,}] {name:<62} {value:10.3f} {unit}", flush=True)

    config = replace(MockConfig(seed=1, clock_mode="virtual"), rate_limits_enabled=False)
    mock = MockState(config, clock=Clock.virtual(START))
    env = mock.env("TEST")
    env.invoices.count()
    gc.collect()
    before = rss_kb()
    sellers, big, buyers, seconds = _seed(env, size)
    gc.collect()
    grown = rss_kb() - before
    add("load time", seconds, "s")
    add("load rate", size / seconds, "invoices/s")
    add("RSS growth per stored invoice", grown * 1024 / size, "B")
    add("RSS total after load", rss_kb() / 1024, "MiB")

    mock.clock.set(START + timedelta(minutes=5))
    rng = random.Random(3)
    backend = env.invoices
    cases = _cases(sellers, big, buyers, rng)
    big_context = ContextIdentifier("Nip", big)
    # Twice: a seeded row renders its XML the first time its invoiceHash is read.
    for run in ("first read of the rows", "second sync"):

        async def query(body: dict[str, Any], offset: int, size_: int) -> Any:
            return backend.query_metadata(big_context, body, offset, size_)

        found, pages, page_times = asyncio.run(_hwm_sync(query, START - SPAN, Deadline(300)))
        add(
            f"backend: HWM sync of the big seller, {run} ({found:,} invoices, {pages} pages)",
            sum(page_times),
            "s",
        )
        add(f"backend: HWM sync page, {run}, p50", percentile(page_times, 50) * 1000, "ms")
        add(f"backend: HWM sync page, {run}, p99", percentile(page_times, 99) * 1000, "ms")
    gc.collect()
    add(
        "RSS growth per invoice after a fifth of them were read",
        (rss_kb() - before) * 1024 / size,
        "B",
    )

    for label, who, filters, paging in cases:
        times = []
        for _ in range(samples):
            context = ContextIdentifier("Nip", who())
            body = filters()
            offset, page_size = paging()
            t = time.perf_counter()
            backend.query_metadata(context, body, offset, page_size)
            times.append(time.perf_counter() - t)
        add(f"backend: {label} p50", percentile(times, 50) * 1000, "ms")
        add(f"backend: {label} p99", percentile(times, 99) * 1000, "ms")

    asyncio.run(_through_http(mock, create_app(state=mock), cases, big, samples, add))
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(figures, handle)


async def _through_http(
    mock: Any, app: Any, cases: list[Any], big: str, samples: int, add: Any
) -> None:
    import httpx

    from bench import _kit
    from ksefcontract import wire
    from tests import kit
    from tests.conftest import mint_access_token

    tokens: dict[str, dict[str, str]] = {}

    def headers(nip: str) -> dict[str, str]:
        if nip not in tokens:
            tokens[nip] = kit.bearer(mint_access_token(mock, nip=nip, lifetime=timedelta(hours=10)))
        return tokens[nip]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver/v2", timeout=300
    ) as client:

        async def query(nip: str, body: dict[str, Any], offset: int, size: int) -> Any:
            return _kit.ok(
                await client.post(
                    "/invoices/query/metadata",
                    json=body,
                    params={"pageOffset": offset, "pageSize": size},
                    headers=headers(nip),
                ),
                200,
            )

        for label, who, filters, paging in cases:
            times = []
            for _ in range(max(50, samples * 2 // 3)):
                nip, body, (offset, size) = who(), filters(), paging()
                headers(nip)
                t = time.perf_counter()
                await query(nip, body, offset, size)
                times.append(time.perf_counter() - t)
            add(f"HTTP: {label} p50", percentile(times, 50) * 1000, "ms")
            add(f"HTTP: {label} p99", percentile(times, 99) * 1000, "ms")

        # HWM sync through HTTP, page by page.
        found, pages, page_times = await _hwm_sync(
            lambda body, offset, size: query(big, body, offset, size), START - SPAN, Deadline(300)
        )
        add(
            f"HTTP: HWM sync of the big seller ({found:,} invoices, {pages} pages)",
            sum(page_times),
            "s",
        )
        add("HTTP: HWM sync page p50", percentile(page_times, 50) * 1000, "ms")
        add("HTTP: HWM sync page p99", percentile(page_times, 99) * 1000, "ms")

        # Export of (up to) 10 000 invoices, the package cap: the big seller's last 60 days.
        listing = _kit.ok(await client.get("/security/public-key-certificates"), 200)
        key = kit.Crypto()
        body = {
            "encryption": key.encryption_info(wire.public_key(listing, "SymmetricKeyEncryption")),
            "filters": {
                "subjectType": "Subject1",
                "dateRange": {
                    "dateType": "PermanentStorage",
                    "from": _fmt_time(START - timedelta(days=60)),
                    "to": _fmt_time(START),
                },
            },
        }
        t = time.perf_counter()
        started = _kit.ok(
            await client.post("/invoices/exports", json=body, headers=headers(big)), 201
        )
        deadline = Deadline(300)
        while True:
            status = _kit.ok(
                await client.get(
                    f"/invoices/exports/{started['referenceNumber']}", headers=headers(big)
                ),
                200,
            )
            if status["status"]["code"] != 100 or deadline.passed():
                break
        if status["status"]["code"] != 200:
            raise RuntimeError(f"export failed: {status}")
        built = time.perf_counter() - t
        size = 0
        for part in status["package"]["parts"]:
            response = await client.get(part["url"])
            if response.status_code != 200:
                raise RuntimeError(f"export part: {response.status_code} {response.text[:300]}")
            size += len(response.content)
        total = time.perf_counter() - t
        count = status["package"]["invoiceCount"]
        add(f"HTTP: export of {count:,} invoices: request -> package built", built, "s")
        add(f"HTTP: export of {count:,} invoices: request -> parts downloaded", total, "s")
        add("HTTP: export package size (encrypted)", size / 1024 / 1024, "MiB")


# -- parent -----------------------------------------------------------------------------------


def _label(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 else f"{size // 1000}k"


TARGETS: dict[str, Target] = {
    "load time": below(60, "s"),
    "RSS growth per stored invoice": below(2048, "B"),
    "HWM page": below(20, "ms"),
    "p99": below(20, "ms"),
}


def _target(name: str, size: int) -> Target | None:
    if size < 1_000_000:
        return None
    if name in ("load time", "RSS growth per stored invoice"):
        return TARGETS[name]
    if name.startswith(("backend:", "HTTP:")) and name.endswith("p99") and "sync of" not in name:
        return TARGETS["p99"]
    return None


def run(report: Report, sizes: tuple[int, ...], samples: int = 300) -> None:
    print(f"\n== {SECTION}: {', '.join(_label(s) for s in sizes)} invoices", flush=True)
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "figures.json")
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
            )
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.scale",
                    "--child",
                    str(size),
                    "--samples",
                    str(samples),
                    "--out",
                    out,
                ],
                cwd=ROOT,
                env=env,
                check=True,
                timeout=1800,
            )
            figures = json.loads(Path(out).read_text(encoding="utf-8"))
        for figure in figures:
            name = figure["name"]
            report.add(
                SECTION,
                f"{_label(size)}: {name}",
                [figure["value"]],
                figure["unit"],
                loads=[figure["load"]],
                target=_target(name, size),
                quiet=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.samples, args.out)
        return
    report = Report()
    run(report, tuple(int(x) for x in args.sizes.split(",") if x.strip()), args.samples)
    report.summary()


if __name__ == "__main__":
    main()
