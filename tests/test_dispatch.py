"""``IndexedRouter`` (app.py) picks exactly the route Starlette's plain router picks.

The index is a performance measure (issue 8: a linear scan over ~85 routes was
the largest cost of a cheap request); it must never change which operation
answers, nor the 404/405/redirect outcomes of paths that match none.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.routing import Route, Router

from mockksef.app import IndexedRouter
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
