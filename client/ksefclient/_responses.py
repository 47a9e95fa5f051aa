"""Reading KSeF's answers, without I/O: JSON bodies, shapes, hash checks and error mapping.

Every error answer, in either official format (the legacy ``ExceptionResponse``
or ``application/problem+json``), becomes one exception of the hierarchy in
``_exceptions.py``; this module decides which.
"""

from __future__ import annotations

import email.utils
import json as _json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from ksefclient import _codes
from ksefclient._crypto import sha256_b64
from ksefclient._exceptions import (
    ExceptionDetail,
    KsefApiError,
    KsefBadRequestError,
    KsefDamagedAnswerError,
    KsefForbiddenError,
    KsefGoneError,
    KsefIntegrityError,
    KsefProtocolError,
    KsefRateLimitError,
    KsefServerError,
    KsefUnauthorizedError,
)

__all__ = ["error_for", "json_of", "parse", "retry_after", "verified"]

T = TypeVar("T")


def json_of(response: httpx.Response) -> Any:
    """The JSON of an answer; a damaged JSON body is transient, a non-JSON one is not."""
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


def parse(parser: Callable[[Any], T], data: Any) -> T:
    """``parser(data)``; an answer of an unexpected shape is a :class:`KsefProtocolError`."""
    try:
        return parser(data)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise KsefProtocolError(
            f"unexpected answer shape ({type(exc).__name__}: {exc})",
            request=None,
            response=None,
        ) from exc


def verified(response: httpx.Response) -> bytes:
    """The body, checked against ``x-ms-meta-hash`` (Base64 SHA-256) when KSeF sends one."""
    data = response.content
    expected = response.headers.get("x-ms-meta-hash")
    if expected and sha256_b64(data) != expected:
        raise KsefIntegrityError(
            f"{response.request.url.path}: content does not match its x-ms-meta-hash"
        )
    return data


def retry_after(response: httpx.Response, now: datetime) -> float | None:
    """Seconds from ``Retry-After`` (delta seconds or an HTTP date, measured from ``now``)."""
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
    return max(0.0, (when - now).total_seconds())


def error_for(
    request: httpx.Request, response: httpx.Response, *, base_url: str, now: datetime
) -> KsefApiError:
    """Map an error answer (either official format) to the exception hierarchy."""
    status = response.status_code
    body = _json_or_none(response)
    errors = _exception_details(body)
    problem = body if isinstance(body, dict) else {}
    where = f"{request.method} {request.url.path}"
    wait = retry_after(response, now)
    kwargs: dict[str, Any] = {
        "request": request,
        "response": response,
        "errors": errors,
        "problem": problem,
    }
    if not str(request.url).startswith(base_url) and status in (400, 401, 403, 404):
        # A pre-signed storage URL (batch upload, UPO or export download), not the API.
        text = _text(response)[:300]
        cls = {400: KsefBadRequestError, 401: KsefUnauthorizedError}.get(status, KsefForbiddenError)
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
            f"{where} → 429 {detail} (Retry-After: {wait}) — {info.english}",
            retry_after=wait,
            **kwargs,
        )
    if status >= 500:
        return KsefServerError(
            f"{where} → {status} {_text(response)[:200]}", retry_after=wait, **kwargs
        )
    hint = " — is the base URL right (it ends with /v2)?" if status == 404 else ""
    return KsefProtocolError(f"{where} → unexpected HTTP {status}{hint}", **kwargs)


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
