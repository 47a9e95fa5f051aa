"""Entities of the auth area: challenges and authentication operations (= auth sessions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from mockksef.ids import WARSAW
from mockksef.models import AUTH_METHOD_INFO, ContextIdentifier, SubjectIdentifier, status

CHALLENGE_LIFETIME = timedelta(minutes=10)
# GET /auth/{ref} answers for 7 days, then 410 Gone.
OPERATION_RETENTION = timedelta(days=7)

# ``authenticationMethod`` is deprecated since API 2.1.0 and removed on this day (the spec's
# deprecation note, reference A §2.7); from then on ``authenticationMethodInfo`` alone names
# the method, in GET /auth/{referenceNumber} and GET /auth/sessions alike.
AUTHENTICATION_METHOD_REMOVED = datetime(2026, 11, 16, tzinfo=WARSAW)


def method_fields(method: str, now: datetime) -> dict[str, Any]:
    """How an authentication reports its method at ``now``."""
    info = {"authenticationMethodInfo": dict(AUTH_METHOD_INFO[method])}
    if now >= AUTHENTICATION_METHOD_REMOVED:
        return info
    return {"authenticationMethod": method, **info}


# Status table of AuthenticationOperationStatusResponse (reference A §2.7, C §1.4).
IN_PROGRESS = 100
SUCCESS = 200
NO_PERMISSIONS = 415
REVOKED = 425
TOKEN_ERROR = 450
CERTIFICATE_ERROR = 460
DECEASED = 470
BLOCKED = 480

DESCRIPTIONS: dict[int, str] = {
    IN_PROGRESS: "Uwierzytelnianie w toku",
    SUCCESS: "Uwierzytelnianie zakończone sukcesem",
    NO_PERMISSIONS: "Uwierzytelnianie zakończone niepowodzeniem",
    REVOKED: "Uwierzytelnienie unieważnione",
    TOKEN_ERROR: "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu",
    CERTIFICATE_ERROR: "Uwierzytelnianie zakończone niepowodzeniem z powodu błędu certyfikatu",
    DECEASED: "Uwierzytelnianie zakończone niepowodzeniem",
    BLOCKED: "Uwierzytelnienie zablokowane",
    500: "Nieznany błąd",
    550: "Operacja została anulowana przez system",
}
FIXED_DETAILS: dict[int, str] = {
    NO_PERMISSIONS: "Brak przypisanych uprawnień",
    REVOKED: "Uwierzytelnienie i powiązane refresh tokeny zostały unieważnione przez użytkownika",
    DECEASED: "Próba wykorzystania metod autoryzacyjnych osoby zmarłej",
    BLOCKED: "Podejrzenie incydentu bezpieczeństwa. Skontaktuj się z Ministerstwem Finansów przez formularz zgłoszeniowy.",
    550: "Przetwarzanie zostało przerwane z przyczyn wewnętrznych systemu. Spróbuj ponownie",
}

# 450 details (KSeF token).
BAD_ENCRYPTION = "Nieprawidłowe szyfrowanie tokena"
BAD_ENCODING = "Nieprawidłowe kodowanie tokena"
BAD_TIME = "Nieprawidłowy czas tokena"
# 460 details (certificate).
CERT_INVALID_PERIOD = "Nieważny certyfikat"
CERT_CHAIN_ERROR = "Błąd weryfikacji łańcucha certyfikatów"
CERT_UNTRUSTED = "Niezaufany łańcuch certyfikatów"
CERT_REVOKED = "Certyfikat odwołany"
CERT_SUSPENDED = "Certyfikat zawieszony"
CERT_MALFORMED = "Niepoprawny certyfikat"


@dataclass(frozen=True)
class Outcome:
    """The final status of an authentication operation."""

    code: int
    details: tuple[str, ...] = ()

    @classmethod
    def of(cls, code: int, detail: str | None = None) -> Outcome:
        detail = detail or FIXED_DETAILS.get(code)
        return cls(code, (detail,) if detail else ())

    def as_json(self) -> dict[str, Any]:
        return status(
            self.code, DESCRIPTIONS.get(self.code, DESCRIPTIONS[500]), list(self.details) or None
        )


@dataclass
class Challenge:
    value: str
    timestamp: datetime
    timestamp_ms: int
    client_ip: str
    expires: datetime
    used: bool = False


@dataclass
class AuthOperation:
    """One authentication operation (``AU`` reference) and, once redeemed, its session."""

    reference_number: str
    start_date: datetime
    # Token, QualifiedSignature, QualifiedSeal, InternalCertificate...
    method: str
    context: ContextIdentifier
    # Who authenticated; for KSeF tokens the token's author, known once evaluated.
    subject: SubjectIdentifier | None
    ready_at: datetime
    operation_token_expires: datetime
    authorization_policy: dict[str, Any] | None = None
    # The certificate DN as `sud` claim members (certificate authentication).
    subject_details: dict[str, Any] = field(default_factory=dict)
    certificate: x509.Certificate | None = None
    verify_chain: bool = False
    # KSeF token: the decrypted token string, or the 450 detail of a failed decryption.
    token_string: str | None = None
    token_error: str | None = None
    ksef_token_reference: str | None = None
    # KSeF certificate serial (InternalCertificate).
    internal_serial: str | None = None
    # Base64 SHA-256 of the signed XAdES document as received (UPO
    # SkrotDokumentuUwierzytelniajacego, reference B §5.3).
    document_hash: str | None = None
    outcome: Outcome | None = None
    redeemed_at: datetime | None = None
    refresh_token_valid_until: datetime | None = None
    last_token_refresh: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def redeemed(self) -> bool:
        return self.redeemed_at is not None
