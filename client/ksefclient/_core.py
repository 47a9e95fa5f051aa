"""The protocol core, without I/O: effects, retries, requests, the token state, the keys.

Every operation is a *flow*: a generator that yields effects and gets their
results back. There are two effects:

* :class:`Transmit` — send this ``httpx.Request``; the driver sends back the
  ``httpx.Response`` or throws the transport exception into the flow;
* :class:`Sleep` — wait this many seconds (``Retry-After``, back-off, polling).

:class:`~ksefclient.KsefClient` drives flows with ``httpx.Client`` and
``time.sleep``; :class:`~ksefclient.AsyncKsefClient` with ``httpx.AsyncClient``
and ``asyncio.sleep``. Both inject a different sleep in tests (one that moves a
virtual clock). Everything else is written once: here (authentication and
refresh, ``Retry-After`` budgets, key rotation) and in the API areas of
``_areas/`` (idempotent re-sends, HWM import…), which all go through one
:class:`ProtocolCore`.

Idempotency, request by request (what a retry after an unknown outcome does):

========================================  ====================================================
challenge, GETs, queries, refresh, PUT     repeated as is (no side effect, or an overwrite)
ksef-token / xades-signature, redeem       the whole authentication restarts (single-use steps)
open online/batch session, start export   repeated; a lost answer leaves an unused session or
                                           export behind, which KSeF expires
send an invoice                            the session's invoices are searched for the same
                                           hash first; only a confirmed miss is sent again
close a session                            the session status is read first
generate a KSeF token                      tokens created by the lost attempt (their secret
                                           never arrived) are revoked, then it is repeated
========================================  ====================================================
"""

from __future__ import annotations

import json as _json
import random
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, TypeVar, Unpack
from urllib.parse import quote

import httpx

from ksefclient import _auth
from ksefclient._auth import AuthTokens, Credentials
from ksefclient._crypto import PublicKeyCache, PublicKeyCertificate
from ksefclient._environments import Environment
from ksefclient._exceptions import (
    TRANSIENT_ERRORS,
    KsefBadRequestError,
    KsefConfigurationError,
    KsefDamagedAnswerError,
    KsefError,
    KsefForbiddenError,
    KsefProtocolError,
    KsefTimeoutError,
    KsefTransportError,
    KsefUnauthorizedError,
)
from ksefclient._models import ContextIdentifier, TokenInfo, parse_public_keys
from ksefclient._responses import error_for, json_of, parse, verified

__all__ = [
    "Effect",
    "Flow",
    "ProtocolCore",
    "RetryBudget",
    "RetryPolicy",
    "Sleep",
    "Transmit",
    "USER_AGENT",
    "segment",
]

T = TypeVar("T")
USER_AGENT = "ksefclient/0.1 (+https://github.com/; httpx)"


@dataclass(frozen=True)
class Transmit:
    request: httpx.Request


@dataclass(frozen=True)
class Sleep:
    seconds: float


Effect = Transmit | Sleep
Flow = Generator[Effect, Any, T]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the client tries before raising a transient error.

    Each retried step (one request, or one send that is reconciled before
    being repeated) may wait at most ``max_wait`` seconds in total and is
    tried at most ``max_attempts`` times. ``Retry-After``
    is honoured exactly; one longer than ``max_retry_after`` is not waited out
    (:class:`KsefRateLimitError` carries it). Without ``Retry-After`` the wait
    grows from ``backoff`` to ``max_backoff`` with ``jitter`` (a fraction).
    Polling starts at ``poll_interval``, grows to ``max_poll_interval`` and
    gives up after ``poll_timeout`` seconds. A server that takes no connection
    at all is retried for ``max_unreachable_wait`` seconds from the first failed
    attempt, across every retry loop (authentication restarts included): down
    is reported in seconds, while a busy server keeps the whole budget.
    """

    max_attempts: int = 6
    max_wait: float = 300.0
    max_retry_after: float = 120.0
    backoff: float = 0.5
    max_backoff: float = 10.0
    jitter: float = 0.1
    poll_interval: float = 0.5
    max_poll_interval: float = 5.0
    poll_timeout: float = 300.0
    max_unreachable_wait: float = 8.0


@dataclass
class RetryBudget:
    policy: RetryPolicy
    attempts: int = 0
    waited: float = 0.0

    def next_wait(self, error: KsefError) -> float | None:
        """Seconds to wait before the next try, or None when the budget is spent."""
        if self.attempts + 1 >= self.policy.max_attempts:
            return None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            if retry_after > self.policy.max_retry_after:
                return None
            wait = float(retry_after)
        else:
            base = min(self.policy.max_backoff, self.policy.backoff * 2**self.attempts)
            wait = base * (1 + self.policy.jitter * random.random())
        if self.waited + wait > self.policy.max_wait:
            return None
        self.attempts += 1
        self.waited += wait
        return wait


class _Options(TypedDict, total=False):
    """What a request carries besides method, path and bearer; ``call`` passes it on as given."""

    params: Mapping[str, Any] | None
    json: Any
    content: bytes | None
    headers: Mapping[str, str] | None
    api: bool


# Transport failures where the request provably never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, ConnectionRefusedError)


def segment(value: str) -> str:
    """``value`` as one path segment (reference numbers, KSeF numbers, ids)."""
    return quote(str(value), safe="")


class ProtocolCore:
    """What every API area shares: configuration, the token state, the exchange, the keys."""

    def __init__(
        self,
        environment: Environment,
        context: ContextIdentifier,
        credentials: Credentials | None,
        *,
        retry: RetryPolicy,
        clock: Callable[[], float],
        refresh_margin: float,
        timeout: httpx.Timeout,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.environment = environment
        self.context = context
        self.credentials = credentials
        self.retry = retry
        self.clock = clock
        self.refresh_margin = refresh_margin
        self.timeout = timeout
        # The C# client always asks for problem+json; the client parses both formats.
        self.headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "X-Error-Format": "problem-details",
            **(headers or {}),
        }
        self.tokens: AuthTokens | None = None
        self.keys = PublicKeyCache()
        # Seconds KSeF's clock is ahead of ours, learnt from each challenge: token
        # expiry and query windows are judged by KSeF's time (a wrong local clock,
        # or a mock running on a scenario's date).
        self.skew = 0.0
        # Since when (our clock) the server has taken no connection, and the waits
        # spent on it meanwhile (an injected clock may not move while we wait).
        self.unreachable_since: float | None = None
        self.unreachable_waited = 0.0

    @property
    def base_url(self) -> str:
        return self.environment.base_url

    def now(self) -> datetime:
        """KSeF's time as last observed (our clock plus the skew)."""
        return datetime.fromtimestamp(self.clock() + self.skew, tz=UTC)

    def observe_server_time(self, server_now: datetime) -> None:
        self.skew = server_now.timestamp() - self.clock()

    def budget(self) -> RetryBudget:
        return RetryBudget(self.retry)

    # -- requests ------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, *, bearer: str | None = None, **options: Unpack[_Options]
    ) -> httpx.Request:
        """One request; ``api=False`` for pre-signed storage URLs (no KSeF headers)."""
        merged = dict(self.headers) if options.get("api", True) else {"User-Agent": USER_AGENT}
        merged.update(options.get("headers") or {})
        if bearer:
            merged["Authorization"] = f"Bearer {bearer}"
        body = options.get("content")
        json = options.get("json")
        if json is not None:
            body = _json.dumps(json, ensure_ascii=False).encode("utf-8")
            merged.setdefault("Content-Type", "application/json")
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        try:
            query = {k: v for k, v in (options.get("params") or {}).items() if v is not None}
            request = httpx.Request(
                method,
                url,
                # An empty mapping would wipe the query of a pre-signed URL.
                params=query or None,
                headers=merged,
                content=body,
            )
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise KsefProtocolError(
                f"cannot build {method} {path}: {exc}", request=None, response=None
            ) from exc
        # httpx takes timeouts from the request; without one it would wait forever.
        request.extensions["timeout"] = self.timeout.as_dict()
        return request

    # -- the exchange ------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        auth: str | None = "access",
        bearer: str | None = None,
        replay: bool = True,
        expected: Sequence[int] = (200,),
        **options: Unpack[_Options],
    ) -> Flow[httpx.Response]:
        """One request with the retry rules; ``replay=False`` raises transient errors at once.

        ``auth="access"`` attaches the access token (refreshing or
        re-authenticating first when needed) and, after a 401, renews it and
        repeats (twice at most): a 401 means the request was not processed.
        """
        budget = self.budget()
        renewals = 2
        while True:
            token = bearer
            if auth == "access":
                tokens = yield from self.ensure_access()
                token = tokens.access_token.token
            request = self.request(method, path, bearer=token, **options)
            sent_at = self.clock()
            try:
                response: httpx.Response = yield Transmit(request)
            except (httpx.HTTPError, OSError) as exc:
                # OSError: custom transports (in-process ASGI apps) may raise it raw.
                error = KsefTransportError(
                    f"{method} {request.url.path}: {type(exc).__name__}: {exc}",
                    request,
                    connected=not isinstance(exc, _NOT_SENT),
                )
                error.__cause__ = exc
                if not error.connected and self.unreachable_since is None:
                    self.unreachable_since = sent_at
                if replay or isinstance(exc, _NOT_SENT):
                    yield from self.wait_or_raise(budget, error)
                    continue
                raise error from exc
            self.unreachable_since, self.unreachable_waited = None, 0.0
            if response.status_code in expected:
                return response
            failure = error_for(request, response, base_url=self.base_url, now=self.now())
            renewable = self.credentials is not None or (
                self.tokens is not None and self.tokens.refresh_token is not None
            )
            if (
                isinstance(failure, KsefUnauthorizedError)
                and auth == "access"
                and renewals > 0
                and renewable
            ):
                renewals -= 1
                self.expire_access()
                continue
            if replay and isinstance(failure, TRANSIENT_ERRORS):
                yield from self.wait_or_raise(budget, failure)
                continue
            raise failure

    def json_call(self, method: str, path: str, **kwargs: Any) -> Flow[Any]:
        """``call`` and the JSON of the answer; a garbled answer counts as a transient failure.

        A body that is not JSON (cut short, damaged by a proxy) is retried like
        a 5xx when the request may be repeated, and raised at once otherwise
        (the caller then treats the outcome as unknown).
        """
        budget = self.budget()
        while True:
            response = yield from self.call(method, path, **kwargs)
            try:
                return json_of(response)
            except KsefDamagedAnswerError as error:
                if not kwargs.get("replay", True):
                    raise
                yield from self.wait_or_raise(budget, error)

    def paged(
        self, path: str, key: str, item: Callable[[Any], T], params: Mapping[str, Any]
    ) -> Flow[list[T]]:
        """Every item of a listing that pages with ``x-continuation-token``."""
        items: list[T] = []
        continuation: str | None = None
        while True:
            headers = {"x-continuation-token": continuation} if continuation else None
            data = yield from self.json_call("GET", path, params=params, headers=headers)
            items += parse(lambda d: [item(i) for i in d[key]], data)
            continuation = data.get("continuationToken") if isinstance(data, dict) else None
            if not continuation:
                return items

    def download(self, path: str, *, api: bool = True) -> Flow[bytes]:
        """An XML document (invoice, UPO), checked against its ``x-ms-meta-hash``."""
        response = yield from self.call(
            "GET",
            path,
            auth="access" if api else None,
            headers={"Accept": "application/xml"},
            api=api,
        )
        return verified(response)

    def wait_or_raise(self, budget: RetryBudget, error: KsefError) -> Flow[None]:
        wait = budget.next_wait(error)
        if wait is not None and isinstance(error, KsefTransportError) and not error.connected:
            since = self.clock() if self.unreachable_since is None else self.unreachable_since
            down = max(self.clock() - since, self.unreachable_waited)
            if down + wait > self.retry.max_unreachable_wait:
                wait = None
            else:
                self.unreachable_waited += wait
        if wait is None:
            raise error
        yield Sleep(wait)

    def poll(
        self,
        fetch: Callable[[], Flow[T]],
        done: Callable[[T], bool],
        *,
        what: str,
        reference_number: str | None = None,
        timeout: float | None = None,
    ) -> Flow[T]:
        limit = self.retry.poll_timeout if timeout is None else timeout
        started = self.clock()
        slept = 0.0
        interval = self.retry.poll_interval
        while True:
            value = yield from fetch()
            if done(value):
                return value
            # The time slept counts even when the injected clock does not move.
            if max(self.clock() - started, slept) + interval > limit:
                raise KsefTimeoutError(
                    f"{what} did not finish within {limit:g} s", reference_number, value
                )
            yield Sleep(interval)
            slept += interval
            interval = min(interval * 2, self.retry.max_poll_interval)

    # -- access tokens -----------------------------------------------------------------------

    def resume(self, tokens: AuthTokens | Mapping[str, Any]) -> None:
        """Use tokens saved earlier; refused if they belong to another context or environment."""
        adopted = tokens if isinstance(tokens, AuthTokens) else AuthTokens.from_json(dict(tokens))
        _auth.check_environment_of_jwt(adopted.access_token.token, self.environment)
        if adopted.refresh_token is not None:
            _auth.check_environment_of_jwt(adopted.refresh_token.token, self.environment)
        _auth.check_context(adopted.context, self.context, "the saved access token")
        self.tokens = adopted

    def expire_access(self) -> None:
        if self.tokens is not None:
            expired = TokenInfo(self.tokens.access_token.token, datetime(1970, 1, 1, tzinfo=UTC))
            self.tokens = AuthTokens(
                expired, self.tokens.refresh_token, self.tokens.reference_number
            )

    def ensure_access(self) -> Flow[AuthTokens]:
        """A usable access token: the current one, a refreshed one, or a new authentication."""
        tokens = self.tokens
        margin = timedelta(seconds=self.refresh_margin)
        now = self.now()
        if tokens is not None and tokens.access_token.valid_until - margin > now:
            return tokens
        if (
            tokens is not None
            and tokens.refresh_token is not None
            and tokens.refresh_token.valid_until - margin > now
        ):
            try:
                fresh = yield from _auth.refresh(self, tokens)
            except (KsefBadRequestError, KsefUnauthorizedError, KsefForbiddenError):
                # A dead refresh token (revoked session: 21301, data reset: 401).
                if self.credentials is None:
                    raise
            else:
                self.tokens = fresh
                return fresh
        if self.credentials is None:
            raise KsefConfigurationError(
                "no usable access token and no credentials to authenticate with: pass "
                "credentials=KsefTokenCredentials(...) or CertificateCredentials(...)"
            )
        return (yield from self.authenticate())

    def authenticate(self) -> Flow[AuthTokens]:
        """Authenticate now (otherwise the first call does it)."""
        fresh = yield from _auth.authenticate(self)
        self.tokens = fresh
        return fresh

    def refresh(self) -> Flow[AuthTokens]:
        """A new access token from the refresh token (or a new authentication)."""
        if self.tokens is None or self.tokens.refresh_token is None:
            return (yield from self.authenticate())
        fresh = yield from _auth.refresh(self, self.tokens)
        self.tokens = fresh
        return fresh

    # -- the Ministry's public keys -------------------------------------------------------------

    def public_keys(self, refresh: bool = False) -> Flow[list[PublicKeyCertificate]]:
        """The Ministry's public-key certificates (cached for a day; ``refresh`` re-reads them)."""
        if refresh or self.keys.stale(self.clock()):
            data = yield from self.json_call("GET", "/security/public-key-certificates", auth=None)
            self.keys.store(parse(parse_public_keys, data), self.clock())
        return list(self.keys.certificates)

    def public_key(self, usage: str) -> Flow[PublicKeyCertificate]:
        yield from self.public_keys()
        chosen = self.keys.choose(usage, self.now())
        if chosen is None:
            yield from self.public_keys(refresh=True)
            chosen = self.keys.choose(usage, self.now())
        if chosen is None:
            raise KsefProtocolError(
                f"KSeF lists no public key with usage {usage}", request=None, response=None
            )
        return chosen

    def with_key(self, usage: str, attempt: Callable[[PublicKeyCertificate], Flow[T]]) -> Flow[T]:
        """Run ``attempt`` with the current key; after ``21470`` re-fetch the keys and retry once."""
        certificate = yield from self.public_key(usage)
        try:
            return (yield from attempt(certificate))
        except KsefBadRequestError as error:
            if not error.has(21470):
                raise
            self.keys.invalidate(certificate.public_key_id)
            certificate = yield from self.public_key(usage)
            return (yield from attempt(certificate))
