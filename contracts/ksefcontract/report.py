"""What a harness run found, and three ways to show it: terminal text, JUnit XML, JSON.

The model is plain dataclasses, so that a run can be saved as JSON and read
back (``Report.from_dict``), and CI systems get one JUnit ``testcase`` per
operation and phase and one per stateful flow.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

__all__ = [
    "Finding",
    "FlowResult",
    "OperationResult",
    "PhaseResult",
    "Report",
    "StepResult",
    "render_json",
    "render_junit",
    "render_text",
    "write_reports",
]

# Long bodies are cut in reports: a finding must be readable in a CI log.
_EXCERPT = 600


def excerpt(text: str, limit: int = _EXCERPT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


@dataclass
class Finding:
    """One broken rule, with the exchange that shows it."""

    check: str
    title: str
    message: str
    operation: str
    request: str = ""
    status: int | None = None
    response: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        # Several examples usually break a rule the same way: report it once.
        return (self.operation, self.check, self.title, self.message)


@dataclass
class PhaseResult:
    phase: str  # "positive" | "negative"
    cases: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[Finding] = field(default_factory=list)
    skipped: str | None = None
    # 429 answers waited out by honouring Retry-After.
    throttled: int = 0
    # The run stopped early: time budget used up or a Retry-After longer than it.
    budget_exhausted: bool = False
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0

    def count(self, status: int) -> None:
        key = str(status)
        self.statuses[key] = self.statuses.get(key, 0) + 1


@dataclass
class OperationResult:
    id: str
    method: str
    path: str
    phases: list[PhaseResult] = field(default_factory=list)
    skipped: str | None = None

    @property
    def failures(self) -> list[Finding]:
        return [f for p in self.phases for f in p.failures]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class StepResult:
    name: str
    operation: str
    outcome: str  # "passed" | "failed" | "skipped"
    status: int | None = None
    reason: str = ""


@dataclass
class FlowResult:
    name: str
    description: str
    steps: list[StepResult] = field(default_factory=list)
    failures: list[Finding] = field(default_factory=list)
    skipped: str | None = None
    duration: float = 0.0


@dataclass
class Report:
    base_url: str
    spec_version: str = ""
    started: str = ""
    duration: float = 0.0
    budget: dict[str, Any] = field(default_factory=dict)
    credentials: str = "none"
    error_format: str = "both"
    operations: list[OperationResult] = field(default_factory=list)
    flows: list[FlowResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Finding]:
        found = [f for op in self.operations for f in op.failures]
        return found + [f for flow in self.flows for f in flow.failures]

    @property
    def ok(self) -> bool:
        return not self.failures

    def operation(self, op_id: str) -> OperationResult | None:
        return next((op for op in self.operations if op.id == op_id), None)

    def flow(self, name: str) -> FlowResult | None:
        return next((flow for flow in self.flows if flow.name == name), None)

    def checks_failed(self) -> set[str]:
        return {f.check for f in self.failures}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["summary"] = _summary(self)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        ops = [
            OperationResult(
                id=o["id"],
                method=o["method"],
                path=o["path"],
                skipped=o.get("skipped"),
                phases=[
                    PhaseResult(
                        **{
                            **p,
                            "failures": [Finding(**f) for f in p.get("failures", [])],
                        }
                    )
                    for p in o.get("phases", [])
                ],
            )
            for o in data.get("operations", [])
        ]
        flows = [
            FlowResult(
                name=f["name"],
                description=f.get("description", ""),
                skipped=f.get("skipped"),
                duration=f.get("duration", 0.0),
                steps=[StepResult(**s) for s in f.get("steps", [])],
                failures=[Finding(**x) for x in f.get("failures", [])],
            )
            for f in data.get("flows", [])
        ]
        known = {
            k: data[k]
            for k in (
                "base_url",
                "spec_version",
                "started",
                "duration",
                "budget",
                "credentials",
                "error_format",
                "notes",
            )
            if k in data
        }
        return cls(**known, operations=ops, flows=flows)


def _summary(report: Report) -> dict[str, int]:
    run = [op for op in report.operations if not op.skipped]
    return {
        "operations": len(report.operations),
        "operationsRun": len(run),
        "operationsFailed": sum(1 for op in run if op.failures),
        "operationsSkipped": len(report.operations) - len(run),
        "cases": sum(p.cases for op in run for p in op.phases),
        "flows": len(report.flows),
        "flowsFailed": sum(1 for f in report.flows if f.failures),
        "flowsSkipped": sum(1 for f in report.flows if f.skipped),
        "failures": len(report.failures),
    }


# -- terminal ------------------------------------------------------------------------------


def render_text(report: Report, *, verbose: bool = False) -> str:
    lines = [
        f"KSeF contract check of {report.base_url}",
        f"  spec {report.spec_version} · credentials: {report.credentials} · "
        f"error format: {report.error_format} · budget: "
        + ", ".join(f"{k}={v}" for k, v in report.budget.items() if v is not None),
        "",
    ]
    for op in report.operations:
        if op.skipped:
            if verbose:
                lines.append(f"  SKIP {op.label:72} {op.skipped}")
            continue
        mark = "FAIL" if op.failures else "ok  "
        cases = sum(p.cases for p in op.phases)
        statuses: Counter[str] = Counter()
        for p in op.phases:
            statuses.update(p.statuses)
        extra = []
        if any(p.budget_exhausted for p in op.phases):
            extra.append("budget used up")
        throttled = sum(p.throttled for p in op.phases)
        if throttled:
            extra.append(f"{throttled}×429 waited out")
        shown = " ".join(f"{s}×{n}" for s, n in sorted(statuses.items()))
        tail = f" ({'; '.join(extra)})" if extra else ""
        lines.append(f"  {mark} {op.label:72} {cases:4} cases  {shown}{tail}")
    if report.flows:
        lines += ["", "Stateful flows:"]
        for flow in report.flows:
            if flow.skipped:
                lines.append(f"  SKIP {flow.name:24} {flow.skipped}")
                continue
            mark = "FAIL" if flow.failures else "ok  "
            steps = " → ".join(
                s.name + ("" if s.outcome == "passed" else f" [{s.outcome}]") for s in flow.steps
            )
            lines.append(f"  {mark} {flow.name:24} {steps}")
            if verbose:
                lines += [f"       skipped {s.name}: {s.reason}" for s in flow.steps if s.reason]
    failures = report.failures
    if failures:
        lines += ["", f"{len(failures)} failure(s):"]
        for n, f in enumerate(failures, 1):
            lines.append(f"  {n}. [{f.check}] {f.operation}: {f.title}")
            for part in f.message.splitlines():
                lines.append(f"       {part}")
            if f.request:
                lines.append(f"       request:  {f.request}")
            if f.status is not None:
                lines.append(f"       response: {f.status} {excerpt(f.response, 300)}")
    for note in report.notes:
        lines.append(f"note: {note}")
    summary = _summary(report)
    lines += [
        "",
        f"{'PASSED' if report.ok else 'FAILED'}: {summary['operationsRun']} operations, "
        f"{summary['cases']} cases, {summary['flows'] - summary['flowsSkipped']} flows run; "
        f"{summary['failures']} failure(s); {summary['operationsSkipped']} operations and "
        f"{summary['flowsSkipped']} flows skipped; {report.duration:.1f} s",
    ]
    return "\n".join(lines) + "\n"


# -- JUnit XML -----------------------------------------------------------------------------


def _failure_text(failures: list[Finding]) -> str:
    parts = []
    for f in failures:
        parts.append(
            f"[{f.check}] {f.title}\n{f.message}\nrequest: {f.request}\n"
            f"response: {f.status} {excerpt(f.response)}"
        )
    return "\n\n".join(parts)


def _junit_case(
    suite: ET.Element,
    counts: Counter[str],
    classname: str,
    name: str,
    duration: float,
    skipped: str | None,
    failures: list[Finding],
    failure_message: str,
    passed_text: str,
) -> None:
    """One ``testcase``: skipped, failed (every finding in the text) or passed (its notes)."""
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{duration:.3f}")
    counts["tests"] += 1
    if skipped:
        ET.SubElement(case, "skipped", message=skipped)
        counts["skipped"] += 1
    elif failures:
        failure = ET.SubElement(
            case,
            "failure",
            message=failure_message,
            type=",".join(sorted({f.check for f in failures})),
        )
        failure.text = _failure_text(failures)
        counts["failures"] += 1
    else:
        ET.SubElement(case, "system-out").text = passed_text


def _close_suite(suite: ET.Element, counts: Counter[str]) -> None:
    for key in ("tests", "failures", "skipped"):
        suite.set(key, str(counts[key]))
    suite.set("errors", "0")


def render_junit(report: Report) -> str:
    suites = ET.Element("testsuites", name="mockksef contract")
    ops = ET.SubElement(suites, "testsuite", name=f"operations {report.base_url}")
    counts = Counter[str]()
    for op in report.operations:
        phases = op.phases or [PhaseResult(phase="all", skipped=op.skipped)]
        for phase in phases:
            _junit_case(
                ops,
                counts,
                f"operations.{op.id}",
                f"{op.label} [{phase.phase}]",
                phase.duration,
                op.skipped or phase.skipped,
                phase.failures,
                f"{len(phase.failures)} contract violation(s)",
                f"{phase.cases} cases; statuses {phase.statuses}"
                + "".join(f"\n{n}" for n in phase.notes),
            )
    _close_suite(ops, counts)
    flows = ET.SubElement(suites, "testsuite", name="stateful flows")
    fcounts = Counter[str]()
    for flow in report.flows:
        _junit_case(
            flows,
            fcounts,
            "flows",
            flow.name,
            flow.duration,
            flow.skipped,
            flow.failures,
            f"{len(flow.failures)} failure(s)",
            "\n".join(
                f"{s.name} ({s.operation}): {s.outcome}"
                + (f" {s.status}" if s.status is not None else "")
                + (f" — {s.reason}" if s.reason else "")
                for s in flow.steps
            ),
        )
    _close_suite(flows, fcounts)
    suites.set("tests", str(counts["tests"] + fcounts["tests"]))
    suites.set("failures", str(counts["failures"] + fcounts["failures"]))
    suites.set("time", f"{report.duration:.3f}")
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


# -- JSON ----------------------------------------------------------------------------------


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n"


def write_reports(
    report: Report, *, junit: str | Path | None = None, json_path: str | Path | None = None
) -> None:
    if junit:
        Path(junit).write_text(render_junit(report), encoding="utf-8")
    if json_path:
        Path(json_path).write_text(render_json(report), encoding="utf-8")
