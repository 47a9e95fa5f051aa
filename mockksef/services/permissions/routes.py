"""HTTP routes of the permissions area (thin: parse, call the backend, render)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from mockksef.http.endpoint import BodyKind, Call, endpoint, json_response


def _page(call: Call) -> tuple[int, int]:
    return int(call.query.get("pageOffset", 0)), int(call.query.get("pageSize", 10))


# -- grants (202 {referenceNumber}) ------------------------------------------------------


def _grant(name: str) -> BaseRoute:
    """POST of ``permissions.<name>``: the backend verb of that name, 202."""

    def grant(call: Call) -> Response:
        verb = getattr(call.env.permissions, name)
        return json_response(verb(call.me, call.body, call.now), status=202)

    grant.__name__ = name
    return endpoint(f"permissions.{name}", auth="access", body="json")(grant)


_GRANTS = [
    "grant_persons",
    "grant_entities",
    "grant_authorizations",
    "grant_indirect",
    "grant_subunits",
    "grant_eu_entity_administration",
    "grant_eu_entities",
]


# -- revocations ------------------------------------------------------------------------------


@endpoint("permissions.revoke_common", auth="access")
def revoke_common(call: Call) -> Response:
    result = call.env.permissions.revoke_common(call.me, call.path["permissionId"], call.now)
    return json_response(result, status=202)


@endpoint("permissions.revoke_authorization", auth="access")
def revoke_authorization(call: Call) -> Response:
    result = call.env.permissions.revoke_authorization(call.me, call.path["permissionId"], call.now)
    return json_response(result, status=202)


# -- status --------------------------------------------------------------------------------------


@endpoint("permissions.operation_status", auth="access")
def operation_status(call: Call) -> Response:
    return json_response(
        call.env.permissions.operation_status(call.me, call.path["referenceNumber"], call.now)
    )


@endpoint("permissions.attachment_status", auth="access")
def attachment_status(call: Call) -> Response:
    return json_response(call.env.permissions.attachment_status(call.me, call.now))


# -- queries -------------------------------------------------------------------------------------


def _query(name: str, body: BodyKind) -> BaseRoute:
    """``permissions.<name>``: the backend verb of that name on the filter body
    (``{}`` when absent) and the page; without a body, on the page only."""

    def query(call: Call) -> Response:
        verb = getattr(call.env.permissions, name)
        filters = () if body == "none" else (call.body or {},)
        return json_response(verb(call.me, *filters, *_page(call)))

    query.__name__ = name
    return endpoint(f"permissions.{name}", auth="access", body=body)(query)


_QUERIES: list[tuple[str, BodyKind]] = [
    ("query_personal", "optional-json"),
    ("query_persons", "json"),
    ("query_subunits", "optional-json"),
    ("query_entities", "optional-json"),
    ("query_entity_roles", "none"),
    ("query_subordinate_roles", "optional-json"),
    ("query_authorizations", "json"),
    ("query_eu_entities", "optional-json"),
]


routes: list[BaseRoute] = [
    *(_grant(name) for name in _GRANTS),
    revoke_common,
    revoke_authorization,
    operation_status,
    attachment_status,
    *(_query(name, body) for name, body in _QUERIES),
]
