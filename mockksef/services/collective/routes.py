"""HTTP routes of the collective area (thin: parse, call the backend, render)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from mockksef.http.endpoint import Call, endpoint, json_response
from mockksef.services.collective.backend import page_size

TOKEN_HEADER = "x-continuation-token"


@endpoint("collective.create", auth="access", body="json")
def create(call: Call) -> Response:
    """Checks in the order 21405, 71005, 71001 (unknown or not visible), 71004, 71002."""
    number = call.env.collective.create(call.context, call.body, call.now)
    return json_response({"collectiveIdentifierNumber": number}, status=201)


@endpoint("collective.query", auth="access", body="json")
def query(call: Call) -> Response:
    """Own identifiers plus (NIP contexts) those over its sales; keyset continuation tokens."""
    result = call.env.collective.query(
        call.context, call.body, call.query.get("pageSize", 10), call.header(TOKEN_HEADER)
    )
    return json_response(result)


@endpoint("collective.invoices", auth="access", body="json")
def invoices(call: Call) -> Response:
    """API 2.7.1+: invoices of up to 10 identifiers (not in the 2.7.0 spec: checked here)."""
    backend = call.env.collective
    numbers = backend.parse_invoices_request(call.body)
    size = page_size(call.request.query_params.get("pageSize"), 10, 500)
    result = backend.invoices(call.context, numbers, size, call.header(TOKEN_HEADER))
    return json_response(result)


@endpoint("collective.invoices_v270", auth="access")
def invoices_v270(call: Call) -> Response:
    """The API 2.7.0 form, kept for older clients: one identifier, same items."""
    backend = call.env.collective
    numbers = backend.parse_invoices_request(
        {"collectiveIdentifierNumbers": [call.path["collectiveIdentifierNumber"]]}
    )
    result = backend.invoices(
        call.context, numbers, call.query.get("pageSize", 10), call.header(TOKEN_HEADER)
    )
    return json_response(result)


@endpoint("collective.by_ksef_number", auth="access")
def by_ksef_number(call: Call) -> Response:
    """Identifiers the context may see (creator or seller); an empty list, never 400."""
    result = call.env.collective.by_ksef_number(
        call.context,
        call.path["ksefNumber"],
        call.query.get("pageSize", 10),
        call.header(TOKEN_HEADER),
    )
    return json_response(result)


routes: list[BaseRoute] = [create, query, invoices, invoices_v270, by_ksef_number]
