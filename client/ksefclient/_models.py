"""Typed models of KSeF requests and answers.

Answers are parsed leniently (unknown fields ignored, ``raw`` kept) because
KSeF adds fields between versions; the fields a workflow depends on are
required and a missing one is a :class:`~ksefclient.KsefProtocolError`.
Request models render the official camelCase JSON with ``to_json``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from ksefclient import _codes
from ksefclient._crypto import PublicKeyCertificate, SymmetricKey
from ksefclient._exceptions import KsefInvoiceRejectedError, KsefStatusError, status_error

__all__ = [
    "AuthenticationStatus",
    "Checkpoint",
    "ContextIdentifier",
    "ContextLimits",
    "DateRange",
    "ExportPart",
    "ExportResult",
    "ExportStatus",
    "FA2",
    "FA3",
    "FA_RR",
    "FormCode",
    "GeneratedToken",
    "ImportResult",
    "ImportedInvoice",
    "InvoiceMetadata",
    "InvoiceQueryFilters",
    "Json",
    "KsefTokenInfo",
    "MetadataPage",
    "OnlineSession",
    "PEF3",
    "PEF_KOR3",
    "PersonalPermission",
    "RateLimit",
    "RateLimits",
    "SentInvoice",
    "SessionInvoice",
    "SessionLimits",
    "SessionResult",
    "SessionStatus",
    "SessionSummary",
    "StatusInfo",
    "SubjectLimits",
    "TokenInfo",
    "UpoPage",
    "format_datetime",
    "parse_datetime",
    "parse_public_keys",
]

Json = dict[str, Any]


def parse_datetime(text: Any) -> datetime:
    """ISO 8601 as KSeF writes it (``Z`` or an offset, 7 fractional digits: microseconds
    are kept), read by Python 3.11's ``fromisoformat``; without an offset, UTC."""
    value = str(text).strip()
    parsed = datetime.fromisoformat(value[:-1] + "Z" if value.endswith("z") else value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds, as KSeF accepts in filters."""
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _opt_dt(value: Any) -> datetime | None:
    return parse_datetime(value) if value else None


@dataclass(frozen=True)
class ContextIdentifier:
    """Whose data: ``Nip`` (10 digits), ``InternalId``, ``NipVatUe`` or ``PeppolId``."""

    type: str
    value: str

    @classmethod
    def nip(cls, value: str) -> ContextIdentifier:
        return cls("Nip", value)

    def to_json(self) -> Json:
        return {"type": self.type, "value": self.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContextIdentifier:
        return cls(str(data["type"]), str(data.get("value") or ""))


@dataclass(frozen=True)
class FormCode:
    """The invoice schema of a session (``systemCode`` has a space: ``FA (3)``)."""

    system_code: str
    schema_version: str
    value: str

    def to_json(self) -> Json:
        return {
            "systemCode": self.system_code,
            "schemaVersion": self.schema_version,
            "value": self.value,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FormCode:
        return cls(str(data["systemCode"]), str(data["schemaVersion"]), str(data["value"]))


FA2 = FormCode("FA (2)", "1-0E", "FA")
FA3 = FormCode("FA (3)", "1-0E", "FA")
FA_RR = FormCode("FA_RR (1)", "1-1E", "FA_RR")
PEF3 = FormCode("PEF (3)", "2-1", "PEF")
PEF_KOR3 = FormCode("PEF_KOR (3)", "2-1", "PEF")


@dataclass(frozen=True)
class TokenInfo:
    """A JWT and its expiry (``validUntil`` = ``exp``)."""

    token: str = field(repr=False)
    valid_until: datetime

    def to_json(self) -> Json:
        return {"token": self.token, "validUntil": format_datetime(self.valid_until)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TokenInfo:
        return cls(str(data["token"]), parse_datetime(data["validUntil"]))


@dataclass(frozen=True)
class StatusInfo:
    """``{code, description, details}`` of an asynchronous operation."""

    code: int
    description: str
    details: tuple[str, ...] = ()
    extensions: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StatusInfo:
        return cls(
            int(data["code"]),
            str(data.get("description") or ""),
            tuple(str(d) for d in data.get("details") or ()),
            dict(data.get("extensions") or {}),
        )

    def error(
        self,
        cls: type[KsefStatusError],
        what: str,
        table: Mapping[int, _codes.CodeInfo],
        reference_number: str | None,
    ) -> KsefStatusError:
        """The exception for this failure status, explained in English from ``table``."""
        return status_error(
            cls, what, table, self.code, self.description, self.details, reference_number
        )


@dataclass(frozen=True)
class AuthenticationStatus:
    """``GET /auth/{referenceNumber}`` (also an item of ``GET /auth/sessions``)."""

    status: StatusInfo
    start_date: datetime
    authentication_method: str | None
    reference_number: str | None = None
    is_current: bool = False
    is_token_redeemed: bool | None = None
    refresh_token_valid_until: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuthenticationStatus:
        return cls(
            StatusInfo.from_json(data["status"]),
            parse_datetime(data["startDate"]),
            data.get("authenticationMethod"),
            data.get("referenceNumber"),
            bool(data.get("isCurrent", False)),
            data.get("isTokenRedeemed"),
            _opt_dt(data.get("refreshTokenValidUntil")),
            dict(data),
        )


def parse_public_keys(data: Sequence[Mapping[str, Any]]) -> list[PublicKeyCertificate]:
    return [
        PublicKeyCertificate(
            base64.b64decode(item["certificate"]),
            str(item["certificateId"]),
            str(item["publicKeyId"]),
            parse_datetime(item["validFrom"]),
            parse_datetime(item["validTo"]),
            tuple(str(u) for u in item["usage"]),
        )
        for item in data
    ]


# -- sessions ------------------------------------------------------------------------------


@dataclass
class OnlineSession:
    """An open interactive session: its key and what was sent through it.

    ``sent`` maps the SHA-256 (Base64) of each invoice to its reference
    number: the client never submits the same document twice in one session.
    ``uncertain`` holds hashes whose submission failed with an unknown outcome;
    they are looked up on KSeF before being sent again.
    """

    reference_number: str
    valid_until: datetime | None
    form_code: FormCode
    key: SymmetricKey = field(repr=False)
    sent: dict[str, str] = field(default_factory=dict)
    uncertain: set[str] = field(default_factory=set)
    closed: bool = False


@dataclass(frozen=True)
class SentInvoice:
    """An invoice KSeF accepted for processing (HTTP 202): check its status later."""

    session_reference_number: str
    reference_number: str
    invoice_hash: str
    # True when the client found the invoice already submitted (after a lost answer).
    recovered: bool = False


@dataclass(frozen=True)
class UpoPage:
    reference_number: str
    download_url: str
    download_url_expiration_date: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UpoPage:
        return cls(
            str(data["referenceNumber"]),
            str(data["downloadUrl"]),
            _opt_dt(data.get("downloadUrlExpirationDate")),
        )


@dataclass(frozen=True)
class SessionStatus:
    """``GET /sessions/{referenceNumber}``."""

    status: StatusInfo
    date_created: datetime
    date_updated: datetime
    valid_until: datetime | None = None
    upo_pages: tuple[UpoPage, ...] = ()
    invoice_count: int | None = None
    successful_invoice_count: int | None = None
    failed_invoice_count: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_open(self) -> bool:
        return self.status.code == 100

    @property
    def explanation(self) -> str:
        return (
            _codes.SESSION_STATUSES.get(self.status.code) or _codes.unknown(self.status.code)
        ).english

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionStatus:
        upo = data.get("upo") or {}
        return cls(
            StatusInfo.from_json(data["status"]),
            parse_datetime(data["dateCreated"]),
            parse_datetime(data["dateUpdated"]),
            _opt_dt(data.get("validUntil")),
            tuple(UpoPage.from_json(p) for p in upo.get("pages") or ()),
            data.get("invoiceCount"),
            data.get("successfulInvoiceCount"),
            data.get("failedInvoiceCount"),
            dict(data),
        )


@dataclass(frozen=True)
class SessionInvoice:
    """The status of one invoice of a session."""

    ordinal_number: int
    reference_number: str
    invoice_hash: str
    invoicing_date: datetime | None
    status: StatusInfo
    invoice_number: str | None = None
    ksef_number: str | None = None
    acquisition_date: datetime | None = None
    permanent_storage_date: datetime | None = None
    upo_download_url: str | None = None
    invoicing_mode: str | None = None
    invoice_file_name: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_final(self) -> bool:
        return self.status.code not in (100, 150)

    @property
    def is_accepted(self) -> bool:
        return self.status.code == 200

    @property
    def explanation(self) -> str:
        return (
            _codes.INVOICE_STATUSES.get(self.status.code) or _codes.unknown(self.status.code)
        ).english

    def raise_for_status(self) -> SessionInvoice:
        """Return self when accepted or pending; raise when KSeF rejected the invoice."""
        if self.status.code >= 400:
            raise self.status.error(
                KsefInvoiceRejectedError,
                f"invoice {self.reference_number}",
                _codes.INVOICE_STATUSES,
                self.reference_number,
            )
        return self

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionInvoice:
        return cls(
            int(data["ordinalNumber"]),
            str(data["referenceNumber"]),
            str(data["invoiceHash"]),
            _opt_dt(data.get("invoicingDate")),
            StatusInfo.from_json(data["status"]),
            data.get("invoiceNumber"),
            data.get("ksefNumber"),
            _opt_dt(data.get("acquisitionDate")),
            _opt_dt(data.get("permanentStorageDate")),
            data.get("upoDownloadUrl"),
            data.get("invoicingMode"),
            data.get("invoiceFileName"),
            dict(data),
        )


@dataclass(frozen=True)
class SessionSummary:
    """An item of ``GET /sessions``."""

    reference_number: str
    status: StatusInfo
    date_created: datetime
    total_invoice_count: int
    successful_invoice_count: int
    failed_invoice_count: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionSummary:
        return cls(
            str(data["referenceNumber"]),
            StatusInfo.from_json(data["status"]),
            parse_datetime(data["dateCreated"]),
            int(data.get("totalInvoiceCount") or 0),
            int(data.get("successfulInvoiceCount") or 0),
            int(data.get("failedInvoiceCount") or 0),
        )


@dataclass(frozen=True)
class SessionResult:
    """A processed session (online or batch): its final status and its invoices' statuses."""

    reference_number: str
    status: SessionStatus
    invoices: tuple[SessionInvoice, ...]

    @property
    def ksef_numbers(self) -> tuple[str | None, ...]:
        return tuple(i.ksef_number for i in self.invoices)


# -- invoices ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateRange:
    """``dateRange`` of invoice queries and exports: ``Issue``, ``Invoicing`` or ``PermanentStorage``."""

    date_type: str
    date_from: datetime
    date_to: datetime | None = None
    restrict_to_permanent_storage_hwm_date: bool | None = None

    def to_json(self) -> Json:
        out: Json = {"dateType": self.date_type, "from": format_datetime(self.date_from)}
        if self.date_to is not None:
            out["to"] = format_datetime(self.date_to)
        if self.restrict_to_permanent_storage_hwm_date is not None:
            out["restrictToPermanentStorageHwmDate"] = self.restrict_to_permanent_storage_hwm_date
        return out


@dataclass(frozen=True)
class InvoiceQueryFilters:
    """``InvoiceQueryFilters`` of the metadata query and of exports.

    ``extra`` takes any further official filter as its JSON (``amount``,
    ``buyerIdentifier``, ``currencyCodes``, ``invoiceTypes``…).
    """

    subject_type: str
    date_range: DateRange
    ksef_number: str | None = None
    invoice_number: str | None = None
    seller_nip: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> Json:
        optional = {
            "ksefNumber": self.ksef_number,
            "invoiceNumber": self.invoice_number,
            "sellerNip": self.seller_nip,
        }
        return {
            "subjectType": self.subject_type,
            "dateRange": self.date_range.to_json(),
            # Filters not given are left out, not sent empty or null.
            **{key: value for key, value in optional.items() if value},
            **self.extra,
        }


@dataclass(frozen=True)
class InvoiceMetadata:
    """``InvoiceMetadata`` of the query and of an export's ``_metadata.json``."""

    ksef_number: str
    invoice_number: str
    issue_date: date
    invoicing_date: datetime
    acquisition_date: datetime
    permanent_storage_date: datetime
    seller_nip: str
    buyer_identifier: tuple[str, str | None]
    net_amount: float
    gross_amount: float
    vat_amount: float
    currency: str
    invoice_type: str
    invoice_hash: str
    invoicing_mode: str | None = None
    form_code: FormCode | None = None
    has_attachment: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InvoiceMetadata:
        buyer = (data.get("buyer") or {}).get("identifier") or {}
        return cls(
            str(data["ksefNumber"]),
            str(data["invoiceNumber"]),
            date.fromisoformat(str(data["issueDate"])[:10]),
            parse_datetime(data["invoicingDate"]),
            parse_datetime(data["acquisitionDate"]),
            parse_datetime(data["permanentStorageDate"]),
            str(data["seller"]["nip"]),
            (str(buyer.get("type") or "None"), buyer.get("value")),
            float(data["netAmount"]),
            float(data["grossAmount"]),
            float(data["vatAmount"]),
            str(data["currency"]),
            str(data["invoiceType"]),
            str(data["invoiceHash"]),
            data.get("invoicingMode"),
            FormCode.from_json(data["formCode"]) if data.get("formCode") else None,
            bool(data.get("hasAttachment", False)),
            dict(data),
        )


@dataclass(frozen=True)
class MetadataPage:
    invoices: tuple[InvoiceMetadata, ...]
    has_more: bool
    is_truncated: bool
    permanent_storage_hwm_date: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MetadataPage:
        return cls(
            tuple(InvoiceMetadata.from_json(i) for i in data["invoices"]),
            bool(data["hasMore"]),
            bool(data["isTruncated"]),
            _opt_dt(data.get("permanentStorageHwmDate")),
        )


@dataclass(frozen=True)
class ImportedInvoice:
    """An invoice fetched from KSeF: its metadata and the original XML (``None`` if not fetched)."""

    metadata: InvoiceMetadata
    xml: bytes | None = field(default=None, repr=False)

    @property
    def ksef_number(self) -> str:
        return self.metadata.ksef_number


@dataclass
class Checkpoint:
    """Where the incremental import ("everything new since last time") stands.

    Persist it with ``to_json`` after each import and load it with
    ``from_json``: the next import continues at ``position`` (the last
    permanent-storage high water mark KSeF reported). ``boundary`` holds the
    KSeF numbers already delivered whose storage date equals ``position``,
    because the next window starts there inclusively.
    """

    subject_type: str
    position: datetime
    boundary: set[str] = field(default_factory=set)

    @classmethod
    def start(cls, since: datetime, subject_type: str = "Subject1") -> Checkpoint:
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        return cls(subject_type, since)

    def to_json(self) -> str:
        return json.dumps(
            {
                "subjectType": self.subject_type,
                "position": format_datetime(self.position),
                "boundary": sorted(self.boundary),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Checkpoint:
        data = json.loads(text)
        return cls(
            str(data["subjectType"]),
            parse_datetime(data["position"]),
            set(data.get("boundary") or ()),
        )


@dataclass(frozen=True)
class ImportResult:
    invoices: tuple[ImportedInvoice, ...]
    checkpoint: Checkpoint


@dataclass(frozen=True)
class ExportPart:
    ordinal_number: int
    part_name: str
    method: str
    url: str
    part_size: int
    part_hash: str
    encrypted_part_size: int
    encrypted_part_hash: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExportPart:
        return cls(
            int(data["ordinalNumber"]),
            str(data["partName"]),
            str(data.get("method") or "GET"),
            str(data["url"]),
            int(data["partSize"]),
            str(data["partHash"]),
            int(data["encryptedPartSize"]),
            str(data["encryptedPartHash"]),
        )


@dataclass(frozen=True)
class ExportStatus:
    """``GET /invoices/exports/{referenceNumber}``."""

    status: StatusInfo
    parts: tuple[ExportPart, ...] = ()
    invoice_count: int | None = None
    is_truncated: bool = False
    compression_type: str = "Zip"
    last_issue_date: date | None = None
    last_invoicing_date: datetime | None = None
    last_permanent_storage_date: datetime | None = None
    permanent_storage_hwm_date: datetime | None = None
    package_expiration_date: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExportStatus:
        package = data.get("package") or {}
        last_issue = package.get("lastIssueDate")
        return cls(
            StatusInfo.from_json(data["status"]),
            tuple(ExportPart.from_json(p) for p in package.get("parts") or ()),
            package.get("invoiceCount"),
            bool(package.get("isTruncated", False)),
            str(package.get("compressionType") or "Zip"),
            date.fromisoformat(str(last_issue)[:10]) if last_issue else None,
            _opt_dt(package.get("lastInvoicingDate")),
            _opt_dt(package.get("lastPermanentStorageDate")),
            _opt_dt(package.get("permanentStorageHwmDate")),
            _opt_dt(data.get("packageExpirationDate")),
            dict(data),
        )


@dataclass(frozen=True)
class ExportResult:
    """A downloaded and decrypted export: invoices by KSeF number and their metadata."""

    reference_number: str
    invoices: Mapping[str, bytes] = field(repr=False)
    metadata: tuple[InvoiceMetadata, ...]
    status: ExportStatus


# -- tokens, limits, permissions -----------------------------------------------------------


@dataclass(frozen=True)
class GeneratedToken:
    """``POST /tokens``: the token is shown once; store it securely."""

    reference_number: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class KsefTokenInfo:
    """``GET /tokens/{referenceNumber}`` and the items of ``GET /tokens``."""

    reference_number: str
    status: str
    description: str
    requested_permissions: tuple[str, ...]
    date_created: datetime
    author_identifier: tuple[str, str]
    context_identifier: ContextIdentifier
    last_use_date: datetime | None = None
    status_details: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KsefTokenInfo:
        author = data["authorIdentifier"]
        return cls(
            str(data["referenceNumber"]),
            str(data["status"]),
            str(data["description"]),
            tuple(str(p) for p in data["requestedPermissions"]),
            parse_datetime(data["dateCreated"]),
            (str(author["type"]), str(author["value"])),
            ContextIdentifier.from_json(data["contextIdentifier"]),
            _opt_dt(data.get("lastUseDate")),
            tuple(str(d) for d in data.get("statusDetails") or ()),
        )


@dataclass(frozen=True)
class RateLimit:
    per_second: int
    per_minute: int
    per_hour: int


@dataclass(frozen=True)
class RateLimits:
    """``GET /rate-limits``: effective limits per group (-1 = unlimited)."""

    groups: Mapping[str, RateLimit]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RateLimits:
        return cls(
            {
                name: RateLimit(int(v["perSecond"]), int(v["perMinute"]), int(v["perHour"]))
                for name, v in data.items()
                if isinstance(v, Mapping)
            }
        )


@dataclass(frozen=True)
class SessionLimits:
    max_invoice_size_mb: float
    max_invoice_with_attachment_size_mb: float
    max_invoices: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionLimits:
        return cls(
            float(data["maxInvoiceSizeInMB"]),
            float(data["maxInvoiceWithAttachmentSizeInMB"]),
            int(data["maxInvoices"]),
        )


@dataclass(frozen=True)
class ContextLimits:
    """``GET /limits/context``."""

    online_session: SessionLimits
    batch_session: SessionLimits
    collective_identifier_max_invoices: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContextLimits:
        collective = data.get("collectiveIdentifier") or {}
        return cls(
            SessionLimits.from_json(data["onlineSession"]),
            SessionLimits.from_json(data["batchSession"]),
            collective.get("maxInvoices"),
        )


@dataclass(frozen=True)
class SubjectLimits:
    """``GET /limits/subject`` (values are ``None`` when KSeF sends none)."""

    max_enrollments: int | None
    max_certificates: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubjectLimits:
        return cls(
            (data.get("enrollment") or {}).get("maxEnrollments"),
            (data.get("certificate") or {}).get("maxCertificates"),
        )


@dataclass(frozen=True)
class PersonalPermission:
    """An item of ``POST /permissions/query/personal/grants``."""

    id: str
    permission_scope: str
    description: str
    permission_state: str
    context_identifier: ContextIdentifier | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PersonalPermission:
        context = data.get("contextIdentifier")
        return cls(
            str(data["id"]),
            str(data["permissionScope"]),
            str(data.get("description") or ""),
            str(data.get("permissionState") or ""),
            ContextIdentifier.from_json(context) if context else None,
            dict(data),
        )
