"""Bearer JWT -> Principal, token-kind checks, IP policy and permission checks."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from typing import Any

from mockksef.errors import Forbidden, MissingPermissions, Unauthorized
from mockksef.jwts import InvalidJwt, JwtSigner
from mockksef.models import (
    ACCESS_TOKEN,
    OPERATION_TOKEN,
    REFRESH_TOKEN,
    ContextIdentifier,
    Principal,
    SubjectIdentifier,
)

# What each endpoint accepts (reference A §2.13).
AUTH_KINDS: dict[str, frozenset[str]] = {
    "operation": frozenset({"OperationToken"}),
    "refresh": frozenset({"RefreshToken"}),
    "access": frozenset({ACCESS_TOKEN}),
    "access_or_refresh": frozenset({ACCESS_TOKEN, "RefreshToken"}),
}


def bearer(header: str | None) -> str:
    if not header:
        raise Unauthorized()
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    return token.strip()


def _json_claim(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    context = None
    if claims.get("cit") and claims.get("civ"):
        context = ContextIdentifier(claims["cit"], claims["civ"])
    subject = None
    sud = _json_claim(claims.get("sud"))
    if isinstance(sud, dict) and isinstance(sud.get("SubjectIdentifier"), dict):
        ident = sud["SubjectIdentifier"]
        subject = SubjectIdentifier(ident.get("Type", ""), ident.get("Value", ""))
    per = _json_claim(claims.get("per")) or []
    ipp = _json_claim(claims.get("ipp"))
    return Principal(
        token_type=claims.get("typ", ""),
        reference_number=claims.get("arn", ""),
        expires_at=datetime.fromtimestamp(claims["exp"], tz=UTC),
        context=context,
        subject=subject,
        auth_method=claims.get("aum"),
        permissions=frozenset(p for p in per if isinstance(p, str)),
        ip_policy=ipp if isinstance(ipp, dict) else None,
        ksef_token_reference=claims.get("ktr"),
        claims=claims,
    )


def authenticate(header: str | None, signer: JwtSigner, kind: str) -> Principal:
    """Verify the bearer and its kind.

    Unparsable, forged, expired or foreign-environment JWTs are 401; a valid JWT
    of the wrong kind is 403 ``insufficient-resource-access`` (as the real
    system answered when an operation token was used on /tokens).
    """
    token = bearer(header)
    try:
        claims = signer.decode(token)
    except InvalidJwt as exc:
        raise Unauthorized() from exc
    principal = principal_from_claims(claims)
    if principal.token_type not in AUTH_KINDS[kind]:
        raise Forbidden("insufficient-resource-access")
    return principal


def check_permissions(principal: Principal, required_any_of: tuple[str, ...] | list[str]) -> None:
    if not required_any_of:
        return
    present = principal.effective_permissions
    if not present.intersection(required_any_of):
        raise MissingPermissions(list(required_any_of), sorted(present))


def ip_allowed(policy: dict[str, Any] | None, client_ip: str) -> bool:
    """Empty or absent lists mean no restriction."""
    if not policy:
        return True
    allowed = policy.get("allowedIps") or policy.get("AllowedIps") or policy
    addresses = allowed.get("ip4Addresses") or []
    ranges = allowed.get("ip4Ranges") or []
    masks = allowed.get("ip4Masks") or []
    if not (addresses or ranges or masks):
        return True
    try:
        ip = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for address in addresses:
        try:
            if ip == ipaddress.ip_address(address):
                return True
        except ValueError:
            continue
    for text in ranges:
        low, _, high = text.partition("-")
        try:
            first, last = ipaddress.ip_address(low), ipaddress.ip_address(high)
        except ValueError:
            continue
        # A range never spans IPv4 and IPv6 (ipaddress refuses to order them).
        if first.version == last.version == ip.version and int(first) <= int(ip) <= int(last):
            return True
    for mask in masks:
        try:
            if ip in ipaddress.ip_network(mask, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_ip(principal: Principal, client_ip: str) -> None:
    if not ip_allowed(principal.ip_policy, client_ip):
        raise Forbidden("ip-not-allowed", {"clientIp": client_ip})


# The claims of the three JWT kinds are built here and nowhere else; ``principal_from_claims``
# reads them back.


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _with_ip_policy(claims: dict[str, Any], ip_policy: dict[str, Any] | None) -> dict[str, Any]:
    # No policy, no claim: the C# PersonTokenService turns even "{}" into a policy, and
    # the real tokens leave ``ipp`` out (csharp AuthorizationE2ETests, IpPolicy null).
    if ip_policy:
        claims["ipp"] = _compact(ip_policy)
    return claims


def operation_claims(reference_number: str) -> dict[str, Any]:
    """The authentication (operation) token: its kind and the operation it names."""
    return {"typ": OPERATION_TOKEN, "arn": reference_number}


def refresh_claims(reference_number: str, ip_policy: dict[str, Any] | None) -> dict[str, Any]:
    """The refresh token, as the real one reads (reference A §2.10); the IP policy also
    guards the refresh endpoint."""
    return _with_ip_policy({"typ": REFRESH_TOKEN, "arn": reference_number}, ip_policy)


def access_claims(
    *,
    reference_number: str,
    context: ContextIdentifier,
    subject: SubjectIdentifier,
    auth_method: str,
    permissions: frozenset[str] | set[str] | list[str],
    ip_policy: dict[str, Any] | None = None,
    subject_details: dict[str, Any] | None = None,
    ksef_token_reference: str | None = None,
    token_type: str = ACCESS_TOKEN,
    token_id: str | None = None,
) -> dict[str, Any]:
    """The short-name claims of an access token, as the official C# client parses them.

    ``sud``, ``per``, ``ipp`` and friends are JSON *strings* (reference A §2.10).
    ``token_id`` becomes ``jti``: the real service hands out a new access token on every
    refresh, even within the second that ``iat`` and ``exp`` resolve to.
    """
    details = {"SubjectIdentifier": {"Type": subject.type, "Value": subject.value}}
    details.update(subject_details or {})
    claims: dict[str, Any] = {
        "typ": token_type,
        "arn": reference_number,
        "cit": context.type,
        "civ": context.value,
        "aum": auth_method,
        "sud": _compact(details),
        "per": _compact(sorted(permissions)),
        "pec": "[]",
        "rol": "[]",
        "pep": _compact(sorted(permissions)),
    }
    _with_ip_policy(claims, ip_policy)
    if ksef_token_reference:
        claims["ktr"] = ksef_token_reference
    if token_id:
        claims["jti"] = token_id
    return claims
