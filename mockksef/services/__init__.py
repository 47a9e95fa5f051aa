"""The API areas, one package each (routes.py, backend.py, models.py)."""

from __future__ import annotations

import functools

from starlette.routing import BaseRoute

# Mount order matters only where literal paths shadow templates; the router
# prefers literal segments anyway (see operations.match).
AREAS: tuple[str, ...] = (
    "auth",
    "certificates",
    "tokens",
    "limits",
    "testdata",
    "permissions",
    "peppol",
    "sessions",
    "invoices",
    "collective",
)


def all_routes() -> list[BaseRoute]:
    return list(_sorted_routes())


# The routes are module-level objects: sorted once per process, not per app (issue 17).
@functools.cache
def _sorted_routes() -> tuple[BaseRoute, ...]:
    import importlib

    routes: list[BaseRoute] = []
    for area in AREAS:
        module = importlib.import_module(f"mockksef.services.{area}.routes")
        routes.extend(module.routes)
    # Starlette matches in order: put routes with more literal segments first so
    # that /auth/sessions is not taken for /auth/{referenceNumber}.
    routes.sort(key=_specificity)
    return tuple(routes)


def _specificity(route: BaseRoute) -> tuple[int, int]:
    path = getattr(route, "path", "")
    segments = [s for s in path.split("/") if s]
    literal = sum(1 for s in segments if not s.startswith("{"))
    return (-literal, len(segments))
