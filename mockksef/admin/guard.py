"""The guard in front of the admin plane (``/_mock``).

Per request, before any admin code runs:

* ``MockConfig.admin_token`` set: the request carries it as
  ``Authorization: Bearer <token>`` or ``X-Mock-Admin-Token: <token>``, or
  carries the console cookie. A browser gets the cookie by opening
  ``/_mock/console?token=<token>`` once: the guard answers 303 to the same page
  without the token (so it leaves the address bar and the history) and sets an
  ``HttpOnly``, ``SameSite=Strict`` cookie scoped to ``/_mock``; the cookie holds
  an HMAC of the token, not the token. Every comparison is constant-time.
* no token: open when the request arrived on a loopback address (or through an
  in-process transport, which has no address); refused (401) on an address
  other machines can reach, unless ``admin_insecure``. This holds however the
  app is served (``mockksef serve`` refuses such a start already; ``uvicorn
  --factory mockksef.app:app_factory --host 0.0.0.0`` is caught here).

Admin bodies are read whole (scenario YAML, seed setups), so they are bounded
(``max_admin_body_bytes``): 400 with 21405 in the official shape, like the API.
A snapshot upload (``PUT /_mock/snapshots/NAME/file``, hundreds of megabytes)
is the one exception: its route streams it to disk under its own bound.
Refusals are rendered by ``errors.render`` (401 problem+json, 400 21405).

The official API paths pay one prefix test and are never refused here.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request, cookie_parser
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockksef import violations
from mockksef.errors import InvalidInputData, MockError, Unauthorized
from mockksef.http.endpoint import STATE_SCOPE_KEY, error_response
from mockksef.state import MockState

ADMIN_PREFIX = "/_mock"
CONSOLE_PREFIX = "/_mock/console"
COOKIE_NAME = "mockksef_admin"
TOKEN_HEADER = b"x-mock-admin-token"
# Admin requests whose route reads (and bounds) the body itself, as it streams.
STREAMED = re.compile(r"^/_mock/snapshots/[^/]+/file$")

NEEDS_TOKEN = (
    "The mockksef admin plane needs its token: send 'Authorization: Bearer <token>' "
    "or 'X-Mock-Admin-Token: <token>', or open /_mock/console?token=<token> in a browser."
)
NOT_ON_THIS_ADDRESS = (
    "The mockksef admin plane is reachable from other machines here and has no token: "
    "start the server with --admin-token (or MOCKKSEF_ADMIN_TOKEN), or with "
    "--insecure-admin to open it anyway."
)


def is_loopback(host: str) -> bool:
    """Whether a host string names only this machine (``127.0.0.0/8``, ``::1``, localhost).

    Decided on the string, without resolving names: any other name counts as
    reachable from outside, which is the safe side.
    """
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _reachable_from_outside(scope: Scope) -> bool:
    server = scope.get("server")
    if not server:
        return False  # a Unix socket
    try:
        ipaddress.ip_address(str(server[0]).split("%", 1)[0])
    except ValueError:
        # In-process transports name a host ("testserver"); a socket gives an address.
        return False
    return not is_loopback(str(server[0]))


def cookie_value(token: str) -> str:
    """What the console cookie holds: proof of the token, not the token."""
    return hmac.new(token.encode(), b"mockksef admin console", hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _carries_token(scope: Scope, token: str) -> bool:
    authorization = _header(scope, b"authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and _same(value.strip(), token):
            return True
    direct = _header(scope, TOKEN_HEADER)
    if direct is not None and _same(direct.strip(), token):
        return True
    cookies = _header(scope, b"cookie")
    if cookies is not None:
        held = cookie_parser(cookies).get(COOKIE_NAME)
        if held is not None and _same(held, cookie_value(token)):
            return True
    return False


class AdminGuard:
    """ASGI middleware around the whole app; only ``/_mock`` requests are examined."""

    def __init__(self, app: ASGIApp, state: MockState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self._is_admin(scope):
            await self.app(scope, receive, send)
            return
        config = self.state.config
        token = config.admin_token
        if token is not None:
            allowed = _carries_token(scope, token)
            if not allowed and scope["type"] == "http" and self._console_login(scope, token):
                await self._set_cookie_and_redirect(scope, receive, send, token)
                return
            detail = NEEDS_TOKEN
        else:
            allowed = config.admin_insecure or not _reachable_from_outside(scope)
            detail = NOT_ON_THIS_ADDRESS
        if not allowed:
            if scope["type"] == "websocket":
                # Before accept: the server answers the handshake with 403.
                await send({"type": "websocket.close", "code": 1008})
                return
            await self._refuse(scope, receive, send, Unauthorized(detail))
            return
        if scope["type"] == "websocket" or (
            scope["method"] == "PUT" and STREAMED.match(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        await self._bounded(scope, receive, send)

    @staticmethod
    def _is_admin(scope: Scope) -> bool:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return path.startswith(ADMIN_PREFIX)

    @staticmethod
    def _console_login(scope: Scope, token: str) -> bool:
        if scope["method"] != "GET" or not scope["path"].startswith(CONSOLE_PREFIX):
            return False
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        return any(key == "token" and _same(value, token) for key, value in query)

    async def _set_cookie_and_redirect(
        self, scope: Scope, receive: Receive, send: Send, token: str
    ) -> None:
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        location = scope["path"] + (f"?{rest}" if rest else "")
        response = Response(
            status_code=303, headers={"Location": location, "Cache-Control": "no-store"}
        )
        response.set_cookie(
            COOKIE_NAME,
            cookie_value(token),
            path=ADMIN_PREFIX,
            httponly=True,
            samesite="strict",
            secure=scope.get("scheme") == "https",
        )
        await response(scope, receive, send)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.state.config.max_admin_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, _too_large(limit))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send, _too_large(limit))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, error: MockError) -> None:
        request = Request({**scope, STATE_SCOPE_KEY: self.state})
        await error_response(request, error)(scope, receive, send)


def _too_large(limit: int) -> InvalidInputData:
    return InvalidInputData(violations.service("body_too_large", limit=limit))


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read by the guard, then the real channel (disconnects, for streams)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replayed


__all__ = ["AdminGuard", "cookie_value", "is_loopback"]
