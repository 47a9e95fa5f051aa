"""State and rules of the testdata area (TEST only).

``/testdata/*`` simulates what production learns from outside the API:
registers of entities (enforcement authorities, VAT groups, local-government
units), natural persons with their NIP–PESEL link, ZAW-FA permission filings,
attachment consent, security blocks. The facts land in ``env.subjects``; the
permission grants in ``env.permissions``. Limit overrides are handled by the
routes directly against ``env.limits`` and ``env.certificates``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from mockksef import violations
from mockksef.clock import parse_datetime
from mockksef.errors import InvalidInputData, KsefError
from mockksef.models import (
    FINGERPRINT_RE,
    NIP_RE,
    PESEL_RE,
    ContextIdentifier,
    SubjectIdentifier,
)
from mockksef.services.subjects import AttachmentConsent, Entity, Person

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState

_SUBUNIT_TYPES = ("VatGroup", "JST")
_IDENTIFIER_PATTERNS: dict[str, re.Pattern[str]] = {
    "Nip": NIP_RE,
    "Pesel": PESEL_RE,
    "Fingerprint": FINGERPRINT_RE,
}


def _already_exists(what: str) -> KsefError:
    return KsefError(30001, what)


class TestdataBackend:
    # Not a test class, whatever pytest's name heuristics think.
    __test__ = False

    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self._lock = threading.RLock()
        # Last creation date per identifier, kept after removal: a re-creation must be later.
        self._entity_created: dict[str, datetime] = {}
        self._person_created: dict[str, datetime] = {}

    # -- the createdDate rule -----------------------------------------------------------------

    @staticmethod
    def _creation_date(
        previous: datetime | None, exists: bool, body: Mapping[str, Any], now: datetime, what: str
    ) -> datetime:
        """When the new record starts; 30001 when it already exists.

        Creating again with the same identifier is allowed only with a
        ``createdDate`` later than the previous one (it then replaces the old
        record); without ``createdDate`` an existing record is a conflict.
        """
        created_date = body.get("createdDate")
        if isinstance(created_date, str):
            when = parse_datetime(created_date)
            if previous is not None and when <= previous:
                raise _already_exists(
                    f"{what} już istnieje; createdDate musi być późniejsza niż poprzednia."
                )
            return when
        if exists or (previous is not None and now <= previous):
            raise _already_exists(f"{what} już istnieje.")
        return now

    # -- POST /testdata/subject, /testdata/subject/remove ------------------------------------------

    def create_subject(self, body: Mapping[str, Any], now: datetime) -> Entity:
        """Register an entity and, for VatGroup/JST, its subunits (roles VatGroupSubUnit / LocalGovernmentSubUnit).

        A subunit list for EnforcementAuthority, a subunit equal to the parent or
        listed twice is 21405; a subunit that already is another entity is 30001.
        """
        nip = str(body["subjectNip"])
        subject_type = str(body["subjectType"])
        description = str(body["description"])
        subunits = list(body.get("subunits") or [])
        if subunits and subject_type not in _SUBUNIT_TYPES:
            raise InvalidInputData(violations.service("subunits_not_allowed", "subunits"))
        sub_nips = [str(s["subjectNip"]) for s in subunits]
        if nip in sub_nips:
            raise InvalidInputData(violations.service("own_subunit", "subunits", nip=nip))
        if len(set(sub_nips)) != len(sub_nips):
            raise InvalidInputData(violations.service("repeated_items", "subunits"))
        registry = self.env.subjects
        with self._lock:
            existing = registry.entities.get(nip)
            created = self._creation_date(
                self._entity_created.get(nip), existing is not None, body, now, f"Podmiot {nip}"
            )
            own = set(existing.subunits) if existing else set()
            for sub in sub_nips:
                other = registry.entities.get(sub)
                if other is not None and sub not in own:
                    raise _already_exists(f"Podmiot {sub} już istnieje.")
            if existing is not None:
                self._drop_entity(nip)
            entity = Entity(nip, subject_type, description, created, None, list(sub_nips))
            registry.entities[nip] = entity
            for item, sub in zip(subunits, sub_nips, strict=True):
                registry.entities[sub] = Entity(
                    sub, subject_type, str(item["description"]), created, nip
                )
            self._entity_created[nip] = created
            return entity

    def remove_subject(self, nip: str) -> list[str]:
        """Remove an entity, its subunits and the grants made to them.

        Removing an unknown entity succeeds (nothing to do); removing a subunit
        also takes it off its parent's list.
        """
        with self._lock:
            removed = self._drop_entity(nip)
        if removed:
            self.env.permissions.remove_subject({SubjectIdentifier("Nip", n) for n in removed})
        return removed

    def _drop_entity(self, nip: str) -> list[str]:
        registry = self.env.subjects
        entity = registry.entities.pop(nip, None)
        if entity is None:
            return []
        removed = [nip]
        for sub in entity.subunits:
            if registry.entities.get(sub) is not None and registry.entities[sub].parent_nip == nip:
                del registry.entities[sub]
                removed.append(sub)
        if entity.parent_nip and entity.parent_nip in registry.entities:
            parent = registry.entities[entity.parent_nip]
            parent.subunits = [s for s in parent.subunits if s != nip]
        return removed

    # -- POST /testdata/person, /testdata/person/remove -----------------------------------------------

    def create_person(self, body: Mapping[str, Any], now: datetime) -> Person:
        """A natural person with a NIP–PESEL link (Owner of the NIP context with either identifier).

        30001 when the NIP is taken (see the createdDate rule) or the PESEL is
        already linked to another NIP.
        """
        nip = str(body["nip"])
        pesel = str(body["pesel"])
        registry = self.env.subjects
        with self._lock:
            existing = registry.persons.get(nip)
            other = registry.person_by_pesel(pesel)
            if other is not None and other.nip != nip:
                raise _already_exists(f"Osoba o numerze PESEL {pesel} już istnieje.")
            created = self._creation_date(
                self._person_created.get(nip), existing is not None, body, now, f"Osoba o NIP {nip}"
            )
            person = Person(
                nip=nip,
                pesel=pesel,
                description=str(body["description"]),
                is_bailiff=bool(body["isBailiff"]),
                is_deceased=bool(body.get("isDeceased") or False),
                created=created,
            )
            registry.persons[nip] = person
            self._person_created[nip] = created
            return person

    def remove_person(self, nip: str) -> Person | None:
        """Remove the person and every grant made to their NIP or PESEL (unknown NIP: nothing to do)."""
        with self._lock:
            person = self.env.subjects.persons.pop(nip, None)
        if person is not None:
            self.env.permissions.remove_subject(
                {SubjectIdentifier("Nip", person.nip), SubjectIdentifier("Pesel", person.pesel)}
            )
        return person

    # -- POST /testdata/permissions, /testdata/permissions/revoke ------------------------------------

    @staticmethod
    def _context(body: Mapping[str, Any]) -> ContextIdentifier:
        ident = body["contextIdentifier"]
        value = str(ident["value"])
        if not NIP_RE.match(value):
            raise InvalidInputData(violations.bad_format("contextIdentifier.value"))
        return ContextIdentifier(str(ident["type"]), value)

    @staticmethod
    def _authorized(body: Mapping[str, Any]) -> SubjectIdentifier:
        ident = body["authorizedIdentifier"]
        type_ = str(ident["type"])
        value = str(ident["value"])
        pattern = _IDENTIFIER_PATTERNS.get(type_)
        if pattern is None or not pattern.match(value):
            raise InvalidInputData(violations.bad_format("authorizedIdentifier.value"))
        return SubjectIdentifier(type_, value.upper() if type_ == "Fingerprint" else value)

    def grant_permissions(self, body: Mapping[str, Any], now: datetime) -> None:
        """A simulated ZAW-FA filing: grants with author ``System``, effective at once."""
        context = self._context(body)
        authorized = self._authorized(body)
        permissions = [
            (str(p["permissionType"]), str(p["description"])) for p in body.get("permissions") or []
        ]
        self.env.permissions.grant_system(context, authorized, permissions, now)

    def revoke_permissions(self, body: Mapping[str, Any]) -> None:
        self.env.permissions.revoke_system(self._context(body), self._authorized(body))

    # -- POST /testdata/attachment, /testdata/attachment/revoke -------------------------------------

    def allow_attachments(self, nip: str) -> None:
        with self._lock:
            self.env.subjects.attachments[nip] = AttachmentConsent(True)

    def withhold_attachments(self, nip: str) -> None:
        """No consent at all, as for a subject that never asked (scenario setup)."""
        with self._lock:
            self.env.subjects.attachments.pop(nip, None)

    def revoke_attachments(self, nip: str, expected_end_date: str | None, now: datetime) -> None:
        """Withdraw the consent from ``expectedEndDate`` (today when absent); it holds until that day."""
        end = date.fromisoformat(expected_end_date) if expected_end_date else now.date()
        with self._lock:
            current = self.env.subjects.attachment_consent(nip)
            if current.allowed:
                self.env.subjects.attachments[nip] = AttachmentConsent(True, end)
            else:
                self.env.subjects.attachments[nip] = AttachmentConsent(False)

    # -- POST /testdata/context/block, /testdata/context/unblock -------------------------------------

    @staticmethod
    def _block_target(body: Mapping[str, Any] | None) -> ContextIdentifier:
        ident = (body or {}).get("contextIdentifier")
        if not isinstance(ident, Mapping):
            raise InvalidInputData(violations.not_empty("contextIdentifier"))
        context = ContextIdentifier(str(ident["type"]), str(ident["value"]))
        if not context.is_valid():
            raise InvalidInputData(violations.bad_format("contextIdentifier.value"))
        return context

    def block_context(self, body: Mapping[str, Any] | None) -> ContextIdentifier:
        """Later authentications in the context end with status 480."""
        context = self._block_target(body)
        with self._lock:
            self.env.subjects.blocked.add(context)
        return context

    def unblock_context(self, body: Mapping[str, Any] | None) -> ContextIdentifier:
        context = self._block_target(body)
        with self._lock:
            self.env.subjects.blocked.discard(context)
        return context
