"""Certificate enrollments (mixed into CertificatesBackend): enrollment data, CSR checks, decisions.

``POST /certificates/enrollments`` only files a request; it is decided lazily,
once the environment clock passes its processing time, by ``_settle`` (which the
area's operations call before reading state), and a successful decision has the
mock CA sign the certificate. It lives apart from ``backend.py`` because the
project splits a backend by entity before it passes ~500 lines.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from mockksef import crypto
from mockksef.clock import format_datetime, parse_datetime
from mockksef.errors import Gone, KsefError
from mockksef.models import Principal, SubjectIdentifier, status
from mockksef.services.certificates.models import (
    ENROLLMENT_STATUS,
    REJECT_KEY_TAKEN,
    REJECT_LIMIT,
    Enrollment,
    IssuedCertificate,
)

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState

ENROLLMENT_RETENTION = timedelta(days=30)

# Signature algorithms the docs allow for a CSR: RSA PKCS#1 v1.5, RSA-PSS and
# ECDSA, each with SHA-1/256/384/512.
_RSA_SIGNATURES = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_SHA1,
        SignatureAlgorithmOID.RSA_WITH_SHA256,
        SignatureAlgorithmOID.RSA_WITH_SHA384,
        SignatureAlgorithmOID.RSA_WITH_SHA512,
        SignatureAlgorithmOID.RSASSA_PSS,
    }
)
_EC_SIGNATURES = frozenset(
    {
        SignatureAlgorithmOID.ECDSA_WITH_SHA1,
        SignatureAlgorithmOID.ECDSA_WITH_SHA256,
        SignatureAlgorithmOID.ECDSA_WITH_SHA384,
        SignatureAlgorithmOID.ECDSA_WITH_SHA512,
    }
)
_ALLOWED_HASHES = frozenset({"sha1", "sha256", "sha384", "sha512"})

# CertificateEnrollmentDataResponse field -> X.520 attribute.
DN_FIELDS: dict[str, x509.ObjectIdentifier] = {
    "commonName": NameOID.COMMON_NAME,
    "surname": NameOID.SURNAME,
    "givenName": NameOID.GIVEN_NAME,
    "organizationName": NameOID.ORGANIZATION_NAME,
    "organizationIdentifier": NameOID.ORGANIZATION_IDENTIFIER,
    "countryName": NameOID.COUNTRY_NAME,
    "serialNumber": NameOID.SERIAL_NUMBER,
    "uniqueIdentifier": NameOID.X500_UNIQUE_IDENTIFIER,
}
# ``sud`` claim key (as auth writes it) -> enrollment data field.
_SUD_FIELDS = {
    "commonname": "commonName",
    "countryname": "countryName",
    "surname": "surname",
    "serialnumber": "serialNumber",
    "uniqueidentifier": "uniqueIdentifier",
    "organizationname": "organizationName",
    "organizationidentifier": "organizationIdentifier",
}
_PERSONAL_METHODS = frozenset({"QualifiedSignature", "PersonalSignature", "TrustedProfile"})


@dataclass(frozen=True)
class _Csr:
    csr: x509.CertificateSigningRequest
    public_key_der: bytes


def _add_years(when: datetime, years: int) -> datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February
        return when.replace(year=when.year + years, day=28)


def _attribute_text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


class EnrollmentsMixin:
    """The enrollment half of ``CertificatesBackend`` (the backend provides the state used here)."""

    env: EnvironmentState
    _lock: threading.RLock
    certificates: dict[str, IssuedCertificate]
    enrollments: dict[str, Enrollment]

    if TYPE_CHECKING:

        def _ensure_ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]: ...
        @staticmethod
        def _serial_int(hex16: str) -> int: ...
        def _new_serial(self) -> str: ...
        def _owner(self, principal: Principal) -> SubjectIdentifier: ...
        def _linked_owners(self, owner: SubjectIdentifier) -> set[SubjectIdentifier]: ...
        def _visible_to(self, principal: Principal) -> set[SubjectIdentifier]: ...
        def _active_count(self, owner: SubjectIdentifier, when: datetime) -> int: ...
        def _enrollment_count(self, owner: SubjectIdentifier) -> int: ...

    # -- GET /certificates/enrollments/data --------------------------------------------------

    def enrollment_data(self, principal: Principal) -> dict[str, str]:
        """The DN attributes a CSR must carry, read from the certificate used to authenticate.

        Token-authenticated callers get 25001. The data come from the ``sud`` claim
        auth writes; when it holds no certificate attributes (e.g. a token minted
        for tests) they are derived from the subject identifier in the same
        ``VATPL-``/``TINPL-``/``PNOPL-`` forms a certificate would carry, so that
        the issued certificate maps back to the same subject.
        """
        if principal.by_token:
            raise KsefError(25001)
        return self._enrollment_attributes(principal)

    def _enrollment_attributes(self, principal: Principal) -> dict[str, str]:
        owner = self._owner(principal)
        sud = principal.claims.get("sud")
        if isinstance(sud, str):
            try:
                sud = json.loads(sud)
            except ValueError:
                sud = None
        data: dict[str, str] = {}
        if isinstance(sud, Mapping):
            for key, value in sud.items():
                lowered = str(key).lower()
                if lowered in ("givennames", "givenname"):
                    names = value if isinstance(value, list) else [value]
                    joined = " ".join(str(n) for n in names if n)
                    if joined:
                        data["givenName"] = joined
                elif lowered in _SUD_FIELDS and value not in (None, ""):
                    data[_SUD_FIELDS[lowered]] = str(value)
        if "commonName" not in data:
            data = self._derived_attributes(owner, principal.auth_method)
        data.setdefault("countryName", "PL")
        order = list(DN_FIELDS)
        return {
            k: data[k] for k in sorted(data, key=lambda k: order.index(k) if k in order else 99)
        }

    @staticmethod
    def _derived_attributes(owner: SubjectIdentifier, auth_method: str | None) -> dict[str, str]:
        if owner.type == "Pesel":
            return {
                "commonName": owner.value,
                "countryName": "PL",
                "serialNumber": f"PNOPL-{owner.value}",
            }
        if owner.type == "Nip" and auth_method in _PERSONAL_METHODS:
            return {
                "commonName": owner.value,
                "countryName": "PL",
                "serialNumber": f"TINPL-{owner.value}",
            }
        if owner.type == "Nip":
            return {
                "commonName": owner.value,
                "countryName": "PL",
                "organizationName": owner.value,
                "organizationIdentifier": f"VATPL-{owner.value}",
            }
        return {"commonName": owner.value, "countryName": "PL"}

    # -- POST /certificates/enrollments -------------------------------------------------------

    def enroll(
        self, principal: Principal, body: Mapping[str, Any], now: datetime
    ) -> dict[str, str]:
        """Accept a PKCS#10 request; the certificate is issued when the enrollment is decided.

        Checks in this order: auth method (25002), CSR format (25004), key type
        and size (25010: RSA exactly 2048 bits or EC P-256), signature algorithm
        (25011), CSR signature (25004), DN equal to the enrollment data (25003),
        enrollment limit (25006), active-certificate limit (25007). The real
        order of these checks is not documented.
        """
        if principal.by_token:
            raise KsefError(25002)
        self._settle(now)
        owner = self._owner(principal)
        parsed = self._parse_csr(str(body.get("csr") or ""))
        self._check_subject(parsed.csr.subject, self._enrollment_attributes(principal))
        limits = self.env.limits.certificate_limits(owner)
        if self._enrollment_count(owner) >= limits.max_enrollments:
            raise KsefError(25006)
        if self._active_count(owner, now) >= limits.max_certificates:
            raise KsefError(25007)
        valid_from = body.get("validFrom")
        delay = timedelta(seconds=max(0.0, float(self.env.config.certificate_processing_seconds)))
        reference = self.env.rng.reference_number("EH", now)
        enrollment = Enrollment(
            reference_number=reference,
            owner=owner,
            name=str(body["certificateName"]),
            certificate_type=str(body["certificateType"]),
            subject=parsed.csr.subject,
            public_key_der=parsed.public_key_der,
            csr=parsed.csr,
            requested_valid_from=parse_datetime(valid_from)
            if isinstance(valid_from, str)
            else None,
            request_date=now,
            ready_at=now + delay,
        )
        with self._lock:
            enrollment.sequence = len(self.enrollments)
            self.enrollments[reference] = enrollment
        self._settle(now)
        return {"referenceNumber": reference, "timestamp": format_datetime(now)}

    def _parse_csr(self, csr_b64: str) -> _Csr:
        try:
            der = base64.b64decode(csr_b64, validate=True)
            csr = x509.load_der_x509_csr(der)
            public_key = csr.public_key()
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KsefError(25004) from exc
        if isinstance(public_key, rsa.RSAPublicKey):
            key_ok, allowed = public_key.key_size == 2048, _RSA_SIGNATURES
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            key_ok, allowed = isinstance(public_key.curve, ec.SECP256R1), _EC_SIGNATURES
        else:
            key_ok, allowed = False, frozenset()
        if not key_ok:
            raise KsefError(25010)
        if csr.signature_algorithm_oid not in allowed:
            raise KsefError(25011)
        try:
            hash_algorithm = csr.signature_hash_algorithm
        except UnsupportedAlgorithm as exc:
            raise KsefError(25011) from exc
        if hash_algorithm is None or hash_algorithm.name not in _ALLOWED_HASHES:
            raise KsefError(25011)
        try:
            valid = csr.is_signature_valid
        except (ValueError, UnsupportedAlgorithm):
            valid = False
        if not valid:
            raise KsefError(25004)
        spki = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return _Csr(csr, spki)

    @staticmethod
    def _check_subject(subject: x509.Name, expected: Mapping[str, str]) -> None:
        """The CSR DN must carry exactly the enrollment data (any order).

        ``uniqueIdentifier`` may be left out; several ``givenName`` attributes
        are compared joined with spaces.
        """
        by_oid: dict[x509.ObjectIdentifier, list[str]] = {}
        for attribute in subject:
            by_oid.setdefault(attribute.oid, []).append(_attribute_text(attribute.value))
        known = set(DN_FIELDS.values())
        if any(oid not in known for oid in by_oid):
            raise KsefError(25003)
        for field, oid in DN_FIELDS.items():
            values = by_oid.get(oid, [])
            want = expected.get(field)
            if want is None:
                ok = not values
            elif field == "givenName":
                ok = " ".join(values) == want
            elif field == "uniqueIdentifier" and not values:
                ok = True
            else:
                ok = values == [want]
            if not ok:
                raise KsefError(25003)

    # -- the lazy decision of enrollments ------------------------------------------------------

    def _settle(self, now: datetime) -> None:
        """Decide every enrollment whose processing time has come, in order, as of its ``ready_at``."""
        with self._lock:
            due = sorted(
                (
                    e
                    for e in self.enrollments.values()
                    if e.status_code == 100 and e.ready_at <= now
                ),
                key=lambda e: (e.ready_at, e.sequence),
            )
            for enrollment in due:
                self._decide(enrollment)

    def _decide(self, enrollment: Enrollment) -> None:
        when = enrollment.ready_at
        owners = self._linked_owners(enrollment.owner)
        if any(
            c.public_key_der == enrollment.public_key_der and c.owner not in owners
            for c in self.certificates.values()
        ):
            enrollment.status_code, enrollment.status_details = 400, (REJECT_KEY_TAKEN,)
            return
        limits = self.env.limits.certificate_limits(enrollment.owner)
        if self._active_count(enrollment.owner, when) >= limits.max_certificates:
            enrollment.status_code, enrollment.status_details = 400, (REJECT_LIMIT,)
            return
        record = self._issue(enrollment, when)
        self.certificates[record.serial_number] = record
        enrollment.status_code = 200
        enrollment.certificate_serial_number = record.serial_number

    def _issue(self, enrollment: Enrollment, when: datetime) -> IssuedCertificate:
        """Sign the CSR's key and DN with the mock CA: 2 years from ``validFrom`` (or issue time).

        A requested ``validFrom`` in the past is moved to the issue time.
        """
        ca_key, ca_cert = self._ensure_ca()
        valid_from = max(enrollment.requested_valid_from or when, when)
        valid_to = _add_years(valid_from, 2)
        serial = self._new_serial()
        authentication = enrollment.certificate_type == "Authentication"
        # Authentication: digitalSignature; Offline: nonRepudiation (certyfikaty-KSeF.md).
        usage: tuple[crypto.KeyUsageName, ...] = (
            ("digital_signature",) if authentication else ("content_commitment",)
        )
        cert = crypto.issue_certificate(
            enrollment.subject,
            enrollment.csr.public_key(),
            ca_cert.subject,
            ca_key,
            valid_from,
            valid_to,
            self._serial_int(serial),
            usage=usage,
            subject_key_id=True,
            authority_key_id=True,
        )
        common_names = enrollment.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return IssuedCertificate(
            serial_number=serial,
            name=enrollment.name,
            certificate_type=enrollment.certificate_type,
            owner=enrollment.owner,
            common_name=_attribute_text(common_names[0].value) if common_names else "",
            certificate=cert,
            der=cert.public_bytes(serialization.Encoding.DER),
            valid_from=valid_from,
            valid_to=valid_to,
            request_date=enrollment.request_date,
            enrollment_reference=enrollment.reference_number,
            public_key_der=enrollment.public_key_der,
            clock=self.env.clock.now,
        )

    # -- GET /certificates/enrollments/{referenceNumber} ------------------------------------------

    def enrollment_status(
        self, principal: Principal, reference_number: str, now: datetime
    ) -> dict[str, Any]:
        """Status 100 until ``config.certificate_processing_seconds`` have passed, then 200 or 400.

        Enrollments of other subjects are reported as unknown (25005); after 30
        days the status is gone (410).
        """
        self._settle(now)
        enrollment = self.enrollments.get(reference_number)
        if enrollment is None or enrollment.owner not in self._visible_to(principal):
            raise KsefError(25005)
        if now >= enrollment.request_date + ENROLLMENT_RETENTION:
            raise Gone()
        body: dict[str, Any] = {
            "requestDate": format_datetime(enrollment.request_date),
            "status": status(
                enrollment.status_code,
                ENROLLMENT_STATUS[enrollment.status_code],
                list(enrollment.status_details),
            ),
        }
        if enrollment.certificate_serial_number:
            body["certificateSerialNumber"] = enrollment.certificate_serial_number
        return body
