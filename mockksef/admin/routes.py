"""Admin API under ``/_mock``: health, reset, clock, state, keys, scenarios, journal, seed.

Every verb has a Python twin on ``MockState`` (``reset()``, ``clock``,
``summary()``, ``scenarios.load/activate/deactivate/unload/seed/check``,
``journal.entries()``), so in-process tests and scripts need no HTTP for control.

Scenarios:

* ``GET /_mock/scenarios`` – catalogue names, loaded and active scenarios, rule counters;
* ``POST /_mock/scenarios[?activate=false]`` – load (and by default activate) a
  scenario: a YAML body (``application/yaml`` / ``text/*``) or JSON
  ``{"name": "catalogue-name"}`` / ``{"yaml": "..."}`` / ``{"scenario": {...}}``;
* ``GET /_mock/scenarios/{name}``, ``POST …/{name}/activate`` (``{"seed": n, "clock": "virtual"}``),
  ``POST …/{name}/deactivate``, ``DELETE …/{name}``;
* ``GET /_mock/scenarios/check`` – 409 listing rules that never fired
  (scenarios with ``require_all_fired``).

Journal: ``GET /_mock/journal?since=&limit=&kind=&environment=&operation=&status=&context=&rule=&fired=``
(``/_mock/requests`` is the same), ``DELETE /_mock/journal``.
Seeding: ``POST /_mock/seed`` ``{"environment": "test", "seed": 1, "setup": {...}}``.
KSeF 1.0 paths: ``GET|POST /_mock/legacy`` ``{"mode": "gone"}``.
Snapshots (save, load, list, delete, download, upload): ``/_mock/snapshots``, in
``snapshots.py``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mockksef.admin.answers import json_object, refused
from mockksef.admin.snapshots import routes as snapshot_routes
from mockksef.clock import parse_datetime
from mockksef.environments import Env
from mockksef.http.endpoint import mock_state
from mockksef.untrusted import json_loads


async def health(request: Request) -> Response:
    mock = mock_state(request)
    return JSONResponse(
        {
            "status": "ok",
            "environments": [e.value for e in mock.environments],
            "defaultEnvironment": mock.config.default_env.value,
            "specVersion": mock.spec.version,
            "now": mock.clock.describe()["now"],
            # Replays this run's identifiers: mockksef serve --seed N.
            "seed": mock.seed,
        }
    )


async def reset(request: Request) -> Response:
    mock = mock_state(request)
    env = request.query_params.get("env")
    try:
        mock.reset(Env.parse(env) if env else None)
    except (KeyError, ValueError) as exc:
        return refused(str(exc))
    return JSONResponse({"reset": env or "all"})


async def clock(request: Request) -> Response:
    """``{"mode": "virtual"|"offset"|"real", "set": ISO, "advance": seconds or "2h"}``.

    ``virtual`` freezes the clock where it stands, ``offset`` lets it run on from
    where it stands, ``real`` returns to wall time. Scheduled resets the move
    reaches happen at once.
    """
    mock = mock_state(request)
    if request.method == "GET":
        return JSONResponse(mock.clock.describe())
    try:
        body = await json_object(request)
        mode = body.get("mode")
        if mode is not None and mode not in ("virtual", "offset", "real"):
            raise ValueError(f"unknown clock mode {mode!r} (real, virtual, offset)")
        advance = body.get("advance")
        if isinstance(advance, int | float) and advance < 0:
            raise ValueError("the clock only moves forward; use set to go back")
        mock.scenarios.move_clock(
            advance=advance,
            set=parse_datetime(str(body["set"])) if "set" in body else None,
            mode=mode,
        )
    except (ValueError, TypeError) as exc:
        return refused(str(exc))
    return JSONResponse(mock.clock.describe())


async def state(request: Request) -> Response:
    return JSONResponse(mock_state(request).summary())


async def keys(request: Request) -> Response:
    """Rotate, re-certify or withdraw the mock Ministry keys of one environment.

    Body: ``{"action": "rotate"|"recertify"|"withdraw", "usage": "KsefTokenEncryption",
    "overlapDays": 14, "emergency": false, "publicKeyId": "…"}``; ``?env=`` picks the
    environment (default: the default one).
    """
    mock = mock_state(request)
    try:
        env = mock.env(request.query_params.get("env") or mock.config.default_env)
        body = await json_object(request)
        action = body.get("action", "rotate")
        usage = str(body.get("usage", "SymmetricKeyEncryption"))
        if action == "rotate":
            env.public_keys.rotate(
                usage,
                overlap_days=float(body.get("overlapDays", 14)),
                emergency=bool(body.get("emergency", False)),
            )
        elif action == "recertify":
            env.public_keys.recertify(usage)
        elif action == "withdraw":
            env.public_keys.withdraw(str(body["publicKeyId"]))
        else:
            return refused(f"unknown action {action!r}")
    except (KeyError, ValueError, TypeError) as exc:
        return refused(f"keys: {exc}")
    return JSONResponse(env.public_keys.listing(mock.clock.now()))


# -- scenarios ---------------------------------------------------------------------------------


def _scenario_error(exc: Exception) -> JSONResponse:
    problems = getattr(exc, "problems", None) or [str(exc)]
    return JSONResponse({"error": "invalid scenario", "problems": problems}, status_code=400)


async def scenarios(request: Request) -> Response:
    mock = mock_state(request)
    if request.method == "GET":
        return JSONResponse(mock.scenarios.status())
    from mockksef.scenarios import ScenarioError

    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    raw = await request.body()
    try:
        if media in ("application/json", "") and raw.strip().startswith(b"{"):
            data = json_loads(raw)
            if "name" in data and len(data) <= 2 and "rules" not in data:
                source: Any = str(data["name"])
                seed = data.get("seed")
            elif "yaml" in data:
                source, seed = str(data["yaml"]), data.get("seed")
            elif "scenario" in data:
                source, seed = data["scenario"], data.get("seed")
            else:
                source, seed = data, None
        else:
            source, seed = raw.decode("utf-8"), None
        if isinstance(source, str) and "\n" not in source and source.strip().startswith("name:"):
            source += "\n"  # a one-line YAML document, not a catalogue name
        activate = request.query_params.get("activate", "true").lower() != "false"
        if activate:
            report = mock.scenarios.activate(source, seed=seed)
        else:
            scenario = mock.scenarios.load(source)
            report = mock.scenarios.describe(scenario.name)
    except ScenarioError as exc:
        return _scenario_error(exc)
    except (ValueError, UnicodeDecodeError) as exc:
        return refused(f"scenario: {exc}")
    return JSONResponse(report, status_code=201)


async def scenario_item(request: Request) -> Response:
    mock = mock_state(request)
    name = request.path_params["name"]
    try:
        if request.method == "DELETE":
            mock.scenarios.unload(name)
            return JSONResponse({"unloaded": name})
        return JSONResponse(mock.scenarios.describe(name))
    except KeyError as exc:
        return refused(str(exc.args[0]), 404)


async def scenario_activate(request: Request) -> Response:
    from mockksef.scenarios import ScenarioError

    mock = mock_state(request)
    name = request.path_params["name"]
    try:
        body = await json_object(request)
        if name not in mock.scenarios.loaded:
            return refused(f"scenario {name!r} is not loaded", 404)
        return JSONResponse(
            mock.scenarios.activate(name, seed=body.get("seed"), clock=body.get("clock"))
        )
    except ScenarioError as exc:
        return _scenario_error(exc)
    except ValueError as exc:
        return refused(str(exc))


async def scenario_deactivate(request: Request) -> Response:
    mock = mock_state(request)
    name = request.path_params["name"]
    try:
        mock.scenarios.deactivate(name)
    except KeyError as exc:
        return refused(str(exc.args[0]), 404)
    return JSONResponse(mock.scenarios.describe(name))


async def scenario_check(request: Request) -> Response:
    unfired = mock_state(request).scenarios.unfired()
    return JSONResponse(
        {"ok": not unfired, "unfired": unfired}, status_code=409 if unfired else 200
    )


# -- journal, seed, KSeF 1.0 ----------------------------------------------------------------------


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


async def journal(request: Request) -> Response:
    mock = mock_state(request)
    if request.method == "DELETE":
        mock.journal.clear()
        return JSONResponse({"cleared": True, "lastSeq": mock.journal.last_seq})
    q = request.query_params
    try:
        fired = q.get("fired")
        entries = mock.journal.entries(
            since=_int(q.get("since")) or 0,
            limit=_int(q.get("limit")),
            kind=q.get("kind"),
            environment=q.get("environment") or q.get("env"),
            operation=q.get("operation"),
            status=_int(q.get("status")),
            context=q.get("context"),
            rule=q.get("rule"),
            fired=None if fired is None else fired.lower() in ("1", "true", "yes"),
        )
    except ValueError as exc:
        return refused(f"journal: {exc}")
    return JSONResponse(
        {
            "entries": entries,
            "lastSeq": mock.journal.last_seq,
            "enabled": mock.journal.enabled,
            "size": mock.journal.size,
        }
    )


async def seed(request: Request) -> Response:
    from mockksef.scenarios import ScenarioError

    mock = mock_state(request)
    try:
        body = await json_object(request)
        setup = body.get(
            "setup", {k: v for k, v in body.items() if k not in ("environment", "seed")}
        )
        report = mock.scenarios.seed(
            setup,
            environment=Env.parse(body["environment"]).value if body.get("environment") else None,
            seed=body.get("seed"),
        )
    except ScenarioError as exc:
        return _scenario_error(exc)
    except (KeyError, ValueError, TypeError) as exc:
        return refused(f"seed: {exc}")
    return JSONResponse({"seeded": report}, status_code=201)


async def legacy(request: Request) -> Response:
    mock = mock_state(request)
    if request.method == "POST":
        try:
            body = await json_object(request)
            mock.scenarios.set_legacy(body.get("mode", "not_found"))
        except ValueError as exc:
            return refused(str(exc))
    return JSONResponse({"mode": mock.scenarios.legacy_mode})


routes = [
    Route("/health", health, methods=["GET"], name="admin.health"),
    Route("/reset", reset, methods=["POST"], name="admin.reset"),
    Route("/clock", clock, methods=["GET", "POST"], name="admin.clock"),
    Route("/state", state, methods=["GET"], name="admin.state"),
    Route("/keys", keys, methods=["POST"], name="admin.keys"),
    Route("/scenarios", scenarios, methods=["GET", "POST"], name="admin.scenarios"),
    Route("/scenarios/check", scenario_check, methods=["GET"], name="admin.scenarios.check"),
    Route("/scenarios/{name}", scenario_item, methods=["GET", "DELETE"], name="admin.scenario"),
    Route(
        "/scenarios/{name}/activate",
        scenario_activate,
        methods=["POST"],
        name="admin.scenario.activate",
    ),
    Route(
        "/scenarios/{name}/deactivate",
        scenario_deactivate,
        methods=["POST"],
        name="admin.scenario.deactivate",
    ),
    Route("/journal", journal, methods=["GET", "DELETE"], name="admin.journal"),
    Route("/requests", journal, methods=["GET", "DELETE"], name="admin.requests"),
    Route("/seed", seed, methods=["POST"], name="admin.seed"),
    Route("/legacy", legacy, methods=["GET", "POST"], name="admin.legacy"),
    *snapshot_routes,
]
