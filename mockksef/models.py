"""Domain value types shared by every area (no HTTP, no state)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# -- identifiers ---------------------------------------------------------------

NIP_RE = re.compile(r"^[1-9]((\d[1-9])|([1-9]\d))\d{7}$")
PESEL_RE = re.compile(
    r"^\d{2}(?:0[1-9]|1[0-2]|2[1-9]|3[0-2]|4[1-9]|5[0-2]|6[1-9]|7[0-2]|8[1-9]|9[0-2])\d{7}$"
)
INTERNAL_ID_RE = re.compile(r"^([1-9]((\d[1-9])|([1-9]\d))\d{7})-(\d{5})$")
NIP_VAT_UE_RE = re.compile(r"^([1-9]((\d[1-9])|([1-9]\d))\d{7})-([A-Z]{2}[A-Za-z0-9+*]{2,20})$")
PEPPOL_ID_RE = re.compile(r"^P[A-Z]{2}[0-9]{6}$")
FINGERPRINT_RE = re.compile(r"^[0-9A-Fa-f]{64}$")

_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)


def nip_checksum_ok(nip: str) -> bool:
    if not re.fullmatch(r"\d{10}", nip):
        return False
    total = sum(int(d) * w for d, w in zip(nip, _NIP_WEIGHTS, strict=False)) % 11
    return total != 10 and total == int(nip[9])


def pesel_checksum_ok(pesel: str) -> bool:
    if not re.fullmatch(r"\d{11}", pesel):
        return False
    total = sum(int(d) * w for d, w in zip(pesel, _PESEL_WEIGHTS, strict=False))
    return (10 - total % 10) % 10 == int(pesel[10])


def internal_id_check_digit(nip: str, unit4: str) -> int:
    digits = nip + unit4
    return sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(digits)) % 10


@dataclass(frozen=True)
class _Identifier:
    """A typed identifier as the API writes it: ``{"type": …, "value": …}``."""

    type: str
    value: str

    def as_json(self) -> dict[str, str]:
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True)
class ContextIdentifier(_Identifier):
    """The entity on whose behalf operations run: Nip, InternalId, NipVatUe, PeppolId."""

    @property
    def nip(self) -> str | None:
        """The Polish NIP the context belongs to, if any."""
        if self.type == "Nip":
            return self.value
        if self.type in ("InternalId", "NipVatUe"):
            return self.value.split("-", 1)[0]
        return None

    @property
    def token_prefix(self) -> str:
        return {
            "Nip": "nip",
            "InternalId": "internalId",
            "NipVatUe": "nipVatUe",
            "PeppolId": "peppolId",
        }[self.type]

    def is_valid(self) -> bool:
        pattern = {
            "Nip": NIP_RE,
            "InternalId": INTERNAL_ID_RE,
            "NipVatUe": NIP_VAT_UE_RE,
            "PeppolId": PEPPOL_ID_RE,
        }.get(self.type)
        return bool(pattern and pattern.match(self.value))


@dataclass(frozen=True)
class SubjectIdentifier(_Identifier):
    """Who authenticated: Nip, Pesel or Fingerprint (upper-case hex)."""

    def matches(self, type_: str, value: str) -> bool:
        if self.type != type_:
            return False
        if self.type == "Fingerprint":
            return self.value.upper() == value.upper()
        return self.value == value


# -- permissions ---------------------------------------------------------------

OWNER = "Owner"

# The Owner role holds every invoice and administrative permission except
# VatUeManage (reference A §6.2, C §2.7/§5). EnforcementOperations comes from
# entity roles (bailiff, enforcement authority), not from ownership.
OWNER_PERMISSIONS: frozenset[str] = frozenset(
    {
        "InvoiceRead",
        "InvoiceWrite",
        "CredentialsRead",
        "CredentialsManage",
        "SubunitManage",
        "Introspection",
        "CollectiveIdentifierManage",
    }
)

TOKEN_PERMISSIONS: tuple[str, ...] = (
    "InvoiceRead",
    "InvoiceWrite",
    "CredentialsRead",
    "CredentialsManage",
    "SubunitManage",
    "EnforcementOperations",
    "Introspection",
    "CollectiveIdentifierManage",
)


def effective_permissions(
    held: frozenset[str] | set[str] | list[str] | tuple[str, ...],
) -> frozenset[str]:
    """Expand the Owner role into the permissions it implies."""
    held = frozenset(held)
    return held | OWNER_PERMISSIONS if OWNER in held else held


# -- authentication methods ------------------------------------------------------

AUTH_METHOD_INFO: dict[str, dict[str, str]] = {
    "QualifiedSignature": {
        "category": "XadesSignature",
        "code": "xades.qualified-signature",
        "displayName": "Podpis kwalifikowany",
    },
    "QualifiedSeal": {
        "category": "XadesSignature",
        "code": "xades.qualified-seal",
        "displayName": "Pieczęć kwalifikowana",
    },
    "InternalCertificate": {
        "category": "XadesSignature",
        "code": "xades.internal-certificate",
        "displayName": "Certyfikat KSeF",
    },
    "PersonalSignature": {
        "category": "XadesSignature",
        "code": "xades.personal-signature",
        "displayName": "Podpis osobisty",
    },
    "TrustedProfile": {
        "category": "NationalNode",
        "code": "xades.trusted-profile",
        "displayName": "Profil Zaufany",
    },
    "PeppolSignature": {
        "category": "XadesSignature",
        "code": "xades.peppol-signature",
        "displayName": "Podpis dostawcy usług Peppol",
    },
    "Token": {"category": "Token", "code": "token.ksef", "displayName": "Token KSeF"},
}

# -- the authenticated caller ------------------------------------------------------

OPERATION_TOKEN = "OperationToken"
ACCESS_TOKEN = "ContextToken"
REFRESH_TOKEN = "RefreshToken"


@dataclass(frozen=True)
class Principal:
    """What a verified bearer JWT says about the caller."""

    token_type: str
    reference_number: str
    expires_at: datetime
    context: ContextIdentifier | None = None
    subject: SubjectIdentifier | None = None
    auth_method: str | None = None
    permissions: frozenset[str] = frozenset()
    ip_policy: dict[str, Any] | None = None
    ksef_token_reference: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def effective_permissions(self) -> frozenset[str]:
        return effective_permissions(self.permissions)

    @property
    def is_owner(self) -> bool:
        return OWNER in self.permissions

    @property
    def by_token(self) -> bool:
        return self.auth_method == "Token"


def status(code: int, description: str, details: list[str] | None = None) -> dict[str, Any]:
    """A ``StatusInfo`` object; ``details`` left out when there are none."""
    out: dict[str, Any] = {"code": code, "description": description}
    if details:
        out["details"] = list(details)
    return out
