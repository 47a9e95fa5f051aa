"""``Console``: what the console's pages read and change, through the state's public verbs.

One per app (built by ``install``): the drill book, the body capture and the
views of environments and scenarios. Routes call these methods and render;
they hold no state of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import yaml

from mockksef.console import masking
from mockksef.console.capture import ExchangeStore
from mockksef.console.drills import DrillBook
from mockksef.explain import Explainer, catalogue
from mockksef.scenarios import Scenario, ScenarioError, catalogue_names
from mockksef.scenarios.model import catalogue_dir

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from mockksef.state import MockState

_PROBLEM_LINE = re.compile(r"^[^:]*:(\d+):\s*(.*)$")


@dataclass(frozen=True)
class ActiveView:
    name: str
    environments: tuple[str, ...]
    hidden_by: str | None  # the drill hiding it, if any
    calls: int


@dataclass(frozen=True)
class ScenarioProblem:
    """A validation problem of an uploaded YAML, with its line when the validator gave one."""

    line: int | None
    text: str


class ScenarioRejected(ValueError):
    def __init__(self, problems: list[ScenarioProblem]) -> None:
        super().__init__("; ".join(p.text for p in problems))
        self.problems = problems


class Console:
    def __init__(self, state: MockState, app: ASGIApp | None = None) -> None:
        self.state = state
        self.captures = ExchangeStore(
            state.journal.size, enabled=bool(state.config.extra.get("console_capture"))
        )
        self.drills = DrillBook(state, app)
        self._explainer: tuple[tuple[int, ...], Explainer] | None = None

    # -- scenarios ----------------------------------------------------------------------------

    def scenarios(self) -> list[Scenario]:
        """The catalogue, then scenarios loaded from elsewhere (uploads), by name."""
        out = {s.name: s for s in catalogue()}
        for name, scenario in self.state.scenarios.loaded.items():
            out.setdefault(name, scenario)
        return list(out.values())

    def scenario(self, name: str) -> Scenario:
        for scenario in self.scenarios():
            if scenario.name == name:
                return scenario
        raise KeyError(name)

    def source_of(self, scenario: Scenario) -> str:
        """The YAML as written (comments included) for catalogue files, else as loaded.

        Masked like everything the console shows: setups carry KSeF token values.
        """
        text = None
        if scenario.name in catalogue_names():
            entry = catalogue_dir().joinpath(f"{scenario.name}.yaml")
            if entry.is_file():
                text = entry.read_text("utf-8")
        if text is None:
            text = yaml.safe_dump(scenario.to_dict(), allow_unicode=True, sort_keys=False)
        return masking.mask_text(text)

    def explainer(self) -> Explainer:
        """The look-up over the catalogue and the loaded scenarios, rebuilt when they change."""
        scenarios = self.scenarios()
        # The cached explainer holds these objects, so their ids cannot be reused meanwhile.
        key = tuple(id(s) for s in scenarios)
        if self._explainer is None or self._explainer[0] != key:
            self._explainer = (key, Explainer(scenarios))
        return self._explainer[1]

    def rule_text(self, rule_id: str, lang: str) -> str | None:
        """The explanation of ``scenario/rule`` in ``lang`` (rule's own, else the scenario's cause)."""
        name, _, rule_name = rule_id.partition("/")
        scenario = self.state.scenarios.loaded.get(name)
        if scenario is None:
            return None
        rule = next((r for r in scenario.rules if r.name == rule_name), None)
        text = rule.explanation(lang) if rule is not None else None
        return text or (scenario.explanation(lang) or {}).get("cause")

    def hidden(self) -> frozenset[str]:
        return self.drills.hidden_scenarios()

    def hidden_by(self) -> dict[str, str]:
        return {n: d.id for d in self.drills if d.hidden for n in d.names}

    def active(self, environment: str) -> list[ActiveView]:
        hidden = self.hidden_by()
        out = []
        for name in self.state.scenarios.active:
            described = self.state.scenarios.describe(name)
            envs = tuple(described.get("environments") or ())
            if environment in envs:
                out.append(ActiveView(name, envs, hidden.get(name), int(described.get("calls", 0))))
        return out

    def activate(self, environment: str, scenario: Scenario) -> dict[str, Any]:
        """Activate on ``environment``: a scenario naming none is pinned to it."""
        if scenario.environments and environment not in scenario.environments:
            raise ScenarioRejected(
                [
                    ScenarioProblem(
                        None,
                        f"{scenario.name}: runs on {', '.join(scenario.environments)}, not {environment}",
                    )
                ]
            )
        pinned = (
            scenario if scenario.environments else replace(scenario, environments=(environment,))
        )
        return self.state.scenarios.activate(pinned)

    def activate_yaml(self, environment: str, text: str) -> dict[str, Any]:
        try:
            scenario = Scenario.from_str(text, source="scenario.yaml")
        except ScenarioError as exc:
            problems = []
            for line in exc.problems:
                match = _PROBLEM_LINE.match(line)
                problems.append(
                    ScenarioProblem(int(match.group(1)), match.group(2))
                    if match
                    else ScenarioProblem(None, line)
                )
            raise ScenarioRejected(problems) from exc
        return self.activate(environment, scenario)

    # -- environments ----------------------------------------------------------------------------

    def counts(self, environment: str) -> dict[str, int]:
        env = self.state.env(environment)
        subjects = env.subjects.summary()
        return {
            # Registered through /testdata (entities, persons), and companies known by name
            # (scenario setups and the parties of generated invoices).
            "subjects": subjects["entities"] + subjects["persons"],
            "companies": len(env.subjects.names),
            "tokens": env.tokens.summary()["tokens"],
            "auth_sessions": env.auth.summary()["activeSessions"],
            "sessions": env.sessions.summary()["sessions"],
            "invoices": env.invoices.summary()["invoices"],
            "certificates": env.certificates.summary()["certificates"],
            "generation": env.generation,
        }
