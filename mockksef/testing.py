"""``InProcessTransport``: a synchronous httpx client talks to the app in its own thread.

Starlette's ``TestClient`` runs the app in a second thread and reaches it through a
blocking portal, several thread hand-overs per request: in an end-to-end flow
(XAdES login, a session, an invoice, a download) most of the CPU goes there, and
the flow runs at about a third of the speed of the same flow with
``AsyncKsefClient`` over ``httpx.ASGITransport`` (``bench/suite_speed.py``,
issue 17). This transport gives synchronous code that speed: each request is one
``run_until_complete`` of ``httpx.ASGITransport`` on an event loop the transport
owns, in the calling thread::

    import httpx
    from ksefclient import KsefClient
    from mockksef import create_app
    from mockksef.testing import InProcessTransport

    with httpx.Client(transport=InProcessTransport(create_app()),
                      base_url="http://testserver/v2") as http:
        client = KsefClient(base_url="http://testserver/v2", http_client=http, nip=...)

What the app raises reaches the caller as with ``ASGITransport`` (``raise_app_exceptions``).
The app's lifespan is not run (``create_app`` needs none). An answer is read whole
before it is returned, so an endless stream (the console's live journal) never
returns: read those over a socket (``mockksef.server.ThreadedServer``). For code already running
an event loop, use ``httpx.AsyncClient`` with ``httpx.ASGITransport`` instead: a loop
cannot be run from inside another one.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx

__all__ = ["InProcessTransport"]


class InProcessTransport(httpx.BaseTransport):
    """An httpx transport that answers from the ASGI ``app`` in the calling thread."""

    def __init__(
        self,
        app: Any,
        *,
        client: tuple[str, int] = ("127.0.0.1", 123),
        root_path: str = "",
        raise_app_exceptions: bool = True,
    ) -> None:
        self._asgi = httpx.ASGITransport(
            app=app,
            client=client,
            root_path=root_path,
            raise_app_exceptions=raise_app_exceptions,
        )
        self._loop = asyncio.new_event_loop()
        # One loop can run one request at a time: threads sharing a client take turns.
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # The body read here, so the async transport gets a stream it can iterate.
        relay = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.read(),
            extensions=request.extensions,
        )
        if _loop_running():
            raise RuntimeError(
                "InProcessTransport cannot answer inside a running event loop: use "
                "httpx.AsyncClient with httpx.ASGITransport there"
            )
        with self._lock:
            if self._loop.is_closed():
                raise RuntimeError("InProcessTransport used after close()")
            status, headers, body, extensions = self._loop.run_until_complete(self._exchange(relay))
        return httpx.Response(
            status, headers=headers, stream=httpx.ByteStream(body), extensions=extensions
        )

    async def _exchange(
        self, request: httpx.Request
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, dict[str, Any]]:
        response = await self._asgi.handle_async_request(request)
        body = await response.aread()
        return response.status_code, response.headers.raw, body, dict(response.extensions)

    def close(self) -> None:
        with self._lock:
            if self._loop.is_closed():
                return
            # Whatever the app left scheduled (none of mockksef's own) is cancelled.
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
