"""HTTP routes of the tokens area (thin: parse, call the backend, render)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from mockksef.http.endpoint import Call, endpoint, json_response, no_content


@endpoint("tokens.generate", auth="access", body="json")
def generate(call: Call) -> Response:
    return json_response(call.env.tokens.generate(call.me, call.body, call.now), status=202)


@endpoint("tokens.list", auth="access")
def list_tokens(call: Call) -> Response:
    continuation = call.header("x-continuation-token") or None
    return json_response(call.env.tokens.list_tokens(call.me, call.query, continuation, call.now))


@endpoint("tokens.get", auth="access")
def get_token(call: Call) -> Response:
    return json_response(call.env.tokens.get(call.me, call.path["referenceNumber"], call.now))


@endpoint("tokens.revoke", auth="access")
def revoke(call: Call) -> Response:
    call.env.tokens.revoke(call.me, call.path["referenceNumber"], call.now)
    return no_content()


routes: list[BaseRoute] = [generate, list_tokens, get_token, revoke]
