"""Limit values: session limits per context, certificate limits per subject, API rate limits.

Defaults come from reference A §7 and reference C §4.1/§4.2 (API 2.8.x):
17 rate-limit groups in ``GET /rate-limits`` of which 13 can be overridden with
``POST /testdata/rate-limits``; ``-1`` means "no limit for that window". The
rate-limit values themselves are read from the official spec (``rates.py``);
only the newer groups of reference C are written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

MB = 1_000_000  # KSeF limits use SI megabytes


@dataclass(frozen=True)
class SessionKindLimits:
    """Limits of one session kind (online or batch) in a context."""

    max_invoice_size_mb: int
    max_invoice_with_attachment_size_mb: int
    max_invoices: int

    @property
    def max_invoice_size_bytes(self) -> int:
        return self.max_invoice_size_mb * MB

    @property
    def max_invoice_with_attachment_size_bytes(self) -> int:
        return self.max_invoice_with_attachment_size_mb * MB

    def as_json(self) -> dict[str, int]:
        return {
            "maxInvoiceSizeInMB": self.max_invoice_size_mb,
            "maxInvoiceWithAttachmentSizeInMB": self.max_invoice_with_attachment_size_mb,
            "maxInvoices": self.max_invoices,
        }


@dataclass(frozen=True)
class SessionLimits:
    """The ``GET /limits/context`` values of one context."""

    online: SessionKindLimits
    batch: SessionKindLimits
    # Max invoices in one collective identifier (API 2.7.1+).
    collective_identifier_max_invoices: int

    def as_json(self) -> dict[str, Any]:
        return {
            "onlineSession": self.online.as_json(),
            "batchSession": self.batch.as_json(),
            "collectiveIdentifier": {"maxInvoices": self.collective_identifier_max_invoices},
        }


DEFAULT_SESSION_KIND = SessionKindLimits(1, 3, 10_000)
DEFAULT_SESSION_LIMITS = SessionLimits(DEFAULT_SESSION_KIND, DEFAULT_SESSION_KIND, 500)

# Ranges of POST /testdata/limits/context/session (the online/batch ones are in the spec too).
SESSION_OVERRIDE_RANGES: dict[str, tuple[int, int]] = {
    "maxInvoiceSizeInMB": (0, 5),
    "maxInvoiceWithAttachmentSizeInMB": (0, 10),
    "maxInvoices": (0, 100_000),
}
COLLECTIVE_MAX_INVOICES_RANGE = (2, 5000)


@dataclass(frozen=True)
class CertificateLimits:
    """KSeF-certificate limits of one subject: enrollments it may file, certificates it may hold."""

    max_enrollments: int
    max_certificates: int

    def as_json(self) -> dict[str, Any]:
        return {
            "enrollment": {"maxEnrollments": self.max_enrollments},
            "certificate": {"maxCertificates": self.max_certificates},
        }


# Reference A §7.6: NIP 300/100; PESEL and fingerprint 12/6.
DEFAULT_CERTIFICATE_LIMITS: dict[str, CertificateLimits] = {
    "Nip": CertificateLimits(300, 100),
    "Pesel": CertificateLimits(12, 6),
    "Fingerprint": CertificateLimits(12, 6),
}


# The three sliding windows of every rate limit: a second, a minute, an hour,
# and their names in the JSON of GET /rate-limits and POST /testdata/rate-limits.
WINDOW_SECONDS: tuple[int, int, int] = (1, 60, 3600)
WINDOW_FIELDS: tuple[str, str, str] = ("perSecond", "perMinute", "perHour")


@dataclass(frozen=True)
class RateLimit:
    """Requests per second / minute / hour; ``-1`` = unlimited for that window."""

    per_second: int
    per_minute: int
    per_hour: int

    @property
    def values(self) -> tuple[int, int, int]:
        """The limits in the order of ``WINDOW_SECONDS``."""
        return self.per_second, self.per_minute, self.per_hour

    def as_json(self) -> dict[str, int]:
        return dict(zip(WINDOW_FIELDS, self.values, strict=True))

    @property
    def limited(self) -> bool:
        """At least one window has a limit."""
        return bool(self.plan)

    def windows(self) -> tuple[tuple[int, int], ...]:
        """``(window seconds, max requests)`` for every limited window."""
        return tuple((WINDOW_SECONDS[index], n) for index, _, n in self.plan)

    @cached_property
    def plan(self) -> tuple[tuple[int, int, int], ...]:
        """``(window index, window in microseconds, max requests)`` of the limited windows,
        shortest first (computed once: the rate limiter reads it on every request)."""
        return tuple(
            (index, WINDOW_SECONDS[index] * 1_000_000, n)
            for index, n in enumerate(self.values)
            if n >= 0
        )

    def scaled(self, factor: float) -> RateLimit:
        def scale(value: int) -> int:
            return value if value < 0 else max(1, round(value * factor))

        return RateLimit(*(scale(value) for value in self.values))


# The 17 groups of GET /rate-limits, in the order of the official example (reference C §4.1).
RATE_LIMIT_GROUPS: tuple[str, ...] = (
    "onlineSession",
    "onlineSessionClose",
    "batchSession",
    "batchSessionClose",
    "invoiceSend",
    "invoiceStatus",
    "sessionList",
    "sessionInvoiceList",
    "sessionMisc",
    "invoiceMetadata",
    "invoiceExport",
    "invoiceExportStatus",
    "invoiceDownload",
    "collectiveIdentifier",
    "other",
    "anonymous",
    "global",
)

# Groups counted per client IP rather than per context; the TEST multiplier leaves them alone.
PER_IP_GROUPS: frozenset[str] = frozenset({"anonymous", "global"})

# The 13 groups of ApiRateLimitsOverride / SetRateLimitsRequest: all but the per-IP
# ones and the session-close ones of API 2.8.0, in the same order.
OVERRIDABLE_GROUPS: tuple[str, ...] = tuple(
    group
    for group in RATE_LIMIT_GROUPS
    if group not in PER_IP_GROUPS | {"onlineSessionClose", "batchSessionClose"}
)

# The spec's 429 tables name no group ("-") for the operations with only the
# 60 req/s limit; API 2.8.0 calls them "anonymous" (reference C §4.1).
UNNAMED_GROUP = "anonymous"

# What API 2.7.1-2.8.x changed after the official spec we read (reference C §4.1).
# Every other default value comes from the spec's x-rate-limits (see rates.py).
NEWER_GROUP_LIMITS: dict[str, RateLimit] = {
    "onlineSessionClose": RateLimit(20, 60, 240),  # 2.8.0
    "batchSessionClose": RateLimit(20, 40, 120),  # 2.8.0
    "collectiveIdentifier": RateLimit(20, 120, 240),  # 2.8.x, on all four operations
    "global": RateLimit(-1, -1, -1),  # 2.8.0: per IP over all operations; currently off
}
NEWER_OPERATION_GROUPS: dict[str, str] = {
    "sessions.close_online": "onlineSessionClose",
    "sessions.close_batch": "batchSessionClose",
}
NEWER_GROUP_PREFIXES: dict[str, str] = {"collective.": "collectiveIdentifier"}
