"""Entities of the tokens area: the KSeF token and its authentication error."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mockksef.models import ContextIdentifier, SubjectIdentifier

PENDING = "Pending"
ACTIVE = "Active"
REVOKING = "Revoking"
REVOKED = "Revoked"
FAILED = "Failed"
STATUSES = (PENDING, ACTIVE, REVOKING, REVOKED, FAILED)

# The official 450 details of a KSeF-token authentication (reference A §2.7, C §1.4).
INVALID_TOKEN = "Nieprawidłowy token"
TOKEN_REVOKED = "Token unieważniony"
TOKEN_INACTIVE = "Token nieaktywny"
INVALID_ENCODING = "Nieprawidłowe kodowanie tokena"


def wrong_context(context: ContextIdentifier) -> str:
    return f"Token nie może być użyty w kontekście {context.value}"


class TokenAuthError(Exception):
    """A KSeF token cannot authenticate; ``detail`` is one of the official 450 texts."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class KsefToken:
    reference_number: str
    context: ContextIdentifier
    author: SubjectIdentifier
    requested_permissions: tuple[str, ...]
    description: str
    # Evaluated lazily against the clock by TokensBackend (Pending -> Active, Revoking -> Revoked).
    status: str
    created: datetime
    last_use_date: datetime | None = None
    # SHA-256 (hex) of the secret part; the secret itself is never stored.
    secret_hash: str = field(default="", repr=False)
    active_from: datetime | None = None
    revoke_requested: datetime | None = None
    revoked_from: datetime | None = None
    failed: bool = False
    status_details: list[str] = field(default_factory=list)
