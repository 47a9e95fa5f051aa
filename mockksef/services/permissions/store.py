"""The grant store of one environment and its asynchronous operations.

``PermissionStore`` holds the state (grants, operations, EU entity names) and
the rules both halves of the area use: settling operations on the clock,
submitting one, finding a grant, who a subject is. ``grants.py`` and
``queries.py`` build on it; ``PermissionsBackend`` (``backend.py``) joins them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mockksef.models import OWNER_PERMISSIONS, ContextIdentifier, SubjectIdentifier
from mockksef.services.permissions.models import (
    OWNER_SCOPE_ORDER,
    Grant,
    PermissionOperation,
    norm,
)

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState


class PermissionStore:
    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self.grants: dict[str, Grant] = {}
        self.operations: dict[str, PermissionOperation] = {}
        # Names and addresses of EU entities, by NipVatUe context value.
        self.eu_entities: dict[str, tuple[str, dict[str, Any] | None]] = {}
        self._pending: list[str] = []
        self._lock = threading.RLock()

    # -- time ------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.env.clock.now()

    def settle(self, now: datetime | None = None) -> None:
        """Complete every operation whose processing time has come, in order."""
        now = now or self.now
        with self._lock:
            while self._pending:
                op = self.operations.get(self._pending[0])
                if op is None:
                    self._pending.pop(0)
                    continue
                if op.ready_at > now:
                    break
                self._pending.pop(0)
                try:
                    code, details = op.action(op.ready_at) if op.action else (200, [])
                except Exception:  # an operation never takes the server down
                    code, details = 500, []
                op.code, op.details, op.action = code, details, None

    def _submit(
        self,
        context: ContextIdentifier,
        action: Callable[[datetime], tuple[int, list[str]]],
        now: datetime,
    ) -> dict[str, str]:
        delay = max(0.0, float(self.env.config.permission_processing_seconds))
        ref = self.env.rng.reference_number("EG", now)
        with self._lock:
            self.operations[ref] = PermissionOperation(
                ref, context, now, now + timedelta(seconds=delay), action
            )
            self._pending.append(ref)
        if delay == 0:
            self.settle(now)
        return {"referenceNumber": ref}

    def identities(self, subject: SubjectIdentifier) -> set[SubjectIdentifier]:
        """The subject and its NIP–PESEL linked identifiers, normalised."""
        return {norm(i) for i in self.env.subjects.linked_identifiers(norm(subject))}

    def owner_permissions(self, context: ContextIdentifier) -> list[str]:
        """The implicit set an Owner holds (``ownerPermissions``, reference C §5)."""
        held = set(OWNER_PERMISSIONS)
        if self.env.subjects.is_enforcement_context(context.nip):
            held.add("EnforcementOperations")
        return [p for p in OWNER_SCOPE_ORDER if p in held]

    def _find(
        self,
        kind: str,
        context: ContextIdentifier,
        subject: SubjectIdentifier,
        permission: str,
        target: Any = None,
        match_target: bool = False,
    ) -> Grant | None:
        for g in self.grants.values():
            if (
                g.kind == kind
                and g.context == context
                and g.subject == subject
                and g.permission == permission
            ):
                if match_target and g.target != target:
                    continue
                return g
        return None
