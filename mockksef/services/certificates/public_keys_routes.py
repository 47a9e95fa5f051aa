"""``GET /security/public-key-certificates``: the Ministry's public encryption keys.

Mounted by ``certificates/routes.py`` (same package); the keys themselves live in
``keys.PublicKeysBackend`` (``env.public_keys``).
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from mockksef.http.endpoint import Call, endpoint, json_response


@endpoint("certificates.public_keys", auth="none")
def public_key_certificates(call: Call) -> Response:
    return json_response(call.env.public_keys.listing(call.now))


routes: list[BaseRoute] = [public_key_certificates]
