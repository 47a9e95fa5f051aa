"""State and rules of the limits area.

Holds the effective limits of every context and subject: defaults plus the
overrides written by ``/testdata/limits/*`` and ``/testdata/rate-limits*``.
Sessions read ``session_limits``, certificates read ``certificate_limits`` and
the rate limiter reads ``rate_limits`` / ``rate_limit_for``; nothing here
enforces a limit.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mockksef.environments import Env
from mockksef.errors import InvalidInputData
from mockksef.models import ContextIdentifier, SubjectIdentifier
from mockksef.services.limits.models import (
    COLLECTIVE_MAX_INVOICES_RANGE,
    DEFAULT_CERTIFICATE_LIMITS,
    DEFAULT_SESSION_LIMITS,
    OVERRIDABLE_GROUPS,
    PER_IP_GROUPS,
    PRODUCTION_RATE_LIMITS,
    SESSION_OVERRIDE_RANGES,
    CertificateLimits,
    RateLimit,
    SessionKindLimits,
    SessionLimits,
    group_of,
)

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState


def _get(data: Mapping[str, Any], name: str) -> Any:
    """Case-insensitive property lookup, for fields the official spec we read does not know yet."""
    if name in data:
        return data[name]
    lowered = name.lower()
    for key, value in data.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


def _int_in(value: Any, low: int, high: int | None, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputData(f"{where}: wartość musi być liczbą całkowitą.")
    if value < low or (high is not None and value > high):
        if high is None:
            raise InvalidInputData(f"{where}: wartość musi być większa lub równa {low}.")
        raise InvalidInputData(f"{where}: wartość musi mieścić się w zakresie od {low} do {high}.")
    return value


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
                raise InvalidInputData(f"{name}: pole jest wymagane.")
            values = [
                _int_in(_get(part, field), low, high, f"{name}.{field}")
                for field, (low, high) in SESSION_OVERRIDE_RANGES.items()
            ]
            kinds[name] = SessionKindLimits(*values)
        collective = _get(body, "collectiveIdentifier")
        if not isinstance(collective, Mapping):
            raise InvalidInputData("collectiveIdentifier: pole jest wymagane.")
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

    def default_rate_limits(self) -> dict[str, RateLimit]:
        """Environment defaults: production values, scaled on TEST by ``config.rate_limit_multiplier``."""
        factor = self.env.config.rate_limit_multiplier if self.env.env is Env.TEST else 1.0
        if factor == 1.0:
            return dict(PRODUCTION_RATE_LIMITS)
        return {
            group: limit if group in PER_IP_GROUPS else limit.scaled(factor)
            for group, limit in PRODUCTION_RATE_LIMITS.items()
        }

    def rate_limits(self, context: ContextIdentifier | None) -> dict[str, RateLimit]:
        """All 17 groups as they apply to ``context`` (defaults plus its overrides)."""
        effective = self.default_rate_limits()
        if context is not None:
            effective.update(self._rates.get(context, {}))
        return effective

    def rate_limit_for(
        self, context: ContextIdentifier | None, op_id: str
    ) -> tuple[str, RateLimit]:
        """``(group, limit)`` an operation is charged to in ``context``."""
        group = group_of(op_id)
        return group, self.rate_limits(context)[group]

    def set_rate_limits(
        self, context: ContextIdentifier, rate_limits: Mapping[str, Any]
    ) -> dict[str, RateLimit]:
        """``POST /testdata/rate-limits``: the 13 overridable groups, every value at least 1.

        ``onlineSessionClose``, ``batchSessionClose``, ``anonymous`` and ``global``
        cannot be overridden and keep their defaults.
        """
        if not isinstance(rate_limits, Mapping):
            raise InvalidInputData("rateLimits: pole jest wymagane.")
        errors: list[str] = []
        parsed: dict[str, RateLimit] = {}
        for group in OVERRIDABLE_GROUPS:
            values = _get(rate_limits, group)
            if not isinstance(values, Mapping):
                errors.append(f"rateLimits.{group}: pole jest wymagane.")
                continue
            numbers: list[int] = []
            for field in ("perSecond", "perMinute", "perHour"):
                value = _get(values, field)
                try:
                    numbers.append(_int_in(value, 1, None, f"rateLimits.{group}.{field}"))
                except InvalidInputData as exc:
                    errors += list(exc.errors[0].details)
            if len(numbers) == 3:
                parsed[group] = RateLimit(*numbers)
        if errors:
            raise InvalidInputData(*errors[:20])
        with self._lock:
            self._rates[context] = parsed
        return self.rate_limits(context)

    def reset_rate_limits(self, context: ContextIdentifier) -> None:
        """``DELETE /testdata/rate-limits``: back to the environment defaults (all 17 groups)."""
        with self._lock:
            self._rates.pop(context, None)

    def set_production_rate_limits(self, context: ContextIdentifier) -> None:
        """``POST /testdata/rate-limits/production``: the production values for all 17 groups."""
        with self._lock:
            self._rates[context] = dict(PRODUCTION_RATE_LIMITS)

    def summary(self) -> dict[str, int]:
        return {
            "sessionOverrides": len(self._session),
            "certificateOverrides": len(self._certificates),
            "rateLimitOverrides": len(self._rates),
        }
