"""Grant and revoke operations of the permissions area (a part of PermissionsBackend).

Each method validates synchronously what the real API rejects with 400 21405
(identifier formats, subject-details variants, duplicates) and then submits an
asynchronous operation whose action runs when the clock reaches its processing
time: semantic checks then give the documented operation status codes of
reference A §6.5 (410, 420, 430, 440, 450), success applies the grants. A
grant that already exists is not duplicated (idempotent 200).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mockksef import violations
from mockksef.models import NIP_VAT_UE_RE, ContextIdentifier, Principal, SubjectIdentifier
from mockksef.services.permissions.models import (
    EU_ADMIN_PERMISSIONS,
    Grant,
    GrantKind,
    Target,
    norm,
)
from mockksef.services.permissions.store import PermissionStore
from mockksef.services.permissions.validation import (
    bad,
    check_details,
    check_identifier,
    check_internal_id,
    check_nip,
    unique,
)

if TYPE_CHECKING:
    pass

Action = Callable[[datetime], tuple[int, list[str]]]

# Who may revoke which kind of grant (reference A §6.4: any of the listed permissions).
_REVOKE_NEEDS: dict[str, frozenset[str]] = {
    GrantKind.PERSON: frozenset({"CredentialsManage"}),
    GrantKind.SYSTEM: frozenset({"CredentialsManage"}),
    GrantKind.ENTITY: frozenset({"CredentialsManage"}),
    GrantKind.INDIRECT: frozenset({"CredentialsManage"}),
    GrantKind.SUBUNIT: frozenset({"CredentialsManage", "SubunitManage"}),
    GrantKind.EU_ADMIN: frozenset({"CredentialsManage"}),
    GrantKind.EU_REP: frozenset({"VatUeManage"}),
    GrantKind.AUTHORIZATION: frozenset({"CredentialsManage"}),
}


@dataclass(frozen=True)
class _Request:
    """The parts every grant request has: where, to whom, by whom, why."""

    context: ContextIdentifier
    subject: SubjectIdentifier
    details: Any
    author: SubjectIdentifier
    description: str


class PermissionGrants(PermissionStore):
    """Grant and revoke operations (validated at once, applied when their operation runs)."""

    # -- helpers ------------------------------------------------------------------

    def _upsert(self, at: datetime, **fields: Any) -> Grant:
        """Add a grant unless the same one exists (duplicate grant = no-op)."""
        with self._lock:
            existing = self._find(
                fields["kind"],
                fields["context"],
                fields["subject"],
                fields["permission"],
                fields.get("target"),
                match_target=fields["kind"] == GrantKind.INDIRECT,
            )
            if existing is not None:
                if fields["kind"] == GrantKind.ENTITY:
                    existing.can_delegate = bool(fields.get("can_delegate"))
                return existing
            grant = Grant(id=self.env.rng.uuid(), start_date=at, **fields)
            self.grants[grant.id] = grant
            return grant

    @staticmethod
    def _ctx(me: Principal) -> ContextIdentifier:
        assert me.context is not None and me.subject is not None
        return me.context

    def _request(
        self, me: Principal, body: dict[str, Any], *, details: bool = True, eu: bool = False
    ) -> _Request:
        """What every grant request carries, checked (``subjectDetails`` when ``details``)."""
        context = self._ctx(me)
        assert me.subject is not None
        subject = check_identifier(body["subjectIdentifier"], "subjectIdentifier")
        if details:
            check_details(body["subjectDetails"], subject, eu=eu)
        return _Request(
            context, subject, body["subjectDetails"], norm(me.subject), body["description"]
        )

    def _add(
        self, at: datetime, request: _Request, kind: str, permission: str, **fields: Any
    ) -> Grant:
        """One grant of ``request`` (``fields`` add to or override its common ones)."""
        common = {
            "context": request.context,
            "subject": request.subject,
            "description": request.description,
            "author": request.author,
            "subject_details": request.details,
        }
        return self._upsert(at, kind=kind, permission=permission, **{**common, **fields})

    # -- grants ---------------------------------------------------------------------

    def grant_persons(self, me: Principal, body: dict[str, Any], now: datetime) -> dict[str, str]:
        """POST /permissions/persons/grants. EnforcementOperations outside an enforcement context -> 430."""
        request = self._request(me, body)
        ctx = request.context
        permissions = unique(body["permissions"], "permissions")

        def action(at: datetime) -> tuple[int, list[str]]:
            if ctx.type not in ("Nip", "InternalId"):
                return 430, []
            if (
                "EnforcementOperations" in permissions
                and not self.env.subjects.is_enforcement_context(ctx.nip)
            ):
                return 430, [
                    "Uprawnienie EnforcementOperations może być nadane wyłącznie w kontekście organu egzekucyjnego lub komornika sądowego."
                ]
            for permission in permissions:
                self._add(at, request, GrantKind.PERSON, permission)
            return 200, []

        return self._submit(ctx, action, now)

    def grant_entities(self, me: Principal, body: dict[str, Any], now: datetime) -> dict[str, str]:
        """POST /permissions/entities/grants (InvoiceRead/InvoiceWrite with canDelegate)."""
        request = self._request(me, body, details=False)
        ctx, subject = request.context, request.subject
        items = body["permissions"]
        unique([i["type"] for i in items], "permissions")

        def action(at: datetime) -> tuple[int, list[str]]:
            if ctx.type not in ("Nip", "InternalId"):
                return 430, []
            if subject.value == ctx.nip:
                return 450, ["Nie można nadać uprawnień podmiotowi kontekstu."]
            for item in items:
                self._add(
                    at,
                    request,
                    GrantKind.ENTITY,
                    item["type"],
                    can_delegate=bool(item.get("canDelegate")),
                )
            return 200, []

        return self._submit(ctx, action, now)

    def grant_authorizations(
        self, me: Principal, body: dict[str, Any], now: datetime
    ) -> dict[str, str]:
        """POST /permissions/authorizations/grants: one of SelfInvoicing, RRInvoicing, TaxRepresentative, PefInvoicing.

        PefInvoicing goes to a PeppolId, the others to a NIP; a mismatch ends with 450.
        """
        request = self._request(me, body, details=False)
        ctx, subject = request.context, request.subject
        permission = body["permission"]

        def action(at: datetime) -> tuple[int, list[str]]:
            if ctx.type != "Nip":
                return 430, []
            if (permission == "PefInvoicing") != (
                subject.type == "PeppolId"
            ) or subject.value == ctx.value:
                return 450, []
            self._add(at, request, GrantKind.AUTHORIZATION, permission)
            return 200, []

        return self._submit(ctx, action, now)

    def grant_indirect(self, me: Principal, body: dict[str, Any], now: datetime) -> dict[str, str]:
        """POST /permissions/indirect/grants (the current context is the intermediary).

        A selective grant needs a prior delegable grant from the target to the
        current context (else 440); a general one (no target / AllPartners) does not.
        """
        request = self._request(me, body)
        ctx = request.context
        permissions = unique(body["permissions"], "permissions")
        raw_target = body.get("targetIdentifier")
        target = Target("AllPartners")
        if raw_target and raw_target["type"] != "AllPartners":
            value = raw_target.get("value")
            if not value:
                raise bad(violations.not_empty("targetIdentifier.value"))
            if raw_target["type"] == "Nip":
                check_nip(value, "targetIdentifier.value")
            else:
                check_internal_id(value, "targetIdentifier.value")
            target = Target(raw_target["type"], value)

        def action(at: datetime) -> tuple[int, list[str]]:
            if ctx.type not in ("Nip", "InternalId"):
                return 430, []
            if target.value is not None:
                target_ctx = ContextIdentifier(target.type, target.value)
                intermediary = SubjectIdentifier("Nip", ctx.nip or "")
                delegated = any(
                    g.kind == GrantKind.ENTITY
                    and g.context == target_ctx
                    and g.subject == intermediary
                    and g.can_delegate
                    for g in self.grants.values()
                )
                if not delegated:
                    return 440, [
                        f"Podmiot {target.value} nie nadał podmiotowi {ctx.value} uprawnień z prawem do dalszego przekazywania."
                    ]
            for permission in permissions:
                self._add(at, request, GrantKind.INDIRECT, permission, target=target)
            return 200, []

        return self._submit(ctx, action, now)

    def grant_subunits(self, me: Principal, body: dict[str, Any], now: datetime) -> dict[str, str]:
        """POST /permissions/subunits/grants: CredentialsManage in an InternalId unit or subordinate NIP.

        Another NIP's internal id or a NIP that is not subordinate -> 410; a
        subordinate NIP from a context that is no JST/VAT-group parent -> 430.
        """
        request = self._request(me, body)
        ctx = request.context
        raw = body["contextIdentifier"]
        unit = ContextIdentifier(raw["type"], raw["value"])
        name = body.get("subunitName")
        if unit.type == "InternalId":
            check_internal_id(unit.value, "contextIdentifier.value")
            if not name:
                raise bad(violations.not_empty("subunitName"))
        else:
            check_nip(unit.value, "contextIdentifier.value")

        def action(at: datetime) -> tuple[int, list[str]]:
            if ctx.type != "Nip":
                return 430, []
            if unit.type == "InternalId":
                if unit.nip != ctx.value:
                    return 410, [
                        f"Identyfikator wewnętrzny {unit.value} nie należy do podmiotu {ctx.value}."
                    ]
            else:
                roles = {r for r, _, _ in self.env.subjects.roles_of(ctx.value)}
                if not roles & {"LocalGovernmentUnit", "VatGroupUnit"}:
                    return 430, []
                entity = self.env.subjects.entities.get(unit.value)
                if entity is None or entity.parent_nip != ctx.value:
                    return 410, [
                        f"Podmiot {unit.value} nie jest podmiotem podrzędnym podmiotu {ctx.value}."
                    ]
            self._add(
                at,
                request,
                GrantKind.SUBUNIT,
                "CredentialsManage",
                context=unit,
                granted_from=ctx,
                subunit_name=name,
            )
            return 200, []

        return self._submit(ctx, action, now)

    def grant_eu_entity_administration(
        self, me: Principal, body: dict[str, Any], now: datetime
    ) -> dict[str, str]:
        """POST /permissions/eu-entities/administration/grants: VatUeManage, InvoiceWrite, InvoiceRead, Introspection.

        The NipVatUe context must start with the current NIP (else 410).
        """
        request = self._request(me, body, eu=True)
        ctx = request.context
        raw = body["contextIdentifier"]
        if not NIP_VAT_UE_RE.match(raw["value"]):
            raise bad(violations.bad_format("contextIdentifier.value"))
        eu_ctx = ContextIdentifier("NipVatUe", raw["value"])
        name, eu_details = body["euEntityName"], body["euEntityDetails"]

        def action(at: datetime) -> tuple[int, list[str]]:
            if ctx.type != "Nip":
                return 430, []
            if eu_ctx.nip != ctx.value:
                return 410, [f"Kontekst złożony {eu_ctx.value} nie należy do podmiotu {ctx.value}."]
            self.eu_entities[eu_ctx.value] = (name, eu_details)
            for permission in EU_ADMIN_PERMISSIONS:
                self._add(
                    at,
                    request,
                    GrantKind.EU_ADMIN,
                    permission,
                    context=eu_ctx,
                    granted_from=ctx,
                    eu_entity_name=name,
                    eu_entity_details=eu_details,
                )
            return 200, []

        return self._submit(ctx, action, now)

    def grant_eu_entities(
        self, me: Principal, body: dict[str, Any], now: datetime
    ) -> dict[str, str]:
        """POST /permissions/eu-entities/grants: EU representative in the current NipVatUe context."""
        request = self._request(me, body, eu=True)
        ctx = request.context
        permissions = unique(body["permissions"], "permissions")

        def action(at: datetime) -> tuple[int, list[str]]:
            if ctx.type != "NipVatUe":
                return 430, []
            name, eu_details = self.eu_entities.get(ctx.value, (None, None))
            for permission in permissions:
                self._add(
                    at,
                    request,
                    GrantKind.EU_REP,
                    permission,
                    eu_entity_name=name,
                    eu_entity_details=eu_details,
                )
            return 200, []

        return self._submit(ctx, action, now)

    # -- revocation -----------------------------------------------------------------

    def _revoke(
        self, me: Principal, permission_id: str, now: datetime, authorization: bool
    ) -> dict[str, str]:
        ctx = self._ctx(me)
        self.settle(now)
        with self._lock:
            grant = self.grants.get(permission_id)
        visible = (
            grant is not None
            and (grant.kind == GrantKind.AUTHORIZATION) == authorization
            and grant.origin == ctx
        )
        if grant is None or not visible:
            # Grants of other contexts are indistinguishable from unknown ones.
            raise bad(violations.service("permission_not_found", id=permission_id))
        allowed = bool(_REVOKE_NEEDS[grant.kind] & me.effective_permissions)

        def action(at: datetime) -> tuple[int, list[str]]:
            if not allowed:
                return 420, []
            with self._lock:
                self.grants.pop(permission_id, None)
            return 200, []

        return self._submit(ctx, action, now)

    def revoke_common(self, me: Principal, permission_id: str, now: datetime) -> dict[str, str]:
        """DELETE /permissions/common/grants/{permissionId}.

        Unknown ids and ids of another context's grants -> 400 21405 (the only
        documented code); a caller without the permission needed for that kind
        of grant -> operation status 420.
        """
        return self._revoke(me, permission_id, now, authorization=False)

    def revoke_authorization(
        self, me: Principal, permission_id: str, now: datetime
    ) -> dict[str, str]:
        """DELETE /permissions/authorizations/grants/{permissionId} (SelfInvoicing…)."""
        return self._revoke(me, permission_id, now, authorization=True)
