"""State and rules of the certificates area: the mock KSeF CA, enrollments, certificates.

Each environment has its own mock KSeF certification authority, created lazily
on first use. Certificates it issues authenticate through XAdES on every
environment (``authenticationMethod`` ``InternalCertificate``); the auth area
asks ``find_issued`` / ``issued_by_ca`` about a presented certificate.

Certificates belong to the authenticated *subject* (NIP, PESEL or fingerprint),
not to a context: the same person sees the same certificates whatever context
the access token was issued for. NIP–PESEL links (``/testdata/person``) make the
certificates of both identifiers visible and revocable.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID

from mockksef.clock import format_datetime, parse_datetime
from mockksef.errors import Forbidden, Gone, InvalidInputData, KsefError
from mockksef.models import Principal, SubjectIdentifier, status
from mockksef.services.certificates.models import (
    ACTIVE,
    ENROLLMENT_STATUS,
    REJECT_KEY_TAKEN,
    REJECT_LIMIT,
    Enrollment,
    IssuedCertificate,
)

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState

ENROLLMENT_RETENTION = timedelta(days=30)
CA_VALIDITY = timedelta(days=30 * 365)

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


def _normalize(subject: SubjectIdentifier) -> SubjectIdentifier:
    if subject.type == "Fingerprint":
        return SubjectIdentifier(subject.type, subject.value.upper())
    return subject


def _add_years(when: datetime, years: int) -> datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February
        return when.replace(year=when.year + years, day=28)


def _attribute_text(value: str | bytes) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


class CertificatesBackend:
    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self._lock = threading.RLock()
        self._ca_key: ec.EllipticCurvePrivateKey | None = None
        self._ca_cert: x509.Certificate | None = None
        self.certificates: dict[str, IssuedCertificate] = {}
        self.enrollments: dict[str, Enrollment] = {}

    # -- the mock KSeF CA (used by auth) ---------------------------------------------

    def _ensure_ca(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        with self._lock:
            if self._ca_key is None or self._ca_cert is None:
                now = self.env.clock.now()
                key = ec.generate_private_key(ec.SECP256R1())
                name = x509.Name(
                    [
                        x509.NameAttribute(
                            NameOID.COMMON_NAME, f"KSeF mock CA {self.env.env.value.upper()}"
                        )
                    ]
                )
                ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
                cert = (
                    x509.CertificateBuilder()
                    .subject_name(name)
                    .issuer_name(name)
                    .public_key(key.public_key())
                    .serial_number(self._serial_int(self.env.rng.hex(16)))
                    # A day of slack so that certificates issued "now" lie inside the CA's validity.
                    .not_valid_before(now - timedelta(days=1))
                    .not_valid_after(now + CA_VALIDITY)
                    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                    .add_extension(
                        x509.KeyUsage(
                            digital_signature=True,
                            content_commitment=False,
                            key_encipherment=False,
                            data_encipherment=False,
                            key_agreement=False,
                            key_cert_sign=True,
                            crl_sign=True,
                            encipher_only=False,
                            decipher_only=False,
                        ),
                        critical=True,
                    )
                    .add_extension(ski, critical=False)
                    .sign(key, hashes.SHA256())
                )
                self._ca_key, self._ca_cert = key, cert
            return self._ca_key, self._ca_cert

    @property
    def ca_certificate(self) -> x509.Certificate:
        """This environment's mock KSeF CA certificate (self-signed, "CN=KSeF mock CA <ENV>")."""
        return self._ensure_ca()[1]

    def issued_by_ca(self, cert: x509.Certificate) -> bool:
        """True when ``cert`` names the mock CA as issuer and its signature verifies with the CA key."""
        try:
            cert.verify_directly_issued_by(self.ca_certificate)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            return False
        return True

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

    def _visible_to(self, principal: Principal) -> set[SubjectIdentifier]:
        """The caller's identifiers: itself plus a NIP–PESEL linked one."""
        owner = self._owner(principal)
        return {_normalize(s) for s in self.env.subjects.linked_identifiers(owner)}

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
        owners = {_normalize(s) for s in self.env.subjects.linked_identifiers(enrollment.owner)}
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
        public_key = enrollment.csr.public_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(enrollment.subject)
            .issuer_name(ca_cert.subject)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(self._serial_int(serial))
            .not_valid_before(valid_from)
            .not_valid_after(valid_to)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                # Authentication: digitalSignature; Offline: nonRepudiation (certyfikaty-KSeF.md).
                x509.KeyUsage(
                    digital_signature=authentication,
                    content_commitment=not authentication,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
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
                f"validTo: nowa data ważności nie może być późniejsza niż obecna ({format_datetime(record.valid_to)})."
            )
        record.valid_to = new_valid_to

    def summary(self) -> dict[str, int]:
        return {
            "certificates": len(self.certificates),
            "revoked": sum(1 for c in self.certificates.values() if c.revoked_at is not None),
            "enrollments": len(self.enrollments),
        }
