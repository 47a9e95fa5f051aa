"""How fast the seeding path loads invoices: generation, storing, memory, reads.

Not a test: prints numbers. Run from the project root:

    python -m bench.seed_scale [N] [--json out.json]   # default N = 1 000 000

Invoices come from ``mockksef.seeding.add_invoices`` (faker parties, FA(3)
recipes, KSeF numbers, ``bulk_store``), exactly what a scenario's
``setup.invoices`` does, with the pools of the ``dataset-large`` scenario
(2 000 sellers, 20 000 buyers, 90 days). Figures:

1. generation alone (rows built, not stored) and the whole ``add_invoices``
   call (generation + ``bulk_store``), in rows per second; target for 1M: < 60 s;
2. RSS growth per stored invoice;
3. cost of a read of a seeded row: rendering its FA(3) document (the XML is
   not kept) and a metadata page through the backend;
4. determinism: a second environment with the same seed gives the same rows.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Report, below, load1, machine_facts, print_facts, rss_kb, write_json
from mockksef import MockConfig, MockState, seeding
from mockksef.clock import Clock
from mockksef.invoicegen import InvoiceGenerator
from mockksef.models import ContextIdentifier

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
START = NOW - timedelta(days=90)


def fresh_state(seed: int = 7) -> MockState:
    config = MockConfig(seed=seed, clock_mode="virtual", rate_limits_enabled=False)
    return MockState(config, clock=Clock.virtual(NOW))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    n = args.count
    facts = machine_facts()
    print_facts(facts)
    print(f"\nseeding {n:,} invoices (2 000 sellers, 20 000 buyers, 90 days)\n")
    report = Report()

    # 1a. generation alone
    generator = InvoiceGenerator(11)
    sellers = generator.parties_for(2000)
    buyers = generator.parties_for(20000)
    sample = min(n, 200_000)
    started = time.perf_counter()
    count = 0
    for _row in generator.stored_invoices(
        sample,
        sellers=sellers,
        buyers=buyers,
        start=START,
        end=NOW,
        first_number=lambda nip: 1,
        taken=lambda number: False,
    ):
        count += 1
    elapsed = time.perf_counter() - started
    report.add("generate", f"rows generated (not stored), {sample:,}", [count / elapsed], "rows/s")

    # 1b. the whole seeding path
    gc.collect()
    state = fresh_state()
    env = state.env("test")
    before = rss_kb()
    load = load1()
    started = time.perf_counter()
    batch = seeding.add_invoices(env, n, sellers=2000, buyers=20000, start=START, end=NOW, seed=5)
    elapsed = time.perf_counter() - started
    gc.collect()
    after = rss_kb()
    assert env.invoices.count() == n == batch.count
    report.add(
        "seed",
        f"add_invoices({n:,}): generate + bulk_store",
        [elapsed],
        "s",
        loads=[load],
        target=below(60 * n / 1_000_000, label="< 60 s for 1M"),
    )
    report.add("seed", "seeding rate", [n / elapsed], "rows/s")
    report.add("memory", "RSS growth per stored invoice", [(after - before) * 1024 / n], "bytes")

    # 3. reads of seeded rows
    rows = env.invoices.invoices.rows_table()
    picks = [rows[i] for i in range(0, n, max(1, n // 2000))]
    started = time.perf_counter()
    for row in picks:
        row.xml  # noqa: B018 - rendering is the measured work
    report.add(
        "read",
        "render the FA(3) of a seeded row",
        [(time.perf_counter() - started) / len(picks) * 1e6],
        "µs",
    )
    busiest = max(
        batch.sellers,
        key=lambda nip: len(env.invoices.invoices.party_rows("Subject1", nip, "Issue") or ()),
    )
    filters = {
        "subjectType": "Subject1",
        "dateRange": {"dateType": "PermanentStorage", "from": START.isoformat()},
    }
    samples = []
    for _ in range(10):
        started = time.perf_counter()
        page = env.invoices.query_metadata(ContextIdentifier("Nip", busiest), filters, 0, 250)
        samples.append((time.perf_counter() - started) * 1000)
        assert page["invoices"]
    report.add("read", "metadata page of 250 (backend, busiest seller)", samples, "ms")

    # 4. determinism
    other = fresh_state().env("test")
    seeding.add_invoices(other, 1000, sellers=20, buyers=200, start=START, end=NOW, seed=5)
    mine = fresh_state().env("test")
    seeding.add_invoices(mine, 1000, sellers=20, buyers=200, start=START, end=NOW, seed=5)
    same = [r.metadata() for r in other.invoices.invoices.rows_table()] == [
        r.metadata() for r in mine.invoices.invoices.rows_table()
    ]
    report.add("determinism", "same seed, same 1 000 rows (1 = yes)", [float(same)], "")

    print("\nsummary")
    report.summary()
    if args.json:
        write_json(args.json, facts, report, {"count": n})


if __name__ == "__main__":
    main()
