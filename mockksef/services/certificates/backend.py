"""State and rules of the certificates area: the mock KSeF CA, enrollments, certificates.

Each environment has its own mock KSeF certification authority, created lazily
on first use. Certificates it issues authenticate through XAdES on every
environment (``authenticationMethod`` ``InternalCertificate``); the auth area
asks ``find_issued`` / ``issued_by_ca`` about a presented certificate.

Certificates belong to the authenticated *subject* (NIP, PESEL or fingerprint),
not to a context: the same person sees the same certificates whatever context
the access token was issued for. NIP–PESEL links (``/testdata/person``) make the
certificates of both identifiers visible and revocable.

``CertificatesBackend`` holds the state and the operations on issued
certificates. The mock CA (``authority.py``) and the enrollments with their CSR
checks and lazy decisions (``enrollments.py``) are mixins in modules of their
own, because the project splits a backend by entity before it passes ~500 lines.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mockksef import violations
from mockksef.clock import format_datetime, parse_datetime
from mockksef.errors import Forbidden, InvalidInputData, KsefError
from mockksef.models import Principal, SubjectIdentifier
from mockksef.services.certificates.authority import AuthorityMixin
from mockksef.services.certificates.enrollments import (
    DN_FIELDS as DN_FIELDS,  # re-exported: tests build CSR subjects from it
)
from mockksef.services.certificates.enrollments import EnrollmentsMixin
from mockksef.services.certificates.models import (
    ACTIVE,
    Enrollment,
    IssuedCertificate,
)

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState


def _normalize(subject: SubjectIdentifier) -> SubjectIdentifier:
    if subject.type == "Fingerprint":
        return SubjectIdentifier(subject.type, subject.value.upper())
    return subject


class CertificatesBackend(AuthorityMixin, EnrollmentsMixin):
    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self._lock = threading.RLock()
        self._ca_key: ec.EllipticCurvePrivateKey | None = None
        self._ca_cert: x509.Certificate | None = None
        self.certificates: dict[str, IssuedCertificate] = {}
        self.enrollments: dict[str, Enrollment] = {}

    def find_issued(self, cert: x509.Certificate) -> IssuedCertificate | None:
        """The registry entry of a KSeF certificate this environment issued (exact DER match)."""
        self._settle(self.env.clock.now())
        record = self.certificates.get(format(cert.serial_number, "016X"))
        if record is None or record.der != cert.public_bytes(serialization.Encoding.DER):
            return None
        return record

    def get(self, serial_number: str) -> IssuedCertificate | None:
        self._settle(self.env.clock.now())
        return self.certificates.get(serial_number.upper())

    def mark_used(self, serial_number: str, now: datetime) -> None:
        """Record a successful authentication (``lastUseDate`` in ``/certificates/query``)."""
        record = self.certificates.get(serial_number.upper())
        if record is not None:
            record.last_use_date = now

    def set_blocked(self, serial_number: str, blocked: bool = True) -> None:
        """Put a certificate in the transitional ``Blocked`` status (scenarios, tests)."""
        record = self.certificates.get(serial_number.upper())
        if record is None:
            raise KeyError(serial_number)
        record.blocked = blocked

    def import_certificate(
        self,
        owner: SubjectIdentifier,
        csr: x509.CertificateSigningRequest,
        *,
        name: str,
        certificate_type: str = "Authentication",
        valid_from: datetime,
        valid_to: datetime | None = None,
        revoked_at: datetime | None = None,
        revocation_reason: str = "Unspecified",
    ) -> IssuedCertificate:
        """Seeding verb (scenario setup): the mock CA signs ``csr`` for ``owner`` at ``valid_from``.

        The result is what a decided enrollment leaves behind (an enrollment with
        status 200 and the certificate, valid two years from ``valid_from``),
        without the enrollment checks and limits. ``valid_from`` may lie in the
        past, e.g. for an already expired certificate. An earlier ``valid_to``
        ends it in the registry as ``PUT /testdata/certificates`` would (the DER
        keeps its two years); ``revoked_at`` revokes it as ``revoke`` would.
        """
        public_key_der = csr.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        with self._lock:
            enrollment = Enrollment(
                reference_number=self.env.rng.reference_number("EH", valid_from),
                owner=_normalize(owner),
                name=name,
                certificate_type=certificate_type,
                subject=csr.subject,
                public_key_der=public_key_der,
                csr=csr,
                requested_valid_from=None,
                request_date=valid_from,
                ready_at=valid_from,
                status_code=200,
                sequence=len(self.enrollments),
            )
            record = self._issue(enrollment, valid_from)
            if valid_to is not None and valid_to < record.valid_to:
                record.valid_to = valid_to
            if revoked_at is not None:
                record.revoked_at = revoked_at
                record.revocation_reason = revocation_reason
            enrollment.certificate_serial_number = record.serial_number
            self.enrollments[enrollment.reference_number] = enrollment
            self.certificates[record.serial_number] = record
        return record

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _serial_int(hex16: str) -> int:
        # X.509 serials must be positive; an all-zero draw is practically impossible but cheap to avoid.
        return int(hex16, 16) or 1

    def _new_serial(self) -> str:
        while True:
            serial = self.env.rng.hex(16)
            if int(serial, 16) and serial not in self.certificates:
                return serial

    def _owner(self, principal: Principal) -> SubjectIdentifier:
        assert principal.subject is not None, "access tokens always carry a subject"
        return _normalize(principal.subject)

    def _linked_owners(self, owner: SubjectIdentifier) -> set[SubjectIdentifier]:
        """``owner`` plus a NIP–PESEL linked identifier, in the form certificates are owned by."""
        return {_normalize(s) for s in self.env.subjects.linked_identifiers(owner)}

    def _visible_to(self, principal: Principal) -> set[SubjectIdentifier]:
        """The caller's identifiers: itself plus a NIP–PESEL linked one."""
        return self._linked_owners(self._owner(principal))

    def _active_count(self, owner: SubjectIdentifier, when: datetime) -> int:
        return sum(
            1
            for c in self.certificates.values()
            if c.owner == owner and c.status_at(when) == ACTIVE
        )

    def _enrollment_count(self, owner: SubjectIdentifier) -> int:
        return sum(1 for e in self.enrollments.values() if e.owner == owner)

    # -- GET /certificates/limits ---------------------------------------------------------

    def limits(self, principal: Principal, now: datetime) -> dict[str, Any]:
        """Remaining enrollments and certificate slots of the authenticated subject.

        Simplification: every enrollment ever filed by the subject counts against
        ``maxEnrollments`` (the real counting period is not documented); only
        ``Active`` certificates count against ``maxCertificates``.
        """
        self._settle(now)
        owner = self._owner(principal)
        limits = self.env.limits.certificate_limits(owner)
        enrollments_left = max(0, limits.max_enrollments - self._enrollment_count(owner))
        certificates_left = max(0, limits.max_certificates - self._active_count(owner, now))
        return {
            "canRequest": enrollments_left > 0 and certificates_left > 0,
            "enrollment": {"remaining": enrollments_left, "limit": limits.max_enrollments},
            "certificate": {"remaining": certificates_left, "limit": limits.max_certificates},
        }

    # -- POST /certificates/retrieve ----------------------------------------------------------------

    def retrieve(
        self, principal: Principal, serial_numbers: Iterable[str], now: datetime
    ) -> dict[str, Any]:
        """The caller's certificates with these serial numbers, Base64 DER.

        Serial numbers that are unknown or belong to another subject are left out
        of the answer (no error is documented for them).
        """
        self._settle(now)
        mine = self._visible_to(principal)
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        for serial in serial_numbers:
            record = self.certificates.get(serial.upper())
            if record is None or record.owner not in mine or record.serial_number in seen:
                continue
            seen.add(record.serial_number)
            items.append(
                {
                    "certificate": base64.b64encode(record.der).decode("ascii"),
                    "certificateName": record.name,
                    "certificateSerialNumber": record.serial_number,
                    "certificateType": record.certificate_type,
                }
            )
        return {"certificates": items}

    # -- POST /certificates/{certificateSerialNumber}/revoke ---------------------------------------

    def revoke(
        self, principal: Principal, serial_number: str, reason: str | None, now: datetime
    ) -> None:
        """Revoke one of the caller's own certificates at once (no ``Blocked`` phase).

        Token-authenticated callers get 403 ``auth-method-not-allowed`` (the docs
        exclude them but document no 400 code for it).
        """
        if principal.by_token:
            raise Forbidden("auth-method-not-allowed")
        self._settle(now)
        record = self.certificates.get(serial_number.upper())
        if record is None or record.owner not in self._visible_to(principal):
            raise KsefError(25008)
        if record.status_at(now) != ACTIVE:
            raise KsefError(25009)
        record.revoked_at = now
        record.revocation_reason = reason or "Unspecified"

    # -- POST /certificates/query ---------------------------------------------------------------------

    def query(
        self,
        principal: Principal,
        filters: Mapping[str, Any] | None,
        page_offset: int,
        page_size: int,
        now: datetime,
    ) -> dict[str, Any]:
        """The caller's certificates, newest request first; ``pageOffset`` is a page index."""
        self._settle(now)
        filters = filters or {}
        mine = self._visible_to(principal)
        serial = filters.get("certificateSerialNumber")
        name = filters.get("name")
        type_ = filters.get("type")
        wanted_status = filters.get("status")
        expires_after = filters.get("expiresAfter")
        expires_after_dt = parse_datetime(expires_after) if isinstance(expires_after, str) else None
        matches = []
        for record in self.certificates.values():
            if record.owner not in mine:
                continue
            if serial and record.serial_number != serial.upper():
                continue
            if name and name.lower() not in record.name.lower():
                continue
            if type_ and record.certificate_type != type_:
                continue
            if wanted_status and record.status_at(now) != wanted_status:
                continue
            if expires_after_dt and not record.valid_to > expires_after_dt:
                continue
            matches.append(record)
        matches.sort(key=lambda r: r.serial_number)
        matches.sort(key=lambda r: r.request_date, reverse=True)
        start = page_offset * page_size
        page = matches[start : start + page_size]
        return {
            "certificates": [self._list_item(r, now) for r in page],
            "hasMore": len(matches) > start + page_size,
        }

    @staticmethod
    def _list_item(record: IssuedCertificate, now: datetime) -> dict[str, Any]:
        item: dict[str, Any] = {
            "certificateSerialNumber": record.serial_number,
            "name": record.name,
            "type": record.certificate_type,
            "commonName": record.common_name,
            "status": record.status_at(now),
            "subjectIdentifier": record.owner.as_json(),
            "validFrom": format_datetime(record.valid_from),
            "validTo": format_datetime(record.valid_to),
            "requestDate": format_datetime(record.request_date),
        }
        if record.last_use_date is not None:
            item["lastUseDate"] = format_datetime(record.last_use_date)
        return item

    # -- PUT /testdata/certificates/{serialNumber} ------------------------------------------------------

    def update_validity(
        self, principal: Principal, serial_number: str, valid_to: str, now: datetime
    ) -> None:
        """Shorten one of the caller's certificates (TEST only): ``validTo`` may not move later.

        The registry entry changes, not the DER the client holds: authentication
        and ``/certificates/query`` read the registry.
        """
        self._settle(now)
        record = self.certificates.get(serial_number.upper())
        if record is None or record.owner not in self._visible_to(principal):
            raise KsefError(25008)
        new_valid_to = parse_datetime(valid_to)
        if new_valid_to > record.valid_to:
            raise InvalidInputData(
                violations.service(
                    "valid_to_extended", "validTo", current=format_datetime(record.valid_to)
                )
            )
        record.valid_to = new_valid_to

    def summary(self) -> dict[str, int]:
        return {
            "certificates": len(self.certificates),
            "revoked": sum(1 for c in self.certificates.values() if c.revoked_at is not None),
            "enrollments": len(self.enrollments),
        }
