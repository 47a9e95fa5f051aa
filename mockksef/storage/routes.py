"""Routes of the mock blob storage (mounted at /storage by create_app)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
