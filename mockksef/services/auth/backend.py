"""State and rules of the auth area.

One ``AuthBackend`` per environment holds the challenges and the authentication
operations (an operation that succeeded and was redeemed is an "authentication
session"). Everything is evaluated lazily against the environment clock:

* a challenge lives 10 minutes and is consumed by the first authentication that
  names it;
* an operation stays at status 100 for ``config.auth_processing_seconds`` and is
  then decided once, from the state at that moment (KSeF token state,
  certificate trust and status, blocks, deceased persons, permissions);
* ``GET /auth/{ref}`` answers for 7 days, then 410 Gone.

The auth-session operations (list, revoke) live in ``sessions.py`` and the
start and decision of KSeF-token and XAdES authentications in ``initiation.py``,
both as mixins, because the project splits a backend by entity before it passes
~500 lines.

JWTs come only from ``env.jwt`` (per-environment secret, so a DEMO token is a
401 on TEST and a data reset kills every earlier token). Claims of access tokens
come from ``security.access_claims``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mockksef.clock import format_datetime, to_millis
from mockksef.errors import Forbidden, Gone, KsefError
from mockksef.http.security import access_claims, operation_claims, refresh_claims
from mockksef.models import (
    Principal,
)
from mockksef.services.auth.initiation import InitiationMixin
from mockksef.services.auth.models import (
    CHALLENGE_LIFETIME,
    DECEASED,
    IN_PROGRESS,
    OPERATION_RETENTION,
    REVOKED,
    SUCCESS,
    AuthOperation,
    Challenge,
    Outcome,
    method_fields,
)
from mockksef.services.auth.sessions import SessionsMixin, not_found

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState


class _ChallengeView(Mapping[str, Challenge]):
    """``AuthBackend.challenges``: the stored tuples seen as ``Challenge`` objects."""

    def __init__(self, records: Mapping[str, tuple[datetime, int, str, datetime, bool]]) -> None:
        self._records = records

    def __getitem__(self, value: str) -> Challenge:
        return Challenge(value, *self._records[value])

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)


def _not_authorized(detail: str) -> KsefError:
    return KsefError(21301, detail)


class AuthBackend(SessionsMixin, InitiationMixin):
    """Challenges, KSeF-token and XAdES authentication, JWTs and auth sessions.

    Simplifications (moto-style): certificate revocation (OCSP/CRL) is known
    only for certificates issued by the environment's mock KSeF CA; any other
    certificate is "trusted" on TEST unless ``verifyCertificateChain=true`` and
    untrusted on DEMO/PROD (no trust store of qualified CAs). XPath transforms
    other than the one cutting out the signature are not supported (9105).
    """

    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self._lock = threading.RLock()
        # Oldest first: challenges expire in the order they were issued, so the purge
        # looks only at the front (a scan of all of them made every challenge cost
        # O(challenges issued in the last 10 minutes) under load). Plain tuples of
        # (timestamp, timestamp_ms, client_ip, expires, used): the cyclic garbage
        # collector skips them, where 10 minutes of Challenge objects under load
        # (a quarter of a million) made its full collections pause for 100+ ms.
        self._challenges: OrderedDict[str, tuple[datetime, int, str, datetime, bool]] = (
            OrderedDict()
        )
        self.operations: dict[str, AuthOperation] = {}
        # Operations created or changed since the persister last asked (--data).
        self.touched: set[str] = set()
        # Access-token ids (``jti``) from a stream of their own: seeded, so replayable, and
        # drawing them does not shift the environment's reference numbers.
        self._token_ids = env.rng.child("access-token-ids")

    @property
    def challenges(self) -> Mapping[str, Challenge]:
        """The live challenges, oldest first (a read-only view)."""
        return _ChallengeView(self._challenges)

    # -- POST /auth/challenge -------------------------------------------------------------

    def challenge(self, client_ip: str, now: datetime) -> dict[str, Any]:
        """A single-use challenge valid 10 minutes; ``timestampMs`` is the floor of ``timestamp``."""
        millis = to_millis(now)
        with self._lock:
            self._purge_challenges(now)
            value = self.env.rng.reference_number("CR", now)
            self._challenges[value] = (now, millis, client_ip, now + CHALLENGE_LIFETIME, False)
        self.env.events.emit("auth.challenge", challenge=value)
        return {
            "challenge": value,
            "timestamp": format_datetime(now),
            "timestampMs": millis,
            "clientIp": client_ip,
        }

    def _purge_challenges(self, now: datetime) -> None:
        """Forget used and expired challenges from the oldest on, up to the first live one.

        A used challenge behind a live one stays until it reaches the front; it is
        refused anyway (``used``). Amortised O(1) per challenge issued.
        """
        challenges = self._challenges
        while challenges:
            value, record = next(iter(challenges.items()))
            if not (record[4] or now >= record[3]):
                break
            del challenges[value]

    def _usable_challenge(self, value: str, now: datetime) -> Challenge:
        record = self._challenges.get(value)
        if record is None or record[4] or now >= record[3]:
            raise KsefError(21111)
        return Challenge(value, *record)

    def _consume_challenge(self, challenge: Challenge) -> None:
        """Mark a challenge used (call under the lock, after ``_usable_challenge``)."""
        record = self._challenges.get(challenge.value)
        if record is not None:
            self._challenges[challenge.value] = (*record[:4], True)
        challenge.used = True

    # -- operations ----------------------------------------------------------------------------

    def _start(self, operation: AuthOperation, now: datetime) -> dict[str, Any]:
        lifetime = timedelta(minutes=self.env.config.operation_token_minutes)
        claims = operation_claims(operation.reference_number)
        token, valid_until = self.env.jwt.issue(claims, lifetime, now)
        operation.operation_token_expires = valid_until
        with self._lock:
            self.operations[operation.reference_number] = operation
            self.touched.add(operation.reference_number)
        return {
            "referenceNumber": operation.reference_number,
            "authenticationToken": {"token": token, "validUntil": format_datetime(valid_until)},
        }

    def _settle(self, operation: AuthOperation, now: datetime) -> None:
        if operation.outcome is None and now >= operation.ready_at:
            operation.outcome = self._decide(operation, now)
            self.touched.add(operation.reference_number)
            ok = operation.outcome.code == SUCCESS
            self.env.events.emit(
                "auth.succeeded" if ok else "auth.failed",
                reference=operation.reference_number,
                code=operation.outcome.code,
            )

    def _status(self, operation: AuthOperation) -> Outcome:
        if operation.revoked_at is not None:
            return Outcome.of(REVOKED)
        return operation.outcome or Outcome(IN_PROGRESS)

    def operation(self, reference_number: str, now: datetime | None = None) -> AuthOperation | None:
        """The operation with its outcome settled (admin API, other areas, tests)."""
        with self._lock:
            found = self.operations.get(reference_number)
            if found is not None:
                self._settle(found, now or self.env.clock.now())
            return found

    def set_outcome(self, reference_number: str, code: int, detail: str | None = None) -> None:
        """Scenario hook: force the outcome of an operation (e.g. 550 cancelled by the system)."""
        with self._lock:
            self.operations[reference_number].outcome = Outcome.of(code, detail)
            self.touched.add(reference_number)

    # -- GET /auth/{referenceNumber} -------------------------------------------------------

    def status(self, principal: Principal, reference_number: str, now: datetime) -> dict[str, Any]:
        """Status of the caller's own operation.

        Unknown reference: 400 21304. Another operation's reference (known, but not
        the one of the presented operation token): 403 ``insufficient-resource-access``.
        After 7 days: 410 Gone.
        """
        with self._lock:
            operation = self.operations.get(reference_number)
            if operation is None:
                raise not_found(reference_number)
            if principal.reference_number != reference_number:
                raise Forbidden("insufficient-resource-access")
            if now >= operation.start_date + OPERATION_RETENTION:
                raise Gone()
            self._settle(operation, now)
            return {
                "startDate": format_datetime(operation.start_date),
                **method_fields(operation.method, now),
                "status": self._status(operation).as_json(),
                "isTokenRedeemed": operation.redeemed,
                "lastTokenRefreshDate": _fmt(operation.last_token_refresh),
                "refreshTokenValidUntil": _fmt(operation.refresh_token_valid_until),
            }

    # -- tokens ------------------------------------------------------------------------------

    def _operation_of(self, principal: Principal) -> AuthOperation:
        operation = self.operations.get(principal.reference_number)
        if operation is None:
            raise not_found(principal.reference_number)
        return operation

    def _permissions(self, operation: AuthOperation) -> frozenset[str]:
        """Current permissions: the token's requested ones the author still holds, or resolve()."""
        assert operation.subject is not None
        if operation.ksef_token_reference:
            token = self.env.tokens.get_token(operation.ksef_token_reference)
            return self.env.tokens.token_permissions(token) if token else frozenset()
        return self.env.permissions.resolve(operation.subject, operation.context)

    def _access_token(self, operation: AuthOperation, now: datetime) -> dict[str, str]:
        assert operation.subject is not None
        claims = access_claims(
            reference_number=operation.reference_number,
            context=operation.context,
            subject=operation.subject,
            auth_method=operation.method,
            permissions=self._permissions(operation),
            ip_policy=operation.authorization_policy,
            subject_details=operation.subject_details,
            ksef_token_reference=operation.ksef_token_reference,
            token_id=self._token_ids.uuid(),
        )
        token, valid_until = self.env.jwt.issue(
            claims, timedelta(minutes=self.env.config.access_token_minutes), now
        )
        return {"token": token, "validUntil": format_datetime(valid_until)}

    def _check_credentials(self, operation: AuthOperation) -> None:
        if operation.ksef_token_reference and self.env.tokens.is_revoked(
            operation.ksef_token_reference
        ):
            raise _not_authorized("Token KSeF został unieważniony.")
        if operation.subject is not None and self.env.subjects.is_deceased(operation.subject):
            raise KsefError(21308)

    def redeem(self, principal: Principal, now: datetime) -> dict[str, Any]:
        """Access + refresh token, exactly once per successful operation (21301/21304/21308)."""
        with self._lock:
            operation = self._operation_of(principal)
            self._settle(operation, now)
            ref = operation.reference_number
            if operation.redeemed:
                raise _not_authorized(
                    f"Tokeny dla operacji uwierzytelniania {ref} zostały już pobrane."
                )
            code = self._status(operation).code
            if code == DECEASED:
                raise KsefError(21308)
            if code != SUCCESS:
                raise _not_authorized(
                    f"Status uwierzytelniania ({code}) nie pozwala na pobranie tokenów."
                )
            self._check_credentials(operation)
            access = self._access_token(operation, now)
            claims = refresh_claims(ref, operation.authorization_policy)
            lifetime = timedelta(days=self.env.config.refresh_token_days)
            refresh, refresh_until = self.env.jwt.issue(claims, lifetime, now)
            operation.redeemed_at = now
            operation.refresh_token_valid_until = refresh_until
            self.touched.add(ref)
        self.env.events.emit("auth.redeemed", reference=ref)
        return {
            "accessToken": access,
            "refreshToken": {"token": refresh, "validUntil": format_datetime(refresh_until)},
        }

    def refresh(self, principal: Principal, now: datetime) -> dict[str, Any]:
        """A new access token with the current permissions; the refresh token is not rotated."""
        with self._lock:
            operation = self._operation_of(principal)
            code = self._status(operation).code
            if code != SUCCESS:
                raise _not_authorized(
                    f"Status uwierzytelnienia ({code}) nie pozwala na odświeżenie tokenu dostępowego."
                )
            self._check_credentials(operation)
            access = self._access_token(operation, now)
            operation.last_token_refresh = now
            self.touched.add(operation.reference_number)
        self.env.events.emit("auth.refreshed", reference=operation.reference_number)
        return {"accessToken": access}

    def drain_touched(self) -> set[str]:
        """The operations changed since the last call (the persister writes their rows)."""
        with self._lock:
            touched, self.touched = self.touched, set()
        return touched

    def summary(self) -> dict[str, int]:
        now = self.env.clock.now()
        with self._lock:
            for operation in self.operations.values():
                self._settle(operation, now)
            return {
                "challenges": sum(1 for r in self._challenges.values() if not r[4] and now < r[3]),
                "operations": len(self.operations),
                "succeeded": sum(
                    1
                    for op in self.operations.values()
                    if op.outcome and op.outcome.code == SUCCESS
                ),
                "activeSessions": sum(
                    1 for op in self.operations.values() if self._active(op, now)
                ),
            }


def _fmt(value: datetime | None) -> str | None:
    return format_datetime(value) if value is not None else None
