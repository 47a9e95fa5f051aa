"""The training console at ``/_mock/console``: look-up, environments, live journal, drills.

For support staff and their trainers, who answer tickets rather than read
YAML. ``install(app, state)`` (called by ``create_app``) mounts the pages
inside the admin plane, so whatever guards ``/_mock`` guards them too; points
the bare ``/`` at them; and wraps the app in the opt-in body capture.

Layers: ``routes.py`` is HTTP only; ``runtime.Console`` reads and changes the
mock through the state's public verbs (``state.scenarios``, ``state.clock``,
``state.reset``, ``state.journal``); ``drills.py`` and ``connector.py`` are the
drill domain; ``live.py`` follows the journal; ``masking.py`` keeps secrets
off the screen; ``explain.py`` (one level up) is the look-up shared with the
``mockksef explain`` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from mockksef.console.capture import CaptureMiddleware
from mockksef.console.runtime import Console

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from mockksef.state import MockState

PREFIX = "/_mock/console"

__all__ = ["PREFIX", "Console", "install"]


async def _to_console(request: Request) -> Response:
    query = request.url.query
    return RedirectResponse(PREFIX + "/" + (f"?{query}" if query else ""), status_code=307)


def install(app: Starlette, state: MockState) -> Console:
    """Mount the console in ``app``'s admin plane, redirect ``/`` to it, add the capture."""
    from mockksef.console import routes

    console = Console(state, app)
    web = routes.build(console)
    admin_prefix, _, own = PREFIX.rpartition("/")
    for index, route in enumerate(app.router.routes):
        if isinstance(route, Mount) and route.path == admin_prefix:
            router = getattr(route.app, "router", None)
            if router is not None:
                # Inside the admin app: its guard (if any) covers the console as well.
                router.routes.insert(0, Mount(f"/{own}", app=web, name="console"))
            else:
                app.router.routes.insert(index, Mount(PREFIX, app=web, name="console"))
            break
    else:
        raise RuntimeError(f"no admin plane mounted at {admin_prefix}")
    app.router.routes.append(Route("/", _to_console, methods=["GET", "HEAD"], name="console.root"))
    stack = app.middleware_stack or app.build_middleware_stack()
    app.middleware_stack = CaptureMiddleware(stack, state.journal, console.captures)
    # The Python handle of the console (drills, capture), as ``app.state.mock`` is the state's.
    app.state.console = console
    return console
