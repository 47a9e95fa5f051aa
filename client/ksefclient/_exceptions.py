"""Every exception the client raises. Nothing else escapes a client call.

Hierarchy::

    KsefError
    ├── KsefConfigurationError      refused before any request: a KSeF 1.0 token, a token
    │                               or JWT of another context, a DEMO credential on PROD,
    │                               a self-signed certificate outside TEST, no credentials
    ├── KsefTransportError          the network failed and the retry budget is spent
    ├── KsefTimeoutError            a polled operation did not finish within its deadline
    ├── KsefIntegrityError          downloaded content fails its hash, size or decryption
    ├── KsefStatusError             an asynchronous operation ended in a failure status
    │   ├── KsefAuthenticationError     authentication ended with 415/425/450/460/470/480…
    │   └── KsefInvoiceRejectedError    ``SessionInvoice.raise_for_status()`` on a rejection
    └── KsefApiError                an HTTP answer KSeF reports as an error
        ├── KsefBadRequestError         400 with exception codes (both error formats)
        ├── KsefUnauthorizedError       401 (always problem+json)
        ├── KsefForbiddenError          403 with ``reason_code`` and ``security``
        ├── KsefGoneError               410: past the retention period
        ├── KsefRateLimitError          429 whose ``Retry-After`` exceeds the wait budget
        ├── KsefServerError             5xx (or another unexpected status) after retries
        └── KsefProtocolError           an answer the client cannot parse
            └── KsefDamagedAnswerError      a JSON answer cut or corrupted in transit

``KsefApiError`` carries the ``request``, the ``response``, the HTTP
``status_code`` and ``errors``: one :class:`ExceptionDetail` per KSeF exception
code, each with the official Polish ``description`` and the client's English
``explanation`` and likely ``fix``. ``KsefTransportError``, ``KsefRateLimitError``,
``KsefServerError`` and ``KsefDamagedAnswerError`` are the transient ones
(``TRANSIENT_ERRORS``: retried within the budget, and after them the outcome
of a request may be unknown); ``retry_after`` says how long KSeF asked to wait,
when it did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ksefclient import _codes

__all__ = [
    "ExceptionDetail",
    "KsefApiError",
    "KsefAuthenticationError",
    "KsefBadRequestError",
    "KsefConfigurationError",
    "KsefDamagedAnswerError",
    "KsefError",
    "KsefForbiddenError",
    "KsefGoneError",
    "KsefIntegrityError",
    "KsefInvoiceRejectedError",
    "KsefProtocolError",
    "KsefRateLimitError",
    "KsefServerError",
    "KsefStatusError",
    "KsefTimeoutError",
    "KsefTransportError",
    "KsefUnauthorizedError",
    "TRANSIENT_ERRORS",
    "status_error",
]


@dataclass(frozen=True)
class ExceptionDetail:
    """One KSeF exception code of an error answer."""

    code: int
    description: str
    details: tuple[str, ...] = ()
    explanation: str = ""
    fix: str = ""

    @classmethod
    def of(
        cls, code: int, description: str | None, details: Sequence[str] | None
    ) -> ExceptionDetail:
        info = _codes.EXCEPTION_CODES.get(code) or _codes.unknown(code)
        return cls(
            code,
            description or info.polish,
            tuple(str(d) for d in details or ()),
            info.english,
            info.fix,
        )

    def __str__(self) -> str:
        text = f"{self.code} {self.description}"
        if self.details:
            text += f" [{'; '.join(self.details)}]"
        if self.explanation:
            text += f" — {self.explanation}"
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


class KsefError(Exception):
    """Base of every exception the client raises."""


class KsefConfigurationError(KsefError, ValueError):
    """The configuration cannot work; refused before anything is sent."""


class KsefTransportError(KsefError):
    """The network failed (connect, read, timeout…) and the retry budget is spent.

    ``connected`` is False when the request never reached the server (refused,
    connect timeout): the server is down or the address is wrong.
    """

    retry_after: float | None = None

    def __init__(
        self, message: str, request: httpx.Request | None = None, *, connected: bool = True
    ) -> None:
        super().__init__(message)
        self.request = request
        self.connected = connected


class KsefTimeoutError(KsefError):
    """An asynchronous operation did not reach a final status within the deadline."""

    def __init__(self, message: str, reference_number: str | None = None, last: Any = None) -> None:
        super().__init__(message)
        self.reference_number = reference_number
        self.last = last


class KsefIntegrityError(KsefError):
    """Downloaded content does not match its hash/size, or cannot be decrypted."""


class KsefStatusError(KsefError):
    """An asynchronous operation (authentication, session, invoice, export) failed."""

    def __init__(
        self,
        message: str,
        *,
        code: int,
        description: str,
        details: Sequence[str] = (),
        reference_number: str | None = None,
        explanation: str = "",
        fix: str = "",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.description = description
        self.details = tuple(details)
        self.reference_number = reference_number
        self.explanation = explanation
        self.fix = fix


class KsefAuthenticationError(KsefStatusError):
    """The authentication operation ended with a failure status."""


class KsefInvoiceRejectedError(KsefStatusError):
    """An invoice of a session was rejected (status >= 400)."""


class KsefApiError(KsefError):
    """KSeF answered with an error; ``errors`` holds its exception codes, if any."""

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request | None,
        response: httpx.Response | None,
        errors: Sequence[ExceptionDetail] = (),
        problem: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.request = request
        self.response = response
        self.errors: tuple[ExceptionDetail, ...] = tuple(errors)
        self.problem: Mapping[str, Any] = problem or {}

    @property
    def status_code(self) -> int:
        return self.response.status_code if self.response is not None else 0

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(e.code for e in self.errors)

    @property
    def code(self) -> int | None:
        """The first exception code, if the answer carried any."""
        return self.errors[0].code if self.errors else None

    def has(self, code: int) -> bool:
        return code in self.codes


class KsefBadRequestError(KsefApiError):
    """HTTP 400 with one or more KSeF exception codes."""


class KsefUnauthorizedError(KsefApiError):
    """HTTP 401: the bearer token is missing, invalid or expired."""


class KsefForbiddenError(KsefApiError):
    """HTTP 403: the credential is valid but not allowed (see ``reason_code``)."""

    @property
    def reason_code(self) -> str | None:
        value = self.problem.get("reasonCode")
        return str(value) if value is not None else None

    @property
    def security(self) -> Mapping[str, Any]:
        value = self.problem.get("security")
        return value if isinstance(value, Mapping) else {}


class KsefGoneError(KsefApiError):
    """HTTP 410: the operation is past its retention period."""


class KsefRateLimitError(KsefApiError):
    """HTTP 429 that the client did not wait out (``retry_after`` beyond the budget)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class KsefServerError(KsefApiError):
    """HTTP 5xx (or an undocumented status) that persisted through the retries."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class KsefProtocolError(KsefApiError):
    """An answer the client cannot understand (wrong content type, missing fields)."""


class KsefDamagedAnswerError(KsefProtocolError):
    """A JSON answer that arrived cut short or corrupted (the request may have been processed)."""

    retry_after: float | None = None


# Failures after which the outcome of a request may be unknown and a retry may help.
TRANSIENT_ERRORS: tuple[type[KsefError], ...] = (
    KsefTransportError,
    KsefRateLimitError,
    KsefServerError,
    KsefDamagedAnswerError,
)


def status_error(
    cls: type[KsefStatusError],
    what: str,
    table: Mapping[int, _codes.CodeInfo],
    code: int,
    description: str,
    details: Sequence[str] = (),
    reference_number: str | None = None,
) -> KsefStatusError:
    """A status error with the English explanation of ``code`` from ``table``."""
    info = table.get(code) or _codes.unknown(code)
    text = f"{what} ended with status {code} {description}"
    if details:
        text += f" [{'; '.join(details)}]"
    text += f" — {info.english}"
    if info.fix:
        text += f" Fix: {info.fix}"
    return cls(
        text,
        code=code,
        description=description,
        details=details,
        reference_number=reference_number,
        explanation=info.english,
        fix=info.fix,
    )
