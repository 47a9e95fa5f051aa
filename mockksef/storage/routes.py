"""Routes of the mock blob storage (mounted at /storage by create_app).

``PUT  /storage/{env}/{session}/batch-parts/{n}``      batch part upload (201)
``GET  /storage/{env}/{session}/session-upo/{name}``   session UPO page
``GET  /storage/{env}/{session}/invoice-upo/{name}``   invoice UPO

Pre-signed (``se``/``sp``/``sig`` query), no bearer, no rate limit. Answers as
the docs list them for uploads: 201 accepted, 400 bad data, 401 bad signature,
403 expired URL or a session that takes no more parts, and 413
``RequestBodyTooLarge`` (Azure's answer) for a part larger than an encrypted
100 MB part can be, refused from its Content-Length or as soon as the stream
passes it; errors carry an Azure-style XML body. Export part downloads live in ``exports.py`` (invoices
area) and are appended below when present.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mockksef.http.endpoint import hashed_xml, mock_state
from mockksef.http.offload import OFFLOAD_BYTES, run_heavy
from mockksef.services.sessions.models import MAX_PART_ENCRYPTED
from mockksef.storage import exports

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState

_ERRORS = {
    400: "InvalidInput",
    401: "AuthenticationFailed",
    403: "AuthorizationFailure",
    404: "BlobNotFound",
}
_TOO_LARGE = "The request body is too large and exceeds the maximum permissible limit."


def storage_error(status: int, message: str, code: str | None = None) -> Response:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code or _ERRORS.get(status, 'Error')}</Code>"
        f"<Message>{escape(message)}</Message></Error>"
    )
    return Response(body.encode("utf-8"), status_code=status, media_type="application/xml")


def _environment(request: Request) -> EnvironmentState | None:
    mock = mock_state(request)
    try:
        return mock.env(request.path_params["env"])
    except (KeyError, ValueError):
        return None


_VERDICTS = {
    "invalid": (401, "Server failed to authenticate the request: invalid signature."),
    "expired": (403, "Signed expiry time has passed."),
    "closed": (403, "This request is not authorized to perform this operation."),
    "missing": (404, "The specified blob does not exist."),
}


async def put_part(request: Request) -> Response:
    env = _environment(request)
    if env is None:
        return storage_error(404, "The specified resource does not exist.", "ResourceNotFound")
    if (request.headers.get("x-ms-blob-type") or "").lower() != "blockblob":
        return storage_error(
            400,
            "An HTTP header that's mandatory for this request is not specified: x-ms-blob-type.",
            "MissingRequiredHeader",
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_PART_ENCRYPTED:
        return storage_error(413, _TOO_LARGE, "RequestBodyTooLarge")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_PART_ENCRYPTED:
            return storage_error(413, _TOO_LARGE, "RequestBodyTooLarge")
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        return storage_error(400, "The request body is empty.", "InvalidInput")
    verdict = env.sessions.upload_part(
        request.path_params["session"],
        request.path_params["ordinal"],
        data,
        dict(request.query_params),
        env.clock.now(),
    )
    if verdict != "created":
        status, message = _VERDICTS[verdict]
        return storage_error(status, message)
    # Hashing a 100 MB part takes a fifth of a second: not on the loop.
    md5 = await run_heavy(_content_md5, data) if len(data) > OFFLOAD_BYTES else _content_md5(data)
    return Response(
        b"", status_code=201, headers={"Content-MD5": md5, "x-ms-request-server-encrypted": "true"}
    )


def _content_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def _download(kind: str):  # type: ignore[no-untyped-def]
    async def handler(request: Request) -> Response:
        env = _environment(request)
        if env is None:
            return storage_error(404, "The specified resource does not exist.", "ResourceNotFound")
        verdict, body = env.sessions.download(
            request.path_params["session"],
            kind,
            request.path_params["name"],
            dict(request.query_params),
            env.clock.now(),
        )
        if verdict != "ok" or body is None:
            status, message = _VERDICTS.get(verdict, _VERDICTS["missing"])
            return storage_error(status, message)
        return hashed_xml(body)

    handler.__name__ = f"download_{kind.replace('-', '_')}"
    return handler


routes: list[BaseRoute] = [
    Route("/{env}/{session}/batch-parts/{ordinal}", put_part, methods=["PUT"]),
    Route("/{env}/{session}/session-upo/{name}", _download("session-upo"), methods=["GET"]),
    Route("/{env}/{session}/invoice-upo/{name}", _download("invoice-upo"), methods=["GET"]),
    *exports.routes,
]
