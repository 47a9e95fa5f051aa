"""``create_app``: the whole server, built from explicit config, no import-time effects.

URL layout (the base URL is the only difference a client sees):

* ``/v2/…`` and ``/api/v2/…``  – the environment named by the ``Host`` header
  (``api-test.ksef.mf.gov.pl`` → TEST, ``api-demo…`` → DEMO, ``api.ksef…`` →
  PROD, and the retired ``ksef-*.mf.gov.pl`` hosts), else the default one;
* ``/test/v2/…``, ``/demo/v2/…``, ``/prod/v2/…`` – that environment explicitly;
* ``/_mock/…`` – the admin control plane.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import ClassVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from mockksef import console, operations, violations
from mockksef.admin import routes as admin_routes
from mockksef.admin.guard import AdminGuard
from mockksef.config import MockConfig
from mockksef.environments import API_PATH, Env, api_prefixes, env_for_host
from mockksef.errors import InvalidInputData, MethodNotAllowed, MockError, NotFound
from mockksef.http.endpoint import ENV_SCOPE_KEY, STATE_SCOPE_KEY, error_response
from mockksef.scenarios.journal_middleware import JournalMiddleware
from mockksef.scenarios.middleware import ScenarioMiddleware
from mockksef.services import all_routes
from mockksef.state import MockState
from mockksef.storage import routes as storage_routes


class EnvSelector:
    """Marks the request with its environment before the API router sees it."""

    def __init__(
        self,
        app: ASGIApp,
        env: Env | None,
        default: Env,
        enabled: tuple[Env, ...],
        state: MockState | None = None,
    ) -> None:
        self.app = app
        self.env = env
        self.default = default
        self.enabled = enabled
        self.state = state
        # Host header bytes -> environment: clients send the same few hosts.
        self._by_host: dict[bytes | None, Env] = {}

    def _for_host(self, raw: bytes | None) -> Env:
        env = self._by_host.get(raw)
        if env is None:
            env = env_for_host(raw.decode("latin-1") if raw is not None else None) or self.default
            if env not in self.enabled:
                env = self.default
            if len(self._by_host) >= 256:  # bounded: any client may send any Host
                self._by_host.clear()
            self._by_host[raw] = env
        return env

    def select(self, scope: Scope) -> None:
        """Put the environment (and the state) of this request in its scope."""
        env = self.env
        if env is None:
            host = None
            for key, value in scope.get("headers", ()):
                if key == b"host":
                    host = value
                    break
            env = self._for_host(host)
        scope[ENV_SCOPE_KEY] = env
        if self.state is not None:
            scope[STATE_SCOPE_KEY] = self.state

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain call handing back the router's awaitable: no coroutine of its own.
        if scope["type"] in ("http", "websocket"):
            self.select(scope)
        return self.app(scope, receive, send)


class IndexedRouter(Router):
    """Starlette's router with its routes grouped by the first path segment.

    Starlette tries routes one by one; with ~85 official operations that linear
    scan was the largest single cost of a cheap request (about 40 ``matches``
    calls for ``/auth/challenge``). A route can only match a path whose first
    segment equals its own literal first segment, so the group of that segment,
    tried in the original order, answers exactly as the full list would. Paths
    whose first segment no route starts with fall through to the full list
    (404/405 handling unchanged).

    A path without parameters (``/auth/challenge``) is one dict lookup: its
    route is called directly when the method is its own and no earlier route
    could match that path.
    """

    # The index of a route list, by the identity of its routes: every app built in a
    # process (one per test) mounts the same route objects, and indexing them is a
    # quadratic scan (about 1 ms, half the cost of a fresh app).
    _indexes: ClassVar[
        dict[
            tuple[int, ...], tuple[list[BaseRoute], dict[str, Router], dict[tuple[str, str], Route]]
        ]
    ] = {}

    groups: dict[str, Router]
    exact: dict[tuple[str, str], Route]

    def __init__(self, routes: list[BaseRoute]) -> None:
        super().__init__(routes=routes)
        key = tuple(map(id, routes))
        cached = self._indexes.get(key)
        if cached is not None:
            # The list is kept in the entry, so the ids cannot be reused meanwhile.
            _, self.groups, self.exact = cached
            return
        self._index(routes)
        if len(self._indexes) < 16:
            self._indexes[key] = (list(routes), self.groups, self.exact)

    def _index(self, routes: list[BaseRoute]) -> None:
        groups: dict[str, list[BaseRoute]] = {}
        for route in routes:
            path = getattr(route, "path", "")
            head = path.split("/", 2)[1] if path.startswith("/") else ""
            if not head or "{" in head:
                groups = {}  # a route matching any first segment: no index
                break
            groups.setdefault(head, []).append(route)
        self.groups = {
            head: Router(routes=group, redirect_slashes=self.redirect_slashes)
            for head, group in groups.items()
        }
        self.exact = {}
        for index, route in enumerate(routes if groups else ()):
            if not isinstance(route, Route) or "{" in route.path or not route.methods:
                continue
            for method in route.methods:
                # Starlette takes the first route that matches path and method.
                shadowed = any(
                    not isinstance(r, Route)
                    or (r.path_regex.match(route.path) and (not r.methods or method in r.methods))
                    for r in routes[:index]
                )
                if not shadowed:
                    self.exact.setdefault((route.path, method), route)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.groups:
            path = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
                path = path[len(root) :]
            route = self.exact.get((path, scope["method"]))
            if route is not None:
                # What Router + Route.matches + Route.handle would do for this route.
                scope.setdefault("router", self)
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope.setdefault("path_params", {})
                await route.app(scope, receive, send)
                return
            group = self.groups.get(path.split("/", 2)[1] if path.startswith("/") else "")
            if group is not None:
                scope.setdefault("router", self)
                await group.app(scope, receive, send)
                return
        await super().app(scope, receive, send)


class ApiFastPath:
    """A request for a parameterless API operation goes straight to its operation.

    For such a request the Starlette layers in front of the API only pass it on:
    the error middlewares have nothing to catch (the operation's own handler turns
    every exception into an official answer), the top router tries mount after
    mount with a regex each, and the mount's ``EnvSelector`` and ``IndexedRouter``
    add two more layers. Together they were about a third of a cheap request
    (``POST /auth/challenge``, issue 17). The scope is left as that way leaves it
    (tests/test_dispatch.py compares the two for every such operation). Everything
    else (a path with parameters, an unknown path or method, the admin plane, a
    server behind ``root_path``) goes the long way.

    With ``raise_server_errors`` (tests) an escaping exception reaches the caller as
    Starlette's error middleware would re-raise it, without its plain-text 500 first.
    """

    # The table of a list of mount paths over one route index, by the index's identity:
    # every app of a process (one per test) has the same mounts over the same index
    # (IndexedRouter keeps one per route list), and building it was half of create_app.
    _tables: ClassVar[
        dict[
            tuple[tuple[str, ...], int],
            tuple[dict[tuple[str, str], Route], dict[tuple[str, str], tuple[str, Route]]],
        ]
    ] = {}

    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router
        # mount path -> its environment selector. Only the leading run of API mounts
        # counts: Starlette tries routes in order, and those come first.
        self.selectors: dict[str, EnvSelector] = {}
        exact: dict[tuple[str, str], Route] = {}
        for mount in router.routes:
            selector = getattr(mount, "app", None)
            if not isinstance(mount, Mount) or not isinstance(selector, EnvSelector):
                break
            if not isinstance(selector.app, IndexedRouter) or (
                self.selectors and selector.app.exact is not exact
            ):
                break
            exact = selector.app.exact
            self.selectors.setdefault(mount.path, selector)
        # (full path, method) -> mount path and the operation's route.
        self.routes = self._table(tuple(self.selectors), exact)

    @classmethod
    def _table(
        cls, prefixes: tuple[str, ...], exact: dict[tuple[str, str], Route]
    ) -> dict[tuple[str, str], tuple[str, Route]]:
        key = (prefixes, id(exact))
        cached = cls._tables.get(key)
        if cached is not None:
            return cached[1]
        table: dict[tuple[str, str], tuple[str, Route]] = {}
        for prefix in prefixes:
            for (path, method), route in exact.items():
                table.setdefault((prefix + path, method), (prefix, route))
        if len(cls._tables) < 16:
            # The index is kept in the entry, so its id cannot be reused meanwhile.
            cls._tables[key] = (exact, table)
        return table

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http" and not scope.get("root_path"):
            hit = self.routes.get((scope["path"], scope["method"]))
            if hit is not None:
                prefix, route = hit
                # What Router.app and Mount.matches put in the scope for the mount,
                # then the selector, then IndexedRouter for the operation's route.
                scope.setdefault("router", self.router)
                scope["path_params"] = {}
                scope["app_root_path"] = scope.get("app_root_path", "")
                scope["root_path"] = prefix
                self.selectors[prefix].select(scope)
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                return route.app(scope, receive, send)
        return self.app(scope, receive, send)


def allowed_methods(routes: Sequence[BaseRoute], path: str) -> set[str]:
    """Every method some route serves at ``path``, through mounts and their routers.

    Starlette's own 405 names only the first route of the path, and a path such as
    ``/tokens`` is served by two routes (GET, POST).
    """
    found: set[str] = set()
    for route in routes:
        if isinstance(route, Mount):
            if path.startswith(route.path + "/"):
                inner: object = route.app
                while not hasattr(inner, "routes") and hasattr(inner, "app"):
                    inner = inner.app  # the middlewares in front of a router (EnvSelector)
                found |= allowed_methods(getattr(inner, "routes", ()), path[len(route.path) :])
        elif isinstance(route, Route) and route.methods and route.path_regex.match(path):
            found |= route.methods
    return found


class _HttpErrors:
    """Starlette's 404 and 405 in the official shape; a 405 names what the path serves
    in ``Allow`` (RFC 9110 §15.5.6), from the routes of the whole app."""

    def __init__(self) -> None:
        self.routes: Sequence[BaseRoute] = ()

    async def __call__(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            error: MockError = MethodNotAllowed()
            methods = allowed_methods(self.routes, request.scope.get("path", ""))
            error.headers = {"Allow": ", ".join(sorted(methods))}
            return error_response(request, error)
        return await _not_found(request)


async def _not_found(request: Request) -> Response:
    error: MockError = NotFound()
    # Starlette's router does not match parameters holding control characters
    # (a newline); the operation is still known, so the answer is the 400 the
    # real API gives for a malformed path parameter, not a 404.
    # scope["path"], not request.url: the URL drops a decoded newline.
    match = API_PATH.match(request.scope.get("path", ""))
    if match and operations.match(request.method, match.group(2) or "/") is not None:
        error = InvalidInputData(violations.service("bad_path_parameter"))
    return error_response(request, error)


def create_app(config: MockConfig | None = None, state: MockState | None = None) -> Starlette:
    state = state or MockState(config)
    config = state.config
    http_errors = _HttpErrors()
    handlers = {HTTPException: http_errors}
    # A bare router, not a nested Starlette app: the outer app already renders
    # errors with the same handlers and carries ``state.mock``; a second
    # middleware stack per request cost ~10% of a cheap request.
    api = IndexedRouter(all_routes())
    admin = Starlette(routes=admin_routes.routes, exception_handlers=handlers)
    admin.state.mock = state
    storage = Starlette(routes=storage_routes.routes, exception_handlers=handlers)
    storage.state.mock = state
    # The official API first: it takes nearly all requests, and no prefix overlaps.
    mounts = [
        Mount(prefix, app=EnvSelector(api, None, config.default_env, state.environments, state))
        for prefix in api_prefixes()
    ]
    for env in state.environments:
        for prefix in api_prefixes(env):
            mounts.append(
                Mount(
                    prefix, app=EnvSelector(api, env, config.default_env, state.environments, state)
                )
            )
    mounts += [Mount("/_mock", app=admin), Mount("/storage", app=storage)]
    app = Starlette(routes=mounts, exception_handlers=handlers)
    app.state.mock = state
    http_errors.routes = app.routes
    # The journal, then the scenario rules, outside Starlette's error middleware: a
    # rule can drop the connection instead of being turned into a 500, and the
    # journal records what the client got, scenario answers included.
    app.middleware_stack = JournalMiddleware(
        ScenarioMiddleware(ApiFastPath(app.build_middleware_stack(), app.router), state), state
    )
    if state.persistence is not None:
        from mockksef.persistence.middleware import PersistenceMiddleware

        # Around the scenario rules: their effects are part of what becomes durable.
        app.middleware_stack = PersistenceMiddleware(app.middleware_stack, state)
    # Outermost, so that nothing behind /_mock (journal included) runs for a refused
    # request; the API pays one prefix test.
    app.middleware_stack = AdminGuard(app.middleware_stack, state)
    # The training console inside the admin plane (and `/` pointing at it), plus its
    # opt-in capture of bodies for the journal's detail view.
    console.install(app, state)
    return app


def app_factory() -> Starlette:
    """For ``uvicorn --factory mockksef.app:app_factory``: config from the environment."""
    return create_app(MockConfig.from_env())
