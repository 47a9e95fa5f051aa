"""Commit before the answer: with ``--data`` a success answer means durable.

The commit runs when the response starts, after the route, the scenario rules
and their effects have done their work and before the first byte reaches the
client: a client that saw 201/202 can count on a restart keeping what it got.
Reads (GET, HEAD, OPTIONS) change nothing a restart cannot rebuild (statuses
are computed from the clock), so they do not commit, unless a successful read
drew an identifier: a status read that numbers the UPO pages of a session
whose processing time has just passed, or issues a certificate, shows the
client something random that a restart would draw anew.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockksef.ids import draws

if TYPE_CHECKING:
    from mockksef.state import MockState

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
# The invoice pipeline's hot paths: their changes are appended rows (invoices,
# session invoices, the session), nothing in the environment pickle.
_HOT = (
    re.compile(r"^(?:/[a-z0-9.-]+)*/sessions/online/[^/]+/invoices/?$"),
    re.compile(r"^/storage/"),
)


def is_hot(method: str, path: str) -> bool:
    return method in ("POST", "PUT") and any(p.match(path) for p in _HOT)


class PersistenceMiddleware:
    def __init__(self, app: ASGIApp, state: MockState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in _READS:
            await self._read(scope, receive, send)
            return
        state = self.state
        hot = is_hot(scope["method"], scope["path"])
        committed = False

        async def commit() -> None:
            # Inline when the file is free (the usual case: no thread hop); while
            # another commit holds it (a big one, or a snapshot load's, which writes
            # the loaded environments whole), wait in a worker thread so
            # the event loop goes on answering reads.
            if not state.commit(hot=hot, wait=False):
                await anyio.to_thread.run_sync(functools.partial(state.commit, hot=hot))

        async def durable_send(message: Message) -> None:
            nonlocal committed
            if message["type"] == "http.response.start" and not committed:
                committed = True
                await commit()
            await send(message)

        try:
            await self.app(scope, receive, durable_send)
        finally:
            if not committed:
                # No answer (a dropped connection, a failure): keep what changed anyway.
                await commit()

    async def _read(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A read commits only when it answered with something freshly drawn."""
        state = self.state
        drawn = draws()

        async def durable_send(message: Message) -> None:
            if (
                message["type"] == "http.response.start"
                and message["status"] < 400  # an error's own ids are no state
                and draws() != drawn
            ):
                if not state.commit(wait=False):
                    await anyio.to_thread.run_sync(state.commit)
            await send(message)

        await self.app(scope, receive, durable_send)
