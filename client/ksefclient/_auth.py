"""Credentials, the token state and the KSeF authentication flow.

The flow (reference A §2.1) is one generator that both clients drive::

    POST /auth/challenge
    POST /auth/ksef-token  (RSA-OAEP of "token|timestampMs")   or
    POST /auth/xades-signature  (a signed AuthTokenRequest)
    GET  /auth/{referenceNumber}   until the status is not 100
    POST /auth/token/redeem        once: access + refresh token

A challenge is single-use and redeem works once, so a failure whose outcome is
unknown (lost answer, 5xx, 429) restarts the sequence from a fresh challenge
instead of repeating a step. ``21470`` (the Ministry key rotated) re-fetches the
public keys and restarts.

Misconfigurations are refused here, before anything is sent: a KSeF 1.0 token,
a token or JWT of another context, a JWT of another environment (``iss``), a
self-signed certificate outside TEST.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.exceptions import InvalidSignature

from ksefclient import _codes
from ksefclient._crypto import KSEF_TOKEN_ENCRYPTION, encrypt_ksef_token
from ksefclient._environments import Environment, environment_of_issuer
from ksefclient._exceptions import (
    TRANSIENT_ERRORS,
    KsefAuthenticationError,
    KsefBadRequestError,
    KsefConfigurationError,
    KsefError,
    KsefUnauthorizedError,
)
from ksefclient._models import AuthenticationStatus, ContextIdentifier, TokenInfo, parse_datetime
from ksefclient._responses import parse
from ksefclient.xades import SigningCredentials, auth_token_request, sign_auth_token_request

if TYPE_CHECKING:
    from ksefclient._core import Flow, ProtocolCore

__all__ = [
    "AuthTokens",
    "CertificateCredentials",
    "Credentials",
    "KsefTokenCredentials",
    "authenticate",
    "check_context",
    "check_credentials",
    "check_environment_of_jwt",
    "jwt_claims",
    "refresh",
]

_REFERENCE = r"\d{8}-[0-9A-Z]{2}-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}"
_TOKEN_2_0 = re.compile(rf"^({_REFERENCE})\|(nip|internalId)-([0-9A-Za-z-]+)\|([0-9a-fA-F]+)$")
_HEX_ONLY = re.compile(r"^[0-9A-Fa-f]{32,128}$")


@dataclass(frozen=True)
class KsefTokenCredentials:
    """A KSeF token (``POST /tokens``): ``{reference}|nip-{nip}|{secret}``.

    The token names its context; it is checked against the configured one.
    KSeF 1.0 tokens (a bare hex string) were not migrated to KSeF 2.0 and are
    refused with a clear message instead of a puzzling status 450.
    """

    token: str = field(repr=False)

    def __post_init__(self) -> None:
        token = self.token.strip()
        if _HEX_ONLY.match(token) or "|" not in token:
            raise KsefConfigurationError(
                "this looks like a KSeF 1.0 authorisation token; KSeF 2.0 does not accept "
                "them (they were not migrated). Generate a KSeF 2.0 token (POST /tokens, "
                "format '20251010-EC-…|nip-<NIP>|<64 hex>') after authenticating with a "
                "certificate or trusted profile."
            )
        if not _TOKEN_2_0.match(token):
            raise KsefConfigurationError(
                "not a KSeF 2.0 token: expected '<reference number>|nip-<NIP>|<secret>' "
                "(or internalId-<id>) exactly as POST /tokens returned it"
            )
        object.__setattr__(self, "token", token)

    @property
    def reference_number(self) -> str:
        return self.token.split("|", 1)[0]

    @property
    def context(self) -> ContextIdentifier:
        match = _TOKEN_2_0.match(self.token)
        assert match is not None  # checked in __post_init__
        kind = "Nip" if match.group(2) == "nip" else "InternalId"
        return ContextIdentifier(kind, match.group(3))

    def __repr__(self) -> str:
        return f"KsefTokenCredentials({self.reference_number}|…)"


@dataclass(frozen=True)
class CertificateCredentials:
    """A certificate and its key for XAdES authentication.

    ``subject_identifier_type``: ``certificateSubject`` (identity = the NIP/PESEL
    in the certificate) or ``certificateFingerprint``. ``verify_certificate_chain``
    is sent as the query parameter of the same name when set (TEST only).
    """

    signing: SigningCredentials = field(repr=False)
    subject_identifier_type: str = "certificateSubject"
    verify_certificate_chain: bool | None = None

    @classmethod
    def from_pem(
        cls, certificate: bytes, private_key: bytes, password: bytes | None = None, **kwargs: Any
    ) -> CertificateCredentials:
        try:
            signing = SigningCredentials.from_pem(certificate, private_key, password)
        except (ValueError, TypeError) as exc:
            raise KsefConfigurationError(f"cannot load the PEM certificate/key: {exc}") from exc
        return cls(signing, **kwargs)

    @classmethod
    def from_pkcs12(
        cls, data: bytes, password: bytes | None = None, **kwargs: Any
    ) -> CertificateCredentials:
        try:
            signing = SigningCredentials.from_pkcs12(data, password)
        except (ValueError, TypeError) as exc:
            raise KsefConfigurationError(f"cannot load the PKCS#12 file: {exc}") from exc
        return cls(signing, **kwargs)

    @classmethod
    def from_files(
        cls,
        certificate: str | Path,
        private_key: str | Path | None = None,
        password: bytes | str | None = None,
        **kwargs: Any,
    ) -> CertificateCredentials:
        """PEM certificate + PEM key, or one PKCS#12 file (``.p12``/``.pfx``)."""
        secret = password.encode() if isinstance(password, str) else password
        data = Path(certificate).read_bytes()
        if private_key is None:
            return cls.from_pkcs12(data, secret, **kwargs)
        return cls.from_pem(data, Path(private_key).read_bytes(), secret, **kwargs)

    @property
    def is_self_signed(self) -> bool:
        cert = self.signing.certificate
        if cert.issuer != cert.subject:
            return False
        try:
            cert.verify_directly_issued_by(cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True


Credentials = KsefTokenCredentials | CertificateCredentials


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a KSeF JWT (not verified: only KSeF holds the key)."""
    return dict(_claims_of(token))


@functools.lru_cache(maxsize=64)
def _claims_of(token: str) -> dict[str, Any]:
    # Kept per token (a token never changes): the client reads its claims several
    # times a request, and PyJWT checks every character of the token each time.
    try:
        # PyJWT refuses a payload that is not a JSON object (DecodeError).
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise KsefConfigurationError(f"not a KSeF JWT: {exc}") from exc


@dataclass
class AuthTokens:
    """The tokens of one authentication: persist them with ``to_json`` to resume later."""

    access_token: TokenInfo
    refresh_token: TokenInfo | None
    reference_number: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"accessToken": self.access_token.to_json()}
        if self.refresh_token is not None:
            out["refreshToken"] = self.refresh_token.to_json()
        if self.reference_number:
            out["referenceNumber"] = self.reference_number
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuthTokens:
        refresh = data.get("refreshToken")
        return cls(
            TokenInfo.from_json(data["accessToken"]),
            TokenInfo.from_json(refresh) if refresh else None,
            data.get("referenceNumber"),
        )

    @property
    def claims(self) -> dict[str, Any]:
        return jwt_claims(self.access_token.token)

    @property
    def context(self) -> ContextIdentifier | None:
        claims = self.claims
        if claims.get("cit") and claims.get("civ"):
            return ContextIdentifier(str(claims["cit"]), str(claims["civ"]))
        return None

    @property
    def permissions(self) -> tuple[str, ...]:
        raw = self.claims.get("per")
        try:
            values = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return ()
        return tuple(v for v in values or () if isinstance(v, str))


def check_environment_of_jwt(token: str, environment: Environment) -> None:
    """Refuse a JWT that KSeF issued in another environment (``iss``), where it can tell."""
    issuer = jwt_claims(token).get("iss")
    origin = environment_of_issuer(issuer if isinstance(issuer, str) else None)
    if origin is None or not environment.jwt_issuers or origin.name == environment.name:
        return
    raise KsefConfigurationError(
        f"this token was issued by KSeF {origin.name.upper()} (iss={issuer!r}) but the client "
        f"talks to {environment.name.upper()}; environments never share tokens — "
        "authenticate against the right environment"
    )


def check_context(
    found: ContextIdentifier | None, configured: ContextIdentifier, what: str
) -> None:
    if found is not None and found != configured:
        raise KsefConfigurationError(
            f"{what} belongs to context {found.type} {found.value}, but the client is "
            f"configured for {configured.type} {configured.value}; a credential must never be "
            "used for another context's data"
        )


def check_credentials(
    credentials: Credentials | None, context: ContextIdentifier, environment: Environment
) -> None:
    """Early refusal of credentials that cannot work for this context and environment."""
    if isinstance(credentials, KsefTokenCredentials):
        check_context(credentials.context, context, "the KSeF token")
    elif isinstance(credentials, CertificateCredentials):
        if credentials.is_self_signed and environment.accepts_self_signed is False:
            raise KsefConfigurationError(
                f"a self-signed certificate cannot authenticate on {environment.name.upper()}: "
                "only TEST accepts them. Use a qualified certificate or seal, or a KSeF "
                "certificate issued in this environment"
            )


# -- the flow -----------------------------------------------------------------------------


# Transient failures, and a 401: the operation token died under us (e.g. a data
# reset). Both restart the sequence within the retry budget.
_RESTARTING: tuple[type[KsefError], ...] = (*TRANSIENT_ERRORS, KsefUnauthorizedError)


def authenticate(core: ProtocolCore) -> Flow[AuthTokens]:
    """Challenge → init → poll → redeem; restarts from a fresh challenge on transient failures."""
    credentials = core.credentials
    if credentials is None:
        raise KsefConfigurationError(
            "no credentials: pass credentials=KsefTokenCredentials(...) or "
            "CertificateCredentials(...), or resume saved tokens with client.resume(...)"
        )
    budget = core.budget()
    # Restarts for answers that a fresh start heals (not transient, so not in the budget).
    restarts = 2
    while True:
        try:
            return (yield from _attempt(core, credentials))
        except _RESTARTING as error:
            yield from core.wait_or_raise(budget, error)
        except KsefBadRequestError as error:
            # 21470: the Ministry key rotated under us; 21111: the challenge went stale
            # while we waited; 21301 at redeem: the operation was revoked meanwhile.
            if not any(error.has(c) for c in (21470, 21111, 21301)) or restarts == 0:
                raise
            restarts -= 1
            core.keys.invalidate(_rejected_key(error))
        except KsefAuthenticationError as error:
            # 425: the new authentication was revoked before we redeemed it (sessions
            # revoked wholesale); the credentials are fine, so one more try.
            if error.code != 425 or restarts == 0:
                raise
            restarts -= 1


def _rejected_key(error: KsefBadRequestError) -> str | None:
    for detail in error.errors:
        for text in detail.details:
            match = re.search(r"identyfikatorze (\S+) ", text)
            if match:
                return match.group(1)
    return None


def _attempt(core: ProtocolCore, credentials: Credentials) -> Flow[AuthTokens]:
    challenge = yield from core.json_call(
        "POST", "/auth/challenge", auth=None, replay=True, expected=(200,)
    )
    core.observe_server_time(parse(parse_datetime, challenge["timestamp"]))
    value = str(challenge["challenge"])
    if isinstance(credentials, KsefTokenCredentials):
        certificate = yield from core.public_key(KSEF_TOKEN_ENCRYPTION)
        body: dict[str, Any] = {
            "challenge": value,
            "contextIdentifier": core.context.to_json(),
            "encryptedToken": encrypt_ksef_token(
                certificate.public_key(), credentials.token, int(challenge["timestampMs"])
            ),
            "publicKeyId": certificate.public_key_id,
        }
        init = yield from core.json_call(
            "POST", "/auth/ksef-token", auth=None, json=body, replay=False, expected=(202,)
        )
    else:
        # Date the signature by KSeF's clock (the challenge timestamp): immune to local skew.
        server_now = parse(parse_datetime, challenge["timestamp"])
        document = auth_token_request(
            value,
            core.context.type,
            core.context.value,
            subject_identifier_type=credentials.subject_identifier_type,
        )
        signed = sign_auth_token_request(document, credentials.signing, signing_time=server_now)
        params = {}
        if credentials.verify_certificate_chain is not None:
            params["verifyCertificateChain"] = str(credentials.verify_certificate_chain).lower()
        init = yield from core.json_call(
            "POST",
            "/auth/xades-signature",
            auth=None,
            content=signed,
            headers={"Content-Type": "application/xml"},
            params=params,
            replay=False,
            expected=(202,),
        )
    reference = str(init["referenceNumber"])
    operation_token = str(init["authenticationToken"]["token"])
    status = yield from core.poll(
        lambda: _status(core, reference, operation_token),
        lambda s: s.status.code != 100,
        what=f"authentication {reference}",
        reference_number=reference,
    )
    if status.status.code != 200:
        what = f"authentication {reference}"
        raise status.status.error(KsefAuthenticationError, what, _codes.AUTH_STATUSES, reference)
    redeemed = yield from core.json_call(
        "POST",
        "/auth/token/redeem",
        auth=None,
        bearer=operation_token,
        replay=False,
        expected=(200,),
    )
    tokens = AuthTokens(
        TokenInfo.from_json(redeemed["accessToken"]),
        TokenInfo.from_json(redeemed["refreshToken"]),
        reference,
    )
    check_environment_of_jwt(tokens.access_token.token, core.environment)
    check_context(tokens.context, core.context, "the access token KSeF issued")
    return tokens


def _status(core: ProtocolCore, reference: str, operation_token: str) -> Flow[AuthenticationStatus]:
    data = yield from core.json_call(
        "GET", f"/auth/{reference}", auth=None, bearer=operation_token, expected=(200,)
    )
    return parse(AuthenticationStatus.from_json, data)


def refresh(core: ProtocolCore, tokens: AuthTokens) -> Flow[AuthTokens]:
    """``POST /auth/token/refresh``: a new access token; the refresh token stays."""
    assert tokens.refresh_token is not None
    data = yield from core.json_call(
        "POST",
        "/auth/token/refresh",
        auth=None,
        bearer=tokens.refresh_token.token,
        replay=True,
        expected=(200,),
    )
    access = TokenInfo.from_json(data["accessToken"])
    check_environment_of_jwt(access.token, core.environment)
    return AuthTokens(access, tokens.refresh_token, tokens.reference_number)
