"""Continuation tokens: opaque Base64 JSON, as KSeF's own are.

Every list keeps a cursor of its own shape (a position only it understands);
this module turns a cursor into a token and back, and answers 21418 for a token
that is not one of ours. A token that is absent or blank asks for the first page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any

from mockksef.errors import KsefError
from mockksef.untrusted import json_loads


def invalid_token() -> KsefError:
    return KsefError(21418)


def encode(cursor: object) -> str:
    raw = json.dumps(cursor, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(raw).decode("ascii")


def decode(token: str | None, invalid: Callable[[], KsefError] = invalid_token) -> Any:
    """The cursor inside ``token``; None when no token was sent."""
    if token is None or not token.strip():
        return None
    try:
        return json_loads(base64.b64decode(token.strip(), validate=True))
    except (binascii.Error, ValueError) as exc:  # JSON and UTF-8 errors are ValueErrors
        raise invalid() from exc


def decode_fields(
    token: str | None, names: Sequence[str], invalid: Callable[[], KsefError] = invalid_token
) -> tuple[Any, ...] | None:
    """The values of ``names`` in a token whose cursor is a JSON object; None without a token."""
    cursor = decode(token, invalid)
    if cursor is None:
        return None
    if not isinstance(cursor, dict) or any(name not in cursor for name in names):
        raise invalid()
    return tuple(cursor[name] for name in names)
