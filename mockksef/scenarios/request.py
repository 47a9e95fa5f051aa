"""One request as the scenario rules see it, before routing.

The environment and the API path come from the URL and the ``Host`` header, as
``EnvSelector`` in ``mockksef/app.py`` derives them; the operation id and the
context NIP are computed only when a rule asks for them (the context may need
the request body, which is then replayed to the app).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.types import Message, Receive, Scope

from mockksef import operations
from mockksef.environments import API_PATH, Env, env_for_host
from mockksef.untrusted import json_loads

if TYPE_CHECKING:
    from mockksef.state import MockState

# KSeF 1.0 resources lived under /api/online, /api/batch and /api/common.
LEGACY_PATH = re.compile(
    r"^(?:/(test|demo|prod))?/api/(?:online|batch|common)(?:/|\Z)", re.IGNORECASE
)
_XML_CONTEXT = re.compile(
    rb"<(?:\w+:)?ContextIdentifier>\s*<(?:\w+:)?(?:Nip|InternalId|NipVatUe)>\s*([^<\s]+)\s*<"
)


class RequestInfo:
    """What rules match on; the operation and the context are computed on demand."""

    __slots__ = (
        "_body",
        "_context",
        "_context_done",
        "_op",
        "_op_done",
        "api_path",
        "environment",
        "host",
        "legacy",
        "method",
        "path",
        "scope",
        "state",
    )

    def __init__(self, scope: Scope, state: MockState) -> None:
        self.scope = scope
        self.state = state
        self.method: str = scope.get("method", "GET").upper()
        self.path: str = scope.get("path", "/")
        host = self.header(b"host")
        self.host = (host or "").split(":", 1)[0].strip().lower()
        explicit = None
        self.api_path: str | None = None
        match = API_PATH.match(self.path)
        self.legacy = False
        if match:
            explicit = match.group(1)
            self.api_path = match.group(2) or "/"
        else:
            legacy = LEGACY_PATH.match(self.path)
            if legacy:
                self.legacy = True
                explicit = legacy.group(1)
        env = Env(explicit) if explicit else (env_for_host(host) or state.config.default_env)
        if env not in state.environments:
            env = state.config.default_env
        self.environment: str = env.value
        self._op: str | None = None
        self._op_done = False
        self._context: str | None = None
        self._context_done = False
        self._body: list[Message] | None = None

    @property
    def operation(self) -> str | None:
        if not self._op_done:
            self._op_done = True
            if self.api_path is not None:
                op = operations.match(self.method, self.api_path)
                self._op = op.id if op else None
        return self._op

    @property
    def known_context(self) -> str | None:
        """The context NIP if a rule has already asked for it (never reads the body)."""
        return self._context

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope.get("headers", ()):
            if key == name:
                return str(value.decode("latin-1"))
        return None

    async def context(self, receive: Receive) -> str | None:
        """The context NIP: from a valid bearer JWT, else from a login request body."""
        if self._context_done:
            return self._context
        self._context_done = True
        auth = self.header(b"authorization")
        if auth and auth[:7].lower() == "bearer ":
            try:
                claims = self.state.env(self.environment).jwt.decode(auth[7:].strip())
                self._context = claims.get("civ")
            except Exception:  # an invalid token simply has no context
                self._context = None
            return self._context
        if self.method in ("POST", "PUT"):
            body = await self.read_body(receive)
            self._context = context_from_body(body)
        return self._context

    async def read_body(self, receive: Receive) -> bytes:
        if self._body is None:
            messages: list[Message] = []
            while True:
                message = await receive()
                messages.append(message)
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
            self._body = messages
        return b"".join(m.get("body", b"") for m in self._body if m["type"] == "http.request")

    def replay(self, receive: Receive) -> Receive:
        """``receive`` again from the start when the body was read here."""
        if self._body is None:
            return receive
        pending = list(self._body)

        async def replayed() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()

        return replayed


def context_from_body(body: bytes) -> str | None:
    """The context value of a login body: JSON ``contextIdentifier`` or XAdES XML."""
    if not body:
        return None
    stripped = body.lstrip()
    if stripped.startswith(b"{"):
        try:
            data = json_loads(body)
        except ValueError:
            return None
        ident = data.get("contextIdentifier") if isinstance(data, dict) else None
        if isinstance(ident, dict) and ident.get("value") is not None:
            return str(ident["value"])
        return None
    match = _XML_CONTEXT.search(body)
    return match.group(1).decode("utf-8", "replace") if match else None
