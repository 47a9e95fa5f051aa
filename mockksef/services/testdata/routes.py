"""HTTP routes of the testdata area: TEST only (404 on DEMO/PROD), 200 with an empty body.

Every operation here does one thing to the environment and answers the same
way, so the routes are a table: operation id -> what it does.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mockksef.http.endpoint import AuthKind, BodyKind, BodyRules, Call, empty_ok, endpoint


def _operation(
    op_id: str,
    effect: Callable[[Call], object],
    *,
    auth: AuthKind = "none",
    body: BodyKind = "json",
    rules: BodyRules | None = None,
) -> Route:
    def handler(call: Call) -> Response:
        effect(call)
        return empty_ok()

    handler.__name__ = op_id.split(".", 1)[1]
    return endpoint(op_id, auth=auth, body=body, test_only=True, body_rules=rules)(handler)


def _limits_reset(name: str, *, of: str = "context") -> Route:
    """``testdata.<name>`` without a body: the limits verb of that name on the
    caller's context (or ``of="subject"``)."""
    return _operation(
        f"testdata.{name}",
        lambda call: getattr(call.env.limits, name)(getattr(call, of)),
        auth="access",
        body="none",
    )


def _member(body: object, name: str) -> object:
    return body.get(name) if isinstance(body, dict) else None


routes: list[BaseRoute] = [
    # -- entities, persons, permissions, attachments, blocks (no bearer) --
    _operation(
        "testdata.create_subject",
        lambda call: call.env.testdata.create_subject(call.body, call.now),
    ),
    _operation(
        "testdata.remove_subject",
        lambda call: call.env.testdata.remove_subject(call.body["subjectNip"]),
    ),
    _operation(
        "testdata.create_person", lambda call: call.env.testdata.create_person(call.body, call.now)
    ),
    _operation(
        "testdata.remove_person", lambda call: call.env.testdata.remove_person(call.body["nip"])
    ),
    _operation(
        "testdata.grant_permissions",
        lambda call: call.env.testdata.grant_permissions(call.body, call.now),
    ),
    _operation(
        "testdata.revoke_permissions",
        lambda call: call.env.testdata.revoke_permissions(call.body),
    ),
    _operation(
        "testdata.allow_attachments",
        lambda call: call.env.testdata.allow_attachments(call.body["nip"]),
    ),
    _operation(
        "testdata.revoke_attachments",
        lambda call: call.env.testdata.revoke_attachments(
            call.body["nip"], call.body.get("expectedEndDate"), call.now
        ),
    ),
    # The spec lists no security here; clients that send their access token anyway are not refused.
    _operation("testdata.block_context", lambda call: call.env.testdata.block_context(call.body)),
    _operation(
        "testdata.unblock_context", lambda call: call.env.testdata.unblock_context(call.body)
    ),
    # -- limits of the current context / subject (access token) --
    _operation(
        "testdata.set_session_limits",
        lambda call: call.env.limits.set_session_limits(call.context, call.body),
        auth="access",
    ),
    _limits_reset("reset_session_limits"),
    _operation(
        "testdata.set_certificate_limits",
        lambda call: call.env.limits.set_certificate_limits(call.subject, call.body or {}),
        auth="access",
    ),
    _limits_reset("reset_certificate_limits", of="subject"),
    _operation(
        "testdata.set_rate_limits",
        lambda call: call.env.limits.set_rate_limits(call.context, call.body.get("rateLimits")),
        auth="access",
        rules=lambda env, body: env.limits.rate_limit_violations(_member(body, "rateLimits")),
    ),
    _limits_reset("reset_rate_limits"),
    _limits_reset("set_production_rate_limits"),
    # -- KSeF certificates (API 2.7.0) --
    _operation(
        "testdata.update_certificate",
        lambda call: call.env.certificates.update_validity(
            call.me, call.path["serialNumber"], call.body["validTo"], call.now
        ),
        auth="access",
    ),
]
