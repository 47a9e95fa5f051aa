"""The scenario engine: rules applied in ASGI middleware, before routing.

``ScenarioEngine`` wraps the whole app (outside Starlette's error middleware,
so that it can drop a connection); the domain code knows nothing of rules.
Per request:

1. fast path – no active scenario, no reset schedule, default 1.0 handling and
   the journal off: one attribute check, then the app;
2. scheduled data resets that the Clock has reached are carried out;
3. the first matching rule of the active scenarios (activation order, then
   file order) applies its action: effects (clock, data reset, tokens,
   sessions, limits, keys, 1.0 addresses), an optional delay, then an answer
   (a KSeF error in the official shape, a raw answer, or a network fault) –
   or the request goes on to the API;
4. requests to the retired KSeF 1.0 paths answer as configured;
5. the journal records the exchange.

``ScenarioManager`` (``MockState.scenarios``) is the Python twin of the admin
verbs: load, activate, deactivate, unload, seed, tick, check.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import re
import threading
import time as _perf
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockksef import operations
from mockksef.clock import format_datetime
from mockksef.environments import Env, env_for_host
from mockksef.errors import (
    Forbidden,
    Gone,
    InternalError,
    KsefError,
    MockError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from mockksef.http.endpoint import (
    ENV_SCOPE_KEY,
    ERROR_SCOPE_KEY,
    OP_SCOPE_KEY,
    PRINCIPAL_SCOPE_KEY,
    error_response,
)
from mockksef.ids import RandomSource
from mockksef.models import ContextIdentifier
from mockksef.scenarios import faults
from mockksef.scenarios.model import (
    LEGACY_MODES,
    SETUP_KINDS,
    ClockMove,
    ResetSchedule,
    Rule,
    Scenario,
    ScenarioError,
    Then,
    parse_duration,
    resolve,
)

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState, MockState


_API_PREFIX = re.compile(r"^(?:/(test|demo|prod))?(?:/api)?/v2(/.*)?\Z", re.DOTALL)
# KSeF 1.0 resources lived under /api/online, /api/batch and /api/common.
LEGACY_PATH = re.compile(
    r"^(?:/(test|demo|prod))?/api/(?:online|batch|common)(?:/|\Z)", re.IGNORECASE
)
_XML_CONTEXT = re.compile(
    rb"<(?:\w+:)?ContextIdentifier>\s*<(?:\w+:)?(?:Nip|InternalId|NipVatUe)>\s*([^<\s]+)\s*<"
)
LEGACY_DETAIL = (
    "Interfejs KSeF 1.0 został wyłączony. Użyj API KSeF 2.0 (https://api.ksef.mf.gov.pl/v2)."
)
log = logging.getLogger("mockksef")

MAINTENANCE_DETAIL = "Trwają prace serwisowe systemu KSeF. Spróbuj ponownie później."
STALL_CAP_SECONDS = 600.0


class ScenarioNotFullyFired(AssertionError):
    """A scenario with ``require_all_fired`` has rules that never fired."""


# -- one request, as the engine sees it ---------------------------------------------------


class RequestInfo:
    """What rules match on; the operation and the context are computed on demand."""

    __slots__ = (
        "_body",
        "_context",
        "_context_done",
        "_op",
        "_op_done",
        "api_path",
        "environment",
        "host",
        "legacy",
        "method",
        "path",
        "scope",
        "state",
    )

    def __init__(self, scope: Scope, state: MockState) -> None:
        self.scope = scope
        self.state = state
        self.method: str = scope.get("method", "GET").upper()
        self.path: str = scope.get("path", "/")
        host = None
        for key, value in scope.get("headers", ()):
            if key == b"host":
                host = value.decode("latin-1")
                break
        self.host = (host or "").split(":", 1)[0].strip().lower()
        explicit = None
        self.api_path: str | None = None
        match = _API_PREFIX.match(self.path)
        self.legacy = False
        if match:
            explicit = match.group(1)
            self.api_path = match.group(2) or "/"
        else:
            legacy = LEGACY_PATH.match(self.path)
            if legacy:
                self.legacy = True
                explicit = legacy.group(1)
        env = Env(explicit) if explicit else (env_for_host(host) or state.config.default_env)
        if env not in state.environments:
            env = state.config.default_env
        self.environment: str = env.value
        self._op: str | None = None
        self._op_done = False
        self._context: str | None = None
        self._context_done = False
        self._body: list[Message] | None = None

    @property
    def operation(self) -> str | None:
        if not self._op_done:
            self._op_done = True
            if self.api_path is not None:
                op = operations.match(self.method, self.api_path)
                self._op = op.id if op else None
        return self._op

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope.get("headers", ()):
            if key == name:
                return value.decode("latin-1")
        return None

    async def context(self, receive: Receive) -> str | None:
        """The context NIP: from a valid bearer JWT, else from a login request body."""
        if self._context_done:
            return self._context
        self._context_done = True
        auth = self.header(b"authorization")
        if auth and auth[:7].lower() == "bearer ":
            try:
                claims = self.state.env(self.environment).jwt.decode(auth[7:].strip())
                self._context = claims.get("civ")
            except Exception:  # an invalid token simply has no context
                self._context = None
            return self._context
        if self.method in ("POST", "PUT"):
            body = await self.read_body(receive)
            self._context = _context_from_body(body)
        return self._context

    async def read_body(self, receive: Receive) -> bytes:
        if self._body is None:
            messages: list[Message] = []
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
            self._body = messages
        return b"".join(m.get("body", b"") for m in self._body if m["type"] == "http.request")

    def replay(self, receive: Receive) -> Receive:
        """``receive`` again from the start when the body was read here."""
        if self._body is None:
            return receive
        pending = list(self._body)

        async def replayed() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()

        return replayed


def _context_from_body(body: bytes) -> str | None:
    if not body:
        return None
    stripped = body.lstrip()
    if stripped.startswith(b"{"):
        try:
            data = json.loads(body)
        except ValueError:
            return None
        ident = data.get("contextIdentifier") if isinstance(data, dict) else None
        if isinstance(ident, dict) and ident.get("value") is not None:
            return str(ident["value"])
        return None
    match = _XML_CONTEXT.search(body)
    return match.group(1).decode("utf-8", "replace") if match else None


# -- the runtime state of an active scenario -------------------------------------------------


class _RuleState:
    __slots__ = ("fired", "index", "matched", "spent")

    def __init__(self) -> None:
        self.matched = 0
        self.fired = 0
        self.index = 0
        self.spent = False


@dataclass
class _Active:
    scenario: Scenario
    seed: int
    rules: list[_RuleState]
    environments: tuple[str, ...]
    calls: int = 0
    events: dict[tuple[str, str], int] = field(default_factory=dict)
    moves_done: set[int] = field(default_factory=set)
    report: dict[str, Any] = field(default_factory=dict)
    _rngs: dict[str, RandomSource] = field(default_factory=dict)

    def rng(self, environment: str, purpose: str = "rules") -> RandomSource:
        key = f"{environment}/{purpose}"
        rng = self._rngs.get(key)
        if rng is None:
            rng = RandomSource(self.seed, f"scenario/{self.scenario.name}/{key}")
            self._rngs[key] = rng
        return rng

    def applies_to(self, environment: str | None) -> bool:
        return environment is None or environment in self.environments


@dataclass(frozen=True)
class Decision:
    active: _Active
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


@dataclass
class _Scheduled:
    schedule: ResetSchedule
    environment: str
    next_due: datetime
    origin: str


class ScenarioManager:
    """Loaded and active scenarios, reset schedule and KSeF 1.0 handling of one MockState."""

    def __init__(self, state: MockState) -> None:
        self.state = state
        self.loaded: dict[str, Scenario] = {}
        self._active: list[_Active] = []
        self._schedule: list[_Scheduled] = []
        self._lock = threading.RLock()
        self.legacy_mode = _legacy_mode(state.config.legacy_v1)
        self.engaged = False
        state.event_sinks.append(self._on_event)
        for item in filter(None, (s.strip() for s in state.config.reset_schedule.split(","))):
            self._add_schedule(ResetSchedule.parse(item), "config")
        self._update()

    # -- bookkeeping -------------------------------------------------------------------------

    def _update(self) -> None:
        # The one attribute the middleware reads on its fast path.
        self.engaged = bool(self._active or self._schedule or self.legacy_mode != "not_found")

    @property
    def active(self) -> list[str]:
        return [a.scenario.name for a in self._active]

    def _now(self) -> datetime:
        return self.state.clock.now()

    def _journal(self, event: str, **fields: Any) -> None:
        journal = self.state.journal
        if journal.enabled:
            journal.event(self._now(), event, **fields)

    # -- load / activate / deactivate ------------------------------------------------------------

    def load(self, source: Scenario | str | Path | Mapping[str, Any]) -> Scenario:
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
        self, source: Scenario | str | Path | Mapping[str, Any], *, seed: int | None = None
    ) -> dict[str, Any]:
        """Apply clock, setup and schedule, then let the rules act. Returns the activation report."""
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
        with self._lock:
            if scenario.name in self.active:
                self.deactivate(scenario.name)
            active = _Active(
                scenario=scenario,
                seed=seed
                if seed is not None
                else (scenario.seed if scenario.seed is not None else self.state.config.seed),
                rules=[_RuleState() for _ in scenario.rules],
                environments=scenario.environments or tuple(enabled),
            )
            self._apply_clock(scenario)
            setup_envs = scenario.environments or (self.state.config.default_env.value,)
            active.report = {"setup": self._run_setup(active, setup_envs)} if scenario.setup else {}
            self._active.append(active)
            for index, move in enumerate(scenario.timeline):
                if move.immediate:
                    active.moves_done.add(index)
                    self._move_clock(move, f"{scenario.name}/timeline/{index}")
            for item in scenario.resets:
                self._add_schedule(item, scenario.name)
            self._update()
        self._journal("scenario.activated", scenario=scenario.name)
        self.tick()
        return self.describe(scenario.name)

    def deactivate(self, name: str) -> None:
        with self._lock:
            before = len(self._active)
            self._active = [a for a in self._active if a.scenario.name != name]
            self._schedule = [s for s in self._schedule if s.origin != name]
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

    def _find(self, name: str) -> _Active | None:
        return next((a for a in self._active if a.scenario.name == name), None)

    def describe(self, name: str) -> dict[str, Any]:
        scenario = self.loaded.get(name)
        if scenario is None:
            raise KeyError(f"scenario {name!r} is not loaded")
        active = self._find(name)
        rules = []
        for index, rule in enumerate(scenario.rules):
            state = active.rules[index] if active else None
            rules.append(
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
            "allFired": bool(active) and all(r["fired"] for r in rules),
            "rules": rules,
        }
        if scenario.explain:
            out["explain"] = scenario.explain
        if active is not None:
            out["seed"] = active.seed
            out["calls"] = active.calls
            out.update(active.report)
        return out

    def status(self) -> dict[str, Any]:
        from mockksef.scenarios.model import catalogue_names

        return {
            "active": self.active,
            "loaded": [self.describe(name) for name in self.loaded],
            "catalogue": catalogue_names(),
            "legacy": self.legacy_mode,
            "resets": [
                {
                    "environment": s.environment,
                    "nextDue": format_datetime(s.next_due),
                    "origin": s.origin,
                }
                for s in self._schedule
            ],
        }

    def unfired(self) -> dict[str, list[str]]:
        """Rules that never fired, per active scenario that requires all to fire."""
        out: dict[str, list[str]] = {}
        for active in self._active:
            if not active.scenario.require_all_fired:
                continue
            missing = [
                rule.name
                for rule, state in zip(active.scenario.rules, active.rules, strict=True)
                if state.fired == 0
            ]
            if missing:
                out[active.scenario.name] = missing
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
        active = _Active(
            scenario=scenario,
            seed=self.state.config.seed if seed is None else seed,
            rules=[],
            environments=(env,),
        )
        return self._run_setup(active, (env,))

    def _run_setup(self, active: _Active, environments: tuple[str, ...]) -> dict[str, Any]:
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

    def _apply_clock(self, scenario: Scenario) -> None:
        clock = self.state.clock
        if scenario.clock_mode:
            clock.set_mode(scenario.clock_mode)
        if scenario.clock_start is not None:
            clock.set(scenario.clock_start)
        if scenario.clock_mode or scenario.clock_start is not None:
            self._journal("clock.moved", origin=scenario.name, clock=clock.describe())

    def _move_clock(self, move: ClockMove, origin: str) -> None:
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
        """Python twin of ``POST /_mock/clock``; scheduled resets follow."""
        seconds = parse_duration(advance) if advance is not None else None
        self._move_clock(ClockMove(advance=seconds, set=set, mode=mode), "admin")
        return self.state.clock.now()

    # -- events (EventBus sink) ---------------------------------------------------------------

    def _on_event(self, environment: str | None, name: str, fields: dict[str, Any]) -> None:
        if name == "data.reset":
            self._journal("data.reset", environment=environment, **fields)
        if not self._active:
            return
        for active in list(self._active):
            if not active.applies_to(environment):
                continue
            envs = active.environments if environment is None else (environment,)
            for env in envs:
                key = (env, name)
                active.events[key] = active.events.get(key, 0) + 1
            for index, move in enumerate(active.scenario.timeline):
                if move.after_event == name and index not in active.moves_done:
                    active.moves_done.add(index)
                    self._move_clock(move, f"{active.scenario.name}/timeline/{index}")

    # -- scheduled resets ---------------------------------------------------------------------

    def _add_schedule(self, schedule: ResetSchedule, origin: str) -> None:
        environment = schedule.environment or Env.DEMO.value
        if Env(environment) not in self.state.environments:
            return  # nothing to reset on a server without that environment
        now = self._now()
        self._schedule.append(
            _Scheduled(schedule, environment, _next_due(schedule, now, first=True), origin)
        )
        self._update()

    def tick(self) -> None:
        """Carry out the scheduled resets the Clock has reached (once per due time)."""
        if not self._schedule:
            return
        now = self._now()
        due = [s for s in self._schedule if now >= s.next_due]
        for item in due:
            self.state.reset(item.environment)
            if item.schedule.at is not None:
                self._schedule.remove(item)
            else:
                item.next_due = _next_due(item.schedule, now, first=False)
        if due:
            self._update()

    # -- KSeF 1.0 ------------------------------------------------------------------------------

    def set_legacy(self, mode: str | bool) -> None:
        self.legacy_mode = _legacy_mode(mode)
        self._update()

    # -- matching ----------------------------------------------------------------------------------

    async def decide(self, info: RequestInfo, receive: Receive) -> Decision | None:
        now: datetime | None = None
        for active in list(self._active):
            if not active.applies_to(info.environment):
                continue
            for index, rule in enumerate(active.scenario.rules):
                state = active.rules[index]
                if state.spent:
                    continue
                when = rule.when
                if when.environments and info.environment not in when.environments:
                    continue
                if when.methods and info.method not in when.methods:
                    continue
                if when.hosts and not _any_glob(when.hosts, info.host):
                    continue
                if when.paths and not (
                    _any_glob(when.paths, info.path)
                    or (info.api_path is not None and _any_glob(when.paths, info.api_path))
                ):
                    continue
                if when.operations and not when.operation_matches(info.operation):
                    continue
                if when.after_events and not any(
                    active.events.get((info.environment, name)) for name in when.after_events
                ):
                    continue
                if when.window is not None:
                    now = now or self._now()
                    if not when.window.contains(now):
                        continue
                if when.contexts:
                    context = await info.context(receive)
                    if context not in when.contexts:
                        continue
                with self._lock:
                    decision = self._count(active, rule, state, info)
                if decision is not None:
                    return decision
        return None

    def _count(
        self, active: _Active, rule: Rule, state: _RuleState, info: RequestInfo
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
                    self._move_clock(move, f"{active.scenario.name}/timeline/{index}")

    # -- effects -------------------------------------------------------------------------------------

    def apply_effects(self, then: Then, info: RequestInfo, active: _Active) -> None:
        for name, value in then.effects:
            target = value if isinstance(value, dict) else {}
            environment = target.get("environment") or info.environment
            context = target.get("context")
            if name == "clock":
                self._move_clock(value, f"{active.scenario.name}/action")
            elif name == "reset_data":
                self.state.reset(environment)
            elif name == "revoke_tokens":
                _revoke_tokens(self.state.env(environment), context)
            elif name == "expire_tokens":
                env = self.state.env(environment)
                # From the environment's own stream (seed + reset generation, advancing):
                # a scenario re-activated with the same seed after a reset must not
                # rotate back to a secret that earlier JWTs were signed with.
                env.jwt.rotate(env.rng.bytes(32))
            elif name == "revoke_sessions":
                _revoke_auth_sessions(self.state.env(environment), context)
            elif name == "expire_sessions":
                _expire_sessions(self.state.env(environment), context)
            elif name == "set_limits":
                _set_limits(self.state.env(environment), target, info)
            elif name == "rotate_keys":
                self.state.env(environment).public_keys.rotate(
                    target.get("usage", "SymmetricKeyEncryption"),
                    overlap_days=float(target.get("overlap_days", 14)),
                    emergency=bool(target.get("emergency", False)),
                )
            elif name == "retire_legacy":
                self.set_legacy(value)


def _legacy_mode(mode: str | bool) -> str:
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


def _next_due(schedule: ResetSchedule, now: datetime, first: bool) -> datetime:
    if schedule.at is not None:
        return schedule.at
    if schedule.every is not None:
        return now + timedelta(seconds=schedule.every)
    assert schedule.daily_at is not None
    zone = ZoneInfo(schedule.timezone)
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), schedule.daily_at, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(
            local.date() + timedelta(days=1), schedule.daily_at, tzinfo=zone
        )
    return candidate.astimezone(UTC)


def _any_glob(patterns: tuple[str, ...], value: str) -> bool:
    import fnmatch

    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def _jsonable(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


# -- effects on the domain (through the state root) --------------------------------------------


def _context_matches(context: ContextIdentifier | None, value: str | None) -> bool:
    return value is None or (context is not None and context.value == value)


def _revoke_tokens(env: EnvironmentState, context: str | None) -> None:
    backend = env.tokens
    now = env.clock.now()
    with backend._lock:
        for token in backend.tokens.values():
            if _context_matches(token.context, context) and token.revoke_requested is None:
                token.revoke_requested = now
                token.revoked_from = now
                env.events.emit("token.revoked", reference=token.reference_number)


def _revoke_auth_sessions(env: EnvironmentState, context: str | None) -> None:
    backend = env.auth
    now = env.clock.now()
    with backend._lock:
        for operation in backend.operations.values():
            if _context_matches(operation.context, context) and operation.revoked_at is None:
                operation.revoked_at = now
                env.events.emit("auth.session_revoked", reference=operation.reference_number)


def _expire_sessions(env: EnvironmentState, context: str | None) -> None:
    backend = env.sessions
    now = env.clock.now()
    for session in list(backend.sessions.values()):
        if session.closed_at is None and _context_matches(session.context, context):
            session.valid_until = min(session.valid_until, now)


def _set_limits(env: EnvironmentState, target: Mapping[str, Any], info: RequestInfo) -> None:
    """As the /testdata limit calls; the schema makes ``context`` required."""
    context = ContextIdentifier("Nip", str(target["context"]))
    limits = env.limits
    if target.get("reset"):
        limits.reset_rate_limits(context)
        limits.reset_session_limits(context)
    if target.get("production"):
        limits.set_production_rate_limits(context)
    if target.get("rate_limits"):
        body = target["rate_limits"]
        limits.set_rate_limits(context, body.get("rateLimits", body))
    if target.get("session"):
        limits.set_session_limits(context, target["session"])


# -- answers ---------------------------------------------------------------------------------------


def _seconds(value: Any, default: float) -> int:
    if value is None:
        return int(default)
    return max(1, int(round(parse_duration(value))))


def error_for(then: Then) -> MockError | None:
    """The catalogue error an answer stands for (None for raw and network answers)."""
    kind, value = then.answer, then.answer_value
    spec = value if isinstance(value, dict) else {}
    if kind == "error":
        code = value if isinstance(value, int) else value["code"]
        return KsefError(code, *spec.get("details", ()))
    if kind == "unauthorized":
        return Unauthorized(spec["detail"]) if spec.get("detail") else Unauthorized()
    if kind == "forbidden":
        reason = value if isinstance(value, str) else value["reason"]
        return Forbidden(reason, spec.get("security"))
    if kind == "too_many_requests":
        wait = _seconds(spec.get("retry_after"), 60)
        word = "sekundzie" if wait == 1 else "sekundach"
        detail = (
            spec.get("detail") or f"Przekroczono limit żądań. Spróbuj ponownie po {wait} {word}."
        )
        return TooManyRequests(wait, detail)
    if kind == "maintenance":
        wait = _seconds(spec.get("retry_after"), 600)
        return ServiceUnavailable(spec.get("detail") or MAINTENANCE_DETAIL, wait)
    if kind == "server_error" and spec.get("status", 500) == 500:
        return InternalError(spec["detail"]) if spec.get("detail") else InternalError()
    if kind == "gone":
        return Gone(spec["detail"]) if spec.get("detail") else Gone()
    return None


def _raw_response(then: Then) -> Response:
    value = then.answer_value
    if then.answer == "server_error":
        status = int(value.get("status", 502)) if isinstance(value, dict) else 502
        text = {502: "502 Bad Gateway", 504: "504 Gateway Time-out"}.get(status, str(status))
        return Response(text.encode(), status_code=status, media_type="text/plain")
    body = value.get("body")
    content_type = value.get("content_type")
    if body is None:
        content = b""
    elif isinstance(body, str):
        content = body.encode("utf-8")
    else:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        content_type = content_type or "application/json"
    return Response(
        content,
        status_code=int(value["status"]),
        headers=dict(value.get("headers") or {}),
        media_type=content_type,
    )


def _error_codes(error: Any) -> list[Any]:
    if isinstance(error, KsefError):
        return [e.code for e in error.errors]
    if isinstance(error, Forbidden):
        return [error.reason_code]
    return []


# -- the middleware ------------------------------------------------------------------------------------


class ScenarioEngine:
    """ASGI middleware in front of the whole app; see the module docstring."""

    def __init__(self, app: ASGIApp, state: MockState) -> None:
        self.app = app
        self.state = state
        self.manager = state.scenarios
        self.journal = state.journal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not (self.manager.engaged or self.journal.enabled)
            or scope["path"].startswith("/_mock")
        ):
            await self.app(scope, receive, send)
            return
        if self.manager.engaged:
            await self._handle(scope, receive, send)
        elif self.journal.sampled():
            await self._journal_only(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _journal_only(self, scope: Scope, receive: Receive, send: Send) -> None:
        """No rule can fire: record what the API answered, nothing more (the hot path)."""
        started = _perf.perf_counter()
        when = self.state.clock.now()
        status: int | None = None

        async def tracked_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        finally:
            env = scope.get(ENV_SCOPE_KEY)
            principal = scope.get(PRINCIPAL_SCOPE_KEY)
            self.journal.record(
                {
                    "kind": "request",
                    "time": when,
                    "environment": env.value if env else self.state.config.default_env.value,
                    "method": scope["method"],
                    "path": scope["path"],
                    "operation": scope.get(OP_SCOPE_KEY),
                    "context": getattr(getattr(principal, "context", None), "value", None),
                    "status": status,
                    "codes": _error_codes(scope.get(ERROR_SCOPE_KEY)),
                    "rule": None,
                    "action": None,
                    "explain": None,
                    "fault": None,
                    "durationMs": round((_perf.perf_counter() - started) * 1000, 3),
                }
            )

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        manager = self.manager
        started = _perf.perf_counter()
        info = RequestInfo(scope, state)
        if manager.engaged:
            manager.tick()
        when = state.clock.now()
        record = self.journal.enabled and self.journal.sampled()
        status_box: list[int | None] = [None]

        async def tracked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            await send(message)

        out_send: Send = tracked_send if record else send
        decision: Decision | None = None
        fault: str | None = None
        try:
            if manager._active:
                decision = await manager.decide(info, receive)
            receive = info.replay(receive)
            if decision is not None:
                fault = await self._apply(decision, info, scope, receive, send, out_send)
            elif info.legacy and manager.legacy_mode != "not_found":
                fault = await self._legacy(info, scope, receive, send, out_send)
            else:
                await self.app(scope, receive, out_send)
        except faults.NetworkFault as exc:
            fault = exc.kind
            raise
        finally:
            if manager._active:
                manager.after_request()
            if record:
                self._record(scope, info, when, status_box[0], decision, fault, started)

    def _record(
        self,
        scope: Scope,
        info: RequestInfo,
        when: datetime,
        status: int | None,
        decision: Decision | None,
        fault: str | None,
        started: float,
    ) -> None:
        principal = scope.get(PRINCIPAL_SCOPE_KEY)
        context = getattr(getattr(principal, "context", None), "value", None) or info._context
        error = scope.get(ERROR_SCOPE_KEY)
        self.journal.record(
            {
                "kind": "request",
                "time": when,
                "environment": info.environment,
                "method": info.method,
                "path": info.path,
                "operation": scope.get(OP_SCOPE_KEY) or info.operation,
                "context": context,
                "status": status,
                "codes": _error_codes(error),
                "rule": decision.rule_id if decision else None,
                "action": decision.then.kind if decision else None,
                "explain": decision.explanation if decision else None,
                "fault": fault,
                "durationMs": round((_perf.perf_counter() - started) * 1000, 3),
            }
        )

    async def _apply(
        self,
        decision: Decision,
        info: RequestInfo,
        scope: Scope,
        receive: Receive,
        raw_send: Send,
        send: Send,
    ) -> str | None:
        then = decision.then
        try:
            self.manager.apply_effects(then, info, decision.active)
        except MockError as error:
            # An effect the domain refuses (e.g. limits out of range) answers like the
            # /testdata call would, so the scenario author sees why.
            await self._error(scope, receive, send, error, info)
            return None
        except Exception as exc:
            if self.state.config.extra.get("raise_server_errors"):
                raise
            log.exception("scenario action of %s failed", decision.rule_id, exc_info=exc)
            await self._error(scope, receive, send, InternalError(), info)
            return None
        if then.delay:
            if self.state.clock.mode == "virtual":
                self.state.clock.advance(then.delay)
            else:
                await asyncio.sleep(then.delay)
        answer = then.answer
        if answer is None:
            await self.app(scope, receive, send)
            return None
        if answer == "reset_connection":
            await faults.reset(raw_send, receive)
            return "reset"
        if answer == "close":
            await faults.close(raw_send, receive)
            return "close"
        if answer == "stall":
            seconds = None if then.answer_value is True else parse_duration(then.answer_value)
            await self._stall(raw_send, receive, seconds)
            return "stall"
        if answer in ("truncate", "malformed"):
            recorder = faults.Recorder()
            await self.app(scope, receive, recorder)
            spec = then.answer_value if isinstance(then.answer_value, dict) else {}
            if answer == "truncate":
                await faults.send_truncated(raw_send, send, receive, recorder, spec.get("bytes"))
                return "truncate"
            await faults.send_malformed(send, recorder, spec.get("body"), spec.get("status"))
            return "malformed"
        error = error_for(then)
        if error is not None:
            await self._error(scope, receive, send, error, info)
        else:
            await _raw_response(then)(scope, receive, send)
        return None

    async def _stall(self, raw_send: Send, receive: Receive, seconds: float | None) -> None:
        if faults.transport_of(raw_send) is None and self.state.clock.mode == "virtual":
            # In-process on a virtual clock: the wait passes on the Clock, then the
            # caller gets what its timeout would give it.
            self.state.clock.advance(seconds or STALL_CAP_SECONDS)
            raise faults.NetworkFault("stall")
        await faults.stall(raw_send, receive, seconds, STALL_CAP_SECONDS)

    async def _error(
        self, scope: Scope, receive: Receive, send: Send, error: MockError, info: RequestInfo
    ) -> None:
        scope[ERROR_SCOPE_KEY] = error
        request = Request(scope, receive)
        response = error_response(request, error, self.state.env(info.environment))
        await response(scope, receive, send)

    async def _legacy(
        self, info: RequestInfo, scope: Scope, receive: Receive, raw_send: Send, send: Send
    ) -> str | None:
        mode = self.manager.legacy_mode
        if mode == "reset":
            await faults.reset(raw_send, receive)
            return "reset"
        if mode == "close":
            await faults.close(raw_send, receive)
            return "close"
        await self._error(scope, receive, send, Gone(LEGACY_DETAIL), info)
        return None
