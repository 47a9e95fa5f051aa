"""``ScenarioManager`` (``MockState.scenarios``): the Python twin of the scenario admin verbs.

Load, activate, deactivate, unload, seed, tick, check; the clock moves of a
scenario (start, timeline), its scheduled resets and the KSeF 1.0 handling.
The middleware (``middleware.py``) asks it per request: ``engaged`` (the one
attribute read when nothing is active), ``tick``, ``decide`` and
``after_request``. Rule matching is in ``rules.py``, effects in ``effects.py``.
The manager also listens to the domain's events (``after_event`` conditions,
timeline moves) as a sink on ``MockState.event_sinks``.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.types import Receive

from mockksef.clock import CLOCK_MODES, format_datetime
from mockksef.environments import Env
from mockksef.errors import MockError
from mockksef.scenarios import effects, rules
from mockksef.scenarios.model import (
    LEGACY_MODES,
    SETUP_KINDS,
    ClockMove,
    ResetSchedule,
    Scenario,
    ScenarioError,
    catalogue_names,
    parse_duration,
    resolve,
)
from mockksef.scenarios.request import RequestInfo
from mockksef.scenarios.rules import ActiveScenario, Decision
from mockksef.scenarios.schedule import ResetScheduler

if TYPE_CHECKING:
    from mockksef.state import MockState

Source = Scenario | str | Path | Mapping[str, Any]


class ScenarioNotFullyFired(AssertionError):
    """A scenario with ``require_all_fired`` has rules that never fired."""


class ScenarioManager:
    """Loaded and active scenarios, reset schedule and KSeF 1.0 handling of one MockState."""

    def __init__(self, state: MockState) -> None:
        self.state = state
        self.loaded: dict[str, Scenario] = {}
        self._active: list[ActiveScenario] = []
        self._resets = ResetScheduler()
        self._lock = threading.RLock()
        self.legacy_mode = legacy_mode(state.config.legacy_v1)
        self.engaged = False
        state.event_sinks.append(self._on_event)
        for item in filter(None, (s.strip() for s in state.config.reset_schedule.split(","))):
            self._add_schedule(ResetSchedule.parse(item), "config")
        self._update()

    # -- bookkeeping -------------------------------------------------------------------------

    def _update(self) -> None:
        # The one attribute the middleware reads on its fast path.
        self.engaged = bool(self._active or self._resets or self.legacy_mode != "not_found")

    @property
    def active(self) -> list[str]:
        return [a.name for a in self._active]

    def _now(self) -> datetime:
        return self.state.clock.now()

    def _seed(self, seed: int | None) -> int | str:
        # The server's own seed (the root random source's) when none is given.
        return seed if seed is not None else self.state.rng.seed

    def _journal(self, event: str, **fields: Any) -> None:
        journal = self.state.journal
        if journal.enabled:
            journal.event(self._now(), event, **fields)

    # -- load / activate / deactivate ------------------------------------------------------------

    def load(self, source: Source) -> Scenario:
        """Load (validate) a scenario: a Scenario, catalogue name, path, YAML text or dict."""
        if isinstance(source, Scenario):
            scenario = source
        elif isinstance(source, Mapping):
            scenario = Scenario.from_dict(source)
        elif isinstance(source, str) and "\n" in source:
            scenario = Scenario.from_str(source)
        else:
            scenario = resolve(source)
        with self._lock:
            if scenario.name in self.active:
                self.deactivate(scenario.name)
            self.loaded[scenario.name] = scenario
        return scenario

    def activate(
        self, source: Source, *, seed: int | None = None, clock: str | None = None
    ) -> dict[str, Any]:
        """Apply clock, setup and schedule, then let the rules act. Returns the activation report.

        ``clock`` (``virtual``, ``offset``, ``real``) overrides the scenario's clock
        mode, keeping its start: tests that step time freeze a catalogue scenario
        meant to run, served, on a moving clock.
        """
        if clock is not None and clock not in CLOCK_MODES:
            raise ValueError(f"unknown clock mode {clock!r} ({', '.join(CLOCK_MODES)})")
        if isinstance(source, str) and source in self.loaded:
            scenario = self.loaded[source]
        else:
            scenario = self.load(source)
        enabled = [e.value for e in self.state.environments]
        for env in scenario.environments:
            if env not in enabled:
                raise ScenarioError(
                    scenario.source,
                    [
                        f"{scenario.source}: /environments: environment {env} is not enabled ({', '.join(enabled)})"
                    ],
                )
        chosen = seed if seed is not None else scenario.seed
        with self._lock:
            if scenario.name in self.active:
                self.deactivate(scenario.name)
            active = ActiveScenario.start(
                scenario, self._seed(chosen), scenario.environments or tuple(enabled)
            )
            self._apply_clock(scenario, clock)
            setup_envs = scenario.environments or (self.state.config.default_env.value,)
            active.report = {"setup": self._run_setup(active, setup_envs)} if scenario.setup else {}
            self._active.append(active)
            for index, move in enumerate(scenario.timeline):
                if move.immediate:
                    active.moves_done.add(index)
                    self.apply_clock_move(move, f"{scenario.name}/timeline/{index}")
            for item in scenario.resets:
                self._add_schedule(item, scenario.name)
            self._update()
        self._journal("scenario.activated", scenario=scenario.name)
        self.tick()
        return self.describe(scenario.name)

    def deactivate(self, name: str) -> None:
        with self._lock:
            before = len(self._active)
            self._active = [a for a in self._active if a.name != name]
            self._resets.drop(name)
            self._update()
            if len(self._active) == before:
                raise KeyError(f"scenario {name!r} is not active")
        self._journal("scenario.deactivated", scenario=name)

    def deactivate_all(self) -> None:
        for name in self.active:
            self.deactivate(name)

    def unload(self, name: str) -> None:
        with self._lock:
            if name in self.active:
                self.deactivate(name)
            if self.loaded.pop(name, None) is None:
                raise KeyError(f"scenario {name!r} is not loaded")

    # -- views ------------------------------------------------------------------------------------

    def _find(self, name: str) -> ActiveScenario | None:
        return next((a for a in self._active if a.name == name), None)

    def describe(self, name: str) -> dict[str, Any]:
        scenario = self.loaded.get(name)
        if scenario is None:
            raise KeyError(f"scenario {name!r} is not loaded")
        active = self._find(name)
        described = []
        for index, rule in enumerate(scenario.rules):
            state = active.rules[index] if active else None
            described.append(
                {
                    "name": rule.name,
                    "matched": state.matched if state else 0,
                    "fired": state.fired if state else 0,
                    "spent": state.spent if state else False,
                    "explain": rule.explanation("en"),
                }
            )
        out: dict[str, Any] = {
            "name": scenario.name,
            "description": scenario.description,
            "source": scenario.source,
            "active": active is not None,
            "environments": list(active.environments if active else scenario.environments),
            "requireAllFired": scenario.require_all_fired,
            "allFired": bool(active) and all(r["fired"] for r in described),
            "rules": described,
        }
        if scenario.explain:
            out["explain"] = scenario.explain
        if active is not None:
            out["seed"] = active.seed
            out["calls"] = active.calls
            out.update(active.report)
        return out

    def status(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "loaded": [self.describe(name) for name in self.loaded],
            "catalogue": catalogue_names(),
            "legacy": self.legacy_mode,
            "resets": self._resets.describe(),
        }

    def export_state(self) -> dict[str, Any]:
        """Loaded and active scenarios with their counters, pending resets (``--data``)."""
        with self._lock:
            return {
                "loaded": dict(self.loaded),
                "active": list(self._active),
                "resets": list(self._resets.items),
                "legacy": self.legacy_mode,
            }

    def import_state(self, saved: dict[str, Any]) -> None:
        """Take back what :meth:`export_state` gave (a restart or a snapshot load)."""
        with self._lock:
            self.loaded = dict(saved["loaded"])
            self._active = list(saved["active"])
            self._resets.items = list(saved["resets"])
            self.legacy_mode = saved["legacy"]
            self._update()

    def unfired(self) -> dict[str, list[str]]:
        """Rules that never fired, per active scenario that requires all to fire."""
        out: dict[str, list[str]] = {}
        for active in self._active:
            missing = active.unfired() if active.scenario.require_all_fired else []
            if missing:
                out[active.name] = missing
        return out

    def check(self) -> None:
        """Raise ``ScenarioNotFullyFired`` like respx's ``assert_all_called``."""
        missing = self.unfired()
        if missing:
            text = "; ".join(f"{name}: {', '.join(rules)}" for name, rules in missing.items())
            raise ScenarioNotFullyFired(f"rules that never fired: {text}")

    # -- setup (mockksef.seeding) ---------------------------------------------------------------

    def seed(
        self,
        setup: Mapping[str, Any],
        environment: str | None = None,
        seed: int | None = None,
        source: str = "seed",
    ) -> dict[str, Any]:
        """Run a setup section outside any scenario (``POST /_mock/seed``)."""
        scenario = Scenario.from_dict(
            {"name": "seed", "rules": [], "setup": dict(setup)}, source=source
        )
        env = environment or self.state.config.default_env.value
        active = ActiveScenario.start(scenario, self._seed(seed), (env,))
        return self._run_setup(active, (env,))

    def _run_setup(self, active: ActiveScenario, environments: tuple[str, ...]) -> dict[str, Any]:
        scenario = active.scenario
        source = scenario.source
        kinds = [k for k in SETUP_KINDS if scenario.setup.get(k)]
        try:
            # import_module, not `from mockksef import seeding`: it honours sys.modules
            # (tests put a stand-in there).
            seeding = importlib.import_module("mockksef.seeding")
        except ImportError as exc:
            raise ScenarioError(
                source,
                [
                    f"{source}: /setup: the setup section needs mockksef.seeding, which cannot be imported ({exc})"
                ],
            ) from exc
        handlers = getattr(seeding, "SETUP_KINDS", {})
        missing = [k for k in kinds if k not in handlers]
        if missing:
            raise ScenarioError(
                source,
                [
                    f"{source}: /setup/{k}: setup kind {k!r} is not available (mockksef.seeding has no handler)"
                    for k in missing
                ],
            )
        report: dict[str, Any] = {}
        for env in environments:
            env_state = self.state.env(env)
            rng = active.rng(env, "setup")
            for kind in kinds:
                for index, item in enumerate(scenario.setup[kind]):
                    try:
                        result = handlers[kind](env_state, dict(item), rng)
                    except (ValueError, KeyError, MockError) as exc:
                        raise ScenarioError(
                            source, [f"{source}: /setup/{kind}/{index}: {exc}"]
                        ) from exc
                    report.setdefault(env, {}).setdefault(kind, []).append(_jsonable(result))
        return report

    # -- clock -----------------------------------------------------------------------------------

    def _apply_clock(self, scenario: Scenario, mode: str | None = None) -> None:
        clock = self.state.clock
        mode = mode or scenario.clock_mode
        if mode:
            clock.set_mode(mode)
        if scenario.clock_start is not None:
            clock.set(scenario.clock_start)
        if mode or scenario.clock_start is not None:
            self._journal("clock.moved", origin=scenario.name, clock=clock.describe())

    def apply_clock_move(self, move: ClockMove, origin: str) -> None:
        """Move the Clock as ``move`` says; ``after_event: clock.moved`` and due resets follow."""
        clock = self.state.clock
        if move.mode:
            clock.set_mode(move.mode)
        if move.set is not None:
            clock.set(move.set)
        if move.advance:
            clock.advance(move.advance)
        self._journal("clock.moved", origin=origin, now=format_datetime(clock.now()))
        self._on_event(None, "clock.moved", {"origin": origin})
        self.tick()

    def move_clock(
        self,
        *,
        advance: float | str | None = None,
        set: datetime | None = None,
        mode: str | None = None,
    ) -> datetime:
        """Python twin of ``POST /_mock/clock``; scheduled resets follow. A move past
        the end of the calendar is a ``ValueError`` (the caller's input), the clock unmoved."""
        seconds = parse_duration(advance) if advance is not None else None
        try:
            self.apply_clock_move(ClockMove(advance=seconds, set=set, mode=mode), "admin")
        except OverflowError as exc:
            raise ValueError(f"the clock cannot move that far: {advance}") from exc
        return self.state.clock.now()

    # -- events (EventBus sink) ---------------------------------------------------------------

    def _on_event(self, environment: str | None, name: str, fields: dict[str, Any]) -> None:
        if name == "data.reset":
            self._journal("data.reset", environment=environment, **fields)
        for active in list(self._active):
            if not active.applies_to(environment):
                continue
            active.count_event(environment, name)
            for index, move in enumerate(active.scenario.timeline):
                if move.after_event == name and index not in active.moves_done:
                    active.moves_done.add(index)
                    self.apply_clock_move(move, f"{active.name}/timeline/{index}")

    # -- scheduled resets ---------------------------------------------------------------------

    def _add_schedule(self, schedule: ResetSchedule, origin: str) -> None:
        environment = schedule.environment or Env.DEMO.value
        if Env(environment) not in self.state.environments:
            return  # nothing to reset on a server without that environment
        self._resets.add(schedule, environment, origin, self._now())
        self._update()

    def tick(self) -> None:
        """Carry out the scheduled resets the Clock has reached (once per due time)."""
        if not self._resets:
            return
        due = self._resets.due(self._now())
        for environment in due:
            self.state.reset(environment)
        if due:
            self._update()

    # -- KSeF 1.0 ------------------------------------------------------------------------------

    def set_legacy(self, mode: str | bool) -> None:
        self.legacy_mode = legacy_mode(mode)
        self._update()

    # -- per request (the middleware) ---------------------------------------------------------------

    async def decide(self, info: RequestInfo, receive: Receive) -> Decision | None:
        """The rule that fires for this request, if any (its counters move)."""
        if not self._active:
            return None
        return await rules.decide(list(self._active), info, receive, self._now, self._lock)

    def apply_effects(self, decision: Decision, environment: str) -> None:
        """The effects of the fired action, in schema order (a domain refusal propagates)."""
        call = effects.EffectCall(self, environment, f"{decision.active.name}/action")
        effects.apply(decision.then, call)

    def after_request(self) -> None:
        """Count the call for timeline moves (``after_calls``)."""
        for active in list(self._active):
            active.calls += 1
            for index, move in enumerate(active.scenario.timeline):
                if (
                    move.after_calls is not None
                    and index not in active.moves_done
                    and active.calls >= move.after_calls
                ):
                    active.moves_done.add(index)
                    self.apply_clock_move(move, f"{active.name}/timeline/{index}")


def legacy_mode(mode: str | bool) -> str:
    """The KSeF 1.0 answer mode of a config/scenario value (``refused`` is a reset)."""
    if mode is True:
        return "not_found"
    text = str(mode).strip().lower()
    if text == "refused":
        # A listening socket cannot refuse a connection it has accepted; the
        # nearest thing on the wire is an immediate reset.
        return "reset"
    if text not in LEGACY_MODES:
        raise ValueError(f"unknown KSeF 1.0 mode {mode!r} ({', '.join(LEGACY_MODES)})")
    return text


def _jsonable(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)
