"""What the behaviours of the official end-to-end suites share: the caller as they log in.

The suites authenticate the way ``login`` does (XAdES, a self-signed personal
certificate ``TINPL-{nip}`` in C# ``AuthenticationUtils``, a company seal
``VATPL-{nip}`` in Java ``BaseIntegrationTest``); everything else is the shared
test kit (``tests.kit``) and the suite's fixtures (``tests.conftest``: ``client``,
``mock``, the two-lane ``lane`` in-process and over a real uvicorn socket).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
import jwt
import pytest

from tests import kit

NIP = "5265877635"
# The suites' templates carry an issue date (P_1) before the sending day.
PAST = date(2026, 3, 1)
PROBLEM = {"X-Error-Format": "problem-details"}
_CERTIFICATES_FROM = datetime(2026, 3, 1, tzinfo=UTC)


def login(
    client: Any, context: str, *, subject: str | None = None, seal: bool = False
) -> kit.Session:
    """XAdES login into the NIP context ``context`` as ``subject`` (default: its owner)."""
    who = subject or context
    credentials = kit.seal(who, not_before=_CERTIFICATES_FROM) if seal else None
    return kit.xades_login(client, who, credentials, context_value=context)  # type: ignore[no-any-return]


def claims(token: str) -> dict[str, Any]:
    """A JWT's payload read as every client reads it (no signature check)."""
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def legacy_details(response: httpx.Response) -> list[dict[str, Any]]:
    return response.json()["exception"]["exceptionDetailList"]  # type: ignore[no-any-return]


@pytest.fixture
def owner(client: Any) -> kit.Session:
    """The owner of the context ``NIP``, logged in as the C# suite does."""
    return login(client, NIP)
