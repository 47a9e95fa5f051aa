"""Entities of the permissions area: grants and asynchronous grant/revoke operations.

The data model follows reference part A §6.7: one ``Grant`` row per
(context, authorized identifier, permission). The Owner role is never stored:
it is derived from identities (reference A §2.6) and never listed by queries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from mockksef.models import ContextIdentifier, SubjectIdentifier
from mockksef.spec_overlay import NEW_SCHEMAS


class GrantKind(StrEnum):
    """Grant kinds (reference A §6.7). ``system`` = /testdata/permissions (ZAW-FA filing).

    A ``StrEnum``: a kind equals its text, so grants stored before it was one still match.
    """

    PERSON = "person"
    ENTITY = "entity"
    AUTHORIZATION = "authorization"
    INDIRECT = "indirect"
    SUBUNIT = "subunit"
    EU_ADMIN = "eu_admin"
    EU_REP = "eu_rep"
    SYSTEM = "system"


# Author of System grants, as the persons query shows it (`{"type":"System"}`).
SYSTEM_AUTHOR = SubjectIdentifier("System", "")

# What the EU-entity administrator grant gives (reference A §6.3).
EU_ADMIN_PERMISSIONS = ("VatUeManage", "InvoiceWrite", "InvoiceRead", "Introspection")

# `OwnerPermissionScope` order (reference C §5): the enum of the schema the overlay adds.
OWNER_SCOPE_ORDER: tuple[str, ...] = tuple(NEW_SCHEMAS["OwnerPermissionScope"]["enum"])

# Status table of GET /permissions/operations/{ref} (official PermissionsOperationStatusResponse).
OPERATION_STATUS: dict[int, str] = {
    100: "Operacja przyjęta do realizacji",
    200: "Operacja zakończona sukcesem",
    400: "Operacja zakończona niepowodzeniem",
    410: "Podane identyfikatory są niezgodne lub pozostają w niewłaściwej relacji",
    420: "Użyte poświadczenia nie mają uprawnień do wykonania tej operacji",
    430: "Kontekst identyfikatora nie odpowiada wymaganej roli lub uprawnieniom",
    440: "Operacja niedozwolona dla wskazanych powiązań identyfikatorów",
    450: "Operacja niedozwolona dla wskazanego identyfikatora lub jego typu",
    500: "Nieznany błąd",
    550: "Operacja została anulowana przez system",
}

OPERATION_RETENTION_DAYS = 30


def norm(ident: SubjectIdentifier) -> SubjectIdentifier:
    """Fingerprints compare case-insensitively; store them upper-case."""
    if ident.type == "Fingerprint":
        return SubjectIdentifier(ident.type, ident.value.upper())
    return ident


@dataclass(frozen=True)
class Target:
    """Target of an indirect grant: Nip/InternalId with a value, or AllPartners."""

    type: str
    value: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass
class Grant:
    id: str
    kind: str
    # Where the permission applies (the subunit context for subunit grants,
    # the NipVatUe context for EU grants, the intermediary for indirect grants).
    context: ContextIdentifier
    subject: SubjectIdentifier
    permission: str
    description: str
    author: SubjectIdentifier
    start_date: datetime
    # The context the grant was made from, when it differs from ``context``.
    granted_from: ContextIdentifier | None = None
    can_delegate: bool = False
    target: Target | None = None
    subject_details: dict[str, Any] | None = None
    subunit_name: str | None = None
    eu_entity_name: str | None = None
    eu_entity_details: dict[str, Any] | None = None

    @property
    def origin(self) -> ContextIdentifier:
        """The context whose administrators manage (see, revoke) this grant."""
        return self.granted_from or self.context


@dataclass
class PermissionOperation:
    """One asynchronous grant or revoke (`EG` reference number)."""

    reference_number: str
    context: ContextIdentifier
    created: datetime
    ready_at: datetime
    # Runs once when the clock reaches ``ready_at``; returns (code, details).
    action: Callable[[datetime], tuple[int, list[str]]] | None = field(default=None, repr=False)
    code: int = 100
    details: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.code != 100
