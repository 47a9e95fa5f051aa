"""HTTP routes of the testdata area: TEST only (404 on DEMO/PROD), 200 with an empty body."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from mockksef.http.endpoint import Call, empty_ok, endpoint

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
    call.env.limits.set_certificate_limits(call.me.subject, call.body or {})
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
