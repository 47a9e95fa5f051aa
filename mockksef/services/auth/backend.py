"""State and rules of the auth area.

One ``AuthBackend`` per environment holds the challenges and the authentication
operations (an operation that succeeded and was redeemed is an "authentication
session"). Everything is evaluated lazily against the environment clock:

* a challenge lives 10 minutes and is consumed by the first authentication that
  names it;
* an operation stays at status 100 for ``config.auth_processing_seconds`` and is
  then decided once, from the state at that moment (KSeF token state,
  certificate trust and status, blocks, deceased persons, permissions);
* ``GET /auth/{ref}`` answers for 7 days, then 410 Gone.

The auth-session operations (list, revoke) live in ``sessions.py``.

JWTs come only from ``env.jwt`` (per-environment secret, so a DEMO token is a
401 on TEST and a data reset kills every earlier token). Claims of access tokens
come from ``security.access_claims``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from mockksef import crypto, official
from mockksef.clock import format_datetime, to_millis
from mockksef.errors import Forbidden, Gone, InvalidInputData, KsefError
from mockksef.http.security import access_claims
from mockksef.models import (
    AUTH_METHOD_INFO,
    OPERATION_TOKEN,
    REFRESH_TOKEN,
    ContextIdentifier,
    Principal,
    SubjectIdentifier,
    nip_checksum_ok,
)
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
    CHALLENGE_LIFETIME,
    DECEASED,
    IN_PROGRESS,
    NO_PERMISSIONS,
    OPERATION_RETENTION,
    REVOKED,
    SUCCESS,
    TOKEN_ERROR,
    AuthOperation,
    Challenge,
    Outcome,
)
from mockksef.services.auth.sessions import SessionsMixin, not_found
from mockksef.services.certificates.keys import KSEF_TOKEN_ENCRYPTION
from mockksef.services.tokens.models import TokenAuthError

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState

_XML_MEDIA_TYPES = ("application/xml", "text/xml")
_MAX_IPS_PER_LIST = 10


def _not_authorized(detail: str) -> KsefError:
    return KsefError(21301, detail)


class AuthBackend(SessionsMixin):
    """Challenges, KSeF-token and XAdES authentication, JWTs and auth sessions.

    Simplifications (moto-style): certificate revocation (OCSP/CRL) is known
    only for certificates issued by the environment's mock KSeF CA; any other
    certificate is "trusted" on TEST unless ``verifyCertificateChain=true`` and
    untrusted on DEMO/PROD (no trust store of qualified CAs). XPath transforms
    other than the one cutting out the signature are not supported (9105).
    """

    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self._lock = threading.RLock()
        self.challenges: dict[str, Challenge] = {}
        self.operations: dict[str, AuthOperation] = {}

    # -- POST /auth/challenge -------------------------------------------------------------

    def challenge(self, client_ip: str, now: datetime) -> dict[str, Any]:
        """A single-use challenge valid 10 minutes; ``timestampMs`` is the floor of ``timestamp``."""
        with self._lock:
            for value in [v for v, c in self.challenges.items() if c.used or now >= c.expires]:
                del self.challenges[value]
            value = self.env.rng.reference_number("CR", now)
            item = Challenge(value, now, to_millis(now), client_ip, now + CHALLENGE_LIFETIME)
            self.challenges[value] = item
        return {
            "challenge": item.value,
            "timestamp": format_datetime(item.timestamp),
            "timestampMs": item.timestamp_ms,
            "clientIp": item.client_ip,
        }

    def _usable_challenge(self, value: str, now: datetime) -> Challenge:
        item = self.challenges.get(value)
        if item is None or item.used or now >= item.expires:
            raise KsefError(21111)
        return item

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
            challenge.used = True
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
                    f"authorizationPolicy.allowedIps.{key}: dozwolone jest najwyżej {_MAX_IPS_PER_LIST} pozycji."
                )
        for text in allowed.get("ip4Ranges") or []:
            low, _, high = str(text).partition("-")
            try:
                if ipaddress.ip_address(low) > ipaddress.ip_address(high):
                    raise InvalidInputData(f"Nieprawidłowy zakres adresów IP: {text}.")
            except ValueError as exc:
                raise InvalidInputData(f"Nieprawidłowy zakres adresów IP: {text}.") from exc
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
            self._usable_challenge(challenge.value, now).used = True
        method = (
            "InternalCertificate"
            if internal
            else "QualifiedSeal"
            if identity.seal
            else "QualifiedSignature"
        )
        operation = self._new_operation(method, request.context, subject, policy, now)
        operation.certificate = certificate
        operation.subject_details = identity.details
        operation.verify_chain = bool(verify_chain)
        operation.internal_serial = issued.serial_number if issued else None
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

    # -- operations ----------------------------------------------------------------------------

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

    def _start(self, operation: AuthOperation, now: datetime) -> dict[str, Any]:
        lifetime = timedelta(minutes=self.env.config.operation_token_minutes)
        claims = {"typ": OPERATION_TOKEN, "arn": operation.reference_number}
        token, valid_until = self.env.jwt.issue(claims, lifetime, now)
        operation.operation_token_expires = valid_until
        with self._lock:
            self.operations[operation.reference_number] = operation
        return {
            "referenceNumber": operation.reference_number,
            "authenticationToken": {"token": token, "validUntil": format_datetime(valid_until)},
        }

    def _settle(self, operation: AuthOperation, now: datetime) -> None:
        if operation.outcome is None and now >= operation.ready_at:
            operation.outcome = self._decide(operation, now)

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

    def _status(self, operation: AuthOperation) -> Outcome:
        if operation.revoked_at is not None:
            return Outcome.of(REVOKED)
        return operation.outcome or Outcome(IN_PROGRESS)

    def operation(self, reference_number: str, now: datetime | None = None) -> AuthOperation | None:
        """The operation with its outcome settled (admin API, other areas, tests)."""
        with self._lock:
            found = self.operations.get(reference_number)
            if found is not None:
                self._settle(found, now or self.env.clock.now())
            return found

    def set_outcome(self, reference_number: str, code: int, detail: str | None = None) -> None:
        """Scenario hook: force the outcome of an operation (e.g. 550 cancelled by the system)."""
        with self._lock:
            self.operations[reference_number].outcome = Outcome.of(code, detail)

    # -- GET /auth/{referenceNumber} -------------------------------------------------------

    def status(self, principal: Principal, reference_number: str, now: datetime) -> dict[str, Any]:
        """Status of the caller's own operation.

        Unknown reference: 400 21304. Another operation's reference (known, but not
        the one of the presented operation token): 403 ``insufficient-resource-access``.
        After 7 days: 410 Gone.
        """
        with self._lock:
            operation = self.operations.get(reference_number)
            if operation is None:
                raise not_found(reference_number)
            if principal.reference_number != reference_number:
                raise Forbidden("insufficient-resource-access")
            if now >= operation.start_date + OPERATION_RETENTION:
                raise Gone()
            self._settle(operation, now)
            return {
                "startDate": format_datetime(operation.start_date),
                "authenticationMethod": operation.method,
                "authenticationMethodInfo": dict(AUTH_METHOD_INFO[operation.method]),
                "status": self._status(operation).as_json(),
                "isTokenRedeemed": operation.redeemed,
                "lastTokenRefreshDate": _fmt(operation.last_token_refresh),
                "refreshTokenValidUntil": _fmt(operation.refresh_token_valid_until),
            }

    # -- tokens ------------------------------------------------------------------------------

    def _operation_of(self, principal: Principal) -> AuthOperation:
        operation = self.operations.get(principal.reference_number)
        if operation is None:
            raise not_found(principal.reference_number)
        return operation

    def _permissions(self, operation: AuthOperation) -> frozenset[str]:
        """Current permissions: the token's requested ones the author still holds, or resolve()."""
        assert operation.subject is not None
        if operation.ksef_token_reference:
            token = self.env.tokens.get_token(operation.ksef_token_reference)
            return self.env.tokens.token_permissions(token) if token else frozenset()
        return self.env.permissions.resolve(operation.subject, operation.context)

    def _access_token(self, operation: AuthOperation, now: datetime) -> dict[str, str]:
        assert operation.subject is not None
        claims = access_claims(
            reference_number=operation.reference_number,
            context=operation.context,
            subject=operation.subject,
            auth_method=operation.method,
            permissions=self._permissions(operation),
            ip_policy=operation.authorization_policy,
            subject_details=operation.subject_details,
            ksef_token_reference=operation.ksef_token_reference,
        )
        token, valid_until = self.env.jwt.issue(
            claims, timedelta(minutes=self.env.config.access_token_minutes), now
        )
        return {"token": token, "validUntil": format_datetime(valid_until)}

    def _check_credentials(self, operation: AuthOperation) -> None:
        if operation.ksef_token_reference and self.env.tokens.is_revoked(
            operation.ksef_token_reference
        ):
            raise _not_authorized("Token KSeF został unieważniony.")
        if operation.subject is not None and self.env.subjects.is_deceased(operation.subject):
            raise KsefError(21308)

    def redeem(self, principal: Principal, now: datetime) -> dict[str, Any]:
        """Access + refresh token, exactly once per successful operation (21301/21304/21308)."""
        with self._lock:
            operation = self._operation_of(principal)
            self._settle(operation, now)
            ref = operation.reference_number
            if operation.redeemed:
                raise _not_authorized(
                    f"Tokeny dla operacji uwierzytelniania {ref} zostały już pobrane."
                )
            code = self._status(operation).code
            if code == DECEASED:
                raise KsefError(21308)
            if code != SUCCESS:
                raise _not_authorized(
                    f"Status uwierzytelniania ({code}) nie pozwala na pobranie tokenów."
                )
            self._check_credentials(operation)
            access = self._access_token(operation, now)
            claims: dict[str, Any] = {"typ": REFRESH_TOKEN, "arn": ref}
            if operation.authorization_policy:
                # The IP policy also guards the refresh endpoint.
                claims["ipp"] = json.dumps(operation.authorization_policy, separators=(",", ":"))
            lifetime = timedelta(days=self.env.config.refresh_token_days)
            refresh, refresh_until = self.env.jwt.issue(claims, lifetime, now)
            operation.redeemed_at = now
            operation.refresh_token_valid_until = refresh_until
        return {
            "accessToken": access,
            "refreshToken": {"token": refresh, "validUntil": format_datetime(refresh_until)},
        }

    def refresh(self, principal: Principal, now: datetime) -> dict[str, Any]:
        """A new access token with the current permissions; the refresh token is not rotated."""
        with self._lock:
            operation = self._operation_of(principal)
            code = self._status(operation).code
            if code != SUCCESS:
                raise _not_authorized(
                    f"Status uwierzytelnienia ({code}) nie pozwala na odświeżenie tokenu dostępowego."
                )
            self._check_credentials(operation)
            access = self._access_token(operation, now)
            operation.last_token_refresh = now
        return {"accessToken": access}

    def summary(self) -> dict[str, int]:
        now = self.env.clock.now()
        with self._lock:
            for operation in self.operations.values():
                self._settle(operation, now)
            return {
                "challenges": sum(
                    1 for c in self.challenges.values() if not c.used and now < c.expires
                ),
                "operations": len(self.operations),
                "succeeded": sum(
                    1
                    for op in self.operations.values()
                    if op.outcome and op.outcome.code == SUCCESS
                ),
                "activeSessions": sum(
                    1 for op in self.operations.values() if self._active(op, now)
                ),
            }


def _fmt(value: datetime | None) -> str | None:
    return format_datetime(value) if value is not None else None
