"""Scenario files: YAML -> validated, immutable dataclasses.

``Scenario.from_path / from_str / from_dict`` validate against the JSON Schema
shipped beside this module (``schema.json``) and then check what a schema
cannot (operation ids exist, error codes are in the catalogue, one answer per
action…). Every problem is reported as ``file:line: /json/pointer: message``;
the line comes from the YAML node marks (``yaml.compose``).

YAML is read with a SafeLoader that keeps date-times and ``22:00`` as strings
(YAML 1.1 would turn them into ``datetime`` objects and base-60 integers) and
refuses duplicate keys.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from mockksef import operations
from mockksef.clock import parse_datetime
from mockksef.errors import CATALOGUE, FORBIDDEN_REASONS

# _Builder has a method named datetime; its annotations name the type through this.
_DateTime = datetime

SETUP_KINDS = (
    "subjects",
    "persons",
    "vat_groups",
    "permissions",
    "certificates",
    "tokens",
    "invoices",
)
# Keys of an action that produce the answer (at most one per action).
ANSWERS = (
    "error",
    "unauthorized",
    "forbidden",
    "too_many_requests",
    "maintenance",
    "server_error",
    "gone",
    "respond",
    "reset_connection",
    "close",
    "stall",
    "truncate",
    "malformed",
)
# Keys applied before the answer, in this order.
EFFECTS = (
    "clock",
    "reset_data",
    "revoke_tokens",
    "expire_tokens",
    "revoke_sessions",
    "expire_sessions",
    "set_limits",
    "rotate_keys",
    "retire_legacy",
)
NETWORK_FAULTS = ("reset_connection", "close", "stall", "truncate")
LEGACY_MODES = ("not_found", "gone", "refused", "reset", "close")


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; ``problems`` holds one line per fault."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# -- YAML with line numbers --------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader without timestamps and base-60 numbers, refusing duplicate keys."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag
        not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?0o?[0-7_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
        r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _line_of(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _node_at(root: yaml.Node | None, pointer: Sequence[str | int]) -> yaml.Node | None:
    """The deepest YAML node along a JSON path (keys of mappings, indexes of sequences)."""
    node = root
    for part in pointer:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    node = value
                    break
            else:
                return node
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
        else:
            return node
    return node


def _key_node(root: yaml.Node | None, pointer: Sequence[str | int], key: str) -> yaml.Node | None:
    parent = _node_at(root, pointer)
    if isinstance(parent, yaml.MappingNode):
        for key_node, _ in parent.value:
            if isinstance(key_node, yaml.Node) and str(key_node.value) == key:
                return key_node
    return parent


def _duplicate_keys(
    node: yaml.Node | None, path: list[str | int]
) -> list[tuple[list[str | int], yaml.Node]]:
    found: list[tuple[list[str | int], yaml.Node]] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                found.append(([*path, name], key))
            seen.add(name)
            found += _duplicate_keys(value, [*path, name])
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _duplicate_keys(item, [*path, index])
    return found


def pointer(path: Sequence[str | int]) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


class _Problems:
    def __init__(self, source: str, root: yaml.Node | None) -> None:
        self.source = source
        self.root = root
        self.items: list[tuple[int, str]] = []

    def add(
        self,
        path: Sequence[str | int],
        message: str,
        node: yaml.Node | None = None,
    ) -> None:
        node = node if node is not None else _node_at(self.root, path)
        line = _line_of(node)
        where = f"{self.source}:{line}" if line else self.source
        self.items.append((line or 0, f"{where}: {pointer(path)}: {message}"))

    def raise_if_any(self) -> None:
        if self.items:
            raise ScenarioError(self.source, [text for _, text in sorted(self.items)])


# -- schema ----------------------------------------------------------------------------------


def schema_text() -> str:
    return resources.files("mockksef.scenarios").joinpath("schema.json").read_text("utf-8")


@cache
def schema() -> dict[str, Any]:
    return json.loads(schema_text())  # type: ignore[no-any-return]


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def _most_specific(error: Any) -> tuple[Any, str]:
    """Descend into oneOf/anyOf alternatives to the error that explains most.

    Alternatives that reject the value's type outright (``type``/``const`` at
    the value itself) are the wrong branch; of the others the deepest error
    names the bad value best.
    """
    from jsonschema.exceptions import best_match

    while error.context:
        here = len(error.absolute_path)
        relevant = [
            e
            for e in error.context
            if not (e.validator in ("type", "const", "enum") and len(e.absolute_path) == here)
        ]
        if not relevant:
            return error, _alternatives(error)
        deeper = max(relevant, key=lambda e: len(e.absolute_path))
        if len(deeper.absolute_path) == here and deeper.validator in ("oneOf", "anyOf"):
            deeper = best_match(relevant) or deeper
        if deeper is error:
            break
        error = deeper
    return error, error.message


def _alternatives(error: Any) -> str:
    """``'abc' is not of type 'integer' or 'object'`` for a value no alternative accepts."""
    wanted: list[str] = []
    for alt in error.context:
        if alt.validator == "type":
            kinds = (
                alt.validator_value
                if isinstance(alt.validator_value, list)
                else [alt.validator_value]
            )
            text = "of type " + " or ".join(repr(k) for k in kinds)
        elif alt.validator == "const":
            text = f"{alt.validator_value!r}"
        elif alt.validator == "enum":
            text = "one of " + ", ".join(repr(v) for v in alt.validator_value)
        else:
            continue
        if text not in wanted:
            wanted.append(text)
    if not wanted:
        return str(error.message)
    return f"{error.instance!r} is not " + ", nor ".join(wanted)


def _schema_problems(data: Any, problems: _Problems) -> None:
    for error in sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path)):
        error, message = _most_specific(error)
        path = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            for extra in sorted(set(error.instance) - allowed):
                hint = ""
                close = _closest(extra, allowed)
                if close:
                    hint = f" (did you mean {close!r}?)"
                problems.add(
                    [*path, extra],
                    f"unknown key {extra!r}{hint}",
                    _key_node(problems.root, path, extra),
                )
            continue
        if error.validator == "pattern":
            message = _pattern_message(error) or message
        problems.add(path, message)


_PATTERN_NAMES = {
    "datetime": "an ISO 8601 date-time (2026-03-02T09:00:00Z)",
    "date": "a date (2026-03-02)",
    "time_of_day": "a time of day (HH:MM)",
    "nip": "a NIP (10 digits)",
    "pesel": "a PESEL (11 digits)",
}


def _pattern_message(error: Any) -> str | None:
    defs = schema()["$defs"]
    for name, text in _PATTERN_NAMES.items():
        if defs[name].get("pattern") == error.validator_value:
            return f"{error.instance!r} is not {text}"
    if error.validator_value == defs["duration"]["oneOf"][1]["pattern"]:
        return f"{error.instance!r} is not a duration (seconds, or 250ms, 90s, 5m, 2h, 1d, PT5M)"
    return None


def _closest(word: str, candidates: set[str]) -> str | None:
    import difflib

    found = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


# -- values ------------------------------------------------------------------------------------

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> float:
    """Seconds from a number or ``250ms``/``90s``/``5m``/``2h``/``1d``/``PT5M``."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if re.match(r"^\d+(?:\.\d+)?$", text):
        return float(text)
    match = _DURATION.match(text)
    if match:
        return float(match.group(1)) * _UNITS[match.group(2)]
    match = _ISO_DURATION.match(text)
    if match and text not in ("P", "PT"):
        days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
        return days * 86400 + hours * 3600 + minutes * 60 + seconds
    raise ValueError(f"not a duration: {value!r}")


def _time_of_day(text: str) -> time:
    hour, minute, *second = (int(p) for p in text.split(":"))
    return time(hour, minute, second[0] if second else 0)


# -- the model ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A time window on the Clock: absolute instants, or times of day in ``timezone``."""

    start: datetime | time | None
    end: datetime | time | None
    timezone: str = "Europe/Warsaw"

    def contains(self, now: datetime) -> bool:
        if isinstance(self.start, time) or isinstance(self.end, time):
            local = now.astimezone(ZoneInfo(self.timezone)).time().replace(tzinfo=None)
            start = self.start if isinstance(self.start, time) else time(0)
            end = self.end if isinstance(self.end, time) else time(23, 59, 59, 999999)
            if start <= end:
                return start <= local < end
            return local >= start or local < end  # across midnight
        if isinstance(self.start, datetime) and now < self.start:
            return False
        return not (isinstance(self.end, datetime) and now >= self.end)


@dataclass(frozen=True)
class When:
    operations: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    contexts: tuple[str, ...] = ()
    nth: tuple[int, ...] = ()
    every: int | None = None
    times: int | None = None
    window: Window | None = None
    probability: float | None = None
    after_events: tuple[str, ...] = ()

    @property
    def needs_operation(self) -> bool:
        return bool(self.operations)

    @property
    def needs_context(self) -> bool:
        return bool(self.contexts)

    def operation_matches(self, op_id: str | None) -> bool:
        if not self.operations:
            return True
        if op_id is None:
            return False
        return any(fnmatch.fnmatchcase(op_id, pattern) for pattern in self.operations)


@dataclass(frozen=True)
class Then:
    """One action: effects, then an optional delay, then at most one answer."""

    effects: tuple[tuple[str, Any], ...] = ()
    delay: float | None = None
    answer: str | None = None
    answer_value: Any = None

    @property
    def kind(self) -> str:
        """A short name for the journal."""
        if self.answer:
            return self.answer
        if self.effects:
            return "+".join(name for name, _ in self.effects)
        return "delay" if self.delay else "pass"


# ``Action`` is the name CONVENTIONS.md uses.
Action = Then


@dataclass(frozen=True)
class Rule:
    name: str
    when: When
    then: tuple[Then, ...]
    # A YAML list: consumed one call at a time, spent afterwards unless cycle.
    sequence: bool = False
    cycle: bool = False
    explain: Mapping[str, str] | None = None

    def explanation(self, lang: str = "en") -> str | None:
        if not self.explain:
            return None
        return self.explain.get(lang) or next(iter(self.explain.values()), None)


@dataclass(frozen=True)
class ClockMove:
    after_calls: int | None = None
    after_event: str | None = None
    advance: float | None = None
    set: datetime | None = None
    mode: str | None = None

    @property
    def immediate(self) -> bool:
        return self.after_calls is None and self.after_event is None


@dataclass(frozen=True)
class ResetSchedule:
    """A data reset on the Clock; exactly one of daily_at / every / at."""

    environment: str | None = None
    daily_at: time | None = None
    every: float | None = None
    at: datetime | None = None
    timezone: str = "Europe/Warsaw"

    @classmethod
    def parse(cls, text: str) -> ResetSchedule:
        """``demo@03:00`` (daily), ``test@every=12h``, ``demo@2026-03-03T00:00Z``."""
        name, _, when = text.strip().partition("@")
        env = name.strip().lower() or None
        when = when.strip()
        if not when:
            raise ValueError(f"reset schedule {text!r}: expected ENV@HH:MM or ENV@every=DURATION")
        if when.startswith("every="):
            return cls(env, every=parse_duration(when[6:]))
        if re.match(r"^\d{1,2}:\d{2}(:\d{2})?$", when):
            return cls(env, daily_at=_time_of_day(when))
        return cls(env, at=parse_datetime(when))


@dataclass(frozen=True)
class Scenario:
    name: str
    rules: tuple[Rule, ...] = ()
    description: str = ""
    explain: Mapping[str, Mapping[str, str]] | None = None
    tags: tuple[str, ...] = ()
    seed: int | None = None
    environments: tuple[str, ...] = ()
    clock_mode: str | None = None
    clock_start: datetime | None = None
    timeline: tuple[ClockMove, ...] = ()
    resets: tuple[ResetSchedule, ...] = ()
    setup: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    require_all_fired: bool = False
    source: str = "<scenario>"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # -- loading ------------------------------------------------------------------------

    @classmethod
    def from_path(cls, path: str | Path) -> Scenario:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError(str(path), [f"{path}: cannot read: {exc.strerror or exc}"]) from exc
        return cls.from_str(text, source=str(path))

    @classmethod
    def from_str(cls, text: str, source: str = "<string>") -> Scenario:
        try:
            root = yaml.compose(text, Loader=_Loader)
            data = yaml.load(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = f":{mark.line + 1}" if mark else ""
            raise ScenarioError(
                source, [f"{source}{line}: invalid YAML: {exc.problem or exc}"]
            ) from exc
        except yaml.YAMLError as exc:
            raise ScenarioError(source, [f"{source}: invalid YAML: {exc}"]) from exc
        problems = _Problems(source, root)
        for path, node in _duplicate_keys(root, []):
            problems.add(path, "duplicate key", node)
        problems.raise_if_any()
        return cls._build(data, problems)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> Scenario:
        return cls._build(data, _Problems(source, None))

    @classmethod
    def _build(cls, data: Any, problems: _Problems) -> Scenario:
        if not isinstance(data, Mapping):
            problems.add([], "a scenario is a mapping (name, rules, …)")
            problems.raise_if_any()
        _schema_problems(data, problems)
        problems.raise_if_any()
        scenario = _Builder(problems).scenario(data)
        problems.raise_if_any()
        return scenario

    # -- views --------------------------------------------------------------------------

    def explanation(self, lang: str = "en") -> Mapping[str, str] | None:
        if not self.explain:
            return None
        return self.explain.get(lang) or self.explain.get("en")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


class _Builder:
    """Turns schema-valid data into the dataclasses, adding semantic problems."""

    def __init__(self, problems: _Problems) -> None:
        self.problems = problems

    def scenario(self, data: Mapping[str, Any]) -> Scenario:
        envs: list[str] = list(data.get("environments") or [])
        if data.get("environment"):
            if envs:
                self.problems.add(["environment"], "give environment or environments, not both")
            envs = [data["environment"]]
        clock = data.get("clock") or {}
        start = self.datetime(clock.get("start"), ["clock", "start"])
        timeline = tuple(
            self.clock_move(move, ["clock", "timeline", i])
            for i, move in enumerate(clock.get("timeline") or [])
        )
        resets = tuple(
            self.reset(item, ["resets", i]) for i, item in enumerate(data.get("resets") or [])
        )
        setup = {
            kind: tuple(items)
            for kind, items in (data.get("setup") or {}).items()
            if items is not None
        }
        rules = tuple(self.rule(rule, i) for i, rule in enumerate(data.get("rules") or []))
        names = [r.name for r in rules]
        for i, name in enumerate(names):
            if name in names[:i]:
                self.problems.add(["rules", i, "name"], f"rule name {name!r} is used twice")
        return Scenario(
            name=data["name"],
            rules=rules,
            description=data.get("description", ""),
            explain=data.get("explain"),
            tags=tuple(data.get("tags") or ()),
            seed=data.get("seed"),
            environments=tuple(envs),
            clock_mode=clock.get("mode"),
            clock_start=start,
            timeline=timeline,
            resets=resets,
            setup=setup,
            require_all_fired=bool(data.get("require_all_fired", False)),
            source=self.problems.source,
            raw=json.loads(json.dumps(data)),
        )

    # -- pieces -------------------------------------------------------------------------------

    def datetime(self, value: Any, path: list[str | int]) -> datetime | None:
        if value is None:
            return None
        try:
            return parse_datetime(str(value))
        except ValueError as exc:
            self.problems.add(path, f"not a date-time: {exc}")
            return None

    def duration(self, value: Any, path: list[str | int]) -> float | None:
        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.problems.add(path, str(exc))
            return None

    def timezone(self, value: str, path: list[str | int]) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            self.problems.add(path, f"unknown time zone {value!r}")
            return "Europe/Warsaw"
        return value

    def clock_move(self, data: Mapping[str, Any], path: list[str | int]) -> ClockMove:
        if "after_calls" in data and "after_event" in data:
            self.problems.add(path, "give after_calls or after_event, not both")
        return ClockMove(
            after_calls=data.get("after_calls"),
            after_event=data.get("after_event"),
            advance=self.duration(data.get("advance"), [*path, "advance"]),
            set=self.datetime(data.get("set"), [*path, "set"]),
            mode=data.get("mode"),
        )

    def reset(self, data: Mapping[str, Any], path: list[str | int]) -> ResetSchedule:
        return ResetSchedule(
            environment=data.get("environment"),
            daily_at=_time_of_day(data["daily_at"]) if data.get("daily_at") else None,
            every=self.duration(data.get("every"), [*path, "every"]),
            at=self.datetime(data.get("at"), [*path, "at"]),
            timezone=self.timezone(data.get("timezone", "Europe/Warsaw"), [*path, "timezone"]),
        )

    def rule(self, data: Mapping[str, Any], index: int) -> Rule:
        path: list[str | int] = ["rules", index]
        when = self.when(data.get("when") or {}, [*path, "when"])
        raw_then = data["then"]
        sequence = isinstance(raw_then, list)
        items = raw_then if sequence else [raw_then]
        then = tuple(
            self.action(item, [*path, "then", i] if sequence else [*path, "then"])
            for i, item in enumerate(items)
        )
        explain = data.get("explain")
        if isinstance(explain, str):
            explain = {"en": explain}
        if data.get("cycle") and not sequence:
            self.problems.add([*path, "cycle"], "cycle needs a list of actions in then")
        return Rule(
            name=data.get("name") or f"rule-{index + 1}",
            when=when,
            then=then,
            sequence=sequence,
            cycle=bool(data.get("cycle", False)),
            explain=explain,
        )

    def when(self, data: Mapping[str, Any], path: list[str | int]) -> When:
        ops = _many(data.get("operation"))
        for i, pattern in enumerate(ops):
            if not any(fnmatch.fnmatchcase(op.id, pattern) for op in operations.OPERATIONS):
                where = [*path, "operation"] + (
                    [i] if isinstance(data.get("operation"), list) else []
                )
                known = _closest(pattern, set(operations.BY_ID))
                hint = f" (did you mean {known!r}?)" if known else ""
                self.problems.add(where, f"no operation matches {pattern!r}{hint}")
        window = None
        if data.get("window"):
            raw = data["window"]
            window = Window(
                start=self.instant(raw.get("start"), [*path, "window", "start"]),
                end=self.instant(raw.get("end"), [*path, "window", "end"]),
                timezone=self.timezone(
                    raw.get("timezone", "Europe/Warsaw"), [*path, "window", "timezone"]
                ),
            )
        nth = data.get("nth")
        if data.get("every") and nth:
            self.problems.add([*path, "every"], "give nth or every, not both")
        return When(
            operations=ops,
            methods=tuple(m.upper() for m in _many(data.get("method"))),
            paths=_many(data.get("path")),
            hosts=tuple(h.lower() for h in _many(data.get("host"))),
            environments=_many(data.get("environment")),
            contexts=_many(data.get("context")),
            nth=tuple(nth) if isinstance(nth, list) else ((nth,) if nth else ()),
            every=data.get("every"),
            times=data.get("times"),
            window=window,
            probability=data.get("probability"),
            after_events=_many(data.get("after_event")),
        )

    def instant(self, value: Any, path: list[str | int]) -> _DateTime | time | None:
        if value is None:
            return None
        text = str(value)
        if re.match(r"^\d{1,2}:\d{2}(:\d{2})?$", text):
            return _time_of_day(text)
        return self.datetime(text, path)

    def action(self, data: Mapping[str, Any], path: list[str | int]) -> Then:
        answers = [k for k in ANSWERS if k in data]
        if len(answers) > 1:
            self.problems.add(path, f"one answer per action, got {', '.join(answers)}")
        if answers and "pass" in data:
            self.problems.add([*path, "pass"], "pass cannot be combined with an answer")
        answer = answers[0] if answers else None
        value: Any = data.get(answer) if answer else None
        if answer == "error":
            code = value if isinstance(value, int) else value.get("code")
            if code not in CATALOGUE:
                where = [*path, "error"] + ([] if isinstance(value, int) else ["code"])
                self.problems.add(where, f"exception code {code} is not in the KSeF catalogue")
        elif answer == "forbidden":
            reason = value if isinstance(value, str) else value.get("reason")
            if reason not in FORBIDDEN_REASONS:
                where = [*path, "forbidden"] + ([] if isinstance(value, str) else ["reason"])
                self.problems.add(
                    where,
                    f"unknown 403 reason code {reason!r} (known: {', '.join(sorted(FORBIDDEN_REASONS))})",
                )
        elif answer in ("too_many_requests", "maintenance") and isinstance(value, dict):
            if "retry_after" in value:
                self.duration(value["retry_after"], [*path, answer, "retry_after"])
        elif answer == "stall" and value is not True:
            self.duration(value, [*path, "stall"])
        effects: list[tuple[str, Any]] = []
        for name in EFFECTS:
            if name in data:
                effect = data[name]
                if name == "clock":
                    effect = self.clock_move(effect, [*path, "clock"])
                    if not effect.immediate:
                        self.problems.add(
                            [*path, "clock"],
                            "a clock action moves at once (no after_calls/after_event)",
                        )
                effects.append((name, effect))
        return Then(
            effects=tuple(effects),
            delay=self.duration(data.get("delay"), [*path, "delay"]),
            answer=answer,
            answer_value=value,
        )


def _many(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


# -- the catalogue: scenarios/ of the repository, shipped in the wheel ----------------------------


def catalogue_dir() -> Traversable:
    """Where the catalogue's YAML files are.

    The wheel carries ``scenarios/`` as ``mockksef/_catalogue`` (the hatch
    ``force-include`` in ``pyproject.toml``); a checkout or an editable install has
    no such folder inside the package and reads ``scenarios/`` beside it, so edits
    to the catalogue show at once.
    """
    shipped = resources.files("mockksef").joinpath("_catalogue")
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parent.parent.parent / "scenarios"


def catalogue_names() -> list[str]:
    folder = catalogue_dir()
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(e.name[:-5] for e in entries if e.name.endswith(".yaml"))


def resolve(name_or_path: str | Path) -> Scenario:
    """A catalogue name (``token-lacks-role``) or a path to a YAML file."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in text or "\\" in text:
        return Scenario.from_path(path)
    entry = catalogue_dir().joinpath(f"{text}.yaml")
    if not entry.is_file():
        known = catalogue_names()
        close = _closest(text, set(known))
        hint = f"; did you mean {close!r}?" if close else ""
        raise ScenarioError(
            text,
            [f"{text}: no such scenario in the catalogue ({len(known)} known){hint}"],
        )
    return Scenario.from_str(entry.read_text("utf-8"), source=f"scenarios/{text}.yaml")
