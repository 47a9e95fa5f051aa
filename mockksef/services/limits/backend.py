"""State and rules of the limits area.

Holds the effective limits of every context and subject: defaults plus the
overrides written by ``/testdata/limits/*`` and ``/testdata/rate-limits*``.
Sessions read ``session_limits``, certificates read ``certificate_limits``.
API rate limits are enforced here too: the ``@endpoint`` pipeline
(``mockksef.http.ratelimit``) calls ``charge`` for every request, which counts
it in sliding windows (``windows.py``) and raises ``TooManyRequests``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mockksef import violations
from mockksef.environments import Env
from mockksef.errors import InvalidInputData, TooManyRequests
from mockksef.models import ContextIdentifier, SubjectIdentifier
from mockksef.services.limits import rates
from mockksef.services.limits.models import (
    COLLECTIVE_MAX_INVOICES_RANGE,
    DEFAULT_CERTIFICATE_LIMITS,
    DEFAULT_SESSION_LIMITS,
    OVERRIDABLE_GROUPS,
    PER_IP_GROUPS,
    SESSION_OVERRIDE_RANGES,
    WINDOW_FIELDS,
    CertificateLimits,
    RateLimit,
    SessionKindLimits,
    SessionLimits,
)
from mockksef.services.limits.windows import SlidingWindows, micros

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState


def _get(data: Mapping[str, Any], name: str) -> Any:
    """Case-insensitive property lookup, for fields the official spec we read does not know yet."""
    if name in data:
        return data[name]
    lowered = name.lower()
    for key, value in data.items():
        if key.lower() == lowered:
            return value
    return None


def _out_of_range(value: Any, low: int, high: int | None, where: str) -> str | None:
    """The violation of one whole-number limit value, or None."""
    if value is None:
        return violations.not_empty(where)
    if isinstance(value, bool) or not isinstance(value, int):
        return violations.bad_format(where)
    if value < low or (high is not None and value > high):
        if high is None:
            return violations.at_least(where, low)
        return violations.between(where, low, high, value)
    return None


def _int_in(value: Any, low: int, high: int | None, where: str) -> int:
    refused = _out_of_range(value, low, high, where)
    if refused is not None:
        raise InvalidInputData(refused)
    return value  # type: ignore[no-any-return]


# TEST lets a context raise each rate limit up to this many times its production value.
_OVERRIDE_FACTOR = 10


def _subject_key(subject: SubjectIdentifier) -> SubjectIdentifier:
    if subject.type == "Fingerprint":
        return SubjectIdentifier(subject.type, subject.value.upper())
    return subject


class LimitsBackend:
    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self._lock = threading.Lock()
        self._session: dict[ContextIdentifier, SessionLimits] = {}
        self._certificates: dict[SubjectIdentifier, CertificateLimits] = {}
        self._rates: dict[ContextIdentifier, dict[str, RateLimit]] = {}
        self._catalogue = rates.catalogue(env.root.spec)
        self._defaults = self._environment_defaults()
        # Counters of accepted requests per (operation, context, client IP).
        self.usage = SlidingWindows()

    # -- session limits (per context) -------------------------------------------------

    def session_limits(self, context: ContextIdentifier) -> SessionLimits:
        """Effective limits of ``context`` (defaults 1 MB / 3 MB / 10 000, IZ 500)."""
        return self._session.get(context, DEFAULT_SESSION_LIMITS)

    def set_session_limits(
        self, context: ContextIdentifier, body: Mapping[str, Any]
    ) -> SessionLimits:
        """``POST /testdata/limits/context/session``.

        ``collectiveIdentifier`` (``maxInvoices`` 2–5000) is required as in API
        2.7.1+; clients written for 2.7.0 that leave it out get 21405.
        """
        kinds: dict[str, SessionKindLimits] = {}
        for name in ("onlineSession", "batchSession"):
            part = _get(body, name)
            if not isinstance(part, Mapping):
                raise InvalidInputData(violations.not_empty(name))
            values = [
                _int_in(_get(part, field), low, high, f"{name}.{field}")
                for field, (low, high) in SESSION_OVERRIDE_RANGES.items()
            ]
            kinds[name] = SessionKindLimits(*values)
        collective = _get(body, "collectiveIdentifier")
        if not isinstance(collective, Mapping):
            raise InvalidInputData(violations.not_empty("collectiveIdentifier"))
        low, high = COLLECTIVE_MAX_INVOICES_RANGE
        max_collective = _int_in(
            _get(collective, "maxInvoices"), low, high, "collectiveIdentifier.maxInvoices"
        )
        limits = SessionLimits(kinds["onlineSession"], kinds["batchSession"], max_collective)
        with self._lock:
            self._session[context] = limits
        return limits

    def reset_session_limits(self, context: ContextIdentifier) -> None:
        with self._lock:
            self._session.pop(context, None)

    # -- certificate limits (per subject) -----------------------------------------------

    def certificate_limits(self, subject: SubjectIdentifier) -> CertificateLimits:
        """Effective limits of the subject: NIP 300/100, PESEL and fingerprint 12/6 by default."""
        key = _subject_key(subject)
        override = self._certificates.get(key)
        if override is not None:
            return override
        return DEFAULT_CERTIFICATE_LIMITS.get(
            subject.type, DEFAULT_CERTIFICATE_LIMITS["Fingerprint"]
        )

    def set_certificate_limits(
        self, subject: SubjectIdentifier, body: Mapping[str, Any]
    ) -> CertificateLimits:
        """``POST /testdata/limits/subject/certificate`` for the authenticated subject.

        A missing or null ``enrollment``/``certificate`` keeps that value as it is.
        ``subjectIdentifierType`` is accepted but not used: the override always
        applies to the authenticated subject (simplification).
        """
        current = self.certificate_limits(subject)
        enrollment = _get(body, "enrollment")
        certificate = _get(body, "certificate")
        max_enrollments = current.max_enrollments
        max_certificates = current.max_certificates
        if isinstance(enrollment, Mapping) and _get(enrollment, "maxEnrollments") is not None:
            max_enrollments = _int_in(
                _get(enrollment, "maxEnrollments"), 0, None, "enrollment.maxEnrollments"
            )
        if isinstance(certificate, Mapping) and _get(certificate, "maxCertificates") is not None:
            max_certificates = _int_in(
                _get(certificate, "maxCertificates"), 0, None, "certificate.maxCertificates"
            )
        limits = CertificateLimits(max_enrollments, max_certificates)
        with self._lock:
            self._certificates[_subject_key(subject)] = limits
        return limits

    def reset_certificate_limits(self, subject: SubjectIdentifier) -> None:
        with self._lock:
            self._certificates.pop(_subject_key(subject), None)

    # -- API rate limits (per context) ----------------------------------------------------

    def production_rate_limits(self) -> dict[str, RateLimit]:
        """The production values of all 17 groups (the spec's ``x-rate-limits`` + reference C)."""
        return dict(self._catalogue.defaults)

    def _environment_defaults(self) -> dict[str, RateLimit]:
        # PROD = DEMO = TEST since API 2.5.0; the multiplier (default 1) brings back
        # the earlier "TEST = 10x PROD" on TEST, except for the per-IP groups.
        factor = self.env.config.rate_limit_multiplier if self.env.env is Env.TEST else 1.0
        production = self._catalogue.defaults
        if factor == 1.0:
            return dict(production)
        return {
            group: limit if group in PER_IP_GROUPS else limit.scaled(factor)
            for group, limit in production.items()
        }

    def default_rate_limits(self) -> dict[str, RateLimit]:
        """Environment defaults: production values, scaled on TEST by ``config.rate_limit_multiplier``."""
        return dict(self._defaults)

    def group_of(self, op_id: str) -> str:
        """The rate-limit group an operation is charged to."""
        return self._catalogue.group_of(op_id)

    def rate_limits(self, context: ContextIdentifier | None) -> dict[str, RateLimit]:
        """All 17 groups as they apply to ``context`` (defaults plus its overrides)."""
        effective = dict(self._defaults)
        if context is not None:
            effective.update(self._rates.get(context, {}))
        return effective

    def rate_limit_for(
        self, context: ContextIdentifier | None, op_id: str
    ) -> tuple[str, RateLimit]:
        """``(group, limit)`` an operation is charged to in ``context``."""
        group = self._catalogue.group_of(op_id)
        if context is not None:
            override = self._rates.get(context)
            if override is not None and group in override:
                return group, override[group]
        return group, self._defaults[group]

    def charge(
        self,
        op_id: str,
        context: ContextIdentifier | None,
        client_ip: str,
        now: datetime,
    ) -> None:
        """Count one request, or raise ``TooManyRequests`` (429) with its ``Retry-After``.

        Faithful: counted per (context, client IP) with per-IP counting for the
        unauthenticated ``anonymous`` group; sliding 1 s / 1 min / 1 h windows all
        enforced at once; one counter per operation, so each ``other`` endpoint has
        its own budget (reference A §7.1); the ``global`` group (all operations of
        one IP) is enforced whenever its values are not -1.
        Simplified [mock]: the length of the dynamic block (see ``windows.py``:
        doubled for each further violation within an hour, at most one hour), the
        detail texts, and no ``security-service-blocked`` escalation to 403.
        """
        group = self._catalogue.group_of(op_id)
        counted = None if group in PER_IP_GROUPS else context
        limit = self._defaults[group]
        if counted is not None and self._rates:
            override = self._rates.get(counted)
            if override is not None:
                limit = override.get(group, limit)
        checks: list[tuple[Any, RateLimit]] = []
        if limit.plan:
            # Plain strings hash faster than the ContextIdentifier dataclass.
            key = (
                (op_id, client_ip)
                if counted is None
                else (op_id, client_ip, counted.type, counted.value)
            )
            checks.append((key, limit))
        global_limit = self._defaults["global"]
        if global_limit.plan:
            checks.append((("global", client_ip), global_limit))
        if not checks:
            return
        rejection = self.usage.hit(checks, micros(now))
        if rejection is not None:
            raise TooManyRequests(rejection.retry_after, rejection.detail)

    def rate_limit_violations(self, rate_limits: Any) -> list[str]:
        """The rule of ``POST /testdata/rate-limits`` (``rate_limits``: its ``rateLimits``):
        each of the 13 overridable groups with its three values, each between 1 and 10
        times the production value (java ExceptionsApiIntegrationTest.badRequestTest:
        'rateLimits.onlineSession.perHour' must be between 1 and 1200). Every violation,
        for one 21405."""
        if not isinstance(rate_limits, Mapping):
            return [violations.not_empty("rateLimits")]
        refused: list[str] = []
        production = self._catalogue.defaults
        for group in OVERRIDABLE_GROUPS:
            values = _get(rate_limits, group)
            if not isinstance(values, Mapping):
                refused.append(violations.not_empty(f"rateLimits.{group}"))
                continue
            for field, ceiling in production[group].as_json().items():
                bound = ceiling * _OVERRIDE_FACTOR if ceiling > 0 else None
                where = f"rateLimits.{group}.{field}"
                found = _out_of_range(_get(values, field), 1, bound, where)
                if found is not None:
                    refused.append(found)
        return refused

    def set_rate_limits(
        self, context: ContextIdentifier, rate_limits: Mapping[str, Any]
    ) -> dict[str, RateLimit]:
        """``POST /testdata/rate-limits``: the 13 overridable groups, checked by
        ``rate_limit_violations``; they apply at once, to a block in force too.

        ``onlineSessionClose``, ``batchSessionClose``, ``anonymous`` and ``global``
        cannot be overridden and keep their defaults.
        """
        refused = self.rate_limit_violations(rate_limits)
        if refused:
            raise InvalidInputData(*refused)
        parsed = {
            group: RateLimit(*(_get(_get(rate_limits, group), field) for field in WINDOW_FIELDS))
            for group in OVERRIDABLE_GROUPS
        }
        with self._lock:
            self._rates[context] = parsed
        self._limits_changed(context)
        return self.rate_limits(context)

    def reset_rate_limits(self, context: ContextIdentifier) -> None:
        """``DELETE /testdata/rate-limits``: back to the environment defaults (all 17 groups)."""
        with self._lock:
            self._rates.pop(context, None)
        self._limits_changed(context)

    def set_production_rate_limits(self, context: ContextIdentifier) -> None:
        """``POST /testdata/rate-limits/production``: the production values for all 17 groups."""
        with self._lock:
            self._rates[context] = self.production_rate_limits()
        self._limits_changed(context)

    def _limits_changed(self, context: ContextIdentifier) -> None:
        # A block counted under the old limits ends: the next request of the context is
        # judged by the new ones (issue 12: raising the limits must let it through).
        ours = (context.type, context.value)
        self.usage.lift_blocks(lambda key: isinstance(key, tuple) and key[2:] == ours)

    def summary(self) -> dict[str, int]:
        return {
            "sessionOverrides": len(self._session),
            "certificateOverrides": len(self._certificates),
            "rateLimitOverrides": len(self._rates),
            "rateLimitCounters": len(self.usage),
        }
