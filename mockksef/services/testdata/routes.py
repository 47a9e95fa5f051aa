"""HTTP routes of the testdata area: TEST only (404 on DEMO/PROD), 200 with an empty body."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from mockksef.errors import InvalidInputData
from mockksef.http.endpoint import Call, empty_ok, endpoint


def _schema_properties(schemas: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> set[str]:
    if depth > 8:
        return set()
    names = set(schema.get("properties", {}))
    ref = schema.get("$ref")
    if ref:
        names |= _schema_properties(schemas, schemas.get(ref.rsplit("/", 1)[-1], {}), depth + 1)
    for part in schema.get("allOf", ()):
        names |= _schema_properties(schemas, part, depth + 1)
    return names


def _known_properties_only(call: Call) -> dict[str, Any] | None:
    """A body whose every property is optional must not carry unknown ones.

    Otherwise a misspelt filter or limit would be silently ignored (the same
    rule as the permission queries).
    """
    body = call.body if isinstance(call.body, dict) else None
    spec = call.env.root.spec
    operation = spec.operation(call.op.method, call.op.path)
    schema = operation.request_schema() if operation else None
    if body and schema is not None:
        known = _schema_properties(spec.data.get("components", {}).get("schemas", {}), schema)
        unknown = [name for name in body if name not in known]
        if unknown:
            raise InvalidInputData(*(f"{name}: Nieznana właściwość." for name in unknown))
    return body


# -- entities, persons, permissions, attachments, blocks (no bearer) ---------------------------


@endpoint("testdata.create_subject", auth="none", body="json", test_only=True)
def create_subject(call: Call) -> Response:
    call.env.testdata.create_subject(call.body, call.now)
    return empty_ok()


@endpoint("testdata.remove_subject", auth="none", body="json", test_only=True)
def remove_subject(call: Call) -> Response:
    call.env.testdata.remove_subject(call.body["subjectNip"])
    return empty_ok()


@endpoint("testdata.create_person", auth="none", body="json", test_only=True)
def create_person(call: Call) -> Response:
    call.env.testdata.create_person(call.body, call.now)
    return empty_ok()


@endpoint("testdata.remove_person", auth="none", body="json", test_only=True)
def remove_person(call: Call) -> Response:
    call.env.testdata.remove_person(call.body["nip"])
    return empty_ok()


@endpoint("testdata.grant_permissions", auth="none", body="json", test_only=True)
def grant_permissions(call: Call) -> Response:
    call.env.testdata.grant_permissions(call.body, call.now)
    return empty_ok()


@endpoint("testdata.revoke_permissions", auth="none", body="json", test_only=True)
def revoke_permissions(call: Call) -> Response:
    call.env.testdata.revoke_permissions(call.body)
    return empty_ok()


@endpoint("testdata.allow_attachments", auth="none", body="json", test_only=True)
def allow_attachments(call: Call) -> Response:
    call.env.testdata.allow_attachments(call.body["nip"])
    return empty_ok()


@endpoint("testdata.revoke_attachments", auth="none", body="json", test_only=True)
def revoke_attachments(call: Call) -> Response:
    call.env.testdata.revoke_attachments(
        call.body["nip"], call.body.get("expectedEndDate"), call.now
    )
    return empty_ok()


# The spec lists no security here; clients that send their access token anyway are not refused.
@endpoint("testdata.block_context", auth="none", body="json", test_only=True)
def block_context(call: Call) -> Response:
    call.env.testdata.block_context(call.body)
    return empty_ok()


@endpoint("testdata.unblock_context", auth="none", body="json", test_only=True)
def unblock_context(call: Call) -> Response:
    call.env.testdata.unblock_context(call.body)
    return empty_ok()


# -- limits of the current context / subject (access token) ------------------------------------


@endpoint("testdata.set_session_limits", auth="access", body="json", test_only=True)
def set_session_limits(call: Call) -> Response:
    assert call.me.context is not None
    call.env.limits.set_session_limits(call.me.context, call.body)
    return empty_ok()


@endpoint("testdata.reset_session_limits", auth="access", test_only=True)
def reset_session_limits(call: Call) -> Response:
    assert call.me.context is not None
    call.env.limits.reset_session_limits(call.me.context)
    return empty_ok()


@endpoint("testdata.set_certificate_limits", auth="access", body="json", test_only=True)
def set_certificate_limits(call: Call) -> Response:
    assert call.me.subject is not None
    call.env.limits.set_certificate_limits(call.me.subject, _known_properties_only(call) or {})
    return empty_ok()


@endpoint("testdata.reset_certificate_limits", auth="access", test_only=True)
def reset_certificate_limits(call: Call) -> Response:
    assert call.me.subject is not None
    call.env.limits.reset_certificate_limits(call.me.subject)
    return empty_ok()


@endpoint("testdata.set_rate_limits", auth="access", body="json", test_only=True)
def set_rate_limits(call: Call) -> Response:
    assert call.me.context is not None
    call.env.limits.set_rate_limits(call.me.context, call.body.get("rateLimits"))
    return empty_ok()


@endpoint("testdata.reset_rate_limits", auth="access", test_only=True)
def reset_rate_limits(call: Call) -> Response:
    assert call.me.context is not None
    call.env.limits.reset_rate_limits(call.me.context)
    return empty_ok()


@endpoint("testdata.set_production_rate_limits", auth="access", test_only=True)
def set_production_rate_limits(call: Call) -> Response:
    assert call.me.context is not None
    call.env.limits.set_production_rate_limits(call.me.context)
    return empty_ok()


# -- KSeF certificates (API 2.7.0) -------------------------------------------------------------


@endpoint("testdata.update_certificate", auth="access", body="json", test_only=True)
def update_certificate(call: Call) -> Response:
    call.env.certificates.update_validity(
        call.me, call.path["serialNumber"], call.body["validTo"], call.now
    )
    return empty_ok()


routes: list[BaseRoute] = [
    create_subject,
    remove_subject,
    create_person,
    remove_person,
    grant_permissions,
    revoke_permissions,
    allow_attachments,
    revoke_attachments,
    block_context,
    unblock_context,
    set_session_limits,
    reset_session_limits,
    set_certificate_limits,
    reset_certificate_limits,
    set_rate_limits,
    reset_rate_limits,
    set_production_rate_limits,
    update_certificate,
]
