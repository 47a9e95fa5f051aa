"""Invoice exports (Part B §8.5–8.6, part C §4.3): encrypted packages on the Clock.

``POST /invoices/exports`` checks what the real API checks at once (schema,
subject type vs context type 21181, concurrent limit 21182, key id 21470) and
records the export; everything else is a status. The package is built the
first time it is looked at after its ready time, from a selection that is
stable by construction (the range ends at the request time, and nothing is ever
stored at or below a reported HWM). Parts are served by the mock storage under
``/storage/{env}/invoice-part/...`` through HMAC-signed, expiring links.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import io
import json
import tarfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mockksef import crypto
from mockksef.clock import format_datetime, parse_datetime
from mockksef.errors import Gone, KsefError
from mockksef.ids import secret_bytes
from mockksef.models import ContextIdentifier, status
from mockksef.services.invoices.queries import (
    HWM_DETAIL,
    InvoiceFilter,
    build_filter,
    iter_matches,
    party_for,
)

if TYPE_CHECKING:
    from mockksef.services.invoices.models import StoredInvoice
    from mockksef.state import EnvironmentState

MAX_CONCURRENT = 10
MAX_INVOICES = 10_000
MAX_PACKAGE_BYTES = 1_000_000_000  # 1 GB of compressed data
STATUS_RETENTION = timedelta(days=7)
# Not documented; the package must expire before the status record to show 210.
PACKAGE_LIFETIME = timedelta(days=3)
LINK_LIFETIME = timedelta(hours=1)

STATUS_TEXT = {
    100: "Eksport faktur w toku",
    200: "Eksport faktur zakończony sukcesem",
    210: "Eksport faktur wygasł i nie jest już dostępny do pobrania",
    415: "Błąd odszyfrowania dostarczonego klucza",
    420: "Zakres filtrowania wykracza poza dostępny zakres danych",
    550: "Operacja została anulowana przez system",
}


@dataclass(slots=True)
class ExportPart:
    ordinal: int
    name: str
    data: bytes  # encrypted
    part_size: int
    part_hash: str
    encrypted_size: int
    encrypted_hash: str


@dataclass(slots=True)
class Export:
    reference_number: str
    context: ContextIdentifier
    filters: InvoiceFilter | None
    key: bytes | None
    iv: bytes | None
    only_metadata: bool
    compression: str
    created: datetime
    ready_at: datetime
    failure: tuple[int, str, list[str]] | None = None
    built: bool = False
    invoice_count: int = 0
    size: int = 0
    is_truncated: bool = False
    last_date: Any = None
    parts: list[ExportPart] = field(default_factory=list)
    # Held while the package is built (seconds for 10,000 invoices, in a worker
    # thread): a second status read of this export waits, other exports do not.
    _build_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @property
    def package_expiration(self) -> datetime:
        return self.ready_at + PACKAGE_LIFETIME

    def build_once(self, build: Callable[[Export], None]) -> None:
        """Run ``build`` the first time only; a build that fails marks the export 500."""
        with self._build_lock:
            if self.built:
                return
            try:
                build(self)
            except Exception as exc:
                self.failure = (500, f"Nieznany błąd ({type(exc).__name__})", [])
            self.built = True


class ExportsBackend:
    """Exports of one environment (reached through ``env.invoices.exports``)."""

    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self._lock = threading.RLock()
        self._exports: dict[str, Export] = {}
        # Signs download links: the links are the only credential of the storage.
        self._secret = secret_bytes(32)

    # -- POST /invoices/exports ------------------------------------------------------

    def start(self, context: ContextIdentifier, body: dict[str, Any], now: datetime) -> str:
        """Start an export; returns its ``EH`` reference number.

        Simplified: the real lifetime of a package is not documented (here 3 days
        after completion; the status record lives 7 days, then 410); parts are
        split at ``config.export_part_bytes`` (50 MiB by default).
        """
        encryption = body["encryption"]
        filters_body = body["filters"]
        subject_type = filters_body["subjectType"]
        if party_for(context, subject_type) is None:
            raise KsefError(
                21181,
                f"Nie można wyeksportować paczki faktur dla wybranego podmiotu ({subject_type}) "
                f"i zalogowanego identyfikatora kontekstu ({context.type}).",
            )
        # 21470 for an unknown or withdrawn key id, synchronously.
        private_key = self.env.public_keys.private_key_for(
            "SymmetricKeyEncryption", encryption.get("publicKeyId")
        )
        failure: tuple[int, str, list[str]] | None = None
        flt: InvoiceFilter | None = None
        try:
            flt = build_filter(filters_body, context, now, self.env.invoices.hwm())
        except KsefError as error:
            if error.code != 21183:
                raise
            failure = (420, STATUS_TEXT[420], [HWM_DETAIL])
        key: bytes | None = None
        iv: bytes | None = None
        try:
            key = crypto.rsa_oaep_decrypt(
                private_key, base64.b64decode(encryption["encryptedSymmetricKey"])
            )
            iv = base64.b64decode(encryption["initializationVector"])
            if len(key) != 32 or len(iv) != 16:
                raise ValueError("AES-256 key of 32 bytes and IV of 16 bytes expected")
        except ValueError:
            failure = failure or (415, STATUS_TEXT[415], [])
        with self._lock:
            running = sum(
                1 for e in self._exports.values() if e.context == context and e.ready_at > now
            )
            if running >= MAX_CONCURRENT:
                raise KsefError(
                    21182,
                    "Dla uwierzytelnionego podmiotu w bieżącym kontekście osiągnięto maksymalny "
                    f"limit {MAX_CONCURRENT} równoczesnych eksportów faktur. "
                    "Spróbuj ponownie później.",
                )
            reference = self.env.rng.reference_number("EH", now)
            delay = timedelta(seconds=self.env.config.export_processing_seconds)
            self._exports[reference] = Export(
                reference_number=reference,
                context=context,
                filters=flt,
                key=key,
                iv=iv,
                only_metadata=bool(body.get("onlyMetadata")),
                compression=body.get("compressionType") or "Zip",
                created=now,
                ready_at=now + delay,
                failure=failure,
            )
        return reference

    # -- GET /invoices/exports/{ref} ------------------------------------------------

    def status(
        self, context: ContextIdentifier, reference: str, now: datetime, base_url: str
    ) -> dict[str, Any]:
        """The ``InvoiceExportStatusResponse``; links are signed anew on each call."""
        export = self._find(context, reference, now)
        if now < export.ready_at:
            return {"status": status(100, STATUS_TEXT[100])}
        if export.failure is None:
            self._build(export)
        completed = format_datetime(export.ready_at)
        if export.failure is not None:
            code, text, details = export.failure
            return {"status": status(code, text, details or None), "completedDate": completed}
        out: dict[str, Any] = {
            "status": status(200, STATUS_TEXT[200]),
            "completedDate": completed,
            "packageExpirationDate": format_datetime(export.package_expiration),
        }
        if now >= export.package_expiration:
            export.parts = []  # the bytes go with the package
            out["status"] = status(210, STATUS_TEXT[210])
            return out
        out["package"] = self._package(export, now, base_url)
        return out

    def _find(self, context: ContextIdentifier, reference: str, now: datetime) -> Export:
        with self._lock:
            export = self._exports.get(reference)
            if export is None or export.context != context:
                raise KsefError(21175)
            if now >= export.created + STATUS_RETENTION:
                export.parts = []
                raise Gone()
            return export

    def _package(self, export: Export, now: datetime, base_url: str) -> dict[str, Any]:
        expires = min(now + LINK_LIFETIME, export.package_expiration)
        parts = []
        for part in export.parts:
            parts.append(
                {
                    "ordinalNumber": part.ordinal,
                    "partName": part.name,
                    "method": "GET",
                    "url": self.part_url(base_url, export.reference_number, part.name, expires),
                    "partSize": part.part_size,
                    "partHash": part.part_hash,
                    "encryptedPartSize": part.encrypted_size,
                    "encryptedPartHash": part.encrypted_hash,
                    "expirationDate": format_datetime(expires),
                }
            )
        package: dict[str, Any] = {
            "invoiceCount": export.invoice_count,
            "size": export.size,
            "parts": parts,
            "isTruncated": export.is_truncated,
            "compressionType": export.compression,
        }
        flt = export.filters
        assert flt is not None
        if export.is_truncated and export.last_date is not None:
            if flt.date_type == "Issue":
                package["lastIssueDate"] = export.last_date.isoformat()
            elif flt.date_type == "Invoicing":
                package["lastInvoicingDate"] = format_datetime(export.last_date)
            else:
                package["lastPermanentStorageDate"] = format_datetime(export.last_date)
        if flt.hwm is not None:
            package["permanentStorageHwmDate"] = format_datetime(flt.hwm)
        return package

    # -- building --------------------------------------------------------------------

    def _build(self, export: Export) -> None:
        # Outside the backend's lock: starting or reading other exports goes on meanwhile.
        export.build_once(self._build_package)

    def _build_package(self, export: Export) -> None:
        flt = export.filters
        assert flt is not None and export.key is not None and export.iv is not None
        store = self.env.invoices.invoices
        # The selection is evaluated at the ready time: every invoice of the range
        # is visible by then (the range ends at the request time, before it).
        selected: list[StoredInvoice] = []
        truncated = False
        compressed_estimate = 0
        for inv in iter_matches(store, flt, export.ready_at):
            if len(selected) >= MAX_INVOICES:
                truncated = True
                break
            if not export.only_metadata:
                compressed_estimate += len(inv.xml_blob)
                if compressed_estimate > MAX_PACKAGE_BYTES and selected:
                    truncated = True
                    break
            selected.append(inv)
        # One invoice per call: a single dumps of 10,000 would hold the interpreter
        # (and so the event loop) for its whole run; the bytes are the same.
        encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        items = ",".join(encode(inv.metadata()) for inv in selected)
        metadata = ('{"invoices":[' + items + "]}").encode("utf-8")
        files: list[tuple[str, bytes]] = []
        if not export.only_metadata:
            files = [(f"{inv.ksef_number}.xml", inv.xml) for inv in selected]
        files.append(("_metadata.json", metadata))
        archive = _archive(files, export.compression, export.ready_at)
        part_bytes = self.env.config.export_part_bytes
        extension = "zip" if export.compression == "Zip" else "tar.gz"
        parts = []
        chunks = [archive[i : i + part_bytes] for i in range(0, len(archive), part_bytes)]
        for ordinal, chunk in enumerate(chunks or [b""], start=1):
            encrypted = crypto.aes_cbc_encrypt(export.key, export.iv, chunk)
            parts.append(
                ExportPart(
                    ordinal=ordinal,
                    name=f"{export.reference_number}-{ordinal:03d}.{extension}.aes",
                    data=encrypted,
                    part_size=len(chunk),
                    part_hash=crypto.sha256_b64(chunk),
                    encrypted_size=len(encrypted),
                    encrypted_hash=crypto.sha256_b64(encrypted),
                )
            )
        export.parts = parts
        export.invoice_count = len(selected)
        export.size = len(archive)
        export.is_truncated = truncated
        export.last_date = flt.date_of(selected[-1]) if selected else None

    # -- the storage side ----------------------------------------------------------------

    def _signature(self, reference: str, part_name: str, expires: str) -> str:
        message = f"{reference}/{part_name}/{expires}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def part_url(self, base_url: str, reference: str, part_name: str, expires: datetime) -> str:
        se = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        sig = self._signature(reference, part_name, se)
        return (
            f"{base_url.rstrip('/')}/storage/{self.env.env.value}/invoice-part/"
            f"{reference.lower()}/{part_name}?sv=2025-01-05&sr=b&sp=r"
            f"&se={quote(se, safe='')}&sig={quote(sig, safe='')}"
        )

    def download_part(
        self, reference_lower: str, part_name: str, se: str, sig: str, now: datetime
    ) -> ExportPart:
        """The encrypted bytes of a part for a valid, unexpired link.

        Raises ``PermissionError`` for a bad or expired signature and ``LookupError``
        for a part that does not (or no longer) exist(s).
        """
        reference = reference_lower.upper()
        expected = self._signature(reference, part_name, se)
        if not hmac.compare_digest(expected, sig):
            raise PermissionError("signature")
        try:
            expires = parse_datetime(se)
        except ValueError as exc:
            raise PermissionError("expiry") from exc
        if now > expires:
            raise PermissionError("expired")
        export = self._exports.get(reference)
        if export is None or now >= export.package_expiration:
            raise LookupError(part_name)
        for part in export.parts:
            if part.name == part_name:
                return part
        raise LookupError(part_name)


def _archive(files: list[tuple[str, bytes]], compression: str, when: datetime) -> bytes:
    buffer = io.BytesIO()
    if compression == "Zip":
        stamp = (when.year, when.month, when.day, when.hour, when.minute, when.second)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in files:
                entry = zipfile.ZipInfo(name, date_time=stamp)
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, data)
        return buffer.getvalue()
    # gzip stamps its header with a time: give it the Clock's, not the wall's.
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=int(when.timestamp())) as packed:
        with tarfile.open(fileobj=packed, mode="w") as archive:
            for name, data in files:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = int(when.timestamp())
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
