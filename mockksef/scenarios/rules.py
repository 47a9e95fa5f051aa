"""Rules at run time: the state of an active scenario and the matching of a request.

``decide`` walks the active scenarios (activation order, then file order) and
returns the first rule whose ``when`` matches and whose counters let it fire
(``nth``, ``every``, ``times``, ``probability`` drawn from the scenario's
seeded source), with the step of its ``then`` list to apply. Matching checks
the cheap conditions first; the context, which may need the request body, last.
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.types import Receive

from mockksef.ids import RandomSource
from mockksef.scenarios.model import Rule, Scenario, Then, When
from mockksef.scenarios.request import RequestInfo


class RuleState:
    """Counters of one rule of an active scenario."""

    __slots__ = ("fired", "index", "matched", "spent")

    def __init__(self) -> None:
        self.matched = 0
        self.fired = 0
        self.index = 0
        self.spent = False


@dataclass
class ActiveScenario:
    scenario: Scenario
    seed: int | str
    rules: list[RuleState]
    environments: tuple[str, ...]
    calls: int = 0
    events: dict[tuple[str, str], int] = field(default_factory=dict)
    moves_done: set[int] = field(default_factory=set)
    report: dict[str, Any] = field(default_factory=dict)
    rngs: dict[str, RandomSource] = field(default_factory=dict)

    @classmethod
    def start(
        cls, scenario: Scenario, seed: int | str, environments: tuple[str, ...]
    ) -> ActiveScenario:
        return cls(scenario, seed, [RuleState() for _ in scenario.rules], environments)

    @property
    def name(self) -> str:
        return self.scenario.name

    def rng(self, environment: str, purpose: str = "rules") -> RandomSource:
        key = f"{environment}/{purpose}"
        rng = self.rngs.get(key)
        if rng is None:
            rng = RandomSource(self.seed, f"scenario/{self.scenario.name}/{key}")
            self.rngs[key] = rng
        return rng

    def applies_to(self, environment: str | None) -> bool:
        return environment is None or environment in self.environments

    def count_event(self, environment: str | None, name: str) -> None:
        for env in self.environments if environment is None else (environment,):
            key = (env, name)
            self.events[key] = self.events.get(key, 0) + 1

    def unfired(self) -> list[str]:
        return [
            rule.name
            for rule, state in zip(self.scenario.rules, self.rules, strict=True)
            if state.fired == 0
        ]


@dataclass(frozen=True)
class Decision:
    """A rule that fires for this request, and the step of its ``then`` to apply."""

    active: ActiveScenario
    rule: Rule
    then: Then
    step: int

    @property
    def rule_id(self) -> str:
        return f"{self.active.scenario.name}/{self.rule.name}"

    @property
    def explanation(self) -> str | None:
        text = self.rule.explanation("en")
        if text:
            return text
        explain = self.active.scenario.explanation("en")
        return explain.get("cause") if explain else None


def _any_glob(patterns: tuple[str, ...], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def _static_match(when: When, info: RequestInfo) -> bool:
    """The conditions the request alone decides (no clock, no body, no counters)."""
    if when.environments and info.environment not in when.environments:
        return False
    if when.methods and info.method not in when.methods:
        return False
    if when.hosts and not _any_glob(when.hosts, info.host):
        return False
    if when.paths and not (
        _any_glob(when.paths, info.path)
        or (info.api_path is not None and _any_glob(when.paths, info.api_path))
    ):
        return False
    return not when.operations or when.operation_matches(info.operation)


async def decide(
    actives: list[ActiveScenario],
    info: RequestInfo,
    receive: Receive,
    clock: Callable[[], datetime],
    lock: threading.RLock,
) -> Decision | None:
    """The first rule of ``actives`` that fires for ``info``; counters move under ``lock``.

    ``clock`` is read only when a rule has a time window.
    """
    now: datetime | None = None
    for active in actives:
        if not active.applies_to(info.environment):
            continue
        for index, rule in enumerate(active.scenario.rules):
            state = active.rules[index]
            if state.spent:
                continue
            when = rule.when
            if not _static_match(when, info):
                continue
            if when.after_events and not any(
                active.events.get((info.environment, name)) for name in when.after_events
            ):
                continue
            if when.window is not None:
                now = now or clock()
                if not when.window.contains(now):
                    continue
            if when.contexts:
                context = await info.context(receive)
                if context not in when.contexts:
                    continue
            with lock:
                decision = _count(active, rule, state, info)
            if decision is not None:
                return decision
    return None


def _count(
    active: ActiveScenario, rule: Rule, state: RuleState, info: RequestInfo
) -> Decision | None:
    when = rule.when
    state.matched += 1
    if when.nth and state.matched not in when.nth:
        return None
    if when.every and state.matched % when.every:
        return None
    if when.times is not None and state.fired >= when.times:
        return None
    if when.probability is not None and not (
        active.rng(info.environment).random() < when.probability
    ):
        return None
    step = state.index if rule.sequence else 0
    then = rule.then[step]
    if rule.sequence:
        state.index += 1
        if state.index >= len(rule.then):
            if rule.cycle:
                state.index = 0
            else:
                state.spent = True
    state.fired += 1
    return Decision(active, rule, then, step)
