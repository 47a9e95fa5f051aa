"""``KsefClient``: runs the protocol's flows with ``httpx.Client`` and ``time.sleep``.

Only I/O lives here. Every operation is declared once on
:class:`~ksefclient._base.BaseKsefClient`; :meth:`KsefClient._bind` makes it a
blocking method that hands the flow to :meth:`KsefClient._run`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from ksefclient._base import BaseKsefClient
from ksefclient._core import Flow, ProtocolCore, Sleep
from ksefclient._environments import Environment
from ksefclient._exceptions import KsefError
from ksefclient._models import FA3, FormCode, OnlineSession

__all__ = ["KsefClient"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class KsefClient(BaseKsefClient):
    """Synchronous KSeF client.

    ``KsefClient("test", nip="5265877635", credentials=KsefTokenCredentials(token))``
    talks to KSeF TEST; ``base_url=`` points it elsewhere (the mock). Pass your
    own ``http_client`` (any ``httpx.Client``, e.g. Starlette's ``TestClient``)
    and ``sleep`` (e.g. one that moves a virtual clock) for tests.
    """

    def __init__(
        self,
        environment: str | Environment | None = None,
        *,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(environment, **kwargs)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=self._core.timeout)
        self._sleep = sleep or time.sleep

    # -- I/O ------------------------------------------------------------------------------

    def _run(self, flow: Flow[T]) -> T:
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
                        self._sleep(effect.seconds)
                    continue
                try:
                    value = self._http.send(effect.request)
                except (httpx.HTTPError, OSError) as exc:
                    # OSError: custom transports (in-process ASGI apps) may raise it raw.
                    error = exc
        finally:
            flow.close()

    def _bind(self, flow: Callable[Concatenate[ProtocolCore, P], Flow[R]]) -> Callable[P, R]:
        core = self._core

        def method(*args: P.args, **kwargs: P.kwargs) -> R:
            return self._run(flow(core, *args, **kwargs))

        return method

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> KsefClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def online_session(self, form_code: FormCode = FA3) -> Iterator[OnlineSession]:
        """Open a session for the ``with`` block and close it afterwards."""
        session = self.open_online_session(form_code)
        try:
            yield session
        except BaseException:
            if not session.closed:
                with contextlib.suppress(KsefError):
                    self.close_online_session(session)
            raise
        if not session.closed:
            self.close_online_session(session)
