"""HTTP routes of the auth area (thin: parse, call the backend, render)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from mockksef.http.endpoint import Call, endpoint, json_response, no_content


@endpoint("auth.challenge", auth="none")
def challenge(call: Call) -> Response:
    return json_response(call.env.auth.challenge(call.client_ip, call.now))


@endpoint("auth.ksef_token", auth="none", body="json")
def ksef_token(call: Call) -> Response:
    return json_response(call.env.auth.init_token(call.body, call.now), status=202)


# Parsing, XSD and signature verification take ~3 ms for a login (a thread hop costs as
# much, issue 17), a document padded to the body limit a second: that one goes to a worker.
@endpoint("auth.xades_signature", auth="none", body="xml", offload="large")
def xades_signature(call: Call) -> Response:
    result = call.env.auth.init_xades(
        call.raw_body,
        call.header("content-type"),
        call.query.get("verifyCertificateChain"),
        call.now,
    )
    return json_response(result, status=202)


@endpoint("auth.status", auth="operation")
def auth_status(call: Call) -> Response:
    return json_response(call.env.auth.status(call.me, call.path["referenceNumber"], call.now))


@endpoint("auth.redeem_token", auth="operation")
def redeem_token(call: Call) -> Response:
    return json_response(call.env.auth.redeem(call.me, call.now))


@endpoint("auth.refresh_token", auth="refresh")
def refresh_token(call: Call) -> Response:
    return json_response(call.env.auth.refresh(call.me, call.now))


@endpoint("auth.list_sessions", auth="access")
def list_sessions(call: Call) -> Response:
    page_size = int(call.query.get("pageSize", 10))
    result = call.env.auth.list_sessions(
        call.me, call.header("x-continuation-token"), page_size, call.now
    )
    return json_response(result)


@endpoint("auth.revoke_current_session", auth="access_or_refresh")
def revoke_current_session(call: Call) -> Response:
    call.env.auth.revoke_current(call.me, call.now)
    return no_content()


@endpoint("auth.revoke_session", auth="access_or_refresh")
def revoke_session(call: Call) -> Response:
    call.env.auth.revoke(call.me, call.path["referenceNumber"], call.now)
    return no_content()


routes: list[BaseRoute] = [
    challenge,
    ksef_token,
    xades_signature,
    auth_status,
    redeem_token,
    refresh_token,
    list_sessions,
    revoke_current_session,
    revoke_session,
]
