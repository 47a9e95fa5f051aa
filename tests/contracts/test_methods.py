"""The harness sends every official path a method it does not serve and checks the 405's ``Allow``."""

from __future__ import annotations

from ksefcontract.checks import MethodProbe, allow_problems, method_probes
from ksefcontract.harness import METHODS_FLOW, Credentials
from ksefcontract.report import render_text
from tests.contracts.conftest import mock_harness
from tests.contracts.faulty import Answer, Rewrite


def _run(app, spec, state):  # type: ignore[no-untyped-def]
    harness = mock_harness(app, spec, state, credentials=Credentials.none())
    report = harness.run([], flows=[METHODS_FLOW])
    flow = report.flow(METHODS_FLOW)
    assert flow is not None
    return report, flow


def test_one_probe_per_official_path_with_the_methods_it_serves():
    probes = {p.template: p for p in method_probes()}
    assert probes["/tokens"].served == {"GET", "POST"} and probes["/tokens"].method == "DELETE"
    assert probes["/tokens/{referenceNumber}"].served == {"GET", "DELETE"}
    assert probes["/tokens/{referenceNumber}"].method == "PUT"
    # A filled-in /auth/{referenceNumber} is served by GET alone.
    assert probes["/auth/{referenceNumber}"].served == {"GET"}
    assert all(p.method not in p.served and "{" not in p.path for p in probes.values())


def test_the_rules_of_an_answer():
    probe = MethodProbe("/tokens", "/tokens", "DELETE", frozenset({"GET", "POST"}))
    assert allow_problems(probe, 405, "GET, HEAD, POST") == []
    assert allow_problems(probe, 404, None) == ["DELETE /tokens answered 404, not 405"]
    assert "no Allow header" in allow_problems(probe, 405, None)[0]
    assert "leaves out POST" in allow_problems(probe, 405, "GET")[0]
    assert "names DELETE" in allow_problems(probe, 405, "GET, POST, DELETE")[0]


def test_the_mock_answers_every_probe_with_405_and_allow(make_mock, spec):
    app, state = make_mock()
    report, flow = _run(app, spec, state)
    assert report.ok, render_text(report)
    assert flow.steps[0].outcome == "passed"
    assert flow.steps[0].name.startswith(f"{len(method_probes())} paths")


def test_a_405_without_allow_is_reported(make_mock, spec):
    app, state = make_mock()

    def drop_allow(scope, answer: Answer) -> Answer:  # type: ignore[no-untyped-def]
        if answer.status == 405:
            answer.set_header("Allow", None)
        return answer

    report, flow = _run(Rewrite(app, response=drop_allow), spec, state)
    assert report.checks_failed() == {"allow_on_405"}
    assert len(flow.failures) == len(method_probes())
    assert flow.steps[0].outcome == "failed"
