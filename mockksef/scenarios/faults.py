"""Faults on the wire: connection reset, close without an answer, stall, cut bodies.

On a real server (uvicorn) the ASGI ``send`` callable is a bound method of
uvicorn's per-request cycle, whose ``transport`` is the asyncio transport of
the client's connection. Through it:

* **reset** – ``SO_LINGER {on, 0}`` on the socket, then ``transport.abort()``:
  the kernel sends a TCP RST; the client sees "connection reset by peer";
* **close** – ``transport.close()``: FIN without a byte of answer; the client
  sees "server disconnected without sending a response" (empty reply);
* **stall** – nothing is sent for the given (real) time, then close;
* **truncate** – the real status line and headers (with the full
  ``Content-Length``), part of the body, then close.

After closing, the middleware waits until uvicorn has noticed the disconnect
and only then returns, so uvicorn neither logs an error nor tries to send its
own 500.

In-process transports (``httpx.ASGITransport``, Starlette's ``TestClient``)
have no socket: there a connection-level fault raises ``NetworkFault`` (a
``ConnectionError``) out of the app, which the test client raises to the
caller - the closest in-process equivalent of a dropped connection.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from starlette.types import Message, Receive, Send

_FAULT_TEXT = {"reset": "connection reset", "close": "connection closed", "stall": "stalled"}


class NetworkFault(ConnectionError):
    """Raised in-process where a real server would drop the connection.

    ``kind`` is ``reset``, ``close`` or ``stall``, as in the journal's ``fault``.
    """

    def __init__(self, kind: str) -> None:
        super().__init__(f"mockksef scenario: {_FAULT_TEXT.get(kind, kind)} (no HTTP answer)")
        self.kind = kind


def _cycle_of(send: Send) -> Any | None:
    """uvicorn's request cycle behind ``send``, through wrappers that set ``__wrapped__``.

    Middleware that wraps ``send`` (the journal tracks the status) sets
    ``__wrapped__`` on its wrapper, as ``functools.wraps`` does.
    """
    while not hasattr(send, "__self__"):
        inner = getattr(send, "__wrapped__", None)
        if inner is None:
            return None
        send = inner
    return getattr(send, "__self__", None)


def transport_of(send: Send) -> Any | None:
    """The asyncio transport behind uvicorn's ``send``, or None (in-process)."""
    transport = getattr(_cycle_of(send), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return None
    return transport


def _mark_handled(send: Send) -> None:
    """Tell uvicorn's request cycle there is nothing left to send."""
    cycle = _cycle_of(send)
    if cycle is not None and hasattr(cycle, "disconnected"):
        cycle.disconnected = True


async def wait_disconnect(receive: Receive, timeout: float) -> bool:
    """Drain the request until the client is gone; False on timeout."""

    async def drain() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    try:
        await asyncio.wait_for(drain(), timeout)
    except TimeoutError:
        return False
    return True


async def reset(send: Send, receive: Receive) -> None:
    transport = transport_of(send)
    if transport is None:
        raise NetworkFault("reset")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass  # already closing: abort() still drops it
    transport.abort()
    await wait_disconnect(receive, 2.0)
    _mark_handled(send)


async def close(send: Send, receive: Receive) -> None:
    transport = transport_of(send)
    if transport is None:
        raise NetworkFault("close")
    transport.close()
    await wait_disconnect(receive, 2.0)
    _mark_handled(send)


async def stall(send: Send, receive: Receive, seconds: float | None, cap: float = 600.0) -> None:
    """Keep the connection open and silent, then close it.

    ``seconds=None`` waits until the client gives up (at most ``cap``). Time
    here is real even on a virtual Clock: the point is the client's timeout.
    """
    limit = cap if seconds is None else min(seconds, cap)
    transport = transport_of(send)
    gone = await wait_disconnect(receive, limit)
    if transport is None:
        raise NetworkFault("stall")
    if not gone:
        transport.close()
        await wait_disconnect(receive, 2.0)
    _mark_handled(send)


class Recorder:
    """Collects the downstream app's answer instead of sending it."""

    def __init__(self) -> None:
        self.start: Message | None = None
        self.body = bytearray()

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    @property
    def status(self) -> int:
        return int(self.start["status"]) if self.start else 500

    def headers(self) -> list[tuple[bytes, bytes]]:
        return list(self.start.get("headers", [])) if self.start else []


def _with_length(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    out = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    out.append((b"content-length", str(length).encode()))
    return out


async def send_truncated(
    send: Send, receive: Receive, recorded: Recorder, keep: int | None
) -> None:
    """The recorded answer with its full Content-Length but only ``keep`` bytes of body."""
    body = bytes(recorded.body)
    keep = len(body) // 2 if keep is None else min(keep, max(len(body) - 1, 0))
    transport = transport_of(send)
    headers = _with_length(recorded.headers(), len(body))
    if transport is None:
        # No socket to cut: deliver the short body as if the connection had ended.
        headers = _with_length(recorded.headers(), keep)
        await send({"type": "http.response.start", "status": recorded.status, "headers": headers})
        await send({"type": "http.response.body", "body": body[:keep], "more_body": False})
        return
    await send({"type": "http.response.start", "status": recorded.status, "headers": headers})
    await send({"type": "http.response.body", "body": body[:keep], "more_body": True})
    transport.close()
    await wait_disconnect(receive, 2.0)
    _mark_handled(send)


async def send_malformed(
    send: Send, recorded: Recorder, replacement: str | None, status: int | None
) -> None:
    """The recorded status and headers with a body that does not parse."""
    if replacement is not None:
        body = replacement.encode("utf-8")
    else:
        original = bytes(recorded.body)
        # Half a JSON document (or an opening brace when there was no body) never parses.
        body = original[: max(1, len(original) // 2)] if original.strip() else b'{"'
        if body.rstrip().endswith((b"}", b"]")):
            body = body.rstrip()[:-1]
    headers = _with_length(recorded.headers(), len(body))
    if not any(k.lower() == b"content-type" for k, _ in headers):
        headers.append((b"content-type", b"application/json"))
    await send(
        {"type": "http.response.start", "status": status or recorded.status, "headers": headers}
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
