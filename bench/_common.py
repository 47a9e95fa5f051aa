"""What every benchmark shares: machine facts, figures with their load average, medians.

Each figure is recorded with the 1-minute load average at the moment it was
taken, so that a number measured while something else ran on the machine can
be told apart from a quiet one. Figures are printed as they come and again in a
summary (with the target, when the issue sets one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# -- numbers ------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    items = list(values)
    return statistics.median(items) if items else float("nan")


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def load1() -> float:
    return os.getloadavg()[0]


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def rss_kb() -> int:
    """Resident set size of this process (Linux), in KiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class Deadline:
    """Every loop in the benchmarks is bounded in count and in time."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() > self.end


# -- machine facts --------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def wrk_version() -> str | None:
    path = shutil.which("wrk")
    if not path:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0].split("Copyright")[0].strip() if text else path


def machine_facts() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    memory = ""
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            memory = f"{int(info.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": {
            name: _version(name)
            for name in (
                "mockksef",
                "starlette",
                "uvicorn",
                "uvloop",
                "httptools",
                "httpx",
                "lxml",
                "cryptography",
            )
        },
        "wrk": wrk_version() or "absent (Python load generator)",
    }


def print_facts(facts: dict[str, Any]) -> None:
    print(f"machine: {facts['cpu']}, {facts['cores']} cores ({facts['usable_cores']} usable)")
    print(f"         {facts['memory']} RAM, {facts['os']}, {facts['python']}")
    versions = ", ".join(f"{k} {v}" for k, v in facts["versions"].items())
    print(f"versions: {versions}")
    print(f"load generator: {facts['wrk']}")


# -- figures --------------------------------------------------------------------------------


@dataclass
class Figure:
    section: str
    name: str
    value: float
    unit: str
    # Load average (1 min) when the figure was taken; a list when it is a median.
    load: list[float] = field(default_factory=list)
    runs: list[float] = field(default_factory=list)
    target: str | None = None
    met: bool | None = None
    note: str = ""


# A figure's target: the text printed beside it and the check of its median.
Target = tuple[str, Callable[[float], bool]]


def below(limit: float, unit: str = "", label: str = "") -> Target:
    """``< limit unit``: the printed target and its check come from the one number."""
    return (label or f"< {limit:g}{' ' + unit if unit else ''}", lambda v: v < limit)


def at_least(limit: float, label: str = "") -> Target:
    """``>= limit``: the printed target and its check come from the one number."""
    return (label or f">= {limit:g}", lambda v: v >= limit)


class Report:
    """Figures of one run, printed as they come and summarised at the end."""

    def __init__(self) -> None:
        self.figures: list[Figure] = []

    def add(
        self,
        section: str,
        name: str,
        runs: Sequence[float],
        unit: str,
        *,
        loads: Sequence[float] | None = None,
        target: Target | None = None,
        note: str = "",
        quiet: bool = False,
    ) -> Figure:
        value = median(runs)
        figure = Figure(
            section,
            name,
            value,
            unit,
            load=[round(x, 2) for x in (loads if loads is not None else [load1()])],
            runs=[round(x, 4) for x in runs],
            note=note,
        )
        if target is not None:
            figure.target = target[0]
            figure.met = bool(target[1](value))
        self.figures.append(figure)
        if not quiet:
            print("  " + self.line(figure), flush=True)
        return figure

    @staticmethod
    def line(figure: Figure) -> str:
        value = fmt(figure.value)
        runs = ""
        if len(figure.runs) > 1:
            runs = f"  runs {' / '.join(fmt(r) for r in figure.runs)}"
        load = f"  load {median(figure.load):.2f}" if figure.load else ""
        target = ""
        if figure.target:
            target = f"  [{'ok' if figure.met else 'MISSED'}: {figure.target}]"
        note = f"  ({figure.note})" if figure.note else ""
        return f"{figure.name:<58} {value:>10} {figure.unit:<10}{target}{runs}{load}{note}"

    def summary(self) -> None:
        sections: dict[str, list[Figure]] = {}
        for figure in self.figures:
            sections.setdefault(figure.section, []).append(figure)
        for section, figures in sections.items():
            print(f"\n[{section}]")
            for figure in figures:
                print("  " + self.line(figure))

    def as_json(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self.figures]


def fmt(value: float) -> str:
    if value != value:  # NaN
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def write_json(path: str, facts: dict[str, Any], report: Report, extra: dict[str, Any]) -> None:
    Path(path).write_text(
        json.dumps({"machine": facts, **extra, "figures": report.as_json()}, indent=2),
        encoding="utf-8",
    )


def python() -> str:
    return sys.executable


def standalone(doc: str, run: Callable[..., None], **defaults: Any) -> None:
    """``python -m bench.<section>``: one ``--option`` per keyword of ``run`` (a ``False``
    default is a flag), then the section's figures and their summary."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in defaults.items():
        flag = "--" + name.replace("_", "-")
        if default is False:
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=type(default), default=default)
    report = Report()
    run(report, **vars(parser.parse_args()))
    report.summary()
