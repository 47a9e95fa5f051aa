"""Test support for the bundled client: the mock in-process, faults, sync × async drivers.

* :class:`Harness` builds a mock (virtual clock, seeded) and hands out clients
  talking to it in-process, sync (Starlette ``TestClient``) or async
  (``httpx.ASGITransport``), through a fault-injecting transport;
* :class:`FaultPlan` is a queue of faults, one per request: connection refused
  (never forwarded), timeouts before forwarding, a lost answer (forwarded, then
  the answer dropped: the double-send trap), 429/5xx with or without
  ``Retry-After`` before or after forwarding;
* the client's sleep moves the mock's clock, and every request, fault and
  sleep lands in one event log, so tests can check that waits follow
  ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import httpx
from starlette.testclient import TestClient

from ksefclient import (
    AsyncKsefClient,
    CertificateCredentials,
    KsefClient,
    RetryPolicy,
)
from ksefclient.xades import SigningCredentials, personal_certificate
from mockksef import MockConfig, MockState, create_app
from mockksef.clock import Clock
from mockksef.spec import Spec

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASE = "http://testserver/v2"
NIP_A = "5265877635"
NIP_B = "7352765225"
NIP_C = "1111111111"
# Retry-After values the fault injector uses; 600 exceeds the tests' budget on purpose.
RETRY_AFTERS = (1, 2, 5, 30, 600)
TEST_RETRY = RetryPolicy(
    max_attempts=6,
    max_wait=900.0,
    max_retry_after=120.0,
    jitter=0.0,
    poll_interval=0.5,
    max_poll_interval=5.0,
    poll_timeout=600.0,
)


@cache
def spec() -> Spec:
    from mockksef import official

    return Spec.from_dir(official.locate())


@cache
def certificate(nip: str) -> SigningCredentials:
    """A self-signed TEST certificate for ``nip`` (RSA keys are slow: made once)."""
    return personal_certificate(nip=nip, not_before=START - timedelta(days=1))


@cache
def _fa3_template() -> str:
    from mockksef import official

    return (official.locate() / "sample-invoices" / "invoice-template-fa-3.xml").read_text(
        encoding="utf-8"
    )


def invoice(seller: str, number: str, *, buyer: str = NIP_C, issue: date | None = None) -> bytes:
    """An FA(3) invoice from the official sample, read at run time (never copied)."""
    text = (
        _fa3_template()
        .replace("#nip#", seller)
        .replace("<NIP>1111111111</NIP>", f"<NIP>{buyer}</NIP>")
        .replace("FA/GRQMB-#invoice_number#/05/2025", number)
        .replace("<P_1>2025-09-01</P_1>", f"<P_1>{(issue or START.date()).isoformat()}</P_1>")
    )
    return text.encode("utf-8")


# -- faults ------------------------------------------------------------------------------

FAULT_KINDS = ("connect", "timeout", "lost", "status_before", "status_after")


@dataclass(frozen=True)
class Fault:
    """What happens to one request.

    ``corrupt`` (not drawn by the machines): the answer arrives with a flipped byte.
    ``connect``: refused, never forwarded. ``timeout``: read timeout before the
    app sees it. ``lost``: forwarded and processed, the answer dropped (read
    timeout). ``status_before``/``status_after``: an HTTP ``status`` (429 or
    5xx) with ``retry_after``, instead of forwarding or after it.
    """

    kind: str
    status: int = 503
    retry_after: int | None = None

    def __str__(self) -> str:
        if self.kind.startswith("status"):
            return f"{self.kind}({self.status}, Retry-After={self.retry_after})"
        return self.kind


@dataclass(frozen=True)
class Event:
    kind: str  # request | retry_after | sleep
    detail: str = ""
    value: float | None = None


@dataclass
class FaultPlan:
    """Faults for the next requests, one per request (None = pass through)."""

    queue: deque[Fault | None] = field(default_factory=deque)
    log: list[Event] = field(default_factory=list)
    injected: list[tuple[str, Fault]] = field(default_factory=list)
    # Only requests matching this predicate take faults (all by default).
    target: Callable[[httpx.Request], bool] | None = None

    def load(
        self, faults: Iterable[Fault | None], target: Callable[[httpx.Request], bool] | None = None
    ) -> None:
        self.queue = deque(faults)
        self.target = target

    def take(self, request: httpx.Request) -> Fault | None:
        if self.target is not None and not self.target(request):
            return None
        return self.queue.popleft() if self.queue else None

    def note(self, request: httpx.Request, fault: Fault | None) -> None:
        self.log.append(Event("request", f"{request.method} {request.url.path}"))
        if fault is not None:
            self.injected.append((f"{request.method} {request.url.path}", fault))

    def answered(self, response: httpx.Response) -> None:
        value = response.headers.get("Retry-After")
        if value is not None and response.status_code in (429, 502, 503, 504):
            self.log.append(Event("retry_after", str(response.status_code), float(value)))

    def sleep(self, clock: Clock) -> Callable[[float], None]:
        def sleep(seconds: float) -> None:
            self.log.append(Event("sleep", value=seconds))
            clock.advance(seconds)

        return sleep


def _fault_response(fault: Fault, request: httpx.Request) -> httpx.Response:
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    if fault.status == 429:
        body: dict[str, Any] = {
            "status": {
                "code": 429,
                "description": "Too Many Requests",
                "details": [f"Spróbuj ponownie po {fault.retry_after} sekundach."],
            }
        }
        return httpx.Response(429, json=body, headers=headers, request=request)
    return httpx.Response(
        fault.status,
        json={"title": "Service Unavailable", "status": fault.status, "detail": "injected"},
        headers={**headers, "Content-Type": "application/problem+json"},
        request=request,
    )


def _corrupted(response: httpx.Response, request: httpx.Request) -> httpx.Response:
    """The same answer with its last byte flipped (a damaged download)."""
    body = response.content
    damaged = body[:-1] + bytes([body[-1] ^ 1]) if body else body
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return httpx.Response(response.status_code, content=damaged, headers=headers, request=request)


def _before(plan: FaultPlan, request: httpx.Request) -> tuple[Fault | None, httpx.Response | None]:
    """The fault planned for ``request`` and, for one that answers before the
    server is asked, that answer (connect and timeout faults raise here)."""
    fault = plan.take(request)
    plan.note(request, fault)
    kind = fault.kind if fault else None
    if kind == "connect":
        raise httpx.ConnectError("injected: connection refused", request=request)
    if kind == "timeout":
        raise httpx.ReadTimeout("injected: read timeout", request=request)
    if kind == "status_before":
        response = _fault_response(fault, request)  # type: ignore[arg-type]
        plan.answered(response)
        return fault, response
    return fault, None


def _after(
    plan: FaultPlan, fault: Fault | None, response: httpx.Response, request: httpx.Request
) -> httpx.Response:
    """The server's (read) ``response`` as the fault planned after it leaves it."""
    kind = fault.kind if fault else None
    if kind == "lost":
        raise httpx.ReadTimeout("injected: the answer was lost", request=request)
    if kind == "status_after":
        response = _fault_response(fault, request)  # type: ignore[arg-type]
    if kind == "corrupt":
        response = _corrupted(response, request)
    plan.answered(response)
    return response


class FaultyTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, plan: FaultPlan) -> None:
        self.inner = inner
        self.plan = plan

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        fault, early = _before(self.plan, request)
        if early is not None:
            return early
        response = self.inner.handle_request(request)
        response.read()
        return _after(self.plan, fault, response, request)

    def close(self) -> None:
        # Not optional: a leaked socket pool warns in a finalizer; with warnings as
        # errors, CPython 3.11 then formats a traceback (ast.parse) in the middle
        # of whatever the main thread is parsing, which fails as
        # "SystemError: AST constructor recursion depth mismatch".
        self.inner.close()


class AsyncFaultyTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, plan: FaultPlan) -> None:
        self.inner = inner
        self.plan = plan

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        fault, early = _before(self.plan, request)
        if early is not None:
            return early
        response = await self.inner.handle_async_request(request)
        await response.aread()
        return _after(self.plan, fault, response, request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def check_retry_after(log: list[Event], limit: float) -> None:
    """After an answer with ``Retry-After: r`` the client either stops or first sleeps exactly r.

    A value above ``limit`` (the client's ``max_retry_after``) must not be waited out.
    """
    for index, event in enumerate(log):
        if event.kind != "retry_after":
            continue
        following = log[index + 1] if index + 1 < len(log) else None
        assert event.value is not None
        if following is None:
            continue
        if event.value > limit:
            assert following.kind != "sleep" or following.value != event.value, (
                f"waited out Retry-After {event.value} beyond the budget"
            )
            continue
        assert following.kind == "sleep" and following.value == event.value, (
            f"after Retry-After {event.value} the client did {following}, not sleep({event.value})"
        )


# -- the harness ----------------------------------------------------------------------------


class Driver:
    """Calls a sync or async client the same way (async calls run on the harness loop)."""

    def __init__(self, client: KsefClient | AsyncKsefClient, runner: asyncio.Runner | None) -> None:
        self.client = client
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if inspect.isawaitable(result):
                assert self._runner is not None
                return self._runner.run(result)  # type: ignore[arg-type]
            return result

        return call


class Harness:
    """One mock and the clients talking to it, sync or async, through one fault plan."""

    def __init__(
        self,
        kind: str = "sync",
        *,
        state: MockState | None = None,
        config: MockConfig | None = None,
        retry: RetryPolicy = TEST_RETRY,
    ) -> None:
        self.kind = kind
        base = MockConfig(
            seed=1234,
            clock_mode="virtual",
            rate_limits_enabled=False,
            extra={"raise_server_errors": True},
        )
        self.state = state or MockState(config or base, spec=spec(), clock=Clock.virtual(START))
        share_ministry_keys(self.state)
        self.app = create_app(state=self.state)
        self.plan = FaultPlan()
        self.base = BASE
        self.retry = retry
        self.runner = asyncio.Runner() if kind == "async" else None
        self._closers: list[Callable[[], Any]] = []

    @property
    def clock(self) -> Clock:
        return self.state.clock

    def http(self, faulty: bool = True) -> Any:
        if self.kind == "sync":
            client = TestClient(
                self.app, base_url="http://testserver", raise_server_exceptions=True
            )
            # Entered once: one event-loop portal for all requests instead of one per request.
            client.__enter__()
            if faulty:
                # Wrap the TestClient's own transport (Starlette keeps it private).
                client._transport = FaultyTransport(client._transport, self.plan)  # type: ignore[attr-defined]
            self._closers.append(lambda: client.__exit__(None, None, None))
            return client
        inner: httpx.AsyncBaseTransport = httpx.ASGITransport(app=self.app)
        transport = AsyncFaultyTransport(inner, self.plan) if faulty else inner
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        assert self.runner is not None
        self._closers.append(lambda: self.runner.run(client.aclose()))  # type: ignore[union-attr]
        return client

    def client(
        self,
        nip: str | None = NIP_A,
        *,
        credentials: Any = None,
        faulty: bool = True,
        cert_nip: str | None = None,
        **kwargs: Any,
    ) -> Driver:
        if credentials is False:
            credentials = None  # explicitly none (resumed tokens only)
        elif credentials is None and (cert_nip or nip):
            credentials = CertificateCredentials(certificate(cert_nip or nip))  # type: ignore[arg-type]
        cls = KsefClient if self.kind == "sync" else AsyncKsefClient
        client = cls(
            base_url=self.base,
            nip=nip,
            credentials=credentials,
            http_client=self.http(faulty),
            clock=self.clock.timestamp,
            sleep=self.plan.sleep(self.clock),
            retry=kwargs.pop("retry", self.retry),
            **kwargs,
        )
        return Driver(client, self.runner)

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()
        if self.runner is not None:
            self.runner.close()


@cache
def _ministry_keys() -> dict[Any, Any]:
    state = MockState(
        MockConfig(seed=1234, clock_mode="virtual"), spec=spec(), clock=Clock.virtual(START)
    )
    for env in state.environments:
        state.env(env).public_keys.listing()
    return dict(state.durable)


def share_ministry_keys(state: MockState) -> None:
    """Give a fresh mock the Ministry keys made once for the session (RSA keygen is slow).

    The keys live in the state's durable store (they survive data resets, as
    the real Ministry keys would); each mock gets its own copies of the key
    records, so one test's key rotation never leaks into another.
    """
    for slot, by_usage in _ministry_keys().items():
        state.durable.setdefault(
            slot, {usage: [replace(key) for key in keys] for usage, keys in by_usage.items()}
        )


def with_rate_limits(config: MockConfig | None = None, **changes: Any) -> MockConfig:
    base = config or MockConfig(
        seed=1234, clock_mode="virtual", extra={"raise_server_errors": True}
    )
    return replace(base, rate_limits_enabled=True, **changes)


class SocketHarness(Harness):
    """The same, over a real uvicorn socket: clients use plain httpx transports."""

    def __init__(self, kind: str, server: Any, retry: RetryPolicy = TEST_RETRY) -> None:
        super().__init__(kind, state=server.state, retry=retry)
        self.server = server
        self.base = f"{server.url}/v2"

    def http(self, faulty: bool = True) -> Any:
        if self.kind == "sync":
            inner: Any = httpx.HTTPTransport()
            client = httpx.Client(
                transport=FaultyTransport(inner, self.plan) if faulty else inner,
                base_url=self.server.url,
            )
            self._closers.append(client.close)
            return client
        ainner: Any = httpx.AsyncHTTPTransport()
        aclient = httpx.AsyncClient(
            transport=AsyncFaultyTransport(ainner, self.plan) if faulty else ainner,
            base_url=self.server.url,
        )
        assert self.runner is not None
        self._closers.append(lambda: self.runner.run(aclient.aclose()))  # type: ignore[union-attr]
        return aclient
