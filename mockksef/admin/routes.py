"""Admin API under ``/_mock``: health, reset, clock, state summary.

Every verb has a Python twin on ``MockState`` (``reset()``, ``clock``,
``summary()``), so in-process tests and scripts need no HTTP for control.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mockksef.clock import parse_datetime
from mockksef.environments import Env
from mockksef.state import MockState


def _state(request: Request) -> MockState:
    return request.app.state.mock  # type: ignore[no-any-return]


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    import json

    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


async def health(request: Request) -> Response:
    mock = _state(request)
    return JSONResponse(
        {
            "status": "ok",
            "environments": [e.value for e in mock.environments],
            "defaultEnvironment": mock.config.default_env.value,
            "specVersion": mock.spec.version,
            "now": mock.clock.describe()["now"],
        }
    )


async def reset(request: Request) -> Response:
    mock = _state(request)
    env = request.query_params.get("env")
    try:
        mock.reset(Env.parse(env) if env else None)
    except (KeyError, ValueError) as exc:
        return _bad(str(exc))
    return JSONResponse({"reset": env or "all"})


async def clock(request: Request) -> Response:
    mock = _state(request)
    if request.method == "GET":
        return JSONResponse(mock.clock.describe())
    try:
        body = await _json_body(request)
        if "advance" in body:
            mock.clock.advance(float(body["advance"]))
        if "set" in body:
            mock.clock.set(parse_datetime(str(body["set"])))
        mode = body.get("mode")
        if mode == "virtual":
            mock.clock.freeze()
        elif mode == "real":
            mock.clock.run()
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return JSONResponse(mock.clock.describe())


async def state(request: Request) -> Response:
    return JSONResponse(_state(request).summary())


async def keys(request: Request) -> Response:
    """Rotate, re-certify or withdraw the mock Ministry keys of one environment.

    Body: ``{"action": "rotate"|"recertify"|"withdraw", "usage": "KsefTokenEncryption",
    "overlapDays": 14, "emergency": false, "publicKeyId": "…"}``; ``?env=`` picks the
    environment (default: the default one).
    """
    mock = _state(request)
    try:
        env = mock.env(request.query_params.get("env") or mock.config.default_env)
        body = await _json_body(request)
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
            return _bad(f"unknown action {action!r}")
    except (KeyError, ValueError, TypeError) as exc:
        return _bad(f"keys: {exc}")
    return JSONResponse(env.public_keys.listing(mock.clock.now()))


routes = [
    Route("/health", health, methods=["GET"], name="admin.health"),
    Route("/reset", reset, methods=["POST"], name="admin.reset"),
    Route("/clock", clock, methods=["GET", "POST"], name="admin.clock"),
    Route("/state", state, methods=["GET"], name="admin.state"),
    Route("/keys", keys, methods=["POST"], name="admin.keys"),
]
