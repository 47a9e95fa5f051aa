"""7. Persistence (``--data DIR``, snapshots): what keeping state on disk costs.

    python -m bench.persistence [--rounds 3] [--invoices 1000] [--restart 100000]
                                [--snapshot 20000] [--startups 3]

Figures against the targets of issue 14:

a. the in-process invoice pipeline (``bench.pipeline``'s lean ASGI lane, one
   invoice at a time: send, read its status until it has a KSeF number) in
   memory and with ``--data`` in the same run, rounds alternating; target:
   with ``--data`` at least half the in-memory rate;
b. ``--restart N`` seeded invoices (``mockksef.seeding.add_invoices``, 2 000
   sellers, 20 000 buyers, 90 days) committed to a data directory (the commit
   timed apart), then ``mockksef serve --data DIR`` from exec to the first 200
   of ``/_mock/health`` — target for 1 000 000: < 10 s — and a first real
   answer (XAdES login as the busiest seller, one metadata page of 100);
c. RSS per invoice: seeded in memory vs restored from the directory, each in a
   fresh interpreter (RSS growth across the step / invoices); target: restored
   no higher than in memory;
d. ``mockksef serve --data EMPTYDIR``: exec to the first answered
   ``/_mock/health``; target < 1 s (plain ``serve`` in the same run for scale);
e. a snapshot of ``--snapshot`` seeded invoices: save, and load into a fresh
   state; target for 20 000: load < 2 s.

``--restart 1000000`` takes a few minutes on 2 cores (seeding ~40 s, the
commit about as long); the default is 100 000. Nothing here is a timed test.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench._common import ROOT, Report, at_least, below, load1, python, rss_kb, standalone
from bench._procs import _env, start_cli_server, status_of
from mockksef.persistence.persister import CHUNK

SECTION = "7. Persistence"
SELLERS, BUYERS, DAYS = 2000, 20000, 90


def _config(data_dir: str | None) -> Any:
    from mockksef import MockConfig

    return replace(MockConfig(), rate_limits_enabled=False, data_dir=data_dir)


# -- a. the pipeline --------------------------------------------------------------------


def _pipeline_round(data_dir: str | None, seller: str, count: int) -> tuple[int, float, float]:
    import httpx

    from bench import _kit, pipeline
    from mockksef import MockState, create_app

    state = MockState(_config(data_dir))
    app = create_app(state=state)

    async def go() -> tuple[int, float, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver/v2", timeout=120
        ) as setup:
            return await pipeline.online_async(_kit.AsgiClient(app), setup, seller, count, 1, 300.0)

    try:
        return asyncio.run(go())
    finally:
        if state.persistence is not None:
            state.persistence.close()


def pipeline_figures(report: Report, rounds: int, count: int, work: Path) -> None:
    from tests import kit

    seller = kit.random_nip(8)
    kit.fa3(seller)  # the official sample read before any timing
    rates: dict[str, list[float]] = {"memory": [], "data": []}
    cpu: dict[str, list[float]] = {"memory": [], "data": []}
    loads: list[float] = []
    for n in range(rounds):
        for mode in ("memory", "data"):
            directory = None
            if mode == "data":
                directory = str(work / f"pipeline-{n}")
            load = load1()
            done, elapsed, used = _pipeline_round(directory, seller, count)
            rates[mode].append(done / elapsed)
            cpu[mode].append(used / done * 1000)
            loads.append(load)
            print(
                f"    round {n + 1}: {mode:<6} {done:>6} invoices in {elapsed:6.2f} s = "
                f"{done / elapsed:6.0f}/s, {used / done * 1000:.2f} ms CPU each (load {load:.2f})",
                flush=True,
            )
    ratios = [d / m for d, m in zip(rates["data"], rates["memory"], strict=True)]
    # Both modes ran in every round: one list of loads stands behind each figure.
    at_least_half = at_least(0.5)
    for name, runs, unit, target in (
        ("pipeline in-process, memory only", rates["memory"], "invoices/s", None),
        ("pipeline in-process, --data DIR", rates["data"], "invoices/s", None),
        ("  --data / memory (same run, per round)", ratios, "x", at_least_half),
        ("  CPU per invoice, memory", cpu["memory"], "ms", None),
        ("  CPU per invoice, --data", cpu["data"], "ms", None),
    ):
        report.add(SECTION, name, runs, unit, loads=loads, target=target)


# -- children: one fresh interpreter per memory figure -----------------------------------


def _child(args: list[str]) -> dict[str, Any]:
    """What a child process does (``python -m bench.persistence --child KIND ...``)."""
    import gc
    from datetime import UTC, datetime, timedelta

    from mockksef import MockState, seeding

    kind, count, directory = args[0], int(args[1]), args[2]
    now = datetime.now(UTC)
    out: dict[str, Any] = {}
    if kind in ("memory", "seed"):
        state = MockState(_config(directory if kind == "seed" else None))
        env = state.env("test")
        gc.collect()
        before = rss_kb()
        started = time.perf_counter()
        batch = seeding.add_invoices(
            env,
            count,
            sellers=SELLERS,
            buyers=BUYERS,
            start=now - timedelta(days=DAYS),
            end=now - timedelta(minutes=1),
            seed=5,
        )
        out["seed_s"] = time.perf_counter() - started
        gc.collect()
        out["rss_per_invoice"] = (rss_kb() - before) * 1024 / count
        if kind == "seed":
            started = time.perf_counter()
            state.commit()
            out["commit_s"] = time.perf_counter() - started
            store = env.invoices.invoices
            out["busiest"] = max(
                batch.sellers, key=lambda nip: len(store.party_rows("Subject1", nip, "Issue") or ())
            )
            rows = store.rows_table()
            step = max(1, count // 200)
            out["sample"] = [
                [r.ksef_number, r.invoice_hash, r.metadata()["invoiceNumber"]] for r in rows[::step]
            ]
            state.persistence.close()
    elif kind == "restore":
        MockState(_config(None)).env("test")  # imports, spec, one environment: the baseline
        gc.collect()
        before = rss_kb()
        started = time.perf_counter()
        state = MockState(_config(directory))
        out["restore_s"] = time.perf_counter() - started
        gc.collect()
        out["rss_per_invoice"] = (rss_kb() - before) * 1024 / count
        store = state.env("test").invoices.invoices
        rows = store.rows_table()
        out["count"] = len(rows)
        step = max(1, count // 200)
        out["sample"] = [
            [r.ksef_number, r.invoice_hash, r.metadata()["invoiceNumber"]] for r in rows[::step]
        ]
        state.persistence.close()
    return out


def _run_child(kind: str, count: int, directory: str) -> dict[str, Any]:
    done = subprocess.run(
        [python(), "-m", "bench.persistence", "--child", kind, str(count), directory],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {kind} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


async def _first_query(base: str, seller: str) -> tuple[float, int]:
    """XAdES login as ``seller`` (not timed), then one metadata page: (seconds, invoices)."""
    from datetime import UTC, datetime, timedelta

    import httpx

    from bench import _kit
    from tests import kit

    async with httpx.AsyncClient(base_url=base + "/v2", timeout=120, trust_env=False) as http:
        tokens = await _kit.seller_client(http, seller).authenticate()
        body = {
            "subjectType": "Subject1",
            "dateRange": {
                "dateType": "PermanentStorage",
                "from": (datetime.now(UTC) - timedelta(days=DAYS + 1)).isoformat(),
            },
        }
        started = time.perf_counter()
        page = _kit.ok(
            await http.post(
                "/invoices/query/metadata",
                json=body,
                params={"pageOffset": 0, "pageSize": 100},
                headers=kit.bearer(tokens.access_token.token),
            ),
            200,
        )
        return time.perf_counter() - started, len(page["invoices"])


def restart_figures(report: Report, count: int, work: Path) -> None:
    directory = work / "restart"
    label = f"{count:,}"
    print(f"    seeding {label} invoices into {directory} (a child process)…", flush=True)
    memory = _run_child("memory", count, str(work / "unused"))
    load = load1()
    seeded = _run_child("seed", count, str(directory))
    size = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
    report.add(SECTION, f"seed {label} (add_invoices), with --data", [seeded["seed_s"]], "s")
    report.add(
        SECTION,
        f"commit of {label} seeded invoices (chunks of {CHUNK:,})",
        [seeded["commit_s"]],
        "s",
        loads=[load],
    )
    report.add(SECTION, f"data directory size, {label} invoices", [size / 1e6], "MB")

    restored = _run_child("restore", count, str(directory))
    if restored["count"] != count or restored["sample"] != seeded["sample"]:
        raise RuntimeError("restored invoices differ from the seeded ones")
    report.add(
        SECTION, f"restore of {label} in-process (MockState open)", [restored["restore_s"]], "s"
    )
    report.add(SECTION, "RSS per invoice, seeded in memory", [memory["rss_per_invoice"]], "bytes")
    report.add(
        SECTION,
        "RSS per invoice, restored from --data",
        [restored["rss_per_invoice"]],
        "bytes",
        target=(
            f"<= memory ({memory['rss_per_invoice']:.0f})",
            lambda v: v <= memory["rss_per_invoice"] * 1.02,
        ),
        note="2 % allowance for RSS noise",
    )

    load = load1()
    started = time.perf_counter()
    server = start_cli_server(["--no-rate-limits", "--data", str(directory)], timeout=600)
    try:
        health = time.perf_counter() - started
        query_s, listed = asyncio.run(_first_query(server.base, seeded["busiest"]))
        total = time.perf_counter() - started
    finally:
        server.stop()
    if listed == 0:
        raise RuntimeError("the restarted server lists no invoices of the busiest seller")
    target = below(
        10 * max(count, 1) / 1e6, label=f"< 10 s for 1M (scaled: < {10 * count / 1e6:.2g} s)"
    )
    report.add(
        SECTION,
        f"restart, {label}: exec -> first /_mock/health 200",
        [health],
        "s",
        loads=[load],
        target=target if count >= 1_000_000 else None,
        note="" if count >= 1_000_000 else "target is for 1,000,000: run --restart 1000000",
    )
    report.add(SECTION, "  first metadata page of 100 (after XAdES login)", [query_s * 1000], "ms")
    report.add(SECTION, "  exec -> login -> first metadata page", [total], "s", loads=[load])


# -- d. start-up on an empty directory --------------------------------------------------------


def startup_figures(report: Report, runs: int, work: Path) -> None:
    empty: list[float] = []
    plain: list[float] = []
    loads: list[float] = []
    for n in range(runs):
        loads.append(load1())
        directory = work / f"empty-{n}"
        for extra, into in ((["--data", str(directory)], empty), ([], plain)):
            started = time.perf_counter()
            server = start_cli_server(["--no-rate-limits", *extra])
            try:
                into.append(time.perf_counter() - started)
                if status_of(server, "GET", "/_mock/health") != 200:
                    raise RuntimeError("health")
            finally:
                server.stop()
        if not (directory / "state.sqlite3").exists():
            raise RuntimeError("serve --data wrote no state file")
    report.add(
        SECTION,
        "`serve --data EMPTYDIR` exec -> first /_mock/health 200",
        empty,
        "s",
        loads=loads,
        target=below(1, "s"),
    )
    report.add(SECTION, "  for scale: `serve` (memory) exec -> same", plain, "s", loads=loads)


# -- e. snapshots -----------------------------------------------------------------------------


def snapshot_figures(report: Report, rounds: int, count: int, work: Path) -> None:
    import gc
    from datetime import UTC, datetime, timedelta

    from mockksef import MockState, seeding
    from mockksef.persistence.snapshots import Snapshots

    now = datetime.now(UTC)
    state = MockState(_config(None))
    seeding.add_invoices(
        state.env("test"),
        count,
        sellers=SELLERS // 10,
        buyers=BUYERS // 10,
        start=now - timedelta(days=DAYS),
        end=now - timedelta(minutes=1),
        seed=5,
    )
    expected = [
        (r.ksef_number, r.invoice_hash) for r in state.env("test").invoices.invoices.rows_table()
    ]
    snapshots = Snapshots(work / "snapshots")
    saves, loads_s, loads = [], [], []
    for n in range(rounds):
        loads.append(load1())
        started = time.perf_counter()
        snapshots.save(state, f"bench-{n}", ["test"])
        saves.append(time.perf_counter() - started)
        target = MockState(_config(None))
        gc.collect()
        started = time.perf_counter()
        snapshots.load(target, f"bench-{n}", ["test"])
        loads_s.append(time.perf_counter() - started)
        got = [
            (r.ksef_number, r.invoice_hash)
            for r in target.env("test").invoices.invoices.rows_table()
        ]
        if got != expected:
            raise RuntimeError("the loaded snapshot differs from the saved state")
    size = snapshots.path("bench-0").stat().st_size
    label = f"{count:,}"
    report.add(SECTION, f"snapshot save, {label} invoices", saves, "s", loads=loads)
    report.add(
        SECTION,
        f"snapshot load, {label} invoices (into a fresh state)",
        loads_s,
        "s",
        loads=loads,
        target=below(2.0 * max(count, 1) / 20_000, label="< 2 s for 20,000"),
    )
    report.add(SECTION, f"  snapshot file size, {label} invoices", [size / 1e6], "MB")


def run(
    report: Report,
    rounds: int = 3,
    invoices: int = 1000,
    restart: int = 100_000,
    snapshot: int = 20_000,
    startups: int = 3,
) -> None:
    print(
        f"\n== {SECTION}: {rounds} round(s), {invoices} invoices per pipeline run, "
        f"restart of {restart:,}, snapshot of {snapshot:,}",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="mockksef-bench-persist-"))
    try:
        pipeline_figures(report, rounds, invoices, work)
        startup_figures(report, startups, work)
        snapshot_figures(report, rounds, snapshot, work)
        if restart:
            restart_figures(report, restart, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2:])), flush=True)
        return
    standalone(__doc__, run, rounds=3, invoices=1000, restart=100_000, snapshot=20_000, startups=3)


if __name__ == "__main__":
    main()
