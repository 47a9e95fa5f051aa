"""Starting and deciding authentications (mixed into AuthBackend): KSeF token and XAdES.

``POST /auth/ksef-token`` and ``POST /auth/xades-signature`` run their
synchronous checks here and file an operation; ``_decide`` judges it once its
processing time has passed (KSeF token state, certificate trust and status,
blocks, deceased persons, permissions). It lives apart from ``backend.py``
because the project splits a backend by entity before it passes ~500 lines.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from mockksef import crypto, official, violations
from mockksef.errors import InvalidInputData, KsefError
from mockksef.models import ContextIdentifier, SubjectIdentifier, nip_checksum_ok
from mockksef.services.auth import xades
from mockksef.services.auth.models import (
    BAD_ENCODING,
    BAD_ENCRYPTION,
    BAD_TIME,
    BLOCKED,
    CERT_CHAIN_ERROR,
    CERT_INVALID_PERIOD,
    CERT_MALFORMED,
    CERT_REVOKED,
    CERT_SUSPENDED,
    CERT_UNTRUSTED,
    CERTIFICATE_ERROR,
    DECEASED,
    NO_PERMISSIONS,
    SUCCESS,
    TOKEN_ERROR,
    AuthOperation,
    Challenge,
    Outcome,
)
from mockksef.services.certificates.keys import KSEF_TOKEN_ENCRYPTION
from mockksef.services.tokens.models import TokenAuthError

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState

_XML_MEDIA_TYPES = ("application/xml", "text/xml")
_MAX_IPS_PER_LIST = 10


class InitiationMixin:
    """The initiation and decision half of ``AuthBackend`` (it provides the state used here)."""

    env: EnvironmentState
    _lock: threading.RLock

    if TYPE_CHECKING:

        def _usable_challenge(self, value: str, now: datetime) -> Challenge: ...
        def _consume_challenge(self, challenge: Challenge) -> None: ...
        def _start(self, operation: AuthOperation, now: datetime) -> dict[str, Any]: ...

    def _new_operation(
        self,
        method: str,
        context: ContextIdentifier,
        subject: SubjectIdentifier | None,
        policy: dict[str, Any] | None,
        now: datetime,
    ) -> AuthOperation:
        return AuthOperation(
            reference_number=self.env.rng.reference_number("AU", now),
            start_date=now,
            method=method,
            context=context,
            subject=subject,
            ready_at=now + timedelta(seconds=self.env.config.auth_processing_seconds),
            operation_token_expires=now,
            authorization_policy=policy,
        )

    # -- POST /auth/ksef-token --------------------------------------------------------------

    def init_token(self, body: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Start a KSeF-token authentication.

        Synchronous: 21111 (challenge unknown, expired or used), 21470 (publicKeyId
        unknown or withdrawn), 21405 (more than 10 addresses in an IP list). The
        token itself is judged asynchronously (status 450 and its details).
        """
        ctx = body["contextIdentifier"]
        context = ContextIdentifier(ctx["type"], ctx["value"])
        policy = self._policy(body.get("authorizationPolicy"))
        with self._lock:
            challenge = self._usable_challenge(body["challenge"], now)
            private_key = self.env.public_keys.private_key_for(
                KSEF_TOKEN_ENCRYPTION, body.get("publicKeyId")
            )
            self._consume_challenge(challenge)
        token_string, error = self._decrypt(private_key, body["encryptedToken"], challenge)
        operation = self._new_operation("Token", context, None, policy, now)
        operation.token_string, operation.token_error = token_string, error
        return self._start(operation, now)

    @staticmethod
    def _decrypt(
        private_key: Any, encrypted: str, challenge: Challenge
    ) -> tuple[str | None, str | None]:
        """``token|timestampMs`` (split on the last ``|``) or the 450 detail of what is wrong."""
        try:
            plaintext = crypto.rsa_oaep_decrypt(
                private_key, base64.b64decode(encrypted, validate=True)
            )
        except (ValueError, binascii.Error):
            return None, BAD_ENCRYPTION
        try:
            text = plaintext.decode("utf-8")
        except UnicodeDecodeError:
            return None, BAD_ENCODING
        token, separator, stamp = text.rpartition("|")
        if not separator or not token or not stamp.isascii() or not stamp.isdigit():
            return None, BAD_ENCODING
        if int(stamp) != challenge.timestamp_ms:
            return None, BAD_TIME
        return token, None

    @staticmethod
    def _policy(policy: dict[str, Any] | None) -> dict[str, Any] | None:
        if not policy:
            return None
        allowed = policy.get("allowedIps") or {}
        for key in ("ip4Addresses", "ip4Ranges", "ip4Masks"):
            values = allowed.get(key) or []
            if len(values) > _MAX_IPS_PER_LIST:
                raise InvalidInputData(
                    violations.service(
                        "too_many_items",
                        f"authorizationPolicy.allowedIps.{key}",
                        limit=_MAX_IPS_PER_LIST,
                    )
                )
        for index, text in enumerate(allowed.get("ip4Ranges") or []):
            low, _, high = str(text).partition("-")
            refused = InvalidInputData(
                violations.bad_format(f"authorizationPolicy.allowedIps.ip4Ranges[{index}]")
            )
            try:
                first, last = ipaddress.ip_address(low), ipaddress.ip_address(high)
            except ValueError as exc:
                raise refused from exc
            if first.version != last.version or int(first) > int(last):
                raise refused
        # Unknown members are ignored, as the real JSON binder does.
        lists = {
            k: list(allowed[k]) for k in ("ip4Addresses", "ip4Ranges", "ip4Masks") if allowed.get(k)
        }
        # Empty lists restrict nothing: such a policy is no policy.
        return {"allowedIps": lists} if lists else None

    # -- POST /auth/xades-signature -----------------------------------------------------------

    def _schemas(self) -> dict[str, etree.XMLSchema]:
        source = self.env.root.spec.source
        directory = Path(source).parent if source else official.locate(self.env.config.official_dir)
        return xades.schemas(directory)

    def init_xades(
        self, raw: bytes, content_type: str | None, verify_chain: bool | None, now: datetime
    ) -> dict[str, Any]:
        """Start a XAdES authentication (synchronous checks in reference A §2.5 order).

        Simplification: a missing Content-Type is tolerated; any non-XML one is 21001.
        """
        media = (content_type or "").split(";", 1)[0].strip().lower()
        if media and media not in _XML_MEDIA_TYPES and not media.endswith("+xml"):
            raise KsefError(
                21001, f"Nieobsługiwany typ treści '{media}'; oczekiwano application/xml."
            )
        request = xades.read_signed_request(raw, self._schemas())
        with self._lock:
            challenge = self._usable_challenge(request.challenge, now)
        certificate = request.certificate
        identity = xades.certificate_identity(certificate)
        internal = self.env.certificates.issued_by_ca(certificate)
        issued = self.env.certificates.find_issued(certificate) if internal else None
        if request.subject_identifier_type == "certificateSubject":
            if identity.malformed:
                raise KsefError(
                    21115, "Certyfikat nie zawiera poprawnego identyfikatora podmiotu (NIP/PESEL)."
                )
            subject = identity.subject or (issued.owner if issued else None)
        else:
            subject = SubjectIdentifier("Fingerprint", identity.fingerprint)
        self._check_context(request.context)
        if subject is None:
            raise KsefError(
                21406,
                "Certyfikat nie zawiera identyfikatora NIP ani PESEL wymaganego dla certificateSubject.",
            )
        policy = self._policy(request.authorization_policy)
        with self._lock:
            # Re-checked under the lock: two requests may race for one challenge.
            self._consume_challenge(self._usable_challenge(challenge.value, now))
        method = (
            "InternalCertificate"
            if internal
            else "PeppolSignature"
            if identity.subject is not None and identity.subject.type == "PeppolId"
            else "QualifiedSeal"
            if identity.seal
            else "QualifiedSignature"
        )
        operation = self._new_operation(method, request.context, subject, policy, now)
        operation.certificate = certificate
        operation.subject_details = identity.details
        operation.verify_chain = bool(verify_chain)
        operation.internal_serial = issued.serial_number if issued else None
        operation.document_hash = crypto.sha256_b64(raw)
        return self._start(operation, now)

    def _check_context(self, context: ContextIdentifier) -> None:
        """21117: the value does not fit its type (checksums only where the environment checks them)."""
        if not context.is_valid():
            raise KsefError(
                21117,
                f"Wartość {context.value} nie jest poprawnym identyfikatorem typu {context.type}.",
            )
        nip = context.nip
        if self.env.profile.validates_nip_checksums and nip and not nip_checksum_ok(nip):
            raise KsefError(21117, f"Numer NIP {nip} ma nieprawidłową sumę kontrolną.")

    # -- the decision, once the processing time has passed ------------------------------------

    def _decide(self, operation: AuthOperation, now: datetime) -> Outcome:
        if operation.method == "Token":
            return self._decide_token(operation, now)
        problem = self._certificate_problem(operation, now)
        if problem:
            return Outcome.of(CERTIFICATE_ERROR, problem)
        assert operation.subject is not None
        refused = self._refused(operation.subject, operation.context)
        if refused:
            return refused
        if not self.env.permissions.resolve(operation.subject, operation.context):
            return Outcome.of(NO_PERMISSIONS)
        if operation.internal_serial:
            self.env.certificates.mark_used(operation.internal_serial, now)
        provider = SubjectIdentifier("PeppolId", operation.context.value)
        if operation.context.type == "PeppolId" and operation.subject == provider:
            # A provider is registered by its first authentication in its own context
            # (java PeppolInvoiceIntegrationTest, csharp PeppolPefE2ETests), named by O.
            self.env.peppol.ensure_provider(
                operation.context.value, operation.subject_details.get("OrganizationName"), now
            )
        return Outcome.of(SUCCESS)

    def _decide_token(self, operation: AuthOperation, now: datetime) -> Outcome:
        if operation.token_error or operation.token_string is None:
            return Outcome.of(TOKEN_ERROR, operation.token_error or BAD_ENCODING)
        tokens = self.env.tokens
        try:
            token = tokens.authenticate(operation.token_string, operation.context)
        except TokenAuthError as error:
            return Outcome.of(TOKEN_ERROR, error.detail)
        operation.subject = token.author
        operation.ksef_token_reference = token.reference_number
        refused = self._refused(token.author, operation.context)
        if refused:
            return refused
        if not tokens.token_permissions(token):
            return Outcome.of(NO_PERMISSIONS)
        tokens.mark_used(token.reference_number, now)
        return Outcome.of(SUCCESS)

    def _refused(self, subject: SubjectIdentifier, context: ContextIdentifier) -> Outcome | None:
        if self.env.subjects.is_blocked(context):
            return Outcome.of(BLOCKED)
        if self.env.subjects.is_deceased(subject):
            return Outcome.of(DECEASED)
        return None

    def _certificate_problem(self, operation: AuthOperation, now: datetime) -> str | None:
        """The 460 detail for the signer certificate, or None when it is trusted and valid."""
        certificate = operation.certificate
        assert certificate is not None
        if operation.method == "InternalCertificate":
            issued = self.env.certificates.find_issued(certificate)
            if issued is None or issued.certificate_type != "Authentication":
                return CERT_MALFORMED
            state = issued.status_at(now)
            if state == "Revoked":
                return CERT_REVOKED
            if state == "Blocked":
                return CERT_SUSPENDED
            if state == "Expired" or not issued.is_valid_at(now):
                return CERT_INVALID_PERIOD
            return None
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            return CERT_INVALID_PERIOD
        if operation.verify_chain or not self.env.profile.accepts_self_signed:
            # No trust store of qualified CAs: a self-signed certificate is an
            # untrusted root, anything else a chain that cannot be built.
            return CERT_UNTRUSTED if certificate.issuer == certificate.subject else CERT_CHAIN_ERROR
        return None
