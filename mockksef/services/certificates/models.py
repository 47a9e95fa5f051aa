"""Entities of the certificates area: KSeF certificates and their enrollments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from mockksef.models import SubjectIdentifier

# Certificate statuses (CertificateListItemStatus).
ACTIVE = "Active"
BLOCKED = "Blocked"
REVOKED = "Revoked"
EXPIRED = "Expired"

CERTIFICATE_TYPES = ("Authentication", "Offline")

# Enrollment status table (CertificateEnrollmentStatusResponse.status, reference A §8.10).
ENROLLMENT_STATUS: dict[int, str] = {
    100: "Wniosek przyjęty do realizacji",
    200: "Wniosek obsłużony (certyfikat wygenerowany)",
    400: "Wniosek odrzucony",
    500: "Nieznany błąd",
    550: "Operacja została anulowana przez system",
}
REJECT_KEY_TAKEN = "Klucz publiczny został już certyfikowany przez inny podmiot."
REJECT_LIMIT = "Osiągnięto dopuszczalny limit posiadanych certyfikatów."


@dataclass
class IssuedCertificate:
    """A KSeF certificate the environment's mock CA issued.

    ``status`` is evaluated against the environment clock on every read, so an
    expiry (natural or shortened with ``PUT /testdata/certificates``) needs no
    background job.
    """

    serial_number: str
    name: str
    certificate_type: str
    owner: SubjectIdentifier
    common_name: str
    certificate: x509.Certificate
    der: bytes
    valid_from: datetime
    valid_to: datetime
    request_date: datetime
    enrollment_reference: str
    public_key_der: bytes
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    blocked: bool = False
    last_use_date: datetime | None = None
    clock: Callable[[], datetime] | None = field(default=None, repr=False, compare=False)

    def status_at(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return REVOKED
        if self.blocked:
            return BLOCKED
        if now >= self.valid_to:
            return EXPIRED
        return ACTIVE

    @property
    def status(self) -> str:
        assert self.clock is not None, "certificate not attached to a clock"
        return self.status_at(self.clock())

    def is_valid_at(self, now: datetime) -> bool:
        """Inside its validity window (the status may still be Revoked/Blocked)."""
        return self.valid_from <= now < self.valid_to


@dataclass
class Enrollment:
    """One ``POST /certificates/enrollments``; its outcome is decided at ``ready_at``."""

    reference_number: str
    owner: SubjectIdentifier
    name: str
    certificate_type: str
    subject: x509.Name
    public_key_der: bytes
    csr: x509.CertificateSigningRequest
    requested_valid_from: datetime | None
    request_date: datetime
    ready_at: datetime
    status_code: int = 100
    status_details: tuple[str, ...] = ()
    certificate_serial_number: str | None = None
    # Submission order: enrollments due at the same instant are decided in it.
    sequence: int = 0
