"""Limit values: session limits per context, certificate limits per subject, API rate limits.

Defaults come from reference A §7 and reference C §4.1/§4.2 (API 2.8.x):
17 rate-limit groups in ``GET /rate-limits`` of which 13 can be overridden with
``POST /testdata/rate-limits``; ``-1`` means "no limit for that window".
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class RateLimit:
    """Requests per second / minute / hour; ``-1`` = unlimited for that window."""

    per_second: int
    per_minute: int
    per_hour: int

    def as_json(self) -> dict[str, int]:
        return {
            "perSecond": self.per_second,
            "perMinute": self.per_minute,
            "perHour": self.per_hour,
        }

    def windows(self) -> tuple[tuple[int, int], ...]:
        """``(window seconds, max requests)`` for every limited window."""
        pairs = ((1, self.per_second), (60, self.per_minute), (3600, self.per_hour))
        return tuple((w, n) for w, n in pairs if n >= 0)

    def scaled(self, factor: float) -> RateLimit:
        def scale(value: int) -> int:
            return value if value < 0 else max(1, round(value * factor))

        return RateLimit(scale(self.per_second), scale(self.per_minute), scale(self.per_hour))


# The 17 groups of GET /rate-limits in the order of the official example (reference C §4.1).
PRODUCTION_RATE_LIMITS: dict[str, RateLimit] = {
    "onlineSession": RateLimit(10, 30, 120),
    "onlineSessionClose": RateLimit(20, 60, 240),
    "batchSession": RateLimit(10, 20, 60),
    "batchSessionClose": RateLimit(20, 40, 120),
    "invoiceSend": RateLimit(10, 30, 180),
    "invoiceStatus": RateLimit(30, 120, 1200),
    "sessionList": RateLimit(5, 10, 60),
    "sessionInvoiceList": RateLimit(10, 20, 200),
    "sessionMisc": RateLimit(10, 120, 1200),
    "invoiceMetadata": RateLimit(8, 16, 20),
    "invoiceExport": RateLimit(8, 16, 20),
    "invoiceExportStatus": RateLimit(10, 60, 600),
    "invoiceDownload": RateLimit(8, 16, 64),
    "collectiveIdentifier": RateLimit(20, 120, 240),
    "other": RateLimit(10, 30, 120),
    "anonymous": RateLimit(60, -1, -1),
    "global": RateLimit(-1, -1, -1),
}
RATE_LIMIT_GROUPS: tuple[str, ...] = tuple(PRODUCTION_RATE_LIMITS)

# The 13 groups of ApiRateLimitsOverride / SetRateLimitsRequest.
OVERRIDABLE_GROUPS: tuple[str, ...] = (
    "onlineSession",
    "batchSession",
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
)

# Groups counted per IP rather than per context; the TEST multiplier leaves them alone.
PER_IP_GROUPS: frozenset[str] = frozenset({"anonymous", "global"})

# Operation id -> rate-limit group (reference C §4.1); everything else is "other".
OPERATION_GROUPS: dict[str, str] = {
    "auth.challenge": "anonymous",
    "auth.xades_signature": "anonymous",
    "auth.ksef_token": "anonymous",
    "auth.status": "anonymous",
    "auth.redeem_token": "anonymous",
    "auth.refresh_token": "anonymous",
    "certificates.public_keys": "anonymous",
    "peppol.query": "anonymous",
    "testdata.create_subject": "anonymous",
    "testdata.remove_subject": "anonymous",
    "testdata.create_person": "anonymous",
    "testdata.remove_person": "anonymous",
    "testdata.grant_permissions": "anonymous",
    "testdata.revoke_permissions": "anonymous",
    "testdata.allow_attachments": "anonymous",
    "testdata.revoke_attachments": "anonymous",
    "sessions.open_online": "onlineSession",
    "sessions.close_online": "onlineSessionClose",
    "sessions.open_batch": "batchSession",
    "sessions.close_batch": "batchSessionClose",
    "sessions.send_invoice": "invoiceSend",
    "sessions.invoice_status": "invoiceStatus",
    "sessions.list": "sessionList",
    "sessions.invoices": "sessionInvoiceList",
    "sessions.failed_invoices": "sessionInvoiceList",
    "sessions.status": "sessionMisc",
    "sessions.invoice_upo_by_ksef": "sessionMisc",
    "sessions.invoice_upo": "sessionMisc",
    "sessions.session_upo": "sessionMisc",
    "invoices.query_metadata": "invoiceMetadata",
    "invoices.export": "invoiceExport",
    "invoices.export_status": "invoiceExportStatus",
    "invoices.download": "invoiceDownload",
}


def group_of(op_id: str) -> str:
    """The rate-limit group an operation is charged to."""
    if op_id.startswith("collective."):
        return "collectiveIdentifier"
    return OPERATION_GROUPS.get(op_id, "other")
