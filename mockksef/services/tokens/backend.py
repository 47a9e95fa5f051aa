"""State and rules of the tokens area (reference A §4).

A KSeF token is ``{referenceNumber}|{nip|internalId}-{contextValue}|{64 hex}``;
only a SHA-256 hash of the secret part is kept, so the full token exists only
in the ``POST /tokens`` answer. Statuses move lazily with the clock:
``Pending`` -> ``Active`` after ``config.token_activation_seconds``, and a
revocation shows ``Revoking`` until the same delay has passed, then ``Revoked``
(at once when the delay is 0). ``Failed`` happens only through ``fail()``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mockksef import paging, violations
from mockksef.clock import format_datetime, parse_datetime
from mockksef.errors import Forbidden, InvalidInputData, KsefError, MissingPermissions
from mockksef.ids import REFERENCE_RE, is_reference_number, with_checksum
from mockksef.models import (
    ContextIdentifier,
    Principal,
    SubjectIdentifier,
    effective_permissions,
)
from mockksef.services.tokens.models import (
    ACTIVE,
    FAILED,
    INVALID_ENCODING,
    INVALID_TOKEN,
    PENDING,
    REVOKED,
    REVOKING,
    TOKEN_INACTIVE,
    TOKEN_REVOKED,
    KsefToken,
    TokenAuthError,
    wrong_context,
)

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState

TOKEN_CONTEXT_TYPES = ("Nip", "InternalId")
_PREFIXES = {"nip": "Nip", "internalId": "InternalId"}
_SECRET_RE = re.compile(r"^[0-9a-f]{64}$")
_READERS = frozenset({"CredentialsManage", "CredentialsRead"})


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _norm(subject: SubjectIdentifier) -> SubjectIdentifier:
    if subject.type == "Fingerprint":
        return SubjectIdentifier(subject.type, subject.value.upper())
    return subject


def not_found(reference_number: str) -> InvalidInputData:
    return InvalidInputData(violations.service("token_not_found", reference=reference_number))


class TokensBackend:
    """KSeF tokens: generate, list, get, revoke, and the checks auth needs.

    Simplifications (moto-style):
    - tokens of another context are reported as unknown (400 21405), never as 403;
    - revoking an already revoked token is a no-op (204);
    - the continuation token is an opaque Base64 position (last dateCreated and
      reference number), not bound to the filters of the first request.
    """

    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self.tokens: dict[str, KsefToken] = {}
        self._lock = threading.RLock()

    # -- status --------------------------------------------------------------------

    @property
    def _delay(self) -> timedelta:
        return timedelta(seconds=max(0.0, float(self.env.config.token_activation_seconds)))

    def _refresh(self, token: KsefToken, now: datetime | None = None) -> KsefToken:
        """Bring ``token.status`` up to date with the clock."""
        now = now or self.env.clock.now()
        if token.failed:
            token.status = FAILED
        elif token.revoke_requested is not None:
            token.status = REVOKED if token.revoked_from and now >= token.revoked_from else REVOKING
        elif token.active_from is not None and now >= token.active_from:
            token.status = ACTIVE
        else:
            token.status = PENDING
        return token

    def fail(self, reference_number: str, details: list[str] | None = None) -> None:
        """Admin/scenario hook: activation failed (status ``Failed``)."""
        with self._lock:
            token = self.tokens[reference_number]
            token.failed = True
            token.status_details = list(details or [])
            self._refresh(token)

    # -- used by auth -------------------------------------------------------------------

    def parse(self, token_string: str) -> tuple[str, ContextIdentifier, str]:
        """Split a token string; malformed strings give ``Nieprawidłowe kodowanie tokena``."""
        parts = token_string.split("|")
        if len(parts) != 3 or not is_reference_number(parts[0]):
            raise TokenAuthError(INVALID_ENCODING)
        prefix, _, value = parts[1].partition("-")
        if prefix not in _PREFIXES or not value or not _SECRET_RE.match(parts[2]):
            raise TokenAuthError(INVALID_ENCODING)
        return parts[0], ContextIdentifier(_PREFIXES[prefix], value), parts[2]

    def authenticate(self, token_string: str, context: ContextIdentifier) -> KsefToken:
        """Check a KSeF token presented for ``context``.

        Raises ``TokenAuthError`` with the official 450 detail: malformed string ->
        "Nieprawidłowe kodowanie tokena"; unknown token or wrong secret ->
        "Nieprawidłowy token"; Revoking/Revoked -> "Token unieważniony";
        Pending/Failed -> "Token nieaktywny"; other context -> "Token nie może
        być użyty w kontekście {value}". Permissions are not checked here: auth
        intersects them with the author's current ones (``token_permissions``).
        """
        reference, embedded, secret = self.parse(token_string)
        with self._lock:
            token = self.tokens.get(reference)
            if (
                token is None
                or token.context != embedded
                or not hmac.compare_digest(token.secret_hash, _hash(secret))
            ):
                raise TokenAuthError(INVALID_TOKEN)
            self._refresh(token)
            if token.status in (REVOKING, REVOKED):
                raise TokenAuthError(TOKEN_REVOKED)
            if token.status in (PENDING, FAILED):
                raise TokenAuthError(TOKEN_INACTIVE)
            if token.context != context:
                raise TokenAuthError(wrong_context(context))
            return token

    def token_permissions(self, token: KsefToken) -> frozenset[str]:
        """The token's requested permissions the author still holds in its context.

        Empty when the author lost them all: the token then no longer
        authenticates (status 415), which is how KSeF invalidates such tokens.
        """
        held = effective_permissions(self.env.permissions.resolve(token.author, token.context))
        return frozenset(p for p in token.requested_permissions if p in held)

    def mark_used(self, reference_number: str, now: datetime) -> None:
        with self._lock:
            token = self.tokens.get(reference_number)
            if token is not None:
                token.last_use_date = now

    def is_revoked(self, reference_number: str) -> bool:
        """Revoking or Revoked (redeem/refresh of its sessions then fail with 21301)."""
        with self._lock:
            token = self.tokens.get(reference_number)
            return token is not None and self._refresh(token).status in (REVOKING, REVOKED)

    def get_token(self, reference_number: str) -> KsefToken | None:
        with self._lock:
            token = self.tokens.get(reference_number)
            return self._refresh(token) if token else None

    # -- operations --------------------------------------------------------------------

    def generate(self, me: Principal, body: dict[str, Any], now: datetime) -> dict[str, str]:
        """POST /tokens: 26002 outside Nip/InternalId contexts, 26001 for permissions the caller lacks."""
        context, author = me.context, me.subject
        assert context is not None and author is not None
        if context.type not in TOKEN_CONTEXT_TYPES:
            raise KsefError(
                26002,
                f"Bieżący typ kontekstu: {context.type}. Dozwolone typy kontekstu: {', '.join(TOKEN_CONTEXT_TYPES)}.",
            )
        requested = list(dict.fromkeys(body["permissions"]))
        if not requested:
            raise InvalidInputData(violations.not_empty("permissions"))
        held = me.effective_permissions
        missing = [p for p in requested if p not in held]
        if missing:
            raise KsefError(26001, f"Brakujące uprawnienia: {', '.join(missing)}.")
        reference = self.env.rng.reference_number("EC", now)
        secret = self.env.rng.hex(64, upper=False)
        prefix = {v: k for k, v in _PREFIXES.items()}[context.type]
        token = KsefToken(
            reference_number=reference,
            context=context,
            author=_norm(author),
            requested_permissions=tuple(requested),
            description=body["description"],
            status=PENDING,
            created=now,
            secret_hash=_hash(secret),
            active_from=now + self._delay,
        )
        with self._lock:
            self.tokens[reference] = self._refresh(token, now)
        self.env.events.emit("token.created", reference=reference, context=context.value)
        return {
            "referenceNumber": reference,
            "token": f"{reference}|{prefix}-{context.value}|{secret}",
        }

    def register(
        self,
        context: ContextIdentifier,
        author: SubjectIdentifier,
        permissions: list[str] | tuple[str, ...],
        now: datetime,
        *,
        token: str | None = None,
        description: str = "Token KSeF",
        created: datetime | None = None,
        active_from: datetime | None = None,
        revoked_at: datetime | None = None,
    ) -> dict[str, str]:
        """Seeding hook (scenario setup): a token with a value chosen by the caller.

        ``token`` is a full ``{referenceNumber}|nip-{nip}|{64 hex}`` string (the
        form ``POST /tokens`` returns) so that a connector can be configured with
        it before the mock starts; None draws one as ``generate`` does.
        ``created`` backdates it, ``active_from`` keeps it ``Pending`` until then,
        ``revoked_at`` makes it ``Revoked`` from then on. The
        reference number must carry its CRC-8 checksum and the embedded context
        must be ``context``: a value auth could never accept is refused with a
        ``ValueError`` naming the problem. No permission check is made against
        the author (KSeF checks them again at every login anyway).
        """
        if context.type not in TOKEN_CONTEXT_TYPES:
            raise ValueError(f"tokens exist in Nip/InternalId contexts only, not {context.type}")
        if not permissions:
            raise ValueError("a token needs at least one permission")
        prefix = {v: k for k, v in _PREFIXES.items()}[context.type]
        if token is None:
            reference = self.env.rng.reference_number("EC", now)
            secret = self.env.rng.hex(64, upper=False)
        else:
            parts = token.split("|")
            if len(parts) != 3:
                raise ValueError(
                    f"token must be '{{referenceNumber}}|{prefix}-{context.value}|{{64 hex}}', got {token!r}"
                )
            reference, embedded, secret = parts
            if not is_reference_number(reference):
                hint = ""
                if REFERENCE_RE.match(reference):
                    hint = f" (with its checksum it reads {with_checksum(reference[:33])})"
                raise ValueError(f"{reference!r} is not a valid KSeF reference number{hint}")
            if embedded != f"{prefix}-{context.value}":
                raise ValueError(
                    f"token names context {embedded!r}, expected '{prefix}-{context.value}'"
                )
            if not _SECRET_RE.match(secret):
                raise ValueError("the token's secret must be 64 lowercase hex digits")
        created = created or now
        entry = KsefToken(
            reference_number=reference,
            context=context,
            author=_norm(author),
            requested_permissions=tuple(dict.fromkeys(permissions)),
            description=description,
            status=PENDING,
            created=created,
            secret_hash=_hash(secret),
            active_from=active_from if active_from is not None else created,
            revoke_requested=revoked_at,
            revoked_from=revoked_at,
        )
        with self._lock:
            if reference in self.tokens:
                raise ValueError(f"a token with reference number {reference} already exists")
            self.tokens[reference] = self._refresh(entry, now)
        return {
            "referenceNumber": reference,
            "token": f"{reference}|{prefix}-{context.value}|{secret}",
        }

    def _visible(self, me: Principal, token: KsefToken) -> bool:
        """Who reads a token: CredentialsRead/Manage every token of the context, anyone
        else the tokens of the same author, a token caller included (its subject is the
        token's author: csharp KsefTokenE2ETests reads a sibling token's status with
        another token's access token, though it may not revoke it)."""
        if token.context != me.context:
            return False
        if me.effective_permissions & _READERS:
            return True
        return me.subject is not None and token.author in self._identities(me.subject)

    def _identities(self, subject: SubjectIdentifier) -> set[SubjectIdentifier]:
        return {_norm(i) for i in self.env.subjects.linked_identifiers(_norm(subject))}

    def _lookup(self, me: Principal, reference_number: str) -> KsefToken:
        token = self.tokens.get(reference_number)
        if token is None or token.context != me.context:
            raise not_found(reference_number)
        return self._refresh(token)

    def list_tokens(
        self,
        me: Principal,
        query: dict[str, Any],
        continuation: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        """GET /tokens: visibility of reference A §4.3, dateCreated desc, continuation header."""
        after = self._decode_continuation(continuation)
        statuses = set(query.get("status") or ())
        description = (query.get("description") or "").lower()
        author_text = (query.get("authorIdentifier") or "").lower()
        author_type = query.get("authorIdentifierType")
        size = int(query.get("pageSize") or 10)
        with self._lock:
            candidates = [self._refresh(t, now) for t in self.tokens.values()]
        rows = []
        for token in candidates:
            if not self._visible(me, token):
                continue
            if statuses and token.status not in statuses:
                continue
            if description and description not in token.description.lower():
                continue
            if author_type and token.author.type != author_type:
                continue
            if author_text and author_text not in token.author.value.lower():
                continue
            rows.append(token)
        rows.sort(key=lambda t: (t.created, t.reference_number), reverse=True)
        if after is not None:
            rows = [t for t in rows if (t.created, t.reference_number) < after]
        page = rows[:size]
        out: dict[str, Any] = {}
        if len(rows) > size:
            last = page[-1]
            out["continuationToken"] = self._encode_continuation(last)
        out["tokens"] = [self.render(t) for t in page]
        return out

    def get(self, me: Principal, reference_number: str, now: datetime) -> dict[str, Any]:
        """GET /tokens/{ref}: unknown -> 400 21405; existing but not visible -> 403."""
        with self._lock:
            token = self._lookup(me, reference_number)
            self._refresh(token, now)
        if not self._visible(me, token):
            raise Forbidden("insufficient-resource-access")
        return self.render(token)

    def revoke(self, me: Principal, reference_number: str, now: datetime) -> None:
        """DELETE /tokens/{ref} (reference A §4.5).

        CredentialsManage revokes any token of the context; otherwise a token
        caller only its own token, others only tokens they authored (NIP–PESEL
        link counts). Anything else -> 403 missing-permissions.
        """
        with self._lock:
            token = self._lookup(me, reference_number)
            held = me.effective_permissions
            if "CredentialsManage" in held:
                allowed = True
            elif me.by_token:
                allowed = token.reference_number == me.ksef_token_reference
            else:
                allowed = me.subject is not None and token.author in self._identities(me.subject)
            if not allowed:
                raise MissingPermissions(["CredentialsManage"], sorted(held))
            self._revoke(token, now)

    def revoke_all(self, now: datetime, context: ContextIdentifier | None = None) -> list[str]:
        """Revoke every token of ``context`` (all contexts when None), as ``revoke`` would.

        For scenarios and the admin plane: no caller, so no permission check.
        Returns the reference numbers whose revocation started now.
        """
        revoked = []
        with self._lock:
            for token in self.tokens.values():
                if (context is None or token.context == context) and self._revoke(token, now):
                    revoked.append(token.reference_number)
        return revoked

    def _revoke(self, token: KsefToken, now: datetime) -> bool:
        """Start a revocation (``Revoking`` for the activation delay); False if already started."""
        started = token.revoke_requested is None
        if started:
            token.revoke_requested = now
            token.revoked_from = now + self._delay
            self.env.events.emit("token.revoked", reference=token.reference_number)
        self._refresh(token, now)
        return started

    # -- rendering and paging ----------------------------------------------------------

    @staticmethod
    def render(token: KsefToken) -> dict[str, Any]:
        out: dict[str, Any] = {
            "referenceNumber": token.reference_number,
            "authorIdentifier": token.author.as_json(),
            "contextIdentifier": token.context.as_json(),
            "description": token.description,
            "requestedPermissions": list(token.requested_permissions),
            "dateCreated": format_datetime(token.created),
        }
        if token.last_use_date is not None:
            out["lastUseDate"] = format_datetime(token.last_use_date)
        out["status"] = token.status
        out["statusDetails"] = list(token.status_details)
        return out

    @staticmethod
    def _encode_continuation(token: KsefToken) -> str:
        return paging.encode({"c": format_datetime(token.created), "r": token.reference_number})

    @staticmethod
    def _decode_continuation(value: str | None) -> tuple[datetime, str] | None:
        fields = paging.decode_fields(value, ("c", "r"))
        if fields is None:
            return None
        created, reference = fields
        if not isinstance(reference, str):
            raise paging.invalid_token()
        try:
            return parse_datetime(str(created)), reference
        except ValueError as exc:
            raise paging.invalid_token() from exc

    def summary(self) -> dict[str, int]:
        with self._lock:
            return {"tokens": len(self.tokens)}
