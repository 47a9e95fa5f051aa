"""HTTP routes of the permissions area (thin: parse, call the backend, render)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from mockksef.http.endpoint import Call, endpoint, json_response


def _page(call: Call) -> tuple[int, int]:
    return int(call.query.get("pageOffset", 0)), int(call.query.get("pageSize", 10))


# -- grants (202 {referenceNumber}) ------------------------------------------------------


@endpoint("permissions.grant_persons", auth="access", body="json")
def grant_persons(call: Call) -> Response:
    return json_response(
        call.env.permissions.grant_persons(call.me, call.body, call.now), status=202
    )


@endpoint("permissions.grant_entities", auth="access", body="json")
def grant_entities(call: Call) -> Response:
    return json_response(
        call.env.permissions.grant_entities(call.me, call.body, call.now), status=202
    )


@endpoint("permissions.grant_authorizations", auth="access", body="json")
def grant_authorizations(call: Call) -> Response:
    return json_response(
        call.env.permissions.grant_authorizations(call.me, call.body, call.now), status=202
    )


@endpoint("permissions.grant_indirect", auth="access", body="json")
def grant_indirect(call: Call) -> Response:
    return json_response(
        call.env.permissions.grant_indirect(call.me, call.body, call.now), status=202
    )


@endpoint("permissions.grant_subunits", auth="access", body="json")
def grant_subunits(call: Call) -> Response:
    return json_response(
        call.env.permissions.grant_subunits(call.me, call.body, call.now), status=202
    )


@endpoint("permissions.grant_eu_entity_administration", auth="access", body="json")
def grant_eu_entity_administration(call: Call) -> Response:
    result = call.env.permissions.grant_eu_entity_administration(call.me, call.body, call.now)
    return json_response(result, status=202)


@endpoint("permissions.grant_eu_entities", auth="access", body="json")
def grant_eu_entities(call: Call) -> Response:
    return json_response(
        call.env.permissions.grant_eu_entities(call.me, call.body, call.now), status=202
    )


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


@endpoint("permissions.query_personal", auth="access", body="optional-json")
def query_personal(call: Call) -> Response:
    return json_response(
        call.env.permissions.query_personal(call.me, (call.body or {}), *_page(call))
    )


@endpoint("permissions.query_persons", auth="access", body="json")
def query_persons(call: Call) -> Response:
    return json_response(call.env.permissions.query_persons(call.me, call.body, *_page(call)))


@endpoint("permissions.query_subunits", auth="access", body="optional-json")
def query_subunits(call: Call) -> Response:
    return json_response(
        call.env.permissions.query_subunits(call.me, (call.body or {}), *_page(call))
    )


@endpoint("permissions.query_entities", auth="access", body="optional-json")
def query_entities(call: Call) -> Response:
    return json_response(
        call.env.permissions.query_entities(call.me, (call.body or {}), *_page(call))
    )


@endpoint("permissions.query_entity_roles", auth="access")
def query_entity_roles(call: Call) -> Response:
    return json_response(call.env.permissions.query_entity_roles(call.me, *_page(call)))


@endpoint("permissions.query_subordinate_roles", auth="access", body="optional-json")
def query_subordinate_roles(call: Call) -> Response:
    return json_response(
        call.env.permissions.query_subordinate_roles(call.me, (call.body or {}), *_page(call))
    )


@endpoint("permissions.query_authorizations", auth="access", body="json")
def query_authorizations(call: Call) -> Response:
    return json_response(
        call.env.permissions.query_authorizations(call.me, call.body, *_page(call))
    )


@endpoint("permissions.query_eu_entities", auth="access", body="optional-json")
def query_eu_entities(call: Call) -> Response:
    return json_response(
        call.env.permissions.query_eu_entities(call.me, (call.body or {}), *_page(call))
    )


routes: list[BaseRoute] = [
    grant_persons,
    grant_entities,
    grant_authorizations,
    grant_indirect,
    grant_subunits,
    grant_eu_entity_administration,
    grant_eu_entities,
    revoke_common,
    revoke_authorization,
    operation_status,
    attachment_status,
    query_personal,
    query_persons,
    query_subunits,
    query_entities,
    query_entity_roles,
    query_subordinate_roles,
    query_authorizations,
    query_eu_entities,
]
