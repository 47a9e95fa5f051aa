"""Download links of invoice export parts: ``GET /storage/{env}/invoice-part/{ref}/{part}``.

Like the Azure blob storage behind KSeF: no bearer, no rate limit, the signed
query string is the only credential; a bad signature is 401
``AuthenticationFailed``, an expired link 403 ``AuthorizationFailure``, a part
that is not there 404 ``BlobNotFound`` (XML bodies, as blob storage answers, and
the same codes as the batch-part uploads beside it). The body is the encrypted part with
``x-ms-meta-hash`` = Base64 SHA-256 of those bytes.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mockksef.environments import Env

_ERROR = (
    '<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error>"
)


def _blob_error(status: int, code: str, message: str) -> Response:
    return Response(
        _ERROR.format(code=code, message=message).encode("utf-8"),
        status_code=status,
        media_type="application/xml",
        headers={"x-ms-error-code": code},
    )


async def download_part(request: Request) -> Response:
    mock = request.app.state.mock
    try:
        env = mock.env(Env.parse(request.path_params["env"]))
    except (KeyError, ValueError):
        return _blob_error(404, "ResourceNotFound", "The specified resource does not exist.")
    query = request.query_params
    try:
        part = env.invoices.exports.download_part(
            request.path_params["reference"],
            request.path_params["part"],
            query.get("se") or "",
            query.get("sig") or "",
            env.clock.now(),
        )
    except PermissionError as error:
        if str(error) == "expired":
            return _blob_error(403, "AuthorizationFailure", "Signed expiry time has passed.")
        return _blob_error(
            401,
            "AuthenticationFailed",
            "Server failed to authenticate the request: invalid signature.",
        )
    except LookupError:
        return _blob_error(404, "BlobNotFound", "The specified blob does not exist.")
    return Response(
        part.data,
        media_type="application/octet-stream",
        headers={"x-ms-meta-hash": part.encrypted_hash, "x-ms-blob-type": "BlockBlob"},
    )


routes: list[BaseRoute] = [
    Route("/{env}/invoice-part/{reference}/{part}", download_part, methods=["GET"]),
]
