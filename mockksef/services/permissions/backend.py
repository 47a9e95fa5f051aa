"""State and rules of the permissions area.

One ``PermissionsBackend`` per environment holds every grant (reference A §6.7)
and the asynchronous grant/revoke operations. The backend is split by entity:
``store.py`` has the state and the operation machinery both halves build on;
``grants.py`` the grant and revoke operations; ``queries.py`` the read-only
queries; this module joins them and adds permission resolution (``resolve``,
used by auth), the test-data hooks and operation status.

Operations progress lazily on the clock: a grant or revoke is accepted at once
(202, status 100) and takes effect when ``config.permission_processing_seconds``
have passed (status 200 or a documented failure code). Semantic checks run at
that moment, as in the real system.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mockksef import violations
from mockksef.clock import format_datetime
from mockksef.errors import Gone, InvalidInputData
from mockksef.models import (
    OWNER,
    ContextIdentifier,
    Principal,
    SubjectIdentifier,
    status,
)
from mockksef.services.permissions.grants import PermissionGrants
from mockksef.services.permissions.models import (
    OPERATION_RETENTION_DAYS,
    OPERATION_STATUS,
    SYSTEM_AUTHOR,
    Grant,
    GrantKind,
    norm,
)
from mockksef.services.permissions.queries import PermissionQueries

if TYPE_CHECKING:
    pass

# Grant kinds that give login permissions in ``grant.context`` to ``grant.subject``
# directly. Authorisation permissions (SelfInvoicing…) do not: the authorised
# entity works in its own context. Indirect grants need the delegation check.
_DIRECT_KINDS = frozenset(
    {
        GrantKind.PERSON,
        GrantKind.ENTITY,
        GrantKind.SUBUNIT,
        GrantKind.EU_ADMIN,
        GrantKind.EU_REP,
        GrantKind.SYSTEM,
    }
)


class PermissionsBackend(PermissionGrants, PermissionQueries):
    """Grants, revocations, queries and permission resolution.

    Simplifications (moto-style):
    - grants have no ``Inactive`` state: a revoked grant is deleted, so the
      ``permissionState: Inactive`` filter always yields an empty list;
    - a selective indirect grant gives permission P in the target context only
      while the target still delegates P to the intermediary with ``canDelegate``;
    - a PeppolId context always resolves to ``PefInvoiceWrite`` (only a Peppol
      provider certificate can authenticate into it, which auth checks).
    """

    def operation_status(
        self, me: Principal, reference_number: str, now: datetime
    ) -> dict[str, Any]:
        """GET /permissions/operations/{ref}.

        Unknown references, and operations of another context, are 400 21405
        (the only documented code); after 30 days 410 Gone.
        """
        self.settle(now)
        op = self.operations.get(reference_number)
        if op is None or op.context != me.context:
            raise InvalidInputData(
                violations.service("permission_operation_not_found", reference=reference_number)
            )
        if now - op.created > timedelta(days=OPERATION_RETENTION_DAYS):
            raise Gone()
        details = op.details or None
        if op.code == 550 and not details:
            details = [
                "Przetwarzanie zostało przerwane z przyczyn wewnętrznych systemu. Spróbuj ponownie później."
            ]
        return {"status": status(op.code, OPERATION_STATUS[op.code], details)}

    def fail_operation(
        self, reference_number: str, code: int, details: list[str] | None = None
    ) -> None:
        """Admin/scenario hook: end a pending operation with a failure code now."""
        if code not in OPERATION_STATUS:
            raise ValueError(f"unknown permission operation status {code}")
        with self._lock:
            op = self.operations[reference_number]
            if not op.done:
                op.code, op.details, op.action = code, list(details or []), None
                if reference_number in self._pending:
                    self._pending.remove(reference_number)

    # -- who holds what -----------------------------------------------------------

    def is_owner(self, subject: SubjectIdentifier, context: ContextIdentifier) -> bool:
        if context.type != "Nip":
            return False
        return any(i.type == "Nip" and i.value == context.value for i in self.identities(subject))

    def _active(self) -> list[Grant]:
        return list(self.grants.values())

    def resolve(self, subject: SubjectIdentifier, context: ContextIdentifier) -> frozenset[str]:
        """Permissions the subject holds in the context right now (the JWT ``per`` claim).

        ``Owner`` by identity (NIP == context NIP, or a PESEL linked to it by
        /testdata/person); ``EnforcementOperations`` for the owner of a bailiff
        or enforcement-authority context; every active grant to the subject or
        its linked identifiers in that context; indirect grants through an
        intermediary that still holds a delegable grant from the context.
        """
        self.settle()
        ids = self.identities(subject)
        out: set[str] = set()
        if self.is_owner(subject, context):
            out.add(OWNER)
            if self.env.subjects.is_enforcement_context(context.value):
                out.add("EnforcementOperations")
        if context.type == "PeppolId":
            out.add("PefInvoiceWrite")
        with self._lock:
            grants = self._active()
        for grant in grants:
            if grant.subject not in ids:
                continue
            if grant.kind in _DIRECT_KINDS and grant.context == context:
                out.add(grant.permission)
            elif grant.kind == GrantKind.INDIRECT and self._indirect_applies(
                grant, context, grants
            ):
                out.add(grant.permission)
        return frozenset(out)

    def _indirect_applies(
        self, grant: Grant, context: ContextIdentifier, grants: list[Grant]
    ) -> bool:
        target = grant.target
        if target is not None and target.type in ("Nip", "InternalId"):
            if not (context.type == target.type and context.value == target.value):
                return False
        elif context.type not in ("Nip", "InternalId"):
            return False
        intermediary = grant.context.nip
        return any(
            g.kind == GrantKind.ENTITY
            and g.context == context
            and g.subject == SubjectIdentifier("Nip", intermediary or "")
            and g.permission == grant.permission
            and g.can_delegate
            for g in grants
        )

    def has_authorization(
        self, authorizing_nip: str, authorized: SubjectIdentifier, scope: str
    ) -> bool:
        """Whether ``authorizing_nip`` granted ``scope`` (SelfInvoicing…) to ``authorized``."""
        self.settle()
        target = norm(authorized)
        with self._lock:
            return any(
                g.kind == GrantKind.AUTHORIZATION
                and g.context == ContextIdentifier("Nip", authorizing_nip)
                and g.subject == target
                and g.permission == scope
                for g in self.grants.values()
            )

    # -- test data (/testdata/permissions) ----------------------------------------------

    def grant_system(
        self,
        context: ContextIdentifier,
        authorized: SubjectIdentifier,
        permissions: list[tuple[str, str]],
        now: datetime,
    ) -> None:
        """A ZAW-FA filing: grants with author ``System``, effective at once."""
        subject = norm(authorized)
        with self._lock:
            for permission, description in permissions:
                grant = self._upsert(
                    now,
                    kind=GrantKind.SYSTEM,
                    context=context,
                    subject=subject,
                    permission=permission,
                    description=description,
                    author=SYSTEM_AUTHOR,
                )
                # Filed again: the same grant, with the new filing's description.
                grant.description = description

    def revoke_system(self, context: ContextIdentifier, authorized: SubjectIdentifier) -> None:
        """/testdata/permissions/revoke: drop the grants to that identifier in that context."""
        subject = norm(authorized)
        with self._lock:
            for gid in [
                g.id for g in self.grants.values() if g.context == context and g.subject == subject
            ]:
                del self.grants[gid]

    def remove_subject(self, identifiers: set[SubjectIdentifier]) -> None:
        """A removed test person/subject loses every grant made to it."""
        ids = {norm(i) for i in identifiers}
        with self._lock:
            for gid in [g.id for g in self.grants.values() if g.subject in ids]:
                del self.grants[gid]

    def attachment_status(self, me: Principal, now: datetime) -> dict[str, Any]:
        """GET /permissions/attachments/status from the test-data consent of the context NIP.

        A withdrawal with a future ``expectedEndDate`` keeps the consent until that day.
        """
        nip = me.context.nip if me.context else None
        consent = self.env.subjects.attachment_consent(nip or "")
        revoked = consent.revoked_date
        allowed = bool(consent.allowed)
        if revoked is not None:
            allowed = now.date() < revoked
        revoked_text = None
        if revoked is not None:
            revoked_text = format_datetime(
                datetime(revoked.year, revoked.month, revoked.day, tzinfo=now.tzinfo)
            )
        # The reference shows ``"revokedDate": null`` when there is no end date.
        return {"isAttachmentAllowed": allowed, "revokedDate": revoked_text}

    def summary(self) -> dict[str, int]:
        self.settle()
        return {
            "grants": len(self.grants),
            "operations": len(self.operations),
            "pendingOperations": len(self._pending),
        }
