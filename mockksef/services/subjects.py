"""Who exists in an environment: entities, persons, their roles and flags.

In production these facts come from outside the API (registers, ZAW-FA filings,
e-Urząd Skarbowy); on TEST the ``/testdata/*`` endpoints write them here. Auth,
permissions and tokens read them. On TEST any syntactically valid NIP context
exists implicitly, so an unknown NIP is not an error here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from mockksef.models import ContextIdentifier, SubjectIdentifier

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState

ENTITY_ROLE_DESCRIPTIONS = {
    "CourtBailiff": "Komornik sądowy",
    "EnforcementAuthority": "Organ egzekucyjny",
    "LocalGovernmentUnit": "Jednostka samorządu terytorialnego",
    "LocalGovernmentSubUnit": "Podrzędna jednostka samorządu terytorialnego",
    "VatGroupUnit": "Grupa VAT",
    "VatGroupSubUnit": "Członek grupy VAT",
}


@dataclass
class Entity:
    nip: str
    # EnforcementAuthority | VatGroup | JST; a subunit carries its parent's type.
    subject_type: str
    description: str
    created: datetime
    parent_nip: str | None = None
    subunits: list[str] = field(default_factory=list)

    @property
    def role(self) -> str:
        if self.parent_nip:
            return "LocalGovernmentSubUnit" if self.subject_type == "JST" else "VatGroupSubUnit"
        return {
            "EnforcementAuthority": "EnforcementAuthority",
            "VatGroup": "VatGroupUnit",
            "JST": "LocalGovernmentUnit",
        }[self.subject_type]


@dataclass
class Person:
    nip: str
    pesel: str
    description: str
    is_bailiff: bool
    is_deceased: bool
    created: datetime


@dataclass
class AttachmentConsent:
    allowed: bool
    revoked_date: date | None = None


class SubjectRegistry:
    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self.entities: dict[str, Entity] = {}
        self.persons: dict[str, Person] = {}  # by NIP
        self.blocked: set[ContextIdentifier] = set()
        self.attachments: dict[str, AttachmentConsent] = {}
        # Names of subjects known from outside the API (scenario setup): generated
        # invoices use them for the seller/buyer of that NIP.
        self.names: dict[str, str] = {}

    # -- persons ---------------------------------------------------------------

    def person_by_pesel(self, pesel: str) -> Person | None:
        return next((p for p in self.persons.values() if p.pesel == pesel), None)

    def person_for(self, subject: SubjectIdentifier) -> Person | None:
        if subject.type == "Nip":
            return self.persons.get(subject.value)
        if subject.type == "Pesel":
            return self.person_by_pesel(subject.value)
        return None

    def linked_identifiers(self, subject: SubjectIdentifier) -> set[SubjectIdentifier]:
        """The subject plus the identifiers linked to it by a NIP–PESEL link."""
        out = {subject}
        person = self.person_for(subject)
        if person:
            out |= {SubjectIdentifier("Nip", person.nip), SubjectIdentifier("Pesel", person.pesel)}
        return out

    def is_deceased(self, subject: SubjectIdentifier) -> bool:
        person = self.person_for(subject)
        return bool(person and person.is_deceased)

    # -- entity roles ------------------------------------------------------------

    def roles_of(self, nip: str) -> list[tuple[str, datetime, str | None]]:
        """``(role, since, parent NIP)`` of an entity."""
        out: list[tuple[str, datetime, str | None]] = []
        entity = self.entities.get(nip)
        if entity:
            out.append((entity.role, entity.created, entity.parent_nip))
        person = self.persons.get(nip)
        if person and person.is_bailiff:
            out.append(("CourtBailiff", person.created, None))
        return out

    def is_enforcement_context(self, nip: str | None) -> bool:
        if not nip:
            return False
        return any(r in ("EnforcementAuthority", "CourtBailiff") for r, _, _ in self.roles_of(nip))

    def is_blocked(self, context: ContextIdentifier) -> bool:
        return context in self.blocked

    def set_name(self, nip: str, name: str, *, replace: bool = True) -> None:
        """The name of a subject known from outside the API (scenario setup, generated invoices)."""
        if replace:
            self.names[nip] = name
        else:
            self.names.setdefault(nip, name)

    def name_of(self, nip: str) -> str | None:
        return self.names.get(nip)

    def attachment_consent(self, nip: str) -> AttachmentConsent:
        return self.attachments.get(nip, AttachmentConsent(False))

    def summary(self) -> dict[str, int]:
        return {
            "entities": len(self.entities),
            "persons": len(self.persons),
            "blockedContexts": len(self.blocked),
        }
