"""The three report formats of a run."""

from __future__ import annotations

import json
from xml.etree import ElementTree as ET

from ksefcontract import report as reports


def _report() -> reports.Report:
    failure = reports.Finding(
        check="documented_exception_codes",
        title="Undocumented exception code",
        message="answered 400 with exception code(s) [21164]",
        operation="testdata.create_subject",
        request="POST http://127.0.0.1:1/v2/testdata/subject",
        status=400,
        response='{"exception": {}}',
    )
    ok = reports.OperationResult(
        "tokens.list",
        "GET",
        "/tokens",
        phases=[
            reports.PhaseResult("positive", cases=3, statuses={"200": 3}),
            reports.PhaseResult("negative", cases=2, statuses={"400": 2}, throttled=1),
        ],
    )
    bad = reports.OperationResult(
        "testdata.create_subject",
        "POST",
        "/testdata/subject",
        phases=[reports.PhaseResult("positive", cases=3, statuses={"400": 3}, failures=[failure])],
    )
    skipped = reports.OperationResult(
        "sessions.open_batch", "POST", "/sessions/batch", skipped="not implemented by the server"
    )
    flow = reports.FlowResult(
        "auth",
        "challenge → …",
        steps=[reports.StepResult("challenge", "auth.challenge", "passed", 200)],
    )
    skipped_flow = reports.FlowResult("online-session", "…", skipped="needs sessions.open_online")
    return reports.Report(
        base_url="http://127.0.0.1:1/v2",
        spec_version="2.7.0",
        budget={"examples": 3, "time_limit": None, "seed": 0},
        operations=[ok, bad, skipped],
        flows=[flow, skipped_flow],
        duration=1.5,
    )


def test_text_names_failures_and_totals():
    text = reports.render_text(_report())
    assert "FAIL POST /testdata/subject" in text
    assert "ok   GET /tokens" in text and "1×429 waited out" in text
    assert "[documented_exception_codes] testdata.create_subject" in text
    assert "SKIP online-session" in text
    assert (
        text.rstrip()
        .splitlines()[-1]
        .startswith("FAILED: 2 operations, 8 cases, 1 flows run; 1 failure(s)")
    )
    assert "POST /sessions/batch" not in text
    assert "POST /sessions/batch" in reports.render_text(_report(), verbose=True)


def test_junit_has_a_testcase_per_operation_phase_and_flow():
    root = ET.fromstring(reports.render_junit(_report()).encode())
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures")) == ("6", "1")
    ops, flows = root.findall("testsuite")
    cases = {c.get("name"): c for c in ops.iter("testcase")}
    assert set(cases) == {
        "GET /tokens [positive]",
        "GET /tokens [negative]",
        "POST /testdata/subject [positive]",
        "POST /sessions/batch [all]",
    }
    failure = cases["POST /testdata/subject [positive]"].find("failure")
    assert failure is not None and failure.get("type") == "documented_exception_codes"
    assert "21164" in (failure.text or "")
    assert cases["POST /sessions/batch [all]"].find("skipped") is not None
    assert [c.get("name") for c in flows.iter("testcase")] == ["auth", "online-session"]
    assert flows.get("skipped") == "1"


def test_json_round_trip(tmp_path):
    report = _report()
    data = json.loads(reports.render_json(report))
    assert data["ok"] is False
    assert data["summary"] == {
        "operations": 3,
        "operationsRun": 2,
        "operationsFailed": 1,
        "operationsSkipped": 1,
        "cases": 8,
        "flows": 2,
        "flowsFailed": 0,
        "flowsSkipped": 1,
        "failures": 1,
    }
    again = reports.Report.from_dict(data)
    assert again == report
    reports.write_reports(report, junit=tmp_path / "r.xml", json_path=tmp_path / "r.json")
    assert reports.Report.from_dict(json.loads((tmp_path / "r.json").read_text("utf-8"))) == report
    ET.parse(tmp_path / "r.xml")


def test_a_clean_report_passes():
    report = reports.Report(base_url="x", operations=[reports.OperationResult("a.b", "GET", "/a")])
    assert report.ok and "PASSED" in reports.render_text(report)
    assert ET.fromstring(reports.render_junit(report).encode()).get("failures") == "0"
