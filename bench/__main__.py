"""Run every benchmark and print all figures with the machine they came from.

    python -m bench                 # everything (about 15 minutes on 2 cores)
    python -m bench --quick         # one short round of each, 10k/100k invoices only
    python -m bench --only 1,4      # some sections: 1 http, 2 pipeline, 3 scale, 4 startup, 5 suite,
                                    # 6 hostile, 7 persistence (--data, snapshots)
    python -m bench --json out.json # also write the figures as JSON

Figures are medians of ``--rounds`` runs (3 by default); each carries the
1-minute load average when it was taken. Nothing here is a timed test.
"""

from __future__ import annotations

import argparse
import time

from bench._common import Report, loadavg, machine_facts, print_facts, write_json

SECTIONS = {
    "1": "http",
    "2": "pipeline",
    "3": "scale",
    "4": "startup",
    "5": "suite",
    "6": "hostile",
    "7": "persistence",
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, 10k/100k only")
    parser.add_argument("--only", default="1,2,3,4,5,6,7", help="sections to run, e.g. 1,3")
    parser.add_argument("--rounds", type=int, default=None, help="runs per figure (default 3)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per load test")
    parser.add_argument("--sizes", default=None, help="stored invoices, e.g. 10000,1000000")
    parser.add_argument("--python-loadgen", action="store_true", help="do not use wrk")
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS and s not in SECTIONS.values()]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {SECTIONS}")
    wanted = {SECTIONS.get(s, s) for s in chosen}
    rounds = args.rounds or (1 if args.quick else 3)
    duration = args.duration or (2.0 if args.quick else 5.0)
    sizes = tuple(
        int(x)
        for x in (args.sizes or ("10000,100000" if args.quick else "10000,100000,1000000")).split(
            ","
        )
        if x.strip()
    )

    facts = machine_facts()
    began = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load_start = loadavg()
    print(f"mockksef benchmarks, {began}")
    print_facts(facts)
    print(f"load average at start: {load_start}")
    report = Report()
    started = time.monotonic()
    if "http" in wanted:
        from bench import http_throughput

        http_throughput.run(report, rounds, duration, args.python_loadgen)
    if "pipeline" in wanted:
        from bench import pipeline

        pipeline.run(
            report,
            rounds,
            invoices=500 if args.quick else 2000,
            batches=(1000,) if args.quick else (1000, 10_000),
        )
    if "scale" in wanted:
        from bench import scale

        scale.run(report, sizes, samples=100 if args.quick else 300)
    if "startup" in wanted:
        from bench import startup

        startup.run(report, 2 if args.quick else 5)
    if "suite" in wanted:
        from bench import suite_speed

        suite_speed.run(report, rounds, 5 if args.quick else 20)
    if "hostile" in wanted:
        from bench import hostile

        hostile.run(report, seconds=duration)
    if "persistence" in wanted:
        from bench import persistence

        persistence.run(
            report,
            rounds,
            invoices=300 if args.quick else 1000,
            restart=100_000 if args.quick else 1_000_000,
            startups=2 if args.quick else 5,
        )
    load_end = loadavg()

    print("\n==================== summary (medians) ====================")
    print_facts(facts)
    print(f"load average at start: {load_start}; at end: {load_end}")
    print(f"took {time.monotonic() - started:.0f} s")
    report.summary()
    missed = [f for f in report.figures if f.met is False]
    met = [f for f in report.figures if f.met]
    print(f"\ntargets: {len(met)} met, {len(missed)} missed")
    for figure in missed:
        print(f"  MISSED {figure.section} / {figure.name}: {figure.value:.3g} {figure.unit}")
    if args.json:
        write_json(
            args.json,
            facts,
            report,
            {"started": began, "load_start": load_start, "load_end": load_end},
        )
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
