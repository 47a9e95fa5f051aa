"""Pre-signed storage URLs (batch part uploads, UPO downloads), SAS-like.

``{base}/storage/{env}/{resource}?sv=…&se=<expiry>&sr=b&sp=<w|r>&sig=<HMAC>``:
the signature is an HMAC-SHA256 over the permission, the resource path and the
expiry with a per-environment secret drawn from the OS (not from the seed,
which is printed), so a URL cannot be guessed, forged or altered, and checking
one needs no lookup table. Expiry is checked against the environment clock
when a request starts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote, urlencode

from mockksef.clock import parse_datetime

Verdict = Literal["ok", "invalid", "expired"]

_SERVICE_VERSION = "2025-01-05"


class UrlSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _signature(self, permission: str, resource: str, expiry: str) -> str:
        message = f"{permission}\n{resource}\n{expiry}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")

    def url(self, base_url: str, resource: str, expires: datetime, permission: str) -> str:
        """An absolute URL for ``resource`` (``{env}/{session}/{kind}/{name}``)."""
        expiry = expires.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = urlencode(
            {
                "sv": _SERVICE_VERSION,
                "se": expiry,
                "sr": "b",
                "sp": permission,
                "sig": self._signature(permission, resource, expiry),
            },
            quote_via=quote,
        )
        return f"{base_url.rstrip('/')}/storage/{resource}?{query}"

    def verify(
        self, resource: str, query: Mapping[str, str], permission: str, now: datetime
    ) -> Verdict:
        expiry = query.get("se") or ""
        signature = query.get("sig") or ""
        if query.get("sp") != permission or not expiry or not signature:
            return "invalid"
        expected = self._signature(permission, resource, expiry)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return "invalid"
        try:
            expires = parse_datetime(expiry)
        except ValueError:
            return "invalid"
        return "expired" if now > expires else "ok"
