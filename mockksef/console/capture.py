"""Opt-in capture of request and response headers and bodies, keyed by journal ``seq``.

The journal keeps one small dict per request and is on while throughput is
measured, so it does not keep bodies. The console wants them when someone
clicks an entry; ``CaptureMiddleware`` records them only while capture is on
(a switch on the journal page; a drill turns it on). Off, it costs one
attribute read per request.

It sits outside the journal middleware. An ASGI app returns to its caller with
no await in between, so right after the inner app returns, the journal's
newest entry is this request's (same method, path and status); when another
thread recorded meanwhile, the newest matching entry since the call started is
taken instead. Bodies are cut at ``limit`` bytes and stored raw; they are masked
when shown (``masking.py``), so nothing secret leaves the process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockksef.console import masking

if TYPE_CHECKING:
    from mockksef.scenarios.journal import Journal

BODY_LIMIT = 64 * 1024


@dataclass
class Exchange:
    method: str
    path: str
    query: str
    request_headers: list[tuple[str, str]]
    request_body: bytearray = field(default_factory=bytearray)
    request_size: int = 0
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytearray = field(default_factory=bytearray)
    response_size: int = 0

    def masked(self, limit: int = BODY_LIMIT) -> dict[str, Any]:
        """What the console may show: headers and bodies with the secrets cut."""
        request = _side(self.request_headers, self.request_body, self.request_size, limit)
        declared = next((v for k, v in self.request_headers if k.lower() == "content-length"), "0")
        if not self.request_size and declared.strip() not in ("", "0"):
            # A scenario answered before anything read the body: say so rather than show nothing.
            request["body"] = f"[{declared.strip()} B, not read by the server]"
        request.update(
            method=self.method, path=self.path + (f"?{self.query}" if self.query else "")
        )
        response = _side(self.response_headers, self.response_body, self.response_size, limit)
        response["status"] = self.status
        return {"request": request, "response": response}


def _side(headers: list[tuple[str, str]], body: bytearray, size: int, limit: int) -> dict[str, Any]:
    media = next((v for k, v in headers if k.lower() == "content-type"), None)
    return {
        "headers": masking.mask_headers(headers),
        "body": masking.mask_body(bytes(body), media, limit),
        "size": size,
        "cut": size > len(body),
    }


class ExchangeStore:
    """The captured exchanges by journal ``seq``, bounded like the journal itself."""

    def __init__(self, size: int = 1000, enabled: bool = False) -> None:
        self.enabled = enabled
        self.size = max(1, size)
        self._items: OrderedDict[int, Exchange] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, seq: int, exchange: Exchange) -> None:
        with self._lock:
            self._items[seq] = exchange
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get(self, seq: int) -> Exchange | None:
        with self._lock:
            return self._items.get(seq)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def _decoded(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]


def _keep(body: bytearray, chunk: bytes) -> int:
    """Keep what room ``BODY_LIMIT`` leaves of ``chunk`` in ``body``; the chunk's size."""
    room = BODY_LIMIT - len(body)
    if room > 0:
        body.extend(chunk[:room])
    return len(chunk)


class CaptureMiddleware:
    def __init__(self, app: ASGIApp, journal: Journal, store: ExchangeStore) -> None:
        self.app = app
        self.journal = journal
        self.store = store

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain call: when nothing is captured, the app's own awaitable, no coroutine of ours.
        if (
            not self.store.enabled
            or scope["type"] != "http"
            or not self.journal.enabled
            or scope["path"].startswith("/_mock")
        ):
            return self.app(scope, receive, send)
        return self._capture(scope, receive, send)

    async def _capture(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange = Exchange(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            request_headers=_decoded(scope.get("headers", ())),
        )

        async def capturing_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                exchange.request_size += _keep(exchange.request_body, message.get("body", b""))
            return message

        async def capturing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                exchange.response_headers = _decoded(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                exchange.response_size += _keep(exchange.response_body, message.get("body", b""))
            await send(message)

        # Network faults find the server's own send behind wrappers (scenarios/faults.py).
        capturing_send.__wrapped__ = send  # type: ignore[attr-defined]
        before = self.journal.last_seq
        try:
            await self.app(scope, capturing_receive, capturing_send)
        finally:
            seq = self._seq_of(exchange, before)
            if seq is not None:
                self.store.put(seq, exchange)

    def _seq_of(self, exchange: Exchange, before: int) -> int | None:
        last = self.journal.last_seq
        if last <= before:
            return None  # not sampled, or the journal was off
        candidates = self.journal.entries(since=before, kind="request")
        for entry in reversed(candidates):
            if entry.get("method") == exchange.method and entry.get("path") == exchange.path:
                if exchange.status is None or entry.get("status") in (exchange.status, None):
                    return int(entry["seq"])
        return None
