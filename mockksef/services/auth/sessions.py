"""Authentication sessions: ``GET /auth/sessions`` and the two ``DELETE`` operations.

A session is a successful, redeemed authentication operation whose refresh
token has not expired and was not revoked (reference A §2.11). Revoking one
kills its refresh token (status 425); access tokens live on until ``exp``.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mockksef import paging, violations
from mockksef.clock import format_datetime
from mockksef.errors import InvalidInputData, KsefError
from mockksef.models import ContextIdentifier, Principal
from mockksef.services.auth.models import SUCCESS, AuthOperation, Outcome, method_fields

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState


def not_found(reference_number: str) -> KsefError:
    return KsefError(
        21304,
        f"Operacja uwierzytelniania o numerze referencyjnym {reference_number} nie została znaleziona.",
    )


class SessionsMixin:
    """The session half of ``AuthBackend`` (it provides the state used here)."""

    _lock: threading.RLock
    operations: dict[str, AuthOperation]
    touched: set[str]
    env: EnvironmentState

    def _status(self, operation: AuthOperation) -> Outcome:
        raise NotImplementedError

    def _operation_of(self, principal: Principal) -> AuthOperation:
        raise NotImplementedError

    def _active(self, operation: AuthOperation, now: datetime) -> bool:
        return (
            operation.revoked_at is None
            and operation.outcome is not None
            and operation.outcome.code == SUCCESS
            and operation.refresh_token_valid_until is not None
            and now < operation.refresh_token_valid_until
        )

    def _same_owner(self, operation: AuthOperation, principal: Principal) -> bool:
        subject, context = principal.subject, principal.context
        if subject is None:
            # A refresh token carries only its operation's reference.
            own = self.operations.get(principal.reference_number)
            subject, context = (own.subject, own.context) if own else (None, None)
        return subject is not None and operation.subject == subject and operation.context == context

    def list_sessions(
        self, principal: Principal, continuation: str | None, page_size: int, now: datetime
    ) -> dict[str, Any]:
        """Active sessions of the calling subject in its context, newest first.

        Active = authenticated successfully, redeemed, not revoked, refresh token
        not expired. ``continuationToken`` is opaque (Base64 JSON); a malformed one
        is 21418.
        """
        offset = _decode_continuation(continuation)
        with self._lock:
            items = [
                op
                for op in self.operations.values()
                if self._same_owner(op, principal) and self._active(op, now)
            ]
        # Newest first; among equal start dates (a frozen virtual clock) the later
        # authentication first, as real start dates would order them.
        order = {ref: n for n, ref in enumerate(self.operations)}
        items.sort(key=lambda op: (op.start_date, order[op.reference_number]), reverse=True)
        page = items[offset : offset + page_size]
        out: dict[str, Any] = {"items": [self._session_item(op, principal, now) for op in page]}
        if offset + page_size < len(items):
            out["continuationToken"] = _encode_continuation(offset + page_size)
        return out

    def _session_item(
        self, operation: AuthOperation, principal: Principal, now: datetime
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "referenceNumber": operation.reference_number,
            "isCurrent": operation.reference_number == principal.reference_number,
            "startDate": format_datetime(operation.start_date),
            **method_fields(operation.method, now),
            "status": self._status(operation).as_json(),
            "isTokenRedeemed": operation.redeemed,
        }
        if operation.last_token_refresh is not None:
            item["lastTokenRefreshDate"] = format_datetime(operation.last_token_refresh)
        if operation.refresh_token_valid_until is not None:
            item["refreshTokenValidUntil"] = format_datetime(operation.refresh_token_valid_until)
        return item

    def revoke_current(self, principal: Principal, now: datetime) -> None:
        """Revoke the session of the presented access/refresh token (its refresh token dies)."""
        with self._lock:
            operation = self._operation_of(principal)
            self._revoke_session(operation, now)

    def revoke(self, principal: Principal, reference_number: str, now: datetime) -> None:
        """Revoke a session of the same subject in the same context.

        Unknown or foreign: 400 21405, the only code the official table lists here
        (reference A suggested 21304; the spec is newer).
        """
        with self._lock:
            operation = self.operations.get(reference_number)
            if operation is None or not self._same_owner(operation, principal):
                raise InvalidInputData(
                    violations.service("auth_session_not_found", reference=reference_number)
                )
            self._revoke_session(operation, now)

    def revoke_sessions(self, now: datetime, context: ContextIdentifier | None = None) -> list[str]:
        """Revoke every authentication session in ``context`` (all when None), as ``revoke`` would.

        For scenarios and the admin plane: no caller, so no ownership check.
        Returns the reference numbers revoked now.
        """
        with self._lock:
            return [
                operation.reference_number
                for operation in list(self.operations.values())
                if (context is None or operation.context == context)
                and self._revoke_session(operation, now)
            ]

    def _revoke_session(self, operation: AuthOperation, now: datetime) -> bool:
        """Kill the session's refresh token; False if it was already revoked."""
        if operation.revoked_at is not None:
            return False
        operation.revoked_at = now
        self.touched.add(operation.reference_number)
        self.env.events.emit("auth.session_revoked", reference=operation.reference_number)
        return True


def _encode_continuation(offset: int) -> str:
    return paging.encode({"skip": offset})


def _decode_continuation(value: str | None) -> int:
    fields = paging.decode_fields(value, ("skip",))
    if fields is None:
        return 0
    offset = fields[0]
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise paging.invalid_token()
    return offset
