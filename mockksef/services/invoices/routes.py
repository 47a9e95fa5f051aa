"""HTTP routes of the invoices area (thin: parse, call the backend, render)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
