"""The protocol, without I/O: request building, answer parsing, retries, workflows.

Every operation is a *flow*: a generator that yields effects and gets their
results back. There are two effects:

* :class:`Transmit` — send this ``httpx.Request``; the driver sends back the
  ``httpx.Response`` or throws the transport exception into the flow;
* :class:`Sleep` — wait this many seconds (``Retry-After``, back-off, polling).

:class:`~ksefclient.KsefClient` drives flows with ``httpx.Client`` and
``time.sleep``; :class:`~ksefclient.AsyncKsefClient` with ``httpx.AsyncClient``
and ``asyncio.sleep``. Both inject a different sleep in tests (one that moves a
virtual clock). Everything else — authentication and refresh, ``Retry-After``
budgets, idempotent re-sends, key rotation, HWM import — is written once here.

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

import email.utils
import json as _json
import random
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from ksefclient import _auth, _codes
from ksefclient._auth import AuthTokens, Credentials, KsefTokenCredentials
from ksefclient._crypto import (
    MAX_BATCH_PART_BYTES,
    SYMMETRIC_KEY_ENCRYPTION,
    PublicKeyCache,
    PublicKeyCertificate,
    SymmetricKey,
    build_zip,
    sha256_b64,
    split,
    unpack,
)
from ksefclient._environments import Environment, resolve_environment
from ksefclient._exceptions import (
    TRANSIENT_ERRORS,
    ExceptionDetail,
    KsefApiError,
    KsefBadRequestError,
    KsefConfigurationError,
    KsefDamagedAnswerError,
    KsefError,
    KsefForbiddenError,
    KsefGoneError,
    KsefIntegrityError,
    KsefProtocolError,
    KsefRateLimitError,
    KsefServerError,
    KsefStatusError,
    KsefTimeoutError,
    KsefTransportError,
    KsefUnauthorizedError,
    status_error,
)
from ksefclient._models import (
    FA3,
    AuthenticationStatus,
    Checkpoint,
    ContextIdentifier,
    ContextLimits,
    DateRange,
    ExportResult,
    ExportStatus,
    FormCode,
    GeneratedToken,
    ImportedInvoice,
    ImportResult,
    InvoiceMetadata,
    InvoiceQueryFilters,
    KsefTokenInfo,
    MetadataPage,
    OnlineSession,
    PersonalPermission,
    RateLimits,
    SentInvoice,
    SessionInvoice,
    SessionResult,
    SessionStatus,
    SessionSummary,
    StatusInfo,
    SubjectLimits,
    TokenInfo,
    parse_datetime,
    parse_public_keys,
)

T = TypeVar("T")
USER_AGENT = "ksefclient/0.1 (+https://github.com/; httpx)"
# KSeF accepts query windows of at most 100 days; stay clear of the edge.
WINDOW = timedelta(days=90)


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
    gives up after ``poll_timeout`` seconds.
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


# Transport failures where the request provably never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, ConnectionRefusedError)


@dataclass
class _PendingUpload:
    ordinal_number: int
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


class BaseKsefClient:
    """Configuration, state and every flow; subclasses only run flows (I/O)."""

    # After these a retry may help, and the outcome of a non-repeatable request is unknown.
    _transient_errors = TRANSIENT_ERRORS

    def __init__(
        self,
        environment: str | Environment | None = None,
        *,
        base_url: str | None = None,
        nip: str | None = None,
        context: ContextIdentifier | None = None,
        credentials: Credentials | None = None,
        tokens: AuthTokens | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] | None = None,
        refresh_margin: float = 60.0,
        headers: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout = 30.0,
    ) -> None:
        self.environment = resolve_environment(environment, base_url)
        self.context = _resolve_context(nip, context, credentials)
        self.credentials = credentials
        _auth.check_credentials(credentials, self.context, self.environment)
        self.retry = retry or RetryPolicy()
        self._clock: Callable[[], float] = clock or time.time
        self.refresh_margin = refresh_margin
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        # The C# client always asks for problem+json; the client parses both formats.
        self._headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "X-Error-Format": "problem-details",
            **(headers or {}),
        }
        self._tokens: AuthTokens | None = None
        self._keys = PublicKeyCache()
        if tokens is not None:
            self.resume(tokens)

    # -- state ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.environment.base_url

    @property
    def tokens(self) -> AuthTokens | None:
        """The current tokens (persist ``tokens.to_json()`` to resume without re-authenticating)."""
        return self._tokens

    def resume(self, tokens: AuthTokens | Mapping[str, Any]) -> None:
        """Use tokens saved earlier; refused if they belong to another context or environment."""
        adopted = tokens if isinstance(tokens, AuthTokens) else AuthTokens.from_json(dict(tokens))
        _auth.check_environment_of_jwt(adopted.access_token.token, self.environment)
        if adopted.refresh_token is not None:
            _auth.check_environment_of_jwt(adopted.refresh_token.token, self.environment)
        _auth.check_context(adopted.context, self.context, "the saved access token")
        self._tokens = adopted

    def forget_tokens(self) -> None:
        self._tokens = None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), tz=UTC)

    def _budget(self) -> RetryBudget:
        return RetryBudget(self.retry)

    # -- requests and answers ---------------------------------------------------------------

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + path

    def _request(
        self,
        method: str,
        path: str,
        *,
        bearer: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        api: bool = True,
    ) -> httpx.Request:
        merged = dict(self._headers) if api else {"User-Agent": USER_AGENT}
        merged.update(headers or {})
        if bearer:
            merged["Authorization"] = f"Bearer {bearer}"
        body: dict[str, Any] = {}
        if json is not None:
            body["content"] = _json.dumps(json, ensure_ascii=False).encode("utf-8")
            merged.setdefault("Content-Type", "application/json")
        elif content is not None:
            body["content"] = content
        try:
            query = {k: v for k, v in (params or {}).items() if v is not None}
            request = httpx.Request(
                method,
                self._url(path),
                # An empty mapping would wipe the query of a pre-signed URL.
                params=query or None,
                headers=merged,
                **body,
            )
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            raise KsefProtocolError(
                f"cannot build {method} {path}: {exc}", request=None, response=None
            ) from exc
        # httpx takes timeouts from the request; without one it would wait forever.
        request.extensions["timeout"] = self._timeout.as_dict()
        return request

    def _error_for(self, request: httpx.Request, response: httpx.Response) -> KsefApiError:
        """Map an error answer (either official format) to the exception hierarchy."""
        status = response.status_code
        body = _json_or_none(response)
        errors = _exception_details(body)
        problem = body if isinstance(body, dict) else {}
        where = f"{request.method} {request.url.path}"
        retry_after = self._retry_after(response)
        kwargs: dict[str, Any] = {
            "request": request,
            "response": response,
            "errors": errors,
            "problem": problem,
        }
        if not str(request.url).startswith(self.base_url) and status in (400, 401, 403, 404):
            # A pre-signed storage URL (batch upload, UPO or export download), not the API.
            text = _text(response)[:300]
            cls = {400: KsefBadRequestError, 401: KsefUnauthorizedError}.get(
                status, KsefForbiddenError
            )
            return cls(
                f"{where} → {status}: the storage refused the pre-signed URL (expired or "
                f"altered) {text} — Fix: read the status again for fresh links",
                **kwargs,
            )
        declared_json = "json" in response.headers.get("content-type", "")
        if status in (400, 403) and body is None and declared_json:
            # KSeF's 400/403 always carry a JSON body; a broken one was cut or damaged
            # in transit, so the code is unknown (the request can be retried).
            return KsefDamagedAnswerError(
                f"{where} → {status} with a damaged body {_text(response)[:80]!r}", **kwargs
            )
        if status == 400:
            text = " | ".join(str(e) for e in errors) or _text(response)
            return KsefBadRequestError(f"{where} → 400: {text}", **kwargs)
        if status == 401:
            info = _codes.HTTP_STATUSES[401]
            return KsefUnauthorizedError(
                f"{where} → 401 {problem.get('detail') or info.polish} — {info.english} Fix: {info.fix}",
                **kwargs,
            )
        if status == 403:
            reason = str(problem.get("reasonCode") or "")
            info = _codes.FORBIDDEN_REASONS.get(reason) or _codes.unknown(reason or "403")
            security = problem.get("security")
            extra = f" security={_json.dumps(security, ensure_ascii=False)}" if security else ""
            return KsefForbiddenError(
                f"{where} → 403 {reason}: {problem.get('detail') or info.polish}{extra} — "
                f"{info.english} Fix: {info.fix}",
                **kwargs,
            )
        if status == 410:
            info = _codes.HTTP_STATUSES[410]
            return KsefGoneError(f"{where} → 410 — {info.english} Fix: {info.fix}", **kwargs)
        if status == 429:
            detail = problem.get("detail") or _first_status_detail(problem) or ""
            info = _codes.HTTP_STATUSES[429]
            return KsefRateLimitError(
                f"{where} → 429 {detail} (Retry-After: {retry_after}) — {info.english}",
                retry_after=retry_after,
                **kwargs,
            )
        if status >= 500:
            return KsefServerError(
                f"{where} → {status} {_text(response)[:200]}", retry_after=retry_after, **kwargs
            )
        hint = " — is the base URL right (it ends with /v2)?" if status == 404 else ""
        return KsefProtocolError(f"{where} → unexpected HTTP {status}{hint}", **kwargs)

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - self._now()).total_seconds())

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            where = f"{response.request.method} {response.request.url.path}"
            if "json" in response.headers.get("content-type", ""):
                raise KsefDamagedAnswerError(
                    f"{where}: the JSON answer arrived damaged or cut short",
                    request=response.request,
                    response=response,
                ) from exc
            raise KsefProtocolError(
                f"{where}: the answer is not JSON", request=response.request, response=response
            ) from exc

    @staticmethod
    def _parse(parser: Callable[[Any], T], data: Any) -> T:
        try:
            return parser(data)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise KsefProtocolError(
                f"unexpected answer shape ({type(exc).__name__}: {exc})",
                request=None,
                response=None,
            ) from exc

    # -- the exchange ------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        auth: str | None = "access",
        bearer: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        replay: bool = True,
        expected: Sequence[int] = (200,),
        api: bool = True,
    ) -> Flow[httpx.Response]:
        """One request with the retry rules; ``replay=False`` raises transient errors at once.

        ``auth="access"`` attaches the access token (refreshing or
        re-authenticating first when needed) and, after a 401, renews it and
        repeats (twice at most): a 401 means the request was not processed.
        """
        budget = self._budget()
        renewals = 2
        while True:
            token = bearer
            if auth == "access":
                tokens = yield from self._ensure_access()
                token = tokens.access_token.token
            request = self._request(
                method,
                path,
                bearer=token,
                params=params,
                json=json,
                content=content,
                headers=headers,
                api=api,
            )
            try:
                response = yield Transmit(request)
            except (httpx.HTTPError, OSError) as exc:
                # OSError: custom transports (in-process ASGI apps) may raise it raw.
                error = KsefTransportError(
                    f"{method} {request.url.path}: {type(exc).__name__}: {exc}", request
                )
                error.__cause__ = exc
                if replay or isinstance(exc, _NOT_SENT):
                    yield from self._wait_or_raise(budget, error)
                    continue
                raise error from exc
            if response.status_code in expected:
                return response
            failure = self._error_for(request, response)
            renewable = self.credentials is not None or (
                self._tokens is not None and self._tokens.refresh_token is not None
            )
            if (
                isinstance(failure, KsefUnauthorizedError)
                and auth == "access"
                and renewals > 0
                and renewable
            ):
                renewals -= 1
                self._expire_access()
                continue
            if replay and isinstance(failure, self._transient_errors):
                yield from self._wait_or_raise(budget, failure)
                continue
            raise failure

    def _json_call(self, method: str, path: str, **kwargs: Any) -> Flow[Any]:
        """``_call`` and the JSON of the answer; a garbled answer counts as a transient failure.

        A body that is not JSON (cut short, damaged by a proxy) is retried like
        a 5xx when the request may be repeated, and raised at once otherwise
        (the caller then treats the outcome as unknown).
        """
        budget = self._budget()
        while True:
            response = yield from self._call(method, path, **kwargs)
            try:
                return self._json(response)
            except KsefDamagedAnswerError as error:
                if not kwargs.get("replay", True):
                    raise
                yield from self._wait_or_raise(budget, error)

    def _wait_or_raise(self, budget: RetryBudget, error: KsefError) -> Flow[None]:
        wait = budget.next_wait(error)
        if wait is None:
            raise error
        yield Sleep(wait)

    def _poll(
        self,
        fetch: Callable[[], Flow[T]],
        done: Callable[[T], bool],
        *,
        what: str,
        reference_number: str | None = None,
        timeout: float | None = None,
    ) -> Flow[T]:
        limit = self.retry.poll_timeout if timeout is None else timeout
        started = self._clock()
        slept = 0.0
        interval = self.retry.poll_interval
        while True:
            value = yield from fetch()
            if done(value):
                return value
            # The time slept counts even when the injected clock does not move.
            if max(self._clock() - started, slept) + interval > limit:
                raise KsefTimeoutError(
                    f"{what} did not finish within {limit:g} s", reference_number, value
                )
            yield Sleep(interval)
            slept += interval
            interval = min(interval * 2, self.retry.max_poll_interval)

    # -- authentication -------------------------------------------------------------------------

    def _expire_access(self) -> None:
        if self._tokens is not None:
            expired = TokenInfo(self._tokens.access_token.token, datetime(1970, 1, 1, tzinfo=UTC))
            self._tokens = AuthTokens(
                expired, self._tokens.refresh_token, self._tokens.reference_number
            )

    def _ensure_access(self) -> Flow[AuthTokens]:
        """A usable access token: the current one, a refreshed one, or a new authentication."""
        tokens = self._tokens
        margin = timedelta(seconds=self.refresh_margin)
        now = self._now()
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
                self._tokens = fresh
                return fresh
        if self.credentials is None:
            raise KsefConfigurationError(
                "no usable access token and no credentials to authenticate with: pass "
                "credentials=KsefTokenCredentials(...) or CertificateCredentials(...)"
            )
        fresh = yield from _auth.authenticate(self)
        self._tokens = fresh
        return fresh

    def _authenticate(self) -> Flow[AuthTokens]:
        fresh = yield from _auth.authenticate(self)
        self._tokens = fresh
        return fresh

    def _refresh(self) -> Flow[AuthTokens]:
        if self._tokens is None or self._tokens.refresh_token is None:
            return (yield from self._authenticate())
        fresh = yield from _auth.refresh(self, self._tokens)
        self._tokens = fresh
        return fresh

    def _list_auth_sessions(self) -> Flow[list[AuthenticationStatus]]:
        items: list[AuthenticationStatus] = []
        continuation: str | None = None
        while True:
            headers = {"x-continuation-token": continuation} if continuation else None
            data = yield from self._json_call(
                "GET", "/auth/sessions", params={"pageSize": 100}, headers=headers
            )
            items += self._parse(
                lambda d: [AuthenticationStatus.from_json(i) for i in d["items"]], data
            )
            continuation = data.get("continuationToken") if isinstance(data, dict) else None
            if not continuation:
                return items

    def _revoke_auth_session(self, reference_number: str | None = None) -> Flow[None]:
        """Revoke an authentication session (default: the current one)."""
        path = (
            f"/auth/sessions/{_seg(reference_number)}"
            if reference_number
            else "/auth/sessions/current"
        )
        yield from self._call("DELETE", path, expected=(200, 204))
        if reference_number is None or (
            self._tokens is not None and self._tokens.reference_number == reference_number
        ):
            # The refresh token is dead now; the access token lives until it expires.
            if self._tokens is not None:
                self._tokens = AuthTokens(
                    self._tokens.access_token, None, self._tokens.reference_number
                )

    # -- public keys ------------------------------------------------------------------------------

    def _public_keys(self, force: bool = False) -> Flow[list[PublicKeyCertificate]]:
        if force or self._keys.stale(self._clock()):
            data = yield from self._json_call("GET", "/security/public-key-certificates", auth=None)
            self._keys.store(self._parse(parse_public_keys, data), self._clock())
        return list(self._keys.certificates)

    def _public_key(self, usage: str) -> Flow[PublicKeyCertificate]:
        yield from self._public_keys()
        chosen = self._keys.choose(usage, self._now())
        if chosen is None:
            yield from self._public_keys(force=True)
            chosen = self._keys.choose(usage, self._now())
        if chosen is None:
            raise KsefProtocolError(
                f"KSeF lists no public key with usage {usage}", request=None, response=None
            )
        return chosen

    def _with_key(self, usage: str, attempt: Callable[[PublicKeyCertificate], Flow[T]]) -> Flow[T]:
        """Run ``attempt`` with the current key; after ``21470`` re-fetch the keys and retry once."""
        certificate = yield from self._public_key(usage)
        try:
            return (yield from attempt(certificate))
        except KsefBadRequestError as error:
            if not error.has(21470):
                raise
            self._keys.invalidate(certificate.public_key_id)
            certificate = yield from self._public_key(usage)
            return (yield from attempt(certificate))

    # -- online sessions ---------------------------------------------------------------------------

    def _open_online_session(self, form_code: FormCode = FA3) -> Flow[OnlineSession]:
        key = SymmetricKey.generate()

        def attempt(certificate: PublicKeyCertificate) -> Flow[Any]:
            body = {"formCode": form_code.to_json(), "encryption": key.encryption_info(certificate)}
            return (
                yield from self._json_call(
                    "POST", "/sessions/online", json=body, expected=(200, 201)
                )
            )

        data = yield from self._with_key(SYMMETRIC_KEY_ENCRYPTION, attempt)
        return self._parse(
            lambda d: OnlineSession(
                str(d["referenceNumber"]),
                parse_datetime(d["validUntil"]) if d.get("validUntil") else None,
                form_code,
                key,
            ),
            data,
        )

    def _send_invoice(
        self,
        session: OnlineSession,
        xml: bytes,
        *,
        offline_mode: bool = False,
        hash_of_corrected_invoice: str | None = None,
    ) -> Flow[SentInvoice]:
        """Send one invoice; never submits the same document twice in a session."""
        if not isinstance(xml, bytes | bytearray):
            raise KsefConfigurationError(
                "the invoice must be bytes (UTF-8 XML as it will be stored)"
            )
        xml = bytes(xml)
        invoice_hash = sha256_b64(xml)
        reference = session.reference_number
        known = session.sent.get(invoice_hash)
        if known is not None:
            return SentInvoice(reference, known, invoice_hash, recovered=True)
        if invoice_hash in session.uncertain:
            found = yield from self._find_in_session(reference, invoice_hash)
            if found is not None:
                return self._record(session, invoice_hash, found.reference_number, True)
            session.uncertain.discard(invoice_hash)
        encrypted = session.key.encrypt(xml)
        body: dict[str, Any] = {
            "invoiceHash": invoice_hash,
            "invoiceSize": len(xml),
            "encryptedInvoiceHash": sha256_b64(encrypted),
            "encryptedInvoiceSize": len(encrypted),
            "encryptedInvoiceContent": _b64(encrypted),
            "offlineMode": offline_mode,
        }
        if hash_of_corrected_invoice:
            body["hashOfCorrectedInvoice"] = hash_of_corrected_invoice
        budget = self._budget()
        while True:
            try:
                data = yield from self._json_call(
                    "POST",
                    f"/sessions/online/{_seg(reference)}/invoices",
                    json=body,
                    replay=False,
                    expected=(200, 202),
                )
            except self._transient_errors as error:
                # The answer is lost or refused; KSeF may or may not have the invoice.
                session.uncertain.add(invoice_hash)
                yield from self._wait_or_raise(budget, error)
                found = yield from self._find_in_session(reference, invoice_hash)
                if found is not None:
                    return self._record(session, invoice_hash, found.reference_number, True)
                session.uncertain.discard(invoice_hash)
                continue
            except KsefBadRequestError as error:
                # 21184: the session is paused for maintenance; nothing was registered.
                if not error.has(21184):
                    raise
                yield from self._wait_or_raise(budget, error)
                continue
            invoice_reference = self._parse(lambda d: str(d["referenceNumber"]), data)
            return self._record(session, invoice_hash, invoice_reference, False)

    @staticmethod
    def _record(
        session: OnlineSession, invoice_hash: str, invoice_reference: str, recovered: bool
    ) -> SentInvoice:
        session.sent[invoice_hash] = invoice_reference
        session.uncertain.discard(invoice_hash)
        return SentInvoice(session.reference_number, invoice_reference, invoice_hash, recovered)

    def _find_in_session(
        self, session_reference: str, invoice_hash: str
    ) -> Flow[SessionInvoice | None]:
        invoices = yield from self._session_invoices(session_reference)
        return next((i for i in invoices if i.invoice_hash == invoice_hash), None)

    def _close_session(self, kind: str, reference: str) -> Flow[None]:
        budget = self._budget()
        while True:
            try:
                yield from self._call(
                    "POST",
                    f"/sessions/{kind}/{_seg(reference)}/close",
                    replay=False,
                    expected=(200, 204),
                )
                return
            except self._transient_errors as error:
                yield from self._wait_or_raise(budget, error)
                status = yield from self._session_status(reference)
                if status.status.code != 100:
                    return
            except KsefBadRequestError as error:
                # 21180: no longer open — closed by a lost earlier attempt of ours, closed
                # automatically at validUntil, or failed. Closing is then done: the
                # session's status (read by the caller) tells how it ended.
                if not error.has(21180):
                    raise
                status = yield from self._session_status(reference)
                if status.status.code == 100:
                    raise
                return

    def _close_online_session(self, session: OnlineSession) -> Flow[None]:
        yield from self._close_session("online", session.reference_number)
        session.closed = True

    def _session_status(self, reference: str) -> Flow[SessionStatus]:
        data = yield from self._json_call("GET", f"/sessions/{_seg(reference)}")
        return self._parse(SessionStatus.from_json, data)

    def _wait_for_session(
        self, reference: str, timeout: float | None = None
    ) -> Flow[SessionStatus]:
        """Poll until the session is processed (a status other than 100, 150, 170)."""
        return (
            yield from self._poll(
                lambda: self._session_status(reference),
                lambda s: s.status.code not in (100, 150, 170),
                what=f"session {reference}",
                reference_number=reference,
                timeout=timeout,
            )
        )

    def _session_invoices(self, reference: str, failed: bool = False) -> Flow[list[SessionInvoice]]:
        path = f"/sessions/{_seg(reference)}/invoices" + ("/failed" if failed else "")
        items: list[SessionInvoice] = []
        continuation: str | None = None
        while True:
            headers = {"x-continuation-token": continuation} if continuation else None
            data = yield from self._json_call(
                "GET", path, params={"pageSize": 1000}, headers=headers
            )
            items += self._parse(
                lambda d: [SessionInvoice.from_json(i) for i in d["invoices"]], data
            )
            continuation = data.get("continuationToken") if isinstance(data, dict) else None
            if not continuation:
                return items

    def _list_sessions(
        self, session_type: str = "Online", statuses: Sequence[str] | None = None
    ) -> Flow[list[SessionSummary]]:
        items: list[SessionSummary] = []
        continuation: str | None = None
        params: dict[str, Any] = {"sessionType": session_type, "pageSize": 100}
        if statuses:
            params["statuses"] = list(statuses)
        while True:
            headers = {"x-continuation-token": continuation} if continuation else None
            data = yield from self._json_call("GET", "/sessions", params=params, headers=headers)
            items += self._parse(
                lambda d: [SessionSummary.from_json(i) for i in d["sessions"]], data
            )
            continuation = data.get("continuationToken") if isinstance(data, dict) else None
            if not continuation:
                return items

    def _invoice_status(
        self, session_reference: str, invoice_reference: str
    ) -> Flow[SessionInvoice]:
        data = yield from self._json_call(
            "GET", f"/sessions/{_seg(session_reference)}/invoices/{_seg(invoice_reference)}"
        )
        return self._parse(SessionInvoice.from_json, data)

    def _wait_for_invoice(
        self, session_reference: str, invoice_reference: str, timeout: float | None = None
    ) -> Flow[SessionInvoice]:
        return (
            yield from self._poll(
                lambda: self._invoice_status(session_reference, invoice_reference),
                lambda s: s.is_final,
                what=f"invoice {invoice_reference}",
                reference_number=invoice_reference,
                timeout=timeout,
            )
        )

    def _send_invoices(
        self,
        invoices: Iterable[bytes],
        form_code: FormCode = FA3,
        *,
        offline_mode: bool = False,
        timeout: float | None = None,
    ) -> Flow[SessionResult]:
        """Open a session, send, close, wait; the invoices' statuses in the order given."""
        documents = [bytes(x) for x in invoices]
        session = yield from self._open_online_session(form_code)
        sent = []
        for document in documents:
            sent.append(
                (yield from self._send_invoice(session, document, offline_mode=offline_mode))
            )
        yield from self._close_online_session(session)
        status = yield from self._wait_for_session(session.reference_number, timeout)
        statuses = yield from self._session_invoices(session.reference_number)
        by_reference = {s.reference_number: s for s in statuses}
        out = []
        for item in sent:
            found = by_reference.get(item.reference_number)
            if found is None:
                found = yield from self._invoice_status(
                    session.reference_number, item.reference_number
                )
            out.append(found)
        return SessionResult(session.reference_number, status, tuple(out))

    # -- batch sessions ------------------------------------------------------------------------------

    def _send_batch(
        self,
        invoices: Mapping[str, bytes] | Sequence[bytes],
        form_code: FormCode = FA3,
        *,
        offline_mode: bool = False,
        part_size: int = MAX_BATCH_PART_BYTES,
        timeout: float | None = None,
    ) -> Flow[SessionResult]:
        """ZIP the invoices, split, encrypt each part, open, upload, close, wait."""
        if isinstance(invoices, Mapping):
            entries = {str(k): bytes(v) for k, v in invoices.items()}
        else:
            entries = {f"invoice-{i + 1:05d}.xml": bytes(x) for i, x in enumerate(invoices)}
        if not entries:
            raise KsefConfigurationError("a batch needs at least one invoice")
        archive = build_zip(entries)
        key = SymmetricKey.generate()
        encrypted = [key.encrypt(part) for part in split(archive, part_size)]

        def attempt(certificate: PublicKeyCertificate) -> Flow[Any]:
            body = {
                "formCode": form_code.to_json(),
                "batchFile": {
                    "fileSize": len(archive),
                    "fileHash": sha256_b64(archive),
                    "fileParts": [
                        {"ordinalNumber": i + 1, "fileSize": len(p), "fileHash": sha256_b64(p)}
                        for i, p in enumerate(encrypted)
                    ],
                },
                "encryption": key.encryption_info(certificate),
                "offlineMode": offline_mode,
            }
            return (
                yield from self._json_call(
                    "POST", "/sessions/batch", json=body, expected=(200, 201)
                )
            )

        data = yield from self._with_key(SYMMETRIC_KEY_ENCRYPTION, attempt)
        reference, uploads = self._parse(
            lambda d: (
                str(d["referenceNumber"]),
                [
                    _PendingUpload(
                        int(u["ordinalNumber"]),
                        str(u.get("method") or "PUT"),
                        str(u["url"]),
                        {str(k): str(v) for k, v in (u.get("headers") or {}).items()},
                    )
                    for u in d["partUploadRequests"]
                ],
            ),
            data,
        )
        for upload in uploads:
            if not 1 <= upload.ordinal_number <= len(encrypted):
                raise KsefProtocolError(
                    f"KSeF asked for part {upload.ordinal_number} of {len(encrypted)}",
                    request=None,
                    response=None,
                )
            # Pre-signed storage URLs: no token, no KSeF headers; a PUT overwrites.
            yield from self._call(
                upload.method,
                upload.url,
                auth=None,
                content=encrypted[upload.ordinal_number - 1],
                headers=upload.headers,
                expected=(200, 201, 204),
                api=False,
            )
        yield from self._close_session("batch", reference)
        status = yield from self._wait_for_session(reference, timeout)
        statuses = yield from self._session_invoices(reference)
        return SessionResult(reference, status, tuple(statuses))

    # -- UPO -----------------------------------------------------------------------------------------

    def _download(self, path: str, *, api: bool = True) -> Flow[bytes]:
        response = yield from self._call(
            "GET",
            path,
            auth="access" if api else None,
            headers={"Accept": "application/xml"},
            api=api,
        )
        return _verified(response)

    def _invoice_upo(
        self,
        session_reference: str,
        *,
        ksef_number: str | None = None,
        invoice_reference: str | None = None,
    ) -> Flow[bytes]:
        if (ksef_number is None) == (invoice_reference is None):
            raise KsefConfigurationError("give exactly one of ksef_number or invoice_reference")
        tail = (
            f"ksef/{_seg(ksef_number)}/upo"
            if ksef_number
            else f"{_seg(invoice_reference or '')}/upo"
        )
        return (yield from self._download(f"/sessions/{_seg(session_reference)}/invoices/{tail}"))

    def _session_upo(
        self, session_reference: str, upo_reference: str | None = None
    ) -> Flow[list[bytes]]:
        """The session's UPO pages (all of them, or one)."""
        if upo_reference is not None:
            page = yield from self._download(
                f"/sessions/{_seg(session_reference)}/upo/{_seg(upo_reference)}"
            )
            return [page]
        status = yield from self._session_status(session_reference)
        pages = []
        for page_info in status.upo_pages:
            pages.append(
                (
                    yield from self._download(
                        f"/sessions/{_seg(session_reference)}/upo/{_seg(page_info.reference_number)}"
                    )
                )
            )
        return pages

    # -- invoices ---------------------------------------------------------------------------------------

    def _download_invoice(self, ksef_number: str) -> Flow[bytes]:
        """The invoice XML exactly as sent (hash-checked); waits out ``21165`` (not yet stored)."""
        budget = self._budget()
        while True:
            try:
                return (yield from self._download(f"/invoices/ksef/{_seg(ksef_number)}"))
            except KsefBadRequestError as error:
                if not error.has(21165):
                    raise
                yield from self._wait_or_raise(budget, error)

    def _query_metadata(
        self,
        filters: InvoiceQueryFilters,
        *,
        page_offset: int = 0,
        page_size: int = 100,
        sort_order: str = "Asc",
    ) -> Flow[MetadataPage]:
        data = yield from self._json_call(
            "POST",
            "/invoices/query/metadata",
            params={"pageOffset": page_offset, "pageSize": page_size, "sortOrder": sort_order},
            json=filters.to_json(),
        )
        return self._parse(MetadataPage.from_json, data)

    def _query_all_metadata(
        self, filters: InvoiceQueryFilters
    ) -> Flow[tuple[list[InvoiceMetadata], datetime | None]]:
        """Every matching record (paging and the 10 000-record truncation handled); the last HWM."""
        found: dict[str, InvoiceMetadata] = {}
        current = filters
        offset = 0
        hwm: datetime | None = None
        date_of = _date_getter(filters.date_range.date_type)
        while True:
            page = yield from self._query_metadata(current, page_offset=offset, page_size=250)
            hwm = page.permanent_storage_hwm_date or hwm
            for item in page.invoices:
                found.setdefault(item.ksef_number, item)
            if not page.has_more or not page.invoices:
                return list(found.values()), hwm
            if page.is_truncated:
                # Past 10 000 records: restart from the date of the last one (inclusive).
                last = date_of(page.invoices[-1])
                current = _with_from(current, last)
                offset = 0
            else:
                offset += 1

    def _import_period(
        self,
        date_from: datetime,
        date_to: datetime | None = None,
        *,
        subject_type: str = "Subject1",
        date_type: str = "Issue",
        fetch_xml: bool = True,
    ) -> Flow[list[ImportedInvoice]]:
        """Every invoice of a period (windows of 90 days), each once, ordered by date."""
        end = date_to or self._now()
        start = date_from if date_from.tzinfo else date_from.replace(tzinfo=UTC)
        found: dict[str, InvoiceMetadata] = {}
        while True:
            stop = min(end, start + WINDOW)
            filters = InvoiceQueryFilters(subject_type, DateRange(date_type, start, stop))
            items, _ = yield from self._query_all_metadata(filters)
            for item in items:
                found.setdefault(item.ksef_number, item)
            if stop >= end:
                break
            start = stop
        return (yield from self._fetch(found.values(), fetch_xml))

    def _fetch(
        self, items: Iterable[InvoiceMetadata], fetch_xml: bool
    ) -> Flow[list[ImportedInvoice]]:
        out = []
        for item in items:
            xml = (yield from self._download_invoice(item.ksef_number)) if fetch_xml else None
            out.append(ImportedInvoice(item, xml))
        return out

    def _import_new(self, checkpoint: Checkpoint, *, fetch_xml: bool = True) -> Flow[ImportResult]:
        """Everything stored since the checkpoint, each invoice exactly once (HWM, reference B §8.3).

        Queries ``PermanentStorage`` from the checkpoint with
        ``restrictToPermanentStorageHwmDate``: KSeF guarantees no invoice will
        ever appear at or below the high water mark it reports, so the next
        import can start exactly there. Persist ``result.checkpoint`` after
        storing ``result.invoices``.
        """
        position = checkpoint.position
        boundary = set(checkpoint.boundary)
        collected: dict[str, InvoiceMetadata] = {}
        hwm: datetime | None = None
        while True:
            window_end = position + WINDOW if self._now() - position > WINDOW else None
            filters = InvoiceQueryFilters(
                checkpoint.subject_type,
                DateRange("PermanentStorage", position, window_end, True),
            )
            items, hwm = yield from self._query_all_metadata(filters)
            for item in items:
                if item.ksef_number not in boundary:
                    collected.setdefault(item.ksef_number, item)
            if window_end is None or hwm is None or hwm < window_end:
                break
            position = window_end
        new_position = hwm or max(
            (m.permanent_storage_date for m in collected.values()), default=checkpoint.position
        )
        new_boundary = {k for k, m in collected.items() if m.permanent_storage_date == new_position}
        if new_position == checkpoint.position:
            new_boundary |= boundary
        ordered = sorted(
            collected.values(), key=lambda m: (m.permanent_storage_date, m.ksef_number)
        )
        invoices = yield from self._fetch(ordered, fetch_xml)
        return ImportResult(
            tuple(invoices), Checkpoint(checkpoint.subject_type, new_position, new_boundary)
        )

    # -- exports ------------------------------------------------------------------------------------------

    def _start_export(
        self, filters: InvoiceQueryFilters, *, only_metadata: bool = False, compression: str = "Zip"
    ) -> Flow[tuple[str, SymmetricKey]]:
        key = SymmetricKey.generate()

        def attempt(certificate: PublicKeyCertificate) -> Flow[Any]:
            body = {
                "encryption": key.encryption_info(certificate),
                "onlyMetadata": only_metadata,
                "compressionType": compression,
                "filters": filters.to_json(),
            }
            return (
                yield from self._json_call(
                    "POST", "/invoices/exports", json=body, expected=(200, 201)
                )
            )

        data = yield from self._with_key(SYMMETRIC_KEY_ENCRYPTION, attempt)
        return self._parse(lambda d: str(d["referenceNumber"]), data), key

    def _export_status(self, reference: str) -> Flow[ExportStatus]:
        data = yield from self._json_call("GET", f"/invoices/exports/{_seg(reference)}")
        return self._parse(ExportStatus.from_json, data)

    def _export_invoices(
        self,
        filters: InvoiceQueryFilters,
        *,
        only_metadata: bool = False,
        compression: str = "Zip",
        timeout: float | None = None,
    ) -> Flow[ExportResult]:
        """Export, wait, download every part, decrypt, check hashes, unpack."""
        reference, key = yield from self._start_export(
            filters, only_metadata=only_metadata, compression=compression
        )
        status = yield from self._poll(
            lambda: self._export_status(reference),
            lambda s: s.status.code != 100,
            what=f"export {reference}",
            reference_number=reference,
            timeout=timeout,
        )
        if status.status.code != 200:
            raise status_error(
                KsefStatusError,
                f"export {reference}",
                _codes.EXPORT_STATUSES,
                status.status.code,
                status.status.description,
                status.status.details,
                reference,
            )
        archive = bytearray()
        for part in sorted(status.parts, key=lambda p: p.ordinal_number):
            try:
                response = yield from self._call(part.method, part.url, auth=None, api=False)
            except (KsefForbiddenError, KsefUnauthorizedError):
                # The link expired while earlier parts downloaded: links are fresh per status read.
                fresh = yield from self._export_status(reference)
                part = next(p for p in fresh.parts if p.ordinal_number == part.ordinal_number)
                response = yield from self._call(part.method, part.url, auth=None, api=False)
            data = response.content
            if (
                len(data) != part.encrypted_part_size
                or sha256_b64(data) != part.encrypted_part_hash
            ):
                raise KsefIntegrityError(
                    f"export part {part.part_name}: encrypted size/hash mismatch"
                )
            plain = key.decrypt(data)
            if len(plain) != part.part_size or sha256_b64(plain) != part.part_hash:
                raise KsefIntegrityError(
                    f"export part {part.part_name}: size/hash mismatch after decryption"
                )
            archive += plain
        entries = unpack(bytes(archive), status.compression_type) if archive else {}
        metadata: tuple[InvoiceMetadata, ...] = ()
        if "_metadata.json" in entries:
            try:
                raw = _json.loads(entries["_metadata.json"])
            except ValueError as exc:
                raise KsefIntegrityError("the export's _metadata.json is not JSON") from exc
            metadata = tuple(
                self._parse(lambda d: [InvoiceMetadata.from_json(i) for i in d["invoices"]], raw)
            )
        invoices = {
            name.rsplit("/", 1)[-1][: -len(".xml")]: data
            for name, data in entries.items()
            if name.endswith(".xml")
        }
        return ExportResult(reference, invoices, metadata, status)

    def _import_new_by_export(self, checkpoint: Checkpoint) -> Flow[ImportResult]:
        """The documented incremental algorithm (reference B §8.4) over exports."""
        position = checkpoint.position
        boundary = set(checkpoint.boundary)
        collected: dict[str, ImportedInvoice] = {}
        while True:
            window_end = position + WINDOW if self._now() - position > WINDOW else None
            filters = InvoiceQueryFilters(
                checkpoint.subject_type, DateRange("PermanentStorage", position, window_end, True)
            )
            result = yield from self._export_invoices(filters)
            by_number = {m.ksef_number: m for m in result.metadata}
            for number, meta in by_number.items():
                if number not in boundary and number not in collected:
                    collected[number] = ImportedInvoice(meta, result.invoices.get(number))
            package = result.status
            if package.is_truncated and package.last_permanent_storage_date is not None:
                position = package.last_permanent_storage_date
                boundary |= {
                    n for n, m in by_number.items() if m.permanent_storage_date == position
                }
                continue
            hwm = package.permanent_storage_hwm_date
            if window_end is not None and hwm is not None and hwm >= window_end:
                position = window_end
                continue
            break
        new_position = package.permanent_storage_hwm_date or max(
            (i.metadata.permanent_storage_date for i in collected.values()),
            default=checkpoint.position,
        )
        new_boundary = {
            n for n, i in collected.items() if i.metadata.permanent_storage_date == new_position
        }
        if new_position == checkpoint.position:
            new_boundary |= set(checkpoint.boundary)
        ordered = sorted(
            collected.values(), key=lambda i: (i.metadata.permanent_storage_date, i.ksef_number)
        )
        return ImportResult(
            tuple(ordered), Checkpoint(checkpoint.subject_type, new_position, new_boundary)
        )

    # -- KSeF tokens --------------------------------------------------------------------------------------

    def _author_filter(self) -> dict[str, str]:
        """Query parameters naming the caller as token author (from the access token)."""
        if self._tokens is None:
            return {}
        raw = self._tokens.claims.get("sud")
        try:
            details = _json.loads(raw) if isinstance(raw, str) else raw
            subject = details["SubjectIdentifier"]
            return {
                "authorIdentifierType": str(subject["Type"]),
                "authorIdentifier": str(subject["Value"]),
            }
        except (ValueError, TypeError, KeyError):
            return {}

    def _token_references(self, description: str) -> Flow[set[str]]:
        tokens = yield from self._list_tokens(
            statuses=("Pending", "Active"), description=description, extra=self._author_filter()
        )
        return {t.reference_number for t in tokens if t.description == description}

    def _generate_token(
        self, permissions: Sequence[str], description: str, *, wait_active: bool = True
    ) -> Flow[GeneratedToken]:
        """``POST /tokens``; after a lost answer the orphaned token is revoked, then it retries."""
        body = {"permissions": list(permissions), "description": description}
        yield from self._ensure_access()
        before = yield from self._token_references(description)
        budget = self._budget()
        while True:
            try:
                data = yield from self._json_call(
                    "POST", "/tokens", json=body, replay=False, expected=(200, 202)
                )
                break
            except self._transient_errors as error:
                yield from self._wait_or_raise(budget, error)
                after = yield from self._token_references(description)
                for orphan in sorted(after - before):
                    # Its secret never reached us: nobody can use it, so nobody should hold it.
                    yield from self._revoke_token(orphan)
                before |= after
        token = self._parse(
            lambda d: GeneratedToken(str(d["referenceNumber"]), str(d["token"])), data
        )
        if wait_active:
            info = yield from self._poll(
                lambda: self._get_token(token.reference_number),
                lambda t: t.status != "Pending",
                what=f"KSeF token {token.reference_number}",
                reference_number=token.reference_number,
            )
            if info.status != "Active":
                raise KsefStatusError(
                    f"KSeF token {token.reference_number} ended as {info.status} "
                    f"{'; '.join(info.status_details)} — generate a new token",
                    code=0,
                    description=info.status,
                    details=info.status_details,
                    reference_number=token.reference_number,
                    explanation="The token did not become active.",
                    fix="Generate a new token.",
                )
        return token

    def _get_token(self, reference: str) -> Flow[KsefTokenInfo]:
        data = yield from self._json_call("GET", f"/tokens/{_seg(reference)}")
        return self._parse(KsefTokenInfo.from_json, data)

    def _list_tokens(
        self,
        statuses: Sequence[str] | None = None,
        description: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Flow[list[KsefTokenInfo]]:
        items: list[KsefTokenInfo] = []
        continuation: str | None = None
        params: dict[str, Any] = {"pageSize": 100, **(extra or {})}
        if statuses:
            params["status"] = list(statuses)
        if description:
            params["description"] = description
        while True:
            headers = {"x-continuation-token": continuation} if continuation else None
            data = yield from self._json_call("GET", "/tokens", params=params, headers=headers)
            items += self._parse(lambda d: [KsefTokenInfo.from_json(i) for i in d["tokens"]], data)
            continuation = data.get("continuationToken") if isinstance(data, dict) else None
            if not continuation:
                return items

    def _revoke_token(self, reference: str) -> Flow[None]:
        yield from self._call("DELETE", f"/tokens/{_seg(reference)}", expected=(200, 204))

    # -- limits ------------------------------------------------------------------------------------------

    def _context_limits(self) -> Flow[ContextLimits]:
        data = yield from self._json_call("GET", "/limits/context")
        return self._parse(ContextLimits.from_json, data)

    def _subject_limits(self) -> Flow[SubjectLimits]:
        data = yield from self._json_call("GET", "/limits/subject")
        return self._parse(SubjectLimits.from_json, data)

    def _rate_limits(self) -> Flow[RateLimits]:
        data = yield from self._json_call("GET", "/rate-limits")
        return self._parse(RateLimits.from_json, data)

    # -- permissions ---------------------------------------------------------------------------------------

    def _grant_person_permissions(
        self,
        subject: ContextIdentifier,
        permissions: Sequence[str],
        description: str,
        *,
        first_name: str = "Jan",
        last_name: str = "Kowalski",
        wait: bool = True,
    ) -> Flow[str]:
        """Grant permissions to a person (``Nip``/``Pesel``/``Fingerprint``); the operation's reference.

        A grant of permissions already held changes nothing, so a retry after a
        lost answer is harmless.
        """
        body = {
            "subjectIdentifier": subject.to_json(),
            "permissions": list(permissions),
            "description": description,
            "subjectDetails": {
                "subjectDetailsType": "PersonByIdentifier",
                "personById": {"firstName": first_name, "lastName": last_name},
            },
        }
        data = yield from self._json_call(
            "POST", "/permissions/persons/grants", json=body, expected=(200, 201, 202)
        )
        reference = self._parse(lambda d: str(d["referenceNumber"]), data)
        if wait:
            yield from self._wait_for_permission_operation(reference)
        return reference

    def _permission_operation_status(self, reference: str) -> Flow[StatusInfo]:
        data = yield from self._json_call("GET", f"/permissions/operations/{_seg(reference)}")
        return self._parse(lambda d: StatusInfo.from_json(d["status"]), data)

    def _wait_for_permission_operation(self, reference: str) -> Flow[StatusInfo]:
        status = yield from self._poll(
            lambda: self._permission_operation_status(reference),
            lambda s: s.code != 100,
            what=f"permission operation {reference}",
            reference_number=reference,
        )
        if status.code != 200:
            raise KsefStatusError(
                f"permission operation {reference} ended with {status.code} {status.description} "
                f"{'; '.join(status.details)}",
                code=status.code,
                description=status.description,
                details=status.details,
                reference_number=reference,
            )
        return status

    def _query_personal_permissions(self, **filters: Any) -> Flow[list[PersonalPermission]]:
        items: list[PersonalPermission] = []
        offset = 0
        while True:
            data = yield from self._json_call(
                "POST",
                "/permissions/query/personal/grants",
                params={"pageOffset": offset, "pageSize": 100},
                json=dict(filters),
            )
            items += self._parse(
                lambda d: [PersonalPermission.from_json(i) for i in d["permissions"]], data
            )
            if not (isinstance(data, dict) and data.get("hasMore")):
                return items
            offset += 1

    def _revoke_permission(self, permission_id: str, *, wait: bool = True) -> Flow[str]:
        data = yield from self._json_call(
            "DELETE", f"/permissions/common/grants/{_seg(permission_id)}", expected=(200, 201, 202)
        )
        reference = self._parse(lambda d: str(d["referenceNumber"]), data)
        if wait:
            yield from self._wait_for_permission_operation(reference)
        return reference


# -- helpers ---------------------------------------------------------------------------------------


def _resolve_context(
    nip: str | None, context: ContextIdentifier | None, credentials: Credentials | None
) -> ContextIdentifier:
    if nip is not None and context is not None and context != ContextIdentifier.nip(nip):
        raise KsefConfigurationError("give nip or context, not two different ones")
    if context is not None:
        return context
    if nip is not None:
        value = nip.strip().replace("-", "")
        if not (len(value) == 10 and value.isdigit()):
            raise KsefConfigurationError(f"a NIP has 10 digits, got {nip!r}")
        return ContextIdentifier.nip(value)
    if isinstance(credentials, KsefTokenCredentials):
        return credentials.context
    raise KsefConfigurationError(
        "configure the context to work in: nip='1234567890' or context=ContextIdentifier(...)"
    )


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _text(response: httpx.Response) -> str:
    try:
        return response.text.strip()
    except (UnicodeDecodeError, LookupError):
        return ""


def _first_status_detail(body: Mapping[str, Any]) -> str | None:
    status = body.get("status")
    if isinstance(status, Mapping):
        details = status.get("details")
        if isinstance(details, list) and details:
            return str(details[0])
    return None


def _exception_details(body: Any) -> list[ExceptionDetail]:
    """KSeF exception codes of either error format (legacy ``exception`` or problem ``errors``)."""
    if not isinstance(body, dict):
        return []
    out: list[ExceptionDetail] = []
    exception = body.get("exception")
    if isinstance(exception, dict):
        for item in exception.get("exceptionDetailList") or ():
            if isinstance(item, dict) and isinstance(item.get("exceptionCode"), int):
                out.append(
                    ExceptionDetail.of(
                        item["exceptionCode"], item.get("exceptionDescription"), item.get("details")
                    )
                )
    for item in body.get("errors") or ():
        if isinstance(item, dict) and isinstance(item.get("code"), int):
            out.append(
                ExceptionDetail.of(item["code"], item.get("description"), item.get("details"))
            )
    return out


def _verified(response: httpx.Response) -> bytes:
    """The body, checked against ``x-ms-meta-hash`` (Base64 SHA-256) when KSeF sends one."""
    data = response.content
    expected = response.headers.get("x-ms-meta-hash")
    if expected and sha256_b64(data) != expected:
        raise KsefIntegrityError(
            f"{response.request.url.path}: content does not match its x-ms-meta-hash"
        )
    return data


def _date_getter(date_type: str) -> Callable[[InvoiceMetadata], datetime]:
    if date_type == "Invoicing":
        return lambda m: m.invoicing_date
    if date_type == "PermanentStorage":
        return lambda m: m.permanent_storage_date
    return lambda m: datetime(m.issue_date.year, m.issue_date.month, m.issue_date.day, tzinfo=UTC)


def _with_from(filters: InvoiceQueryFilters, start: datetime) -> InvoiceQueryFilters:
    old = filters.date_range
    return InvoiceQueryFilters(
        filters.subject_type,
        DateRange(old.date_type, start, old.date_to, old.restrict_to_permanent_storage_hwm_date),
        filters.ksef_number,
        filters.invoice_number,
        filters.seller_nip,
        filters.extra,
    )
