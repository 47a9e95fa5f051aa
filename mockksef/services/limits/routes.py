"""HTTP routes of the limits area (thin: parse, call the backend, render)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from mockksef.http.endpoint import Call, endpoint, json_response


@endpoint("limits.context", auth="access")
def context_limits(call: Call) -> Response:
    return json_response(call.env.limits.session_limits(call.context).as_json())


@endpoint("limits.subject", auth="access")
def subject_limits(call: Call) -> Response:
    assert call.me.subject is not None
    return json_response(call.env.limits.certificate_limits(call.me.subject).as_json())


@endpoint("limits.rate_limits", auth="access")
def rate_limits(call: Call) -> Response:
    effective = call.env.limits.rate_limits(call.context)
    return json_response({group: limit.as_json() for group, limit in effective.items()})


routes: list[BaseRoute] = [context_limits, subject_limits, rate_limits]
