"""HTTP routes of the certificates area (thin: parse, call the backend, render).

``GET /security/public-key-certificates`` lives in ``public_keys_routes.py``.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from mockksef.http.endpoint import Call, endpoint, json_response, no_content
from mockksef.services.certificates import public_keys_routes


@endpoint("certificates.limits", auth="access")
def limits(call: Call) -> Response:
    return json_response(call.env.certificates.limits(call.me, call.now))


@endpoint("certificates.enrollment_data", auth="access")
def enrollment_data(call: Call) -> Response:
    return json_response(call.env.certificates.enrollment_data(call.me))


@endpoint("certificates.enroll", auth="access", body="json")
def enroll(call: Call) -> Response:
    return json_response(call.env.certificates.enroll(call.me, call.body, call.now), status=202)


@endpoint("certificates.enrollment_status", auth="access")
def enrollment_status(call: Call) -> Response:
    result = call.env.certificates.enrollment_status(
        call.me, call.path["referenceNumber"], call.now
    )
    return json_response(result)


@endpoint("certificates.retrieve", auth="access", body="json")
def retrieve(call: Call) -> Response:
    serials = call.body.get("certificateSerialNumbers") or []
    return json_response(call.env.certificates.retrieve(call.me, serials, call.now))


@endpoint("certificates.revoke", auth="access", body="optional-json")
def revoke(call: Call) -> Response:
    body = call.body or {}
    reason = body.get("revocationReason")
    call.env.certificates.revoke(call.me, call.path["certificateSerialNumber"], reason, call.now)
    return no_content()


@endpoint("certificates.query", auth="access", body="optional-json")
def query(call: Call) -> Response:
    filters = call.body
    result = call.env.certificates.query(
        call.me,
        filters,
        int(call.query.get("pageOffset", 0)),
        int(call.query.get("pageSize", 10)),
        call.now,
    )
    return json_response(result)


routes: list[BaseRoute] = [
    limits,
    enrollment_data,
    enroll,
    enrollment_status,
    retrieve,
    revoke,
    query,
]

# GET /security/public-key-certificates (written by the auth area, mounted with this package).
routes += public_keys_routes.routes
