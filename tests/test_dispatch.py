"""``IndexedRouter`` (app.py) picks exactly the route Starlette's plain router picks,
and ``ApiFastPath`` leaves a request where Starlette's whole stack would.

The index is a performance measure (issue 8: a linear scan over ~85 routes was
the largest cost of a cheap request); it must never change which operation
answers, nor the 404/405/redirect outcomes of paths that match none.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route, Router

from mockksef import MockConfig, create_app
from mockksef.app import ApiFastPath, EnvSelector, IndexedRouter
from mockksef.environments import Env, api_prefixes
from mockksef.services import all_routes

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD")


class _Recorder:
    """An ASGI endpoint that only says which route was chosen."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope["chosen"] = self.name


def _routes() -> list[Route]:
    return [
        Route(r.path, _Recorder(r.name), methods=sorted(r.methods - {"HEAD"}), name=r.name)  # type: ignore[attr-defined]
        for r in all_routes()
    ]


def _run(coroutine: Any) -> None:
    """Drive a coroutine that never waits (no event loop per probe: 10 000 of them)."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise AssertionError("the router waited for something")


def _outcome(router: Router, method: str, path: str) -> tuple[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": "/v2" + path,
        "raw_path": ("/v2" + path).encode(),
        "root_path": "/v2",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "path_params": {},
        "app": object(),  # as inside an app: no match raises HTTPException
        "scheme": "http",
        "server": ("testserver", 80),
    }
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    try:
        _run(router.app(scope, receive, send))
    except HTTPException as exc:
        return "http", (exc.status_code, dict(exc.headers or {}))
    if "chosen" in scope:
        return "route", (scope["chosen"], scope.get("path_params"))
    return "sent", sent[0]["status"] if sent else None


def _probes() -> list[str]:
    paths = set()
    for route in all_routes():
        concrete = re.sub(r"\{[^}]+\}", "20250514-AU-2DFC46C000-3AC6D5877F-D4", route.path)  # type: ignore[attr-defined]
        paths |= {concrete, concrete + "/", concrete + "/x", concrete.rsplit("/", 1)[0]}
        paths.add(re.sub(r"\{[^}]+\}", "x", route.path))  # type: ignore[attr-defined]
    paths |= {"/", "/nope", "/auth", "/auth/", "/sessions/online/", "/tokens"}
    return sorted(paths)


def test_the_index_covers_the_official_routes():
    router = IndexedRouter(_routes())
    assert router.groups, "every official path starts with a literal segment"
    assert ("/auth/challenge", "POST") in router.exact
    assert ("/security/public-key-certificates", "GET") in router.exact


def test_indexed_router_chooses_as_starlette_does():
    routes = _routes()
    indexed, plain = IndexedRouter(routes), Router(routes=routes)
    probes = [(m, p) for p in _probes() for m in METHODS]
    assert len(probes) > 1000
    for method, path in probes:
        assert _outcome(indexed, method, path) == _outcome(plain, method, path), (method, path)


def test_a_parameter_route_listed_first_still_wins():
    routes = [
        Route("/a/{x}", _Recorder("param"), methods=["GET"]),
        Route("/a/b", _Recorder("literal"), methods=["GET", "POST"]),
    ]
    router = IndexedRouter(routes)
    assert ("/a/b", "GET") not in router.exact  # shadowed by /a/{x}
    assert _outcome(router, "GET", "/a/b") == ("route", ("param", {"x": "b"}))
    assert _outcome(router, "POST", "/a/b") == ("route", ("literal", {}))


def _api_app() -> Starlette:
    """The API part of ``create_app``'s layout, with recorders for the operations."""
    api = IndexedRouter(_routes())
    envs = tuple(Env)
    mounts: list[Any] = [
        Mount(p, app=EnvSelector(api, None, Env.TEST, envs)) for p in api_prefixes()
    ]
    for env in envs:
        mounts += [Mount(p, app=EnvSelector(api, env, Env.TEST, envs)) for p in api_prefixes(env)]
    mounts.append(Mount("/_mock", app=Starlette()))
    return Starlette(routes=mounts)


def _scope(method: str, path: str, root_path: str = "") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"api-demo.ksef.mf.gov.pl")],
        "scheme": "http",
        "server": ("testserver", 80),
    }


def _through(app: Any, scope: dict[str, Any]) -> dict[str, Any]:
    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        scope["sent"] = message.get("status")

    try:
        _run(app(scope, receive, send))
    except HTTPException as exc:
        scope["raised"] = exc.status_code
    # Starlette's exception layer leaves its handlers in the scope; the operations
    # never read them (their handler answers every exception itself).
    scope.pop("starlette.exception_handlers", None)
    return scope


def test_the_fast_path_leaves_the_scope_as_starlettes_stack_does():
    app = _api_app()
    stack = app.build_middleware_stack()
    fast = ApiFastPath(stack, app.router)
    exact = IndexedRouter(_routes()).exact
    # Every parameterless operation under every API prefix, nothing else.
    assert len(fast.routes) == len(exact) * len(api_prefixes()) * (1 + len(Env))
    for path, method in fast.routes:
        long_way = _through(stack, _scope(method, path) | {"app": app})
        short_way = _through(fast, _scope(method, path) | {"app": app})
        assert "chosen" in short_way, (method, path)
        assert short_way == long_way, (method, path)


def test_the_fast_path_passes_on_what_it_does_not_serve():
    app = _api_app()
    fast = ApiFastPath(app.build_middleware_stack(), app.router)
    probes = [(m, "/v2" + p) for p in _probes() for m in METHODS]
    probes += [("POST", "/v2/auth/challenge/"), ("POST", "/test/auth/challenge")]
    for method, path in probes:
        if (path, method) in fast.routes:
            continue
        expected = _through(app.build_middleware_stack(), _scope(method, path) | {"app": app})
        assert _through(fast, _scope(method, path) | {"app": app}) == expected, (method, path)
    # Behind a root_path the path is not the route path: the long way decides.
    behind = _scope("POST", "/base/v2/auth/challenge", root_path="/base") | {"app": app}
    assert _through(fast, dict(behind)) == _through(app.build_middleware_stack(), dict(behind))


def test_create_app_serves_the_api_through_the_fast_path():
    layer: Any = create_app(MockConfig()).middleware_stack
    seen = []
    while layer is not None:
        seen.append(type(layer).__name__)
        layer = getattr(layer, "app", None)
    assert "ApiFastPath" in seen, seen
