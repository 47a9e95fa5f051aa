"""``JournalMiddleware``: one journal entry per API request, outermost in the app.

It sits outside the scenario middleware, so an entry shows what the client
got: the API's answer, a scenario's answer, or a dropped connection. Inner
layers add what only they know to the request's note, a dict under
``scope[NOTE_SCOPE_KEY]`` that exists only while the request is recorded
(the scenario middleware: the rule that fired, its action and explanation, the
network fault, and the environment, operation and context it worked out).

When the journal is off, one attribute read; the admin plane is never recorded.
"""

from __future__ import annotations

import time as _perf
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockksef.errors import Forbidden, KsefError
from mockksef.http.endpoint import (
    ENV_SCOPE_KEY,
    ERROR_SCOPE_KEY,
    OP_SCOPE_KEY,
    PRINCIPAL_SCOPE_KEY,
)

if TYPE_CHECKING:
    from mockksef.state import MockState

NOTE_SCOPE_KEY = "mockksef.journal"


class JournalMiddleware:
    def __init__(self, app: ASGIApp, state: MockState) -> None:
        self.app = app
        self.journal = state.journal
        self.clock = state.clock
        self.default_env: str = state.config.default_env.value

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain call, not a coroutine: when nothing is recorded, the app's own
        # awaitable is handed back and this layer adds no coroutine of its own.
        journal = self.journal
        if (
            not journal.enabled
            or scope["type"] != "http"
            or scope["path"].startswith("/_mock")
            or (journal.sample_every != 1 and not journal.sampled())
        ):
            return self.app(scope, receive, send)
        return self._record(scope, receive, send)

    async def _record(self, scope: Scope, receive: Receive, send: Send) -> None:
        journal = self.journal
        started = _perf.perf_counter()
        when = self.clock.now()
        note: dict[str, Any] = {}
        scope[NOTE_SCOPE_KEY] = note
        status: int | None = None

        async def tracked_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        # Network faults find the server's own send behind this wrapper (faults.py).
        tracked_send.__wrapped__ = send  # type: ignore[attr-defined]
        try:
            await self.app(scope, receive, tracked_send)
        finally:
            env = scope.get(ENV_SCOPE_KEY)
            principal = scope.get(PRINCIPAL_SCOPE_KEY)
            error = scope.get(ERROR_SCOPE_KEY)
            entry = {
                "kind": "request",
                "time": when,
                "environment": env.value if env else self.default_env,
                "method": scope["method"],
                "path": scope["path"],
                "operation": scope.get(OP_SCOPE_KEY),
                "context": getattr(getattr(principal, "context", None), "value", None),
                "status": status,
                "codes": _error_codes(error) if error is not None else [],
                "rule": None,
                "action": None,
                "explain": None,
                "fault": None,
                "durationMs": round((_perf.perf_counter() - started) * 1000, 3),
            }
            if note:
                _add_note(entry, note)
            journal.record(entry)


def _add_note(entry: dict[str, Any], note: dict[str, Any]) -> None:
    """What inner layers worked out; what the API itself set in the scope wins."""
    entry["environment"] = note.get("environment") or entry["environment"]
    entry["operation"] = entry["operation"] or note.get("operation")
    entry["context"] = entry["context"] or note.get("context")
    for key in ("rule", "action", "explain", "fault"):
        entry[key] = note.get(key)


def _error_codes(error: Any) -> list[Any]:
    if isinstance(error, KsefError):
        return [e.code for e in error.errors]
    if isinstance(error, Forbidden):
        return [error.reason_code]
    return []
