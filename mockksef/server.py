"""Serving the app on a real socket: the hardened HTTP protocol, the uvicorn settings
shared by ``mockksef serve`` and ``ThreadedServer`` (uvicorn in a thread: tests, tools).

What the installed uvicorn (0.55, and the 0.3x line before it) enforces by itself,
checked against its sources and over a socket (``bench/http_hardening.py``):

* with httptools (the default with ``uvicorn[standard]``): no limit on header
  size or count (an 8 MB header and 100,000 headers were answered 200), and no
  timer before the first request, while headers trickle in or while a body
  stalls; ``timeout_keep_alive`` runs only between requests;
* with h11: ``h11_max_incomplete_event_size`` bounds the header block (400),
  but there is no read timer either, and it is the slower parser;
* ``limit_concurrency`` counts idle connections as well: 500 idle sockets
  would make it answer 503 to every real client, the opposite of the goal.

So ``GuardedHttpToolsProtocol`` adds to uvicorn's httptools protocol, per
connection: a header budget (bytes of request line + headers, and a count of
fields; 431 beyond it), a whole-header deadline from the first byte of a
request (or from accept), and a body idle timer (longest pause between body
bytes while the app is waiting for them). Idle and trickling connections are
closed; the app never sees an incomplete request. After a 431 the connection
half-closes and drains for a moment ("lingering close", as nginx does), so the
client reads the answer instead of a reset.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import threading
import time
from typing import Any, ClassVar

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mockksef.config import MockConfig
from mockksef.http import access_log
from mockksef.http.access_log import BufferedAccessLog

# Seconds a refused connection keeps draining what the client still sends.
LINGER_SECONDS = 1.0


class _HeaderLimit(Exception):
    """Raised inside a parser callback; httptools turns it into a parser error."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header limits and read timers (see the module)."""

    # The header budget and read timers (max_header_*, *_timeout_seconds, keep_alive_seconds).
    limits: ClassVar[MockConfig] = MockConfig()
    # uvicorn's default access logger, replaced by the same lines written in batches
    # (mockksef/http/access_log.py); found at the first connection, False: keep uvicorn's.
    access_sink: ClassVar[BufferedAccessLog | bool | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.access_log:
            cls = type(self)
            if cls.access_sink is None:
                cls.access_sink = access_log.for_logger(self.access_logger) or False
            if isinstance(cls.access_sink, BufferedAccessLog):
                self.access_logger = cls.access_sink  # type: ignore[assignment]
            elif not self.access_logger.isEnabledFor(logging.INFO):
                self.access_log = False
        # uvicorn's own option is whole seconds; the limit may be finer.
        self.timeout_keep_alive = self.limits.keep_alive_seconds  # type: ignore[assignment]
        # "idle" (between requests), "headers", "body": where the parser is.
        self._phase = "idle"
        self._header_bytes = 0
        self._header_count = 0
        self._limit_reason: str | None = None
        self._refused = False
        # One timer per connection, re-armed only when it fires (``_tick``): arming
        # and cancelling one per request cost more than a cheap request's routing.
        self._timer: asyncio.TimerHandle | None = None
        # When the current request's header deadline started (accept for the first
        # request, its first byte for a later one); None between requests.
        self._header_started: float | None = None
        self._last_read = 0.0

    # -- the timer -------------------------------------------------------------------

    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(delay, self._tick)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        """The deadline of where the connection is now: met, not yet due, or missed."""
        self._timer = None
        if self._refused or self.transport.is_closing():
            return
        limits = self.limits
        now = self.loop.time()
        if self._phase == "body":
            quiet = now - self._last_read
            # Paused by flow control (the app is not reading yet) is not the client's stall.
            if self.flow.read_paused or quiet < limits.body_timeout_seconds:
                self._arm(max(0.05, limits.body_timeout_seconds - quiet))
            else:
                # The app may be waiting in receive(): closing tells it the client is gone.
                self.transport.close()
            return
        if self._header_started is None:
            return  # between requests: uvicorn's keep-alive timer has the connection
        left = self._header_started + limits.header_timeout_seconds - now
        if left > 0:
            self._arm(left)
        elif self._header_bytes:
            seconds = f"{limits.header_timeout_seconds:g}"
            self._answer(408, f"Request headers did not arrive within {seconds} s.", linger=False)
        else:
            self.transport.close()  # a connection that never sent a request

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a request is closed like a stalled header.
        self._header_started = self.loop.time()
        self._arm(self.limits.header_timeout_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: drain and drop
        now = self.loop.time()
        if self._phase != "body":
            if self._header_started is None:
                # First bytes of a request after a keep-alive pause: its header deadline.
                self._header_started = now
            if self._timer is None:
                self._arm(self.limits.header_timeout_seconds)
            # Bytes of a chunk that also completes the headers are recounted exactly
            # in on_headers_complete (this counter is reset there).
            self._header_bytes += len(data)
        self._last_read = now
        super().data_received(data)
        if self._answered():  # a parser callback may have refused the request
            return
        if self._phase != "body" and self._header_bytes > self.limits.max_header_bytes:
            self._answer(431, self._too_large("bytes"))
        elif self._timer is None and self._phase != "idle":
            # A body still arriving, or a pipelined request begun in this chunk.
            body = self._phase == "body"
            limits = self.limits
            self._arm(limits.body_timeout_seconds if body else limits.header_timeout_seconds)

    # -- parser callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = "headers"
        if self._header_started is None:  # a request pipelined behind the previous one
            self._header_started = self.loop.time()
        self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_header_count:
            self._limit_reason = self._too_large("fields")
            raise _HeaderLimit
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        # The bytes received for this request bound the header block from above: only
        # a chunk that also carried body or pipelined bytes needs the exact size.
        if self._header_bytes > self.limits.max_header_bytes:
            size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > self.limits.max_header_bytes:
                self._limit_reason = self._too_large("bytes")
                raise _HeaderLimit
        self._phase = "body"
        self._header_bytes = 0
        self._header_started = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase = "idle"
        super().on_message_complete()

    # -- answers the app never sees --------------------------------------------------

    def _answered(self) -> bool:
        return self._refused

    def send_400_response(self, msg: str) -> None:
        if self._limit_reason is not None:
            self._answer(431, self._limit_reason)
        else:
            super().send_400_response(msg)

    def _too_large(self, what: str) -> str:
        if what == "fields":
            return f"Too many request header fields (at most {self.limits.max_header_count})."
        return f"Request headers too large (at most {self.limits.max_header_bytes} bytes)."

    def _answer(self, status: int, message: str, linger: bool = True) -> None:
        """Answer and end the connection; plain text, as uvicorn's own 400 is."""
        self._refused = True
        self._disarm()
        body = message.encode("ascii")
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, reason, len(body), body)
        )
        if linger and self.transport.can_write_eof():
            # Closing with unread bytes makes the kernel send a reset, which can
            # destroy the answer before the client reads it: half-close, drain, close.
            self.transport.write_eof()
            self._timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def guarded_protocol(limits: MockConfig) -> type[GuardedHttpToolsProtocol]:
    """A protocol class carrying the limits of ``limits`` (uvicorn instantiates it per connection)."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"limits": limits, "access_sink": None},
    )


def uvicorn_config(app: Any, config: MockConfig, **options: Any) -> uvicorn.Config:
    """uvicorn settings for the mock: the guarded protocol, keep-alive, proxy headers.

    ``options`` are further ``uvicorn.Config`` arguments and win over these.
    """
    settings: dict[str, Any] = {
        "http": guarded_protocol(config),
        "timeout_keep_alive": max(1, math.ceil(config.keep_alive_seconds)),
        # Only used if a caller switches to h11: the same header budget.
        "h11_max_incomplete_event_size": config.max_header_bytes,
        # uvicorn trusts X-Forwarded-For from loopback by default; the mock decides
        # that itself (MockConfig.trusted_proxy).
        "proxy_headers": bool(config.trusted_proxy),
        **options,
    }
    return uvicorn.Config(app, **settings)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv4, IPv6 or a name); OSError if not."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        # Listening from here on: a client that connects before the event loop
        # runs waits in the backlog instead of being refused.
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


class ThreadedServer:
    def __init__(
        self, app: Starlette, host: str = "127.0.0.1", port: int = 0, **uvicorn_options: object
    ) -> None:
        self.app = app
        self.host = host
        self._socket = bind(host, port)
        self.port = self._socket.getsockname()[1]
        state = getattr(getattr(app, "state", None), "mock", None)
        config = state.config if state is not None else MockConfig()
        options = {"log_level": "warning", "lifespan": "off", **uvicorn_options}
        self._server = uvicorn.Server(
            uvicorn_config(app, config, host=host, port=self.port, **options)
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
