"""HTTP routes of the peppol area (thin: parse, call the backend, render)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from mockksef.http.endpoint import Call, endpoint, json_response


@endpoint("peppol.query", auth="none")
def query(call: Call) -> Response:
    page_offset = int(call.query.get("pageOffset", 0))
    page_size = int(call.query.get("pageSize", 10))
    return json_response(call.env.peppol.query(page_offset, page_size))


routes: list[BaseRoute] = [query]
