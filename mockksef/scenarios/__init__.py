"""Scenarios: YAML files of data, clock moves and when -> then rules (see README.md)."""

from mockksef.scenarios.model import (
    Action,
    ClockMove,
    ResetSchedule,
    Rule,
    Scenario,
    ScenarioError,
    Then,
    When,
    Window,
    catalogue_names,
    resolve,
    schema,
    schema_text,
)

__all__ = [
    "Action",
    "ClockMove",
    "ResetSchedule",
    "Rule",
    "Scenario",
    "ScenarioError",
    "Then",
    "When",
    "Window",
    "catalogue_names",
    "resolve",
    "schema",
    "schema_text",
]
