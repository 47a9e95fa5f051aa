"""The answers a rule can give instead of the API: catalogue errors and raw HTTP answers.

Catalogue errors (``error``, ``unauthorized``, ``forbidden``,
``too_many_requests``, ``maintenance``, ``server_error`` 500, ``gone``) are
rendered by the one error renderer, in the format the request asks for; raw
answers (``respond``, ``server_error`` 502/504 as a proxy sends them) are
written as given. Network faults are in ``faults.py``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from mockksef.errors import (
    Forbidden,
    Gone,
    InternalError,
    KsefError,
    MockError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from mockksef.scenarios.model import Then, parse_duration

MAINTENANCE_DETAIL = "Trwają prace serwisowe systemu KSeF. Spróbuj ponownie później."
LEGACY_DETAIL = (
    "Interfejs KSeF 1.0 został wyłączony. Użyj API KSeF 2.0 (https://api.ksef.mf.gov.pl/v2)."
)


def _seconds(value: Any, default: float) -> int:
    if value is None:
        return int(default)
    return max(1, int(round(parse_duration(value))))


def error_for(then: Then) -> MockError | None:
    """The catalogue error an answer stands for (None for raw and network answers)."""
    kind, value = then.answer, then.answer_value
    spec = value if isinstance(value, dict) else {}
    if kind == "error":
        code = value if isinstance(value, int) else value["code"]
        return KsefError(code, *spec.get("details", ()))
    if kind == "unauthorized":
        return Unauthorized(spec["detail"]) if spec.get("detail") else Unauthorized()
    if kind == "forbidden":
        reason = value if isinstance(value, str) else value["reason"]
        return Forbidden(reason, spec.get("security"))
    if kind == "too_many_requests":
        wait = _seconds(spec.get("retry_after"), 60)
        word = "sekundzie" if wait == 1 else "sekundach"
        detail = (
            spec.get("detail") or f"Przekroczono limit żądań. Spróbuj ponownie po {wait} {word}."
        )
        return TooManyRequests(wait, detail)
    if kind == "maintenance":
        wait = _seconds(spec.get("retry_after"), 600)
        return ServiceUnavailable(spec.get("detail") or MAINTENANCE_DETAIL, wait)
    if kind == "server_error" and spec.get("status", 500) == 500:
        return InternalError(spec["detail"]) if spec.get("detail") else InternalError()
    if kind == "gone":
        return Gone(spec["detail"]) if spec.get("detail") else Gone()
    return None


def raw_response(then: Then) -> Response:
    """A ``respond`` answer, or a 502/504 as the gateway in front of KSeF sends it."""
    value = then.answer_value
    if then.answer == "server_error":
        status = int(value.get("status", 502)) if isinstance(value, dict) else 502
        text = {502: "502 Bad Gateway", 504: "504 Gateway Time-out"}.get(status, str(status))
        return Response(text.encode(), status_code=status, media_type="text/plain")
    body = value.get("body")
    content_type = value.get("content_type")
    if body is None:
        content = b""
    elif isinstance(body, str):
        content = body.encode("utf-8")
    else:
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        content_type = content_type or "application/json"
    return Response(
        content,
        status_code=int(value["status"]),
        headers=dict(value.get("headers") or {}),
        media_type=content_type,
    )
