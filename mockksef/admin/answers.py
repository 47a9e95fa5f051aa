"""What every ``/_mock`` route shares: the admin plane's error shape and its JSON bodies.

Admin errors are ``{"error": "..."}`` with a 4xx status (never the official
shape: these paths are not KSeF's). A body is one JSON object or nothing,
decoded as untrusted input.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from mockksef.untrusted import json_loads


def refused(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def json_object(request: Request) -> dict[str, Any]:
    """The body's JSON object (an empty body: ``{}``); ValueError says what is wrong."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json_loads(raw)
    except ValueError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data
