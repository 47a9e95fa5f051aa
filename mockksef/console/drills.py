"""Failure drills: hidden scenarios, a connector's day, trainees' answers and scores.

A trainer starts a ``Drill``: one or more scenarios are activated on an
environment (through ``state.scenarios``, the public verbs) and hidden from
the trainees' views; the connector's day (``connector.py``) runs against the
mock and leaves its messages on the drill. Each hidden scenario makes one
question: pick the cause and the fix among choices drawn from the catalogue —
the right ones plus distractors from other scenarios, shuffled by a
``RandomSource`` seeded with the drill's seed (same seed and scenarios, same
choices). A trainee's first answer counts: one point for each right cause
and each right fix; the explanation is shown after the answer. The trainer
sees every answer, exports CSV and prints the results; finishing a drill
deactivates its scenarios and reveals them everywhere.
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mockksef.clock import format_datetime_seconds
from mockksef.ids import RandomSource
from mockksef.scenarios import Scenario

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from mockksef.console.connector import Credential, Line
    from mockksef.state import MockState

LETTERS = "ABCDEFGH"
# Datasets explain nothing that fails: their "cause" makes no distractor.
NOT_A_FAILURE = frozenset({"happy-path", "dataset"})


class DrillError(ValueError):
    """A drill that cannot start or an answer that cannot be taken; the text says why."""


class _Bilingual:
    """A text in Polish and English (the fields of the dataclass below)."""

    pl: str
    en: str

    def text(self, lang: str) -> str:
        return self.en if lang == "en" else self.pl


@dataclass(frozen=True)
class Choice(_Bilingual):
    letter: str
    scenario: str
    pl: str
    en: str


@dataclass(frozen=True)
class Question:
    number: int
    scenario: str
    causes: tuple[Choice, ...]
    fixes: tuple[Choice, ...]

    @property
    def right_cause(self) -> str:
        return next(c.letter for c in self.causes if c.scenario == self.scenario)

    @property
    def right_fix(self) -> str:
        return next(c.letter for c in self.fixes if c.scenario == self.scenario)

    def choice(self, kind: str, letter: str) -> Choice | None:
        return next((c for c in getattr(self, kind) if c.letter == letter), None)


@dataclass(frozen=True)
class Pick:
    cause: str
    fix: str


@dataclass(frozen=True)
class Answer:
    trainee: str
    picks: Mapping[int, Pick]
    submitted: datetime
    score: int
    max_score: int

    @property
    def percent(self) -> int:
        return round(100 * self.score / self.max_score) if self.max_score else 0


@dataclass(frozen=True)
class Message(_Bilingual):
    seq: int
    time: str
    level: str
    operation: str
    pl: str
    en: str


def _texts(scenario: Scenario, key: str) -> tuple[str, str] | None:
    explain = scenario.explain or {}
    pl = (explain.get("pl") or {}).get(key)
    en = (explain.get("en") or {}).get(key)
    if not pl and not en:
        return None
    return " ".join(str(pl or en).split()), " ".join(str(en or pl).split())


def build_questions(
    scenarios: Sequence[Scenario], pool: Iterable[Scenario], seed: int, distractors: int = 3
) -> tuple[Question, ...]:
    """One question per scenario; distractors come from ``pool`` minus the drill's scenarios."""
    names = {s.name for s in scenarios}
    others = [
        s
        for s in pool
        if s.name not in names
        and not NOT_A_FAILURE & set(s.tags)
        and _texts(s, "cause")
        and _texts(s, "fix")
    ]
    rng = RandomSource(seed, "drill/" + "+".join(sorted(names))).generator("choices")
    questions = []
    for number, scenario in enumerate(scenarios, start=1):
        if not (_texts(scenario, "cause") and _texts(scenario, "fix")):
            raise DrillError(f"scenario {scenario.name} has no explain block with cause and fix")
        count = min(distractors, len(others))
        made: dict[str, tuple[Choice, ...]] = {}
        for kind, key in (("causes", "cause"), ("fixes", "fix")):
            drawn = [scenario, *rng.sample(others, count)]
            rng.shuffle(drawn)
            made[kind] = tuple(
                Choice(LETTERS[i], s.name, *(_texts(s, key) or ("", "")))
                for i, s in enumerate(drawn)
            )
        questions.append(Question(number, scenario.name, made["causes"], made["fixes"]))
    return tuple(questions)


@dataclass
class Drill:
    id: str
    title: str
    environment: str
    scenarios: tuple[Scenario, ...]
    seed: int
    questions: tuple[Question, ...]
    started: datetime
    lang: str = "pl"
    # What the connector logs in with (never shown whole) and the NIP it is configured for.
    login: Credential | None = field(default=None, repr=False)
    nip: str | None = None
    status: str = "running"  # running -> ready (connector done) -> finished
    messages: list[Message] = field(default_factory=list)
    answers: dict[str, Answer] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.scenarios)

    @property
    def hidden(self) -> bool:
        return self.status != "finished"

    @property
    def max_score(self) -> int:
        return 2 * len(self.questions)

    def say(self, line: Line, when: datetime) -> None:
        with self._lock:
            self.messages.append(
                Message(
                    len(self.messages) + 1,
                    format_datetime_seconds(when),
                    line.level,
                    line.operation,
                    line.pl,
                    line.en,
                )
            )

    async def settled(self) -> None:
        """Wait until the connector's current day (if any) is over."""
        if self._task is not None:
            await asyncio.shield(self._task)

    def messages_since(self, seq: int) -> list[Message]:
        with self._lock:
            return self.messages[seq:]

    def answer(self, trainee: str, picks: Mapping[int, Pick], when: datetime) -> Answer:
        name = " ".join(trainee.split())
        if not name:
            raise DrillError("name is required")
        if len(name) > 80:
            raise DrillError("name is too long (80 characters at most)")
        if self.status == "finished":
            raise DrillError("the drill is finished")
        score = 0
        for question in self.questions:
            pick = picks.get(question.number)
            if pick is None:
                raise DrillError(f"question {question.number} has no answer")
            if (
                question.choice("causes", pick.cause) is None
                or question.choice("fixes", pick.fix) is None
            ):
                raise DrillError(f"question {question.number}: unknown choice")
            score += (pick.cause == question.right_cause) + (pick.fix == question.right_fix)
        key = name.casefold()
        with self._lock:
            if key in self.answers:
                raise DrillError(f"{name} has already answered")
            answer = Answer(name, dict(picks), when, score, self.max_score)
            self.answers[key] = answer
        return answer

    def answer_of(self, trainee: str) -> Answer | None:
        return self.answers.get(" ".join(trainee.split()).casefold())

    def results(self) -> list[Answer]:
        with self._lock:
            return sorted(self.answers.values(), key=lambda a: (-a.score, a.trainee.casefold()))

    def csv(self, lang: str = "pl") -> str:
        """One row per trainee: score, then per question the letters picked and whether right."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        pl = lang != "en"
        head = (
            ["uczestnik", "czas", "punkty", "maks", "procent"]
            if pl
            else [
                "trainee",
                "submitted",
                "score",
                "max",
                "percent",
            ]
        )
        for q in self.questions:
            head += (
                [
                    f"p{q.number}_przyczyna",
                    f"p{q.number}_przyczyna_ok",
                    f"p{q.number}_rozwiazanie",
                    f"p{q.number}_rozwiazanie_ok",
                ]
                if pl
                else [
                    f"q{q.number}_cause",
                    f"q{q.number}_cause_ok",
                    f"q{q.number}_fix",
                    f"q{q.number}_fix_ok",
                ]
            )
        writer.writerow(head)
        for answer in self.results():
            row: list[Any] = [
                answer.trainee,
                format_datetime_seconds(answer.submitted),
                answer.score,
                answer.max_score,
                answer.percent,
            ]
            for q in self.questions:
                pick = answer.picks[q.number]
                row += [
                    pick.cause,
                    int(pick.cause == q.right_cause),
                    pick.fix,
                    int(pick.fix == q.right_fix),
                ]
            writer.writerow(row)
        return out.getvalue()


class DrillBook:
    """The drills of one server; the console's routes only call these verbs."""

    def __init__(self, state: MockState, app: ASGIApp | None = None) -> None:
        self.state = state
        self.app = app
        self._drills: dict[str, Drill] = {}
        self._lock = threading.Lock()

    def __iter__(self) -> Any:
        return iter(list(self._drills.values()))

    def get(self, drill_id: str) -> Drill:
        drill = self._drills.get(drill_id)
        if drill is None:
            raise KeyError(drill_id)
        return drill

    def hidden_scenarios(self) -> frozenset[str]:
        """Names a trainee must not see now: those of drills not yet finished."""
        return frozenset(n for d in self._drills.values() if d.hidden for n in d.names)

    def start(
        self,
        scenarios: Sequence[Scenario],
        *,
        pool: Iterable[Scenario],
        title: str = "",
        environment: str | None = None,
        seed: int | None = None,
        distractors: int = 3,
        token: str | None = None,
        nip: str | None = None,
        lang: str = "pl",
    ) -> Drill:
        """Activate the scenarios, build the questions, register the drill.

        The connector logs in with ``token`` when given (the trainer's own, e.g. a
        KSeF 1.0 one), else with the first broken credential the scenarios set
        up, else with a fresh working token.
        """
        # The bundled client is imported when a drill needs it, not with the server.
        from mockksef.console import connector

        if not scenarios:
            raise DrillError("choose at least one scenario")
        enabled = [e.value for e in self.state.environments]
        env = environment or next(
            (s.environments[-1] for s in scenarios if s.environments),
            self.state.config.default_env.value,
        )
        if env not in enabled:
            raise DrillError(f"environment {env} is not enabled ({', '.join(enabled)})")
        # The state's seed (config.seed is filled in by MockState when none was asked for).
        seed = int(self.state.config.seed or 0) if seed is None else seed
        questions = build_questions(scenarios, pool, seed, distractors)
        reports: dict[str, dict[str, Any]] = {}
        for scenario in scenarios:
            # A scenario that names no environment is pinned to the drill's one.
            pinned = scenario if scenario.environments else replace(scenario, environments=(env,))
            reports[scenario.name] = self.state.scenarios.activate(pinned, seed=seed)
        if token:
            credential = connector.Credential(
                "token", "custom", nip or _context_of(token) or connector.DEFAULT_NIP, token=token
            )
        else:
            credential = connector.pick_credential(connector.credentials_of(reports)) or (
                connector.fresh_token(self.state, env, nip or connector.DEFAULT_NIP)
            )
        with self._lock:
            drill_id = f"d{len(self._drills) + 1}"
            drill = Drill(
                drill_id,
                title.strip() or f"Ćwiczenie {len(self._drills) + 1}",
                env,
                tuple(scenarios),
                seed,
                questions,
                self.state.clock.now(),
                lang=lang,
                login=credential,
                nip=nip,
            )
            self._drills[drill_id] = drill
        return drill

    async def run_connector(self, drill: Drill) -> None:
        """Play the connector's day for ``drill`` (awaited, or run as a task by ``launch``)."""
        from mockksef.console import connector

        if self.app is None:
            raise DrillError("no application to run the connector against")
        if drill.login is None:
            raise DrillError("the drill has no credential for the connector")
        try:
            await connector.run_day(
                self.state,
                self.app,
                drill.environment,
                drill.login,
                lambda line: drill.say(line, self.state.clock.now()),
                nip=drill.nip,
                seed=drill.seed,
            )
        except Exception as exc:  # a bug in the day must not leave the drill hanging
            drill.say(
                connector.Line(
                    "error",
                    "Connector",
                    f"Nieoczekiwany błąd konektora: {type(exc).__name__}: {exc}",
                    f"Unexpected connector failure: {type(exc).__name__}: {exc}",
                ),
                self.state.clock.now(),
            )
        finally:
            if drill.status == "running":
                drill.status = "ready"

    def launch(self, drill: Drill) -> bool:
        """Run the connector's day as a task of the running event loop (one at a time)."""
        if drill._task is not None and not drill._task.done():
            return False
        drill.status = "running"
        drill._task = asyncio.get_running_loop().create_task(self.run_connector(drill))
        return True

    def rerun(self, drill: Drill) -> bool:
        """Another day of the connector (after the trainer moved the clock, say)."""
        if drill.status == "finished":
            return False
        return self.launch(drill)

    def finish(self, drill_id: str) -> Drill:
        drill = self.get(drill_id)
        if drill.status != "finished":
            drill.status = "finished"
            active = set(self.state.scenarios.active)
            for name in drill.names:
                if name in active:
                    self.state.scenarios.deactivate(name)
        return drill


def _context_of(token: str) -> str | None:
    parts = token.split("|")
    if len(parts) == 3 and parts[1].startswith("nip-"):
        return parts[1][4:]
    return None
