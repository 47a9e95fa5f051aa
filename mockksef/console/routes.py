"""The console's pages under ``/_mock/console`` (HTTP only: the work is in ``Console``).

Server-rendered Jinja2 pages; ``static/console.js`` adds the live parts
(Server-Sent Events from ``…/stream``) and the request-detail panel. Forms are
plain ``application/x-www-form-urlencoded`` posts answered with a redirect.

The language is Polish unless ``?lang=en`` (remembered in a cookie). The admin
guard (``mockksef/admin/guard.py``) covers these pages like the rest of
``/_mock``: a browser opens ``/_mock/console?token=…`` once and its cookie does
the rest, so the pages need no token of their own.
"""

from __future__ import annotations

import functools
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mockksef.clock import parse_datetime
from mockksef.console import i18n, live, masking
from mockksef.console.drills import Drill, DrillError, Pick
from mockksef.console.runtime import Console, ScenarioRejected
from mockksef.explain import KIND_LABELS, Explanation
from mockksef.scenarios import ScenarioError

LANG_COOKIE = "mockksef_lang"
# A stream ends after this long and the browser reconnects where it stopped, so
# that a server shutting down never waits on an open page.
STREAM_SECONDS = 20.0
KEEPALIVE_SECONDS = 5.0
MAX_FORM = 256 * 1024
BACKLOG = 200

_templates = Environment(
    loader=PackageLoader("mockksef.console", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


# -- request helpers ------------------------------------------------------------------------------


def _console(request: Request) -> Console:
    return request.app.state.console  # type: ignore[no-any-return]


class Page:
    """What every template gets: language, translations, links under the console's prefix."""

    def __init__(self, request: Request) -> None:
        self.request = request
        query = request.query_params
        self.lang = i18n.lang_of(query.get("lang") or request.cookies.get(LANG_COOKIE))
        self.base: str = str(request.scope.get("root_path", "")).rstrip("/")

    def t(self, key: str, **fields: object) -> str:
        return i18n.translate(self.lang, key, **fields)

    def u(self, path: str = "/", **params: Any) -> str:
        query = {k: str(v) for k, v in params.items() if v not in (None, "")}
        return self.base + path + (f"?{urlencode(query)}" if query else "")

    def switch(self, lang: str) -> str:
        query = dict(self.request.query_params)
        query["lang"] = lang
        return self.request.url.path + "?" + urlencode(query)

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        html = _templates.get_template(template).render(
            page=self,
            t=self.t,
            u=self.u,
            lang=self.lang,
            kind_label=lambda kind: KIND_LABELS[kind][self.lang],
            **context,
        )
        return self.remember(HTMLResponse(html, status_code=status))

    def remember(self, response: Response) -> Response:
        query = self.request.query_params
        if query.get("lang") in i18n.LANGS:
            response.set_cookie(LANG_COOKIE, query["lang"], samesite="lax")
        return response

    def redirect(self, path: str, **params: Any) -> Response:
        return self.remember(RedirectResponse(self.u(path, **params), status_code=303))


class BadForm(Exception):
    """A form the console will not read: answered with ``status`` by ``_bad_form``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _bad_form(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadForm)
    return Page(request).render("error.html", exc.status, nav="", code=exc.status, message=str(exc))


async def _form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    if len(body) > MAX_FORM:
        raise BadForm(413, f"form too large ({len(body)} B, at most {MAX_FORM})")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadForm(400, f"form is not UTF-8: {exc}") from None
    out: dict[str, list[str]] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        out.setdefault(key, []).append(value)
    return out


def _one(form: Mapping[str, list[str]], key: str) -> str:
    return (form.get(key) or [""])[0].strip()


def _env_or_404(request: Request) -> str | None:
    env = request.path_params["env"]
    enabled = [e.value for e in _console(request).state.environments]
    return env if env in enabled else None


# -- catalogue and look-up --------------------------------------------------------------------------


async def catalogue(request: Request) -> Response:
    page = Page(request)
    console = _console(request)
    query = request.query_params.get("q", "")
    result = await _look_up(console, query) if query.strip() else None
    return page.render(
        "catalogue.html",
        nav="catalogue",
        query=query,
        result=result,
        scenarios=sorted(console.scenarios(), key=lambda s: s.name),
    )


async def explain_api(request: Request) -> Response:
    query = request.query_params.get("q", "")
    return JSONResponse((await _look_up(_console(request), query)).to_dict())


async def _look_up(console: Console, query: str) -> Explanation:
    # Off the event loop: a long paste takes a few hundred milliseconds to match.
    return await run_in_threadpool(lambda: console.explainer().explain(query))


async def scenario_page(request: Request) -> Response:
    page = Page(request)
    console = _console(request)
    try:
        scenario = console.scenario(request.path_params["name"])
    except KeyError:
        return page.render("error.html", 404, nav="catalogue", message=request.path_params["name"])
    return page.render(
        "scenario.html",
        nav="catalogue",
        scenario=scenario,
        source=console.source_of(scenario),
        environments=[e.value for e in console.state.environments],
    )


# -- environments ---------------------------------------------------------------------------------


def _environments_page(
    request: Request,
    status: int = 200,
    *,
    problems: Any = None,
    yaml_text: str = "",
    yaml_env: str | None = None,
    error: str | None = None,
) -> Response:
    page = Page(request)
    console = _console(request)
    envs = [e.value for e in console.state.environments]
    problem_lines = {p.line for p in problems or () if p.line}
    return page.render(
        "environments.html",
        status,
        nav="environments",
        clock=console.state.clock.describe(),
        environments=[
            {"name": e, "counts": console.counts(e), "active": console.active(e)} for e in envs
        ],
        catalogue=sorted(s.name for s in console.scenarios()),
        problems=problems or [],
        problem_lines=problem_lines,
        yaml_text=yaml_text,
        # The listing beside the errors is masked; the text area keeps the paste to edit.
        yaml_lines=masking.mask_text(yaml_text).splitlines(),
        yaml_env=yaml_env,
        error=error,
        notice=request.query_params.get("notice"),
    )


async def environments(request: Request) -> Response:
    return _environments_page(request)


async def activate(request: Request) -> Response:
    page = Page(request)
    env = _env_or_404(request)
    if env is None:
        return _environments_page(request, 404, error=request.path_params["env"])
    console = _console(request)
    form = await _form(request)
    text = _one(form, "yaml")
    name = _one(form, "name")
    try:
        if text:
            report = console.activate_yaml(env, (form.get("yaml") or [""])[0])
        elif name:
            report = console.activate(env, console.scenario(name))
        else:
            return _environments_page(request, 400, error=page.t("env.choose"))
    except ScenarioRejected as exc:
        return _environments_page(
            request,
            400,
            problems=exc.problems,
            yaml_text=(form.get("yaml") or [""])[0],
            yaml_env=env,
        )
    except (KeyError, ScenarioError, ValueError) as exc:
        return _environments_page(request, 400, error=str(exc))
    return page.redirect("/environments", notice=page.t("env.activated", name=report["name"]))


async def deactivate(request: Request) -> Response:
    page = Page(request)
    form = await _form(request)
    name = _one(form, "name")
    try:
        _console(request).state.scenarios.deactivate(name)
    except KeyError as exc:
        return _environments_page(request, 400, error=str(exc))
    return page.redirect("/environments", notice=page.t("env.deactivated", name=name))


async def reset(request: Request) -> Response:
    page = Page(request)
    env = _env_or_404(request)
    if env is None:
        return _environments_page(request, 404, error=request.path_params["env"])
    _console(request).state.reset(env)
    return page.redirect("/environments", notice=page.t("env.was_reset", env=env.upper()))


async def clock(request: Request) -> Response:
    page = Page(request)
    form = await _form(request)
    manager = _console(request).state.scenarios
    try:
        if _one(form, "mode"):
            manager.move_clock(mode=_one(form, "mode"))
        if _one(form, "advance"):
            manager.move_clock(advance=_one(form, "advance"))
        if _one(form, "set"):
            manager.move_clock(set=parse_datetime(_one(form, "set")))
    except (ValueError, TypeError, OverflowError) as exc:
        return _environments_page(request, 400, error=str(exc))
    now = _console(request).state.clock.describe()["now"]
    return page.redirect("/environments", notice=page.t("env.clock_moved", now=now))


# -- live journal ---------------------------------------------------------------------------------


async def journal(request: Request) -> Response:
    page = Page(request)
    console = _console(request)
    filters = live.Filters.from_query(request.query_params)
    return page.render(
        "journal.html",
        nav="journal",
        filters=filters,
        environments=[e.value for e in console.state.environments],
        capture=console.captures.enabled,
        stream=page.u("/journal/stream", **filters.as_query()),
    )


def _since(request: Request, default: int) -> int:
    raw = request.headers.get("last-event-id") or request.query_params.get("since")
    try:
        return max(0, int(str(raw).split("-")[-1].lstrip("j"))) if raw else default
    except ValueError:
        return default


def _lifetime(request: Request) -> float:
    """How long this stream stays open (``?lifetime=`` shortens it, e.g. for a script)."""
    try:
        asked = float(request.query_params.get("lifetime", STREAM_SECONDS))
    except ValueError:
        return STREAM_SECONDS
    if math.isnan(asked):  # max/min keep a NaN, and the stream would never end
        return STREAM_SECONDS
    return min(max(asked, 0.0), STREAM_SECONDS)


def _stream(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def journal_stream(request: Request) -> Response:
    console = _console(request)
    lang = Page(request).lang
    filters = live.Filters.from_query(request.query_params)
    journal = console.state.journal
    since = _since(request, max(0, journal.last_seq - BACKLOG))
    lifetime = _lifetime(request)

    async def events() -> AsyncIterator[str]:
        yield "retry: 300\n\n"
        idle = 0.0
        async for batch in live.follow(journal, since, lifetime=lifetime):
            hidden = console.hidden()
            sent = False
            for entry in batch:
                if filters.accepts(entry):
                    row = live.view(entry, lang, hidden, console.rule_text)
                    yield live.sse("entry", row, entry["seq"])
                    sent = True
            if batch and not sent:
                # Keep the browser's Last-Event-ID moving past filtered-out entries.
                yield f"id: {batch[-1]['seq']}\n: skip\n\n"
            idle = 0.0 if batch else idle + live.IDLE_SECONDS
            if idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield ": keep-alive\n\n"

    return _stream(events())


async def journal_entry(request: Request) -> Response:
    console = _console(request)
    page = Page(request)
    seq = request.path_params["seq"]
    found = console.state.journal.entries(since=seq - 1, limit=1)
    if not found or found[0]["seq"] != seq:
        return JSONResponse({"error": f"no journal entry {seq}"}, status_code=404)
    entry = live.view(found[0], page.lang, console.hidden(), console.rule_text)
    exchange = console.captures.get(seq)
    return JSONResponse(
        {
            "entry": entry,
            "exchange": exchange.masked() if exchange else None,
            "lookup": page.u("/", q=entry["lookup"]) if entry["lookup"] else None,
            "scenario": page.u(f"/scenarios/{entry['scenario']}") if entry["scenario"] else None,
        }
    )


async def capture(request: Request) -> Response:
    page = Page(request)
    form = await _form(request)
    store = _console(request).captures
    store.enabled = _one(form, "on") == "1"
    return page.redirect("/journal")


# -- drills ---------------------------------------------------------------------------------------


def _drill(request: Request) -> Drill | None:
    try:
        return _console(request).drills.get(request.path_params["drill"])
    except KeyError:
        return None


def _not_found(request: Request) -> Response:
    return Page(request).render("error.html", 404, nav="drills", message=request.url.path)


async def drills(request: Request) -> Response:
    page = Page(request)
    console = _console(request)
    return page.render(
        "drills.html",
        nav="drills",
        drills=list(console.drills),
        scenarios=sorted(console.scenarios(), key=lambda s: s.name),
        environments=[e.value for e in console.state.environments],
        seed=console.state.config.seed,
        error=None,
    )


async def drill_start(request: Request) -> Response:
    page = Page(request)
    console = _console(request)
    form = await _form(request)
    try:
        chosen = [console.scenario(name) for name in form.get("scenario", [])]
        seed = int(_one(form, "seed")) if _one(form, "seed") else None
        drill = console.drills.start(
            chosen,
            pool=console.scenarios(),
            title=_one(form, "title"),
            environment=_one(form, "environment") or None,
            seed=seed,
            distractors=int(_one(form, "distractors") or 3),
            token=_one(form, "token") or None,
            nip=_one(form, "nip") or None,
            lang=page.lang,
        )
    except (DrillError, KeyError, ValueError, ScenarioError) as exc:
        return page.render(
            "drills.html",
            400,
            nav="drills",
            drills=list(console.drills),
            scenarios=sorted(console.scenarios(), key=lambda s: s.name),
            environments=[e.value for e in console.state.environments],
            seed=console.state.config.seed,
            error=str(exc),
        )
    console.drills.launch(drill)
    return page.redirect(f"/drills/{drill.id}")


async def drill_trainer(request: Request) -> Response:
    drill = _drill(request)
    if drill is None:
        return _not_found(request)
    page = Page(request)
    trainee_link = str(request.base_url).rstrip("/") + page.u(f"/drills/{drill.id}/play")
    return page.render(
        "drill_trainer.html",
        nav="drills",
        drill=drill,
        trainee_link=trainee_link,
        stream=page.u(f"/drills/{drill.id}/stream", role="trainer"),
    )


async def drill_play(request: Request) -> Response:
    drill = _drill(request)
    if drill is None:
        return _not_found(request)
    page = Page(request)
    name = " ".join(request.query_params.get("name", "").split())
    answer = drill.answer_of(name) if name else None
    return page.render(
        "drill_play.html",
        nav="drills",
        drill=drill,
        name=name,
        answer=answer,
        error=None,
        stream=page.u(f"/drills/{drill.id}/stream"),
    )


async def drill_answer(request: Request) -> Response:
    drill = _drill(request)
    if drill is None:
        return _not_found(request)
    page = Page(request)
    form = await _form(request)
    name = " ".join(_one(form, "name").split())
    picks = {
        q.number: Pick(_one(form, f"cause-{q.number}"), _one(form, f"fix-{q.number}"))
        for q in drill.questions
    }
    try:
        drill.answer(name, picks, _console(request).state.clock.now())
    except DrillError as exc:
        return page.render(
            "drill_play.html",
            400,
            nav="drills",
            drill=drill,
            name=name,
            answer=drill.answer_of(name),
            error=str(exc),
            stream=page.u(f"/drills/{drill.id}/stream"),
        )
    return page.redirect(f"/drills/{drill.id}/play", name=name)


async def drill_stream(request: Request) -> Response:
    drill = _drill(request)
    if drill is None:
        return _not_found(request)
    console = _console(request)
    lang = Page(request).lang
    trainer = request.query_params.get("role") == "trainer"
    journal = console.state.journal
    # "m{messages}-j{journal seq}": where a reconnecting browser left off.
    last = request.headers.get("last-event-id") or ""
    messages_seen, since = 0, journal.last_seq - BACKLOG
    if last.startswith("m") and "-j" in last:
        head, tail = last[1:].split("-j", 1)
        if head.isdigit() and tail.isdigit():
            messages_seen, since = int(head), int(tail)
    since = max(0, since)
    lifetime = _lifetime(request)

    async def events() -> AsyncIterator[str]:
        nonlocal messages_seen, since
        yield "retry: 300\n\n"
        answers = -1
        status = ""
        async for batch in live.follow(journal, since, lifetime=lifetime):
            hidden = frozenset() if trainer else console.hidden()
            for entry in batch:
                since = int(entry["seq"])
                if entry.get("environment") == drill.environment or entry.get("kind") == "event":
                    if entry.get("kind") == "event" and not trainer:
                        continue
                    row = live.view(entry, lang, hidden, console.rule_text)
                    yield live.sse("entry", row, _cursor(messages_seen, since))
            for message in drill.messages_since(messages_seen):
                messages_seen = message.seq
                yield live.sse(
                    "message",
                    {
                        "seq": message.seq,
                        "time": message.time,
                        "level": message.level,
                        "operation": message.operation,
                        "text": message.text(lang),
                    },
                    _cursor(messages_seen, since),
                )
            if drill.status != status:
                status = drill.status
                yield live.sse(
                    "status",
                    {"status": status, "label": i18n.translate(lang, f"drills.status.{status}")},
                )
            if trainer and len(drill.answers) != answers:
                answers = len(drill.answers)
                yield live.sse(
                    "answers",
                    [
                        {
                            "trainee": a.trainee,
                            "score": a.score,
                            "max": a.max_score,
                            "percent": a.percent,
                            "submitted": a.submitted.strftime("%H:%M:%S"),
                        }
                        for a in drill.results()
                    ],
                )

    return _stream(events())


def _cursor(messages: int, seq: int) -> str:
    return f"m{messages}-j{seq}"


async def drill_rerun(request: Request) -> Response:
    drill = _drill(request)
    if drill is None:
        return _not_found(request)
    _console(request).drills.rerun(drill)
    return Page(request).redirect(f"/drills/{drill.id}")


async def drill_finish(request: Request) -> Response:
    drill = _drill(request)
    if drill is None:
        return _not_found(request)
    _console(request).drills.finish(drill.id)
    return Page(request).redirect(f"/drills/{drill.id}")


async def drill_csv(request: Request) -> Response:
    drill = _drill(request)
    if drill is None:
        return _not_found(request)
    page = Page(request)
    return PlainTextResponse(
        drill.csv(page.lang),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="mockksef-{drill.id}.csv"'},
    )


async def drill_print(request: Request) -> Response:
    drill = _drill(request)
    if drill is None:
        return _not_found(request)
    return Page(request).render("drill_print.html", nav="drills", drill=drill)


def build(console: Console) -> Starlette:
    """The console as an ASGI app; ``install`` mounts it at ``/_mock/console``."""
    app = Starlette(routes=list(_routes()), exception_handlers={BadForm: _bad_form})
    app.state.console = console
    return app


_Endpoint = Callable[[Request], Awaitable[Response]]

# (method, path, page, route name after "console.")
_PAGES: tuple[tuple[str, str, _Endpoint, str], ...] = (
    ("GET", "/", catalogue, "catalogue"),
    ("GET", "/api/explain", explain_api, "explain"),
    ("GET", "/scenarios/{name}", scenario_page, "scenario"),
    ("GET", "/environments", environments, "environments"),
    ("POST", "/environments/{env}/activate", activate, "activate"),
    ("POST", "/environments/{env}/reset", reset, "reset"),
    ("POST", "/scenarios-active/deactivate", deactivate, "deactivate"),
    ("POST", "/clock", clock, "clock"),
    ("GET", "/journal", journal, "journal"),
    ("GET", "/journal/stream", journal_stream, "journal.stream"),
    ("POST", "/journal/capture", capture, "journal.capture"),
    ("GET", "/journal/{seq:int}", journal_entry, "journal.entry"),
    ("GET", "/drills", drills, "drills"),
    ("POST", "/drills", drill_start, "drills.start"),
    ("GET", "/drills/{drill}", drill_trainer, "drill"),
    ("GET", "/drills/{drill}/play", drill_play, "drill.play"),
    ("POST", "/drills/{drill}/answer", drill_answer, "drill.answer"),
    ("GET", "/drills/{drill}/stream", drill_stream, "drill.stream"),
    ("POST", "/drills/{drill}/rerun", drill_rerun, "drill.rerun"),
    ("POST", "/drills/{drill}/finish", drill_finish, "drill.finish"),
    ("GET", "/drills/{drill}/results.csv", drill_csv, "drill.csv"),
    ("GET", "/drills/{drill}/print", drill_print, "drill.print"),
)


# Stateless (each page finds the console in ``app.state``): made once per process, not
# per ``create_app`` (issue 17: a fresh app per test).
@functools.cache
def _routes() -> tuple[BaseRoute, ...]:
    pages = [
        Route(path, page, methods=[method], name=f"console.{name}")
        for method, path, page, name in _PAGES
    ]
    return (
        *pages,
        Mount(
            "/static", app=StaticFiles(directory=Path(__file__).parent / "static"), name="static"
        ),
    )
