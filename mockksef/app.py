"""``create_app``: the whole server, built from explicit config, no import-time effects.

URL layout (the base URL is the only difference a client sees):

* ``/v2/…`` and ``/api/v2/…``  – the environment named by the ``Host`` header
  (``api-test.ksef.mf.gov.pl`` → TEST, ``api-demo…`` → DEMO, ``api.ksef…`` →
  PROD, and the retired ``ksef-*.mf.gov.pl`` hosts), else the default one;
* ``/test/v2/…``, ``/demo/v2/…``, ``/prod/v2/…`` – that environment explicitly;
* ``/_mock/…`` – the admin control plane.
"""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from mockksef import operations
from mockksef.admin import routes as admin_routes
from mockksef.config import MockConfig
from mockksef.environments import Env, env_for_host
from mockksef.errors import InvalidInputData, MethodNotAllowed, MockError, NotFound
from mockksef.http.endpoint import ENV_SCOPE_KEY, error_response
from mockksef.services import all_routes
from mockksef.state import MockState
from mockksef.storage import routes as storage_routes


class EnvSelector:
    """Marks the request with its environment before the API router sees it."""

    def __init__(
        self, app: ASGIApp, env: Env | None, default: Env, enabled: tuple[Env, ...]
    ) -> None:
        self.app = app
        self.env = env
        self.default = default
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            env = self.env
            if env is None:
                host = None
                for key, value in scope.get("headers", ()):
                    if key == b"host":
                        host = value.decode("latin-1")
                        break
                env = env_for_host(host) or self.default
                if env not in self.enabled:
                    env = self.default
            scope[ENV_SCOPE_KEY] = env
        await self.app(scope, receive, send)


_API_PREFIX = re.compile(r"^(?:/(?:test|demo|prod))?(?:/api)?/v2(/.*)\Z", re.DOTALL)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error: MockError = MethodNotAllowed() if exc.status_code == 405 else NotFound()
    if exc.status_code == 404:
        # Starlette's router does not match parameters holding control characters
        # (a newline); the operation is still known, so the answer is the 400 the
        # real API gives for a malformed path parameter, not a 404.
        # scope["path"], not request.url: the URL drops a decoded newline.
        match = _API_PREFIX.match(request.scope.get("path", ""))
        if match and operations.match(request.method, match.group(1)) is not None:
            error = InvalidInputData("Nieprawidłowa wartość parametru ścieżki.")
    return error_response(request, error)


def create_app(config: MockConfig | None = None, state: MockState | None = None) -> Starlette:
    state = state or MockState(config)
    config = state.config
    handlers = {HTTPException: _http_error}
    api = Starlette(routes=all_routes(), exception_handlers=handlers)  # type: ignore[arg-type]
    api.state.mock = state
    admin = Starlette(routes=admin_routes.routes, exception_handlers=handlers)  # type: ignore[arg-type]
    admin.state.mock = state
    storage = Starlette(routes=storage_routes.routes, exception_handlers=handlers)  # type: ignore[arg-type]
    storage.state.mock = state
    mounts = [Mount("/_mock", app=admin), Mount("/storage", app=storage)]
    for prefix in ("/v2", "/api/v2"):
        mounts.append(
            Mount(prefix, app=EnvSelector(api, None, config.default_env, state.environments))
        )
    for env in state.environments:
        for prefix in (f"/{env.value}/v2", f"/{env.value}/api/v2"):
            mounts.append(
                Mount(prefix, app=EnvSelector(api, env, config.default_env, state.environments))
            )
    app = Starlette(routes=mounts, exception_handlers=handlers)  # type: ignore[arg-type]
    app.state.mock = state
    return app


def app_factory() -> Starlette:
    """For ``uvicorn --factory mockksef.app:app_factory``: config from the environment."""
    return create_app(MockConfig.from_env())
