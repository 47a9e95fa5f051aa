"""Loading scenario files: the schema, semantic checks, and messages naming file, line and path."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from mockksef.scenarios import Scenario, ScenarioError, resolve, schema, schema_text
from mockksef.scenarios.model import ResetSchedule, parse_duration

README = Path(__file__).resolve().parents[2] / "scenarios" / "README.md"

GOOD = """\
name: sample
description: A sample.
explain:
  pl: {symptom: "429", cause: "limit", fix: "czekaj"}
  en: {symptom: "429", cause: "limit", fix: "wait"}
seed: 7
environments: [test, demo]
clock:
  mode: virtual
  start: 2026-03-02T09:00:00Z
  timeline:
    - {after_calls: 3, advance: 16m}
    - {after_event: token.created, set: 2026-03-03T01:00:00Z}
resets:
  - {environment: demo, daily_at: "03:00"}
  - {environment: test, every: 12h}
rules:
  - name: limit
    explain: {pl: "Limit", en: "Rate limit"}
    when:
      operation: invoices.*
      method: post
      context: "5265877635"
      nth: [2, 4]
      window: {start: 22:00, end: 06:00}
    then: {too_many_requests: {retry_after: 5m}, delay: 250ms}
  - when: {path: "/api/online/*", every: 2, probability: 0.5, times: 3}
    then: [{reset_connection: true}, {pass: true}, {clock: {advance: PT1H}, error: 21405}]
    cycle: true
require_all_fired: true
"""


def test_a_valid_scenario_becomes_dataclasses():
    scenario = Scenario.from_str(GOOD, source="sample.yaml")
    assert scenario.name == "sample" and scenario.seed == 7
    assert scenario.environments == ("test", "demo")
    assert scenario.clock_mode == "virtual"
    assert scenario.clock_start == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert scenario.timeline[0].after_calls == 3 and scenario.timeline[0].advance == 960
    assert scenario.timeline[1].set == datetime(2026, 3, 3, 1, 0, tzinfo=UTC)
    assert scenario.resets[0].daily_at == time(3, 0) and scenario.resets[1].every == 43200
    limit, second = scenario.rules
    assert limit.when.operations == ("invoices.*",) and limit.when.methods == ("POST",)
    assert limit.when.nth == (2, 4) and limit.when.contexts == ("5265877635",)
    # YAML 1.1 would read 22:00 as the base-60 number 1320; the loader keeps times.
    assert limit.when.window is not None and limit.when.window.start == time(22, 0)
    assert limit.then[0].answer == "too_many_requests" and limit.then[0].delay == 0.25
    assert limit.explanation("pl") == "Limit" and not limit.sequence
    assert second.name == "rule-2" and second.sequence and second.cycle
    assert [t.kind for t in second.then] == ["reset_connection", "pass", "error"]
    assert second.then[2].effects[0][0] == "clock" and second.then[2].effects[0][1].advance == 3600
    assert scenario.require_all_fired
    assert scenario.to_dict()["clock"]["start"] == "2026-03-02T09:00:00Z"


def test_the_readme_example_and_the_schema_are_valid():
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema())
    assert json.loads(schema_text()) == schema()
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text("utf-8"), re.DOTALL)
    full = [b for b in blocks if b.startswith("name:") and "rules:\n  -" in b]
    assert full, "the README has a complete example"
    for block in full:
        Scenario.from_str(block, source="README.md")


def _problems(text: str, source: str = "bad.yaml") -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_str(text, source=source)
    assert caught.value.source == source
    return caught.value.problems


def test_a_wrong_type_names_file_line_and_path():
    text = "name: x\nrules:\n  - when: {operation: auth.challenge}\n    then:\n      error: {code: abc}\n"
    (problem,) = _problems(text)
    assert problem.startswith("bad.yaml:5: /rules/0/then/error/code: ")
    assert "'abc' is not of type 'integer'" in problem


def test_unknown_keys_point_at_the_key_with_a_suggestion():
    text = "name: x\nrules:\n  - when:\n      operaton: auth.challenge\n    then: {pass: true}\n"
    (problem,) = _problems(text)
    assert (
        problem
        == "bad.yaml:4: /rules/0/when/operaton: unknown key 'operaton' (did you mean 'operation'?)"
    )


def test_unknown_operation_ids_are_refused_with_a_suggestion():
    text = "name: x\nrules:\n  - when: {operation: auth.chalenge}\n    then: {pass: true}\n"
    (problem,) = _problems(text)
    assert problem.startswith(
        "bad.yaml:3: /rules/0/when/operation: no operation matches 'auth.chalenge'"
    )
    assert "did you mean 'auth.challenge'" in problem


def test_semantic_errors_codes_reasons_and_two_answers():
    text = (
        "name: x\n"
        "rules:\n"
        "  - then: {error: 99999}\n"
        "  - then: {forbidden: no-such-reason}\n"
        "  - then: {close: true, maintenance: true}\n"
        "  - then: {stall: true, pass: true}\n"
    )
    problems = _problems(text)
    assert problems[0].startswith("bad.yaml:3: /rules/0/then/error: exception code 99999")
    assert problems[1].startswith("bad.yaml:4: /rules/1/then/forbidden: unknown 403 reason code")
    assert problems[2] == "bad.yaml:5: /rules/2/then: one answer per action, got maintenance, close"
    assert problems[3] == "bad.yaml:6: /rules/3/then/pass: pass cannot be combined with an answer"


def test_duplicate_keys_and_broken_yaml_name_their_line():
    (problem,) = _problems("name: x\nrules: []\nname: y\n")
    assert problem == "bad.yaml:3: /name: duplicate key"
    (problem,) = _problems("name: x\nrules: [\n  - a\n")
    assert problem.startswith("bad.yaml:") and "invalid YAML" in problem
    (problem,) = _problems("- just\n- a list\n")
    assert problem.startswith("bad.yaml:1: /: a scenario is a mapping")


def test_several_problems_come_sorted_by_line():
    text = "name: Bad Name\nrules:\n  - then: {error: {code: 21405, detail: [x]}}\n"
    problems = _problems(text)
    assert [p.split(":")[1] for p in problems] == ["1", "3"]
    assert "does not match" in problems[0]
    assert "unknown key 'detail' (did you mean 'details'?)" in problems[1]


def test_from_path_names_the_file_and_from_dict_has_no_lines(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nrules:\n  - then: {delay: soon}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_path(path)
    assert caught.value.problems[0].startswith(f"{path}:3: /rules/0/then/delay: ")
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_path(tmp_path / "missing.yaml")
    assert "cannot read" in caught.value.problems[0]
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_dict({"name": "x", "rules": [{"then": {"nope": 1}}]})
    assert caught.value.problems == ["<dict>: /rules/0/then/nope: unknown key 'nope'"]
    ok = Scenario.from_dict({"name": "x", "rules": [{"then": {"pass": True}}]})
    assert ok.rules[0].then[0].kind == "pass"


def test_catalogue_names_resolve_and_unknown_names_are_explained():
    with pytest.raises(ScenarioError) as caught:
        resolve("no-such-scenario-anywhere")
    assert "no such scenario in the catalogue" in caught.value.problems[0]


def test_mixed_conditions_are_refused():
    text = "name: x\nenvironment: test\nenvironments: [demo]\nrules:\n  - when: {nth: 1, every: 2}\n    then: {pass: true}\n    cycle: true\n"
    problems = _problems(text)
    assert any("/environment: give environment or environments" in p for p in problems)
    assert any("/rules/0/when/every: give nth or every" in p for p in problems)
    assert any("/rules/0/cycle: cycle needs a list" in p for p in problems)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (5, 5.0),
        (1.5, 1.5),
        ("90", 90.0),
        ("250ms", 0.25),
        ("90s", 90.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("PT5M", 300.0),
        ("P1DT2H", 93600.0),
        ("PT0.5S", 0.5),
    ],
)
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "P", "PT", "5 minutes", True])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_reset_schedule_strings():
    assert ResetSchedule.parse("demo@03:00") == ResetSchedule("demo", daily_at=time(3, 0))
    assert ResetSchedule.parse("test@every=12h") == ResetSchedule("test", every=43200.0)
    assert ResetSchedule.parse("demo@2026-03-03T00:00Z").at == datetime(2026, 3, 3, tzinfo=UTC)
    with pytest.raises(ValueError):
        ResetSchedule.parse("demo")
