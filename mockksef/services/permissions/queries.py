"""Read-only permission queries (a part of PermissionsBackend), reference A §6.6.

Every query sees only grants managed from, or effective in, the caller's
current context. Paging: ``pageOffset`` is a page index, ``pageSize`` 10–100,
``hasMore`` tells whether another page exists. Sorting: ``startDate`` desc,
then ``id`` asc. Optional fields are left out when absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from mockksef.clock import format_datetime
from mockksef.models import OWNER, ContextIdentifier, Principal, SubjectIdentifier
from mockksef.services.permissions.models import (
    Grant,
    GrantKind,
    norm,
)
from mockksef.services.permissions.store import PermissionStore
from mockksef.services.permissions.validation import render_subject_details
from mockksef.services.subjects import ENTITY_ROLE_DESCRIPTIONS

if TYPE_CHECKING:
    pass


def _page(items: list[Any], offset: int, size: int) -> tuple[list[Any], bool]:
    start = offset * size
    return items[start : start + size], len(items) > start + size


def _sorted(grants: Iterable[Grant]) -> list[Grant]:
    # startDate desc, then id asc: sort by id first, then stably by date desc.
    by_id = sorted(grants, key=lambda g: g.id)
    return sorted(by_id, key=lambda g: g.start_date, reverse=True)


def _ident(ident: SubjectIdentifier | ContextIdentifier) -> dict[str, Any]:
    if ident.type == "System":
        return {"type": "System"}
    return {"type": ident.type, "value": ident.value}


class _Identified(Protocol):
    """Subject, context and target identifiers alike (a target may have no value)."""

    @property
    def type(self) -> str: ...

    @property
    def value(self) -> str | None: ...


def _matches_ident(flt: dict[str, Any] | None, ident: _Identified | None) -> bool:
    """A ``{type, value?}`` filter; values compare case-insensitively (fingerprints)."""
    if not flt:
        return True
    if ident is None or ident.type != flt.get("type"):
        return False
    value = flt.get("value")
    if value is None:
        return True
    return ident.value is not None and str(value).upper() == ident.value.upper()


def _filtered(body: dict[str, Any], g: Grant) -> bool:
    """The filters the person-facing queries share: context, target, permission types, state."""
    types = body.get("permissionTypes")
    return (
        _matches_ident(body.get("contextIdentifier"), g.context)
        and _matches_ident(body.get("targetIdentifier"), g.target)
        and (not types or g.permission in types)
        # Revoked grants are deleted, so only Active ones exist.
        and body.get("permissionState") in (None, "Active")
    )


def _permission_rest(g: Grant) -> dict[str, Any]:
    """The fields after the identifiers in a row of the personal and persons queries."""
    return {
        "permissionScope": g.permission,
        "description": g.description,
        **render_subject_details(g.subject_details),
        # Revoked grants are deleted, so only Active ones exist.
        "permissionState": "Active",
        "startDate": format_datetime(g.start_date),
        "canDelegate": g.can_delegate,
    }


class PermissionQueries(PermissionStore):
    """The read-only grant queries."""

    def _snapshot(self) -> list[Grant]:
        self.settle()
        with self._lock:
            return list(self.grants.values())

    def _query(
        self,
        grants: Iterable[Grant],
        render: Callable[[Grant], dict[str, Any]],
        offset: int,
        size: int,
        key: str = "permissions",
    ) -> dict[str, Any]:
        page, more = _page(_sorted(grants), offset, size)
        return {key: [render(g) for g in page], "hasMore": more}

    # -- personal ---------------------------------------------------------------------

    def query_personal(
        self, me: Principal, body: dict[str, Any], offset: int, size: int
    ) -> dict[str, Any]:
        """POST /permissions/query/personal/grants: the caller's own permissions in the current context.

        Direct grants (incl. System and subunit-admin grants), indirect grants where
        the context is intermediary or target, and — for an Owner — invoice
        permissions other entities granted to the context. ``ownerPermissions``
        (API 2.9) lists the implicit Owner set; Owner itself is never a row.
        """
        ctx = me.context
        assert ctx is not None and me.subject is not None
        ids = self.identities(me.subject)
        owner = OWNER in me.permissions
        out: list[Grant] = []
        for g in self._snapshot():
            if g.kind == GrantKind.AUTHORIZATION:
                continue
            mine = g.subject in ids and (
                g.context == ctx
                or (
                    g.kind == GrantKind.INDIRECT
                    and g.target is not None
                    and g.target.value == ctx.value
                )
            )
            received = (
                owner
                and g.kind == GrantKind.ENTITY
                and ctx.type == "Nip"
                and g.subject == SubjectIdentifier("Nip", ctx.value)
            )
            if not (mine or received):
                continue
            if _filtered(body, g):
                out.append(g)

        def render(g: Grant) -> dict[str, Any]:
            item: dict[str, Any] = {"id": g.id}
            if g.context.type in ("Nip", "InternalId") and g.context != ctx:
                item["contextIdentifier"] = _ident(g.context)
            item["authorizedIdentifier"] = _ident(g.subject)
            if g.target is not None:
                item["targetIdentifier"] = g.target.as_json()
            return item | _permission_rest(g)

        result = self._query(out, render, offset, size)
        if owner:
            result["ownerPermissions"] = self.owner_permissions(ctx)
        return result

    # -- persons ------------------------------------------------------------------------

    def query_persons(
        self, me: Principal, body: dict[str, Any], offset: int, size: int
    ) -> dict[str, Any]:
        """POST /permissions/query/persons/grants.

        ``PermissionsInCurrentContext``: persons and entities who may work in the
        context (direct, System, entity, subunit-admin grants) plus persons the
        context authorised indirectly as intermediary. ``PermissionsGrantedInCurrentContext``:
        grants the caller made from this context (incl. subunit contexts).
        """
        ctx = me.context
        assert ctx is not None and me.subject is not None
        ids = self.identities(me.subject)
        query_type = body["queryType"]
        kinds = {
            GrantKind.PERSON,
            GrantKind.SYSTEM,
            GrantKind.ENTITY,
            GrantKind.SUBUNIT,
            GrantKind.INDIRECT,
        }
        out: list[Grant] = []
        for g in self._snapshot():
            if g.kind not in kinds:
                continue
            if query_type == "PermissionsInCurrentContext":
                if g.context != ctx:
                    continue
            elif g.origin != ctx or g.author not in ids:
                continue
            if not _matches_ident(body.get("authorIdentifier"), g.author):
                continue
            if not _matches_ident(body.get("authorizedIdentifier"), g.subject):
                continue
            if _filtered(body, g):
                out.append(g)

        def render(g: Grant) -> dict[str, Any]:
            item: dict[str, Any] = {"id": g.id, "authorizedIdentifier": _ident(g.subject)}
            if g.context != ctx and g.context.type in ("Nip", "InternalId"):
                item["contextIdentifier"] = _ident(g.context)
            if g.target is not None:
                item["targetIdentifier"] = g.target.as_json()
            item["authorIdentifier"] = _ident(g.author)
            return item | _permission_rest(g)

        return self._query(out, render, offset, size)

    # -- subunits --------------------------------------------------------------------------

    def query_subunits(
        self, me: Principal, body: dict[str, Any], offset: int, size: int
    ) -> dict[str, Any]:
        """POST /permissions/query/subunits/grants: unit administrators appointed from this context."""
        ctx = me.context
        flt = body.get("subunitIdentifier")
        out = [
            g
            for g in self._snapshot()
            if g.kind == GrantKind.SUBUNIT and g.origin == ctx and _matches_ident(flt, g.context)
        ]

        def render(g: Grant) -> dict[str, Any]:
            item: dict[str, Any] = {
                "id": g.id,
                "authorizedIdentifier": _ident(g.subject),
                "subunitIdentifier": _ident(g.context),
                "authorIdentifier": _ident(g.author),
                "permissionScope": "CredentialsManage",
                "description": g.description,
            }
            person = render_subject_details(g.subject_details).get("subjectPersonDetails")
            if person:
                item["subjectPersonDetails"] = person
            if g.subunit_name:
                item["subunitName"] = g.subunit_name
            item["startDate"] = format_datetime(g.start_date)
            return item

        return self._query(out, render, offset, size)

    # -- entities --------------------------------------------------------------------------

    def query_entities(
        self, me: Principal, body: dict[str, Any], offset: int, size: int
    ) -> dict[str, Any]:
        """POST /permissions/query/entities/grants: invoice permissions other entities granted to this context."""
        ctx = me.context
        assert ctx is not None
        me_nip = SubjectIdentifier("Nip", ctx.value) if ctx.type == "Nip" else None
        flt = body.get("contextIdentifier")
        out = [
            g
            for g in self._snapshot()
            if g.kind == GrantKind.ENTITY
            and me_nip is not None
            and g.subject == me_nip
            and _matches_ident(flt, g.context)
        ]

        def render(g: Grant) -> dict[str, Any]:
            return {
                "id": g.id,
                "contextIdentifier": _ident(g.context),
                "permissionScope": g.permission,
                "description": g.description,
                "startDate": format_datetime(g.start_date),
                "canDelegate": g.can_delegate,
            }

        return self._query(out, render, offset, size)

    def query_entity_roles(self, me: Principal, offset: int, size: int) -> dict[str, Any]:
        """GET /permissions/query/entities/roles: roles of the current context entity (from test data)."""
        ctx = me.context
        nip = ctx.value if ctx is not None and ctx.type == "Nip" else None
        roles = sorted(
            self.env.subjects.roles_of(nip) if nip else [], key=lambda r: r[1], reverse=True
        )
        page, more = _page(roles, offset, size)
        items = []
        for role, since, parent in page:
            item: dict[str, Any] = {}
            if parent:
                item["parentEntityIdentifier"] = {"type": "Nip", "value": parent}
            item.update(
                {
                    "role": role,
                    "description": ENTITY_ROLE_DESCRIPTIONS[role],
                    "startDate": format_datetime(since),
                }
            )
            items.append(item)
        return {"roles": items, "hasMore": more}

    def query_subordinate_roles(
        self, me: Principal, body: dict[str, Any], offset: int, size: int
    ) -> dict[str, Any]:
        """POST /permissions/query/subordinate-entities/roles: JST subunits / VAT group members."""
        ctx = me.context
        nip = ctx.value if ctx is not None and ctx.type == "Nip" else None
        flt = body.get("subordinateEntityIdentifier")
        subs = [
            e
            for e in self.env.subjects.entities.values()
            if nip and e.parent_nip == nip and (not flt or flt.get("value") == e.nip)
        ]
        subs.sort(key=lambda e: e.nip)
        subs.sort(key=lambda e: e.created, reverse=True)
        page, more = _page(subs, offset, size)
        return {
            "roles": [
                {
                    "subordinateEntityIdentifier": {"type": "Nip", "value": e.nip},
                    "role": e.role,
                    "description": e.description,
                    "startDate": format_datetime(e.created),
                }
                for e in page
            ],
            "hasMore": more,
        }

    # -- authorisations ------------------------------------------------------------------

    def query_authorizations(
        self, me: Principal, body: dict[str, Any], offset: int, size: int
    ) -> dict[str, Any]:
        """POST /permissions/query/authorizations/grants: ``Granted`` by or ``Received`` by the current context."""
        ctx = me.context
        assert ctx is not None
        granted = body["queryType"] == "Granted"
        me_as_subject = norm(SubjectIdentifier(ctx.type, ctx.value))
        out: list[Grant] = []
        for g in self._snapshot():
            if g.kind != GrantKind.AUTHORIZATION:
                continue
            if granted:
                if g.context != ctx or not _matches_ident(
                    body.get("authorizedIdentifier"), g.subject
                ):
                    continue
            elif g.subject != me_as_subject or not _matches_ident(
                body.get("authorizingIdentifier"), g.context
            ):
                continue
            if body.get("permissionTypes") and g.permission not in body["permissionTypes"]:
                continue
            out.append(g)

        def render(g: Grant) -> dict[str, Any]:
            item: dict[str, Any] = {"id": g.id}
            if g.author.type in ("Nip", "Pesel", "Fingerprint"):
                item["authorIdentifier"] = _ident(g.author)
            item["authorizedEntityIdentifier"] = _ident(g.subject)
            item["authorizingEntityIdentifier"] = _ident(g.context)
            item["authorizationScope"] = g.permission
            item["description"] = g.description
            item.update(render_subject_details(g.subject_details))
            item["startDate"] = format_datetime(g.start_date)
            return item

        return self._query(out, render, offset, size, key="authorizationGrants")

    # -- EU entities ----------------------------------------------------------------------

    def query_eu_entities(
        self, me: Principal, body: dict[str, Any], offset: int, size: int
    ) -> dict[str, Any]:
        """POST /permissions/query/eu-entities/grants.

        In a NIP context: administrators of the EU entities linked to this NIP;
        in a NipVatUe context: all administrators and representatives of it.
        """
        ctx = me.context
        assert ctx is not None
        out: list[Grant] = []
        fingerprint = (body.get("authorizedFingerprintIdentifier") or "").upper()
        for g in self._snapshot():
            if ctx.type == "Nip":
                if g.kind != GrantKind.EU_ADMIN or g.context.nip != ctx.value:
                    continue
            elif ctx.type == "NipVatUe":
                if g.kind not in (GrantKind.EU_ADMIN, GrantKind.EU_REP) or g.context != ctx:
                    continue
            else:
                continue
            vat_ue = g.context.value.split("-", 1)[1]
            if body.get("vatUeIdentifier") and body["vatUeIdentifier"] != vat_ue:
                continue
            if fingerprint and g.subject.value != fingerprint:
                continue
            if body.get("permissionTypes") and g.permission not in body["permissionTypes"]:
                continue
            out.append(g)

        def render(g: Grant) -> dict[str, Any]:
            name, details = self.eu_entities.get(
                g.context.value, (g.eu_entity_name, g.eu_entity_details)
            )
            item: dict[str, Any] = {
                "id": g.id,
                "authorIdentifier": _ident(g.author),
                "vatUeIdentifier": g.context.value.split("-", 1)[1],
                "euEntityName": name or g.eu_entity_name or g.context.value,
                "authorizedFingerprintIdentifier": g.subject.value,
                "permissionScope": g.permission,
                "description": g.description,
            }
            item.update(render_subject_details(g.subject_details))
            if details:
                item["euEntityDetails"] = {
                    "fullName": details.get("fullName"),
                    "address": details.get("address"),
                }
            item["startDate"] = format_datetime(g.start_date)
            return item

        return self._query(out, render, offset, size)
