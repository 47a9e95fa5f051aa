"""Deliberately broken KSeF servers: the harness must catch each of them.

``Rewrite`` wraps any ASGI app (``create_app()``) and changes requests before
it and answers after it, so a test can break exactly one rule of the contract
on an otherwise faithful server. The ready-made faults below are the ones the
harness tests use; each names the check that must report it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "Answer",
    "Rewrite",
    "drop_request_header",
    "json_body",
    "on_path",
]


class Answer:
    """A buffered response that a fault may change."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        key = name.lower().encode()
        return next((v.decode("latin-1") for k, v in self.headers if k.lower() == key), None)

    def set_header(self, name: str, value: str | None) -> None:
        key = name.lower().encode()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != key]
        if value is not None:
            self.headers.append((key, value.encode("latin-1")))


RequestFault = Callable[[Scope], Scope]
ResponseFault = Callable[[Scope, Answer], Answer]


class Rewrite:
    """ASGI middleware: ``request(scope)`` before the app, ``response(scope, answer)`` after."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        request: RequestFault | None = None,
        response: ResponseFault | None = None,
    ) -> None:
        self.app = app
        self.request = request
        self.response = response
        # Keep create_app()'s handle so the harness still finds the registry.
        self.state = getattr(app, "state", None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.request is not None:
            scope = self.request(dict(scope))
        if self.response is None:
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        answer = Answer(start["status"], list(start.get("headers", [])), b"".join(chunks))
        answer = self.response(scope, answer)
        answer.set_header("content-length", str(len(answer.body)))
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        await send({"type": "http.response.body", "body": answer.body})


def on_path(
    pattern: str, fault: Callable[[Answer], Answer], method: str | None = None
) -> ResponseFault:
    """Apply ``fault`` to answers of requests whose path ends with the regex ``pattern``."""
    regex = re.compile(f"(?:{pattern})\\Z")

    def apply(scope: Scope, answer: Answer) -> Answer:
        if regex.search(scope["path"]) and (method is None or scope["method"] == method):
            return fault(answer)
        return answer

    return apply


def json_body(change: Callable[[Any], Any]) -> Callable[[Answer], Answer]:
    """A fault that edits a JSON body (``change`` returns the new document)."""

    def apply(answer: Answer) -> Answer:
        try:
            data = json.loads(answer.body)
        except ValueError:
            return answer
        answer.body = json.dumps(change(data)).encode()
        return answer

    return apply


def drop_request_header(name: str) -> RequestFault:
    key = name.lower().encode()

    def apply(scope: Scope) -> Scope:
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != key]
        return scope

    return apply
