"""``AsyncKsefClient``: runs the protocol's flows with ``httpx.AsyncClient`` and ``asyncio.sleep``.

Only I/O lives here. Every operation is declared once on
:class:`~ksefclient._base.BaseKsefClient`; :meth:`AsyncKsefClient._bind` makes
it a coroutine method that hands the flow to :meth:`AsyncKsefClient._run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from ksefclient._base import BaseKsefClient
from ksefclient._core import Flow, ProtocolCore, Sleep
from ksefclient._environments import Environment
from ksefclient._exceptions import KsefError
from ksefclient._models import FA3, FormCode, OnlineSession

__all__ = ["AsyncKsefClient"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class AsyncKsefClient(BaseKsefClient):
    """Asynchronous KSeF client (the same protocol as :class:`KsefClient`).

    Tasks may share one client: they share its tokens and key cache (two tasks
    that find the token expired at the same moment may both renew it, which is
    harmless).

    ``AsyncKsefClient("test", nip="5265877635", credentials=KsefTokenCredentials(token))``
    talks to KSeF TEST; ``base_url=`` points it elsewhere (the mock). Pass your
    own ``http_client`` (an ``httpx.AsyncClient``, e.g. over ``httpx.ASGITransport``)
    and ``sleep`` (e.g. one that moves a virtual clock) for tests.
    """

    def __init__(
        self,
        environment: str | Environment | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(environment, **kwargs)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=self._core.timeout)
        self._sleep = sleep or asyncio.sleep

    # -- I/O ------------------------------------------------------------------------------

    async def _run(self, flow: Flow[T]) -> T:
        value: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    effect = flow.throw(error) if error is not None else flow.send(value)
                except StopIteration as stop:
                    result: T = stop.value
                    return result
                value, error = None, None
                if isinstance(effect, Sleep):
                    if effect.seconds > 0:
                        # A sync sleep (a test moving a virtual clock) or a coroutine one.
                        waited = self._sleep(effect.seconds)
                        if inspect.isawaitable(waited):
                            await waited
                    continue
                try:
                    value = await self._http.send(effect.request)
                except (httpx.HTTPError, OSError) as exc:
                    # OSError: custom transports (in-process ASGI apps) may raise it raw.
                    error = exc
        finally:
            flow.close()

    def _bind(
        self, flow: Callable[Concatenate[ProtocolCore, P], Flow[R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]:
        core = self._core

        async def method(*args: P.args, **kwargs: P.kwargs) -> R:
            return await self._run(flow(core, *args, **kwargs))

        return method

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncKsefClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @contextlib.asynccontextmanager
    async def online_session(self, form_code: FormCode = FA3) -> AsyncIterator[OnlineSession]:
        """Open a session for the ``async with`` block and close it afterwards."""
        session = await self.open_online_session(form_code)
        try:
            yield session
        except BaseException:
            if not session.closed:
                with contextlib.suppress(KsefError):
                    await self.close_online_session(session)
            raise
        if not session.closed:
            await self.close_online_session(session)
