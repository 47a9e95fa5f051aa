"""Exports: start, poll, download every part, decrypt, check, unpack (``/invoices/exports``)."""

from __future__ import annotations

import json
from typing import Any

from ksefclient import _codes
from ksefclient._core import Flow, ProtocolCore, segment
from ksefclient._crypto import (
    SYMMETRIC_KEY_ENCRYPTION,
    PublicKeyCertificate,
    SymmetricKey,
    sha256_b64,
    unpack,
)
from ksefclient._exceptions import (
    KsefForbiddenError,
    KsefIntegrityError,
    KsefStatusError,
    KsefUnauthorizedError,
)
from ksefclient._models import ExportResult, ExportStatus, InvoiceMetadata, InvoiceQueryFilters
from ksefclient._responses import parse

__all__ = ["export_invoices", "export_status", "start_export"]


def start_export(
    core: ProtocolCore,
    filters: InvoiceQueryFilters,
    *,
    only_metadata: bool = False,
    compression: str = "Zip",
) -> Flow[tuple[str, SymmetricKey]]:
    """``POST /invoices/exports``: the export's reference number and its key."""
    key = SymmetricKey.generate()

    def attempt(certificate: PublicKeyCertificate) -> Flow[Any]:
        body = {
            "encryption": key.encryption_info(certificate),
            "onlyMetadata": only_metadata,
            "compressionType": compression,
            "filters": filters.to_json(),
        }
        return core.json_call("POST", "/invoices/exports", json=body, expected=(200, 201))

    data = yield from core.with_key(SYMMETRIC_KEY_ENCRYPTION, attempt)
    return parse(lambda d: str(d["referenceNumber"]), data), key


def export_status(core: ProtocolCore, reference_number: str) -> Flow[ExportStatus]:
    data = yield from core.json_call("GET", f"/invoices/exports/{segment(reference_number)}")
    return parse(ExportStatus.from_json, data)


def export_invoices(
    core: ProtocolCore,
    filters: InvoiceQueryFilters,
    *,
    only_metadata: bool = False,
    compression: str = "Zip",
    timeout: float | None = None,
) -> Flow[ExportResult]:
    """Export, wait, download, decrypt and unpack (every part checked against its hashes)."""
    reference, key = yield from start_export(
        core, filters, only_metadata=only_metadata, compression=compression
    )
    status = yield from core.poll(
        lambda: export_status(core, reference),
        lambda s: s.status.code != 100,
        what=f"export {reference}",
        reference_number=reference,
        timeout=timeout,
    )
    if status.status.code != 200:
        what = f"export {reference}"
        raise status.status.error(KsefStatusError, what, _codes.EXPORT_STATUSES, reference)
    archive = bytearray()
    for part in sorted(status.parts, key=lambda p: p.ordinal_number):
        try:
            response = yield from core.call(part.method, part.url, auth=None, api=False)
        except (KsefForbiddenError, KsefUnauthorizedError):
            # The link expired while earlier parts downloaded: links are fresh per status read.
            fresh = yield from export_status(core, reference)
            part = next(p for p in fresh.parts if p.ordinal_number == part.ordinal_number)
            response = yield from core.call(part.method, part.url, auth=None, api=False)
        data = response.content
        if len(data) != part.encrypted_part_size or sha256_b64(data) != part.encrypted_part_hash:
            raise KsefIntegrityError(f"export part {part.part_name}: encrypted size/hash mismatch")
        plain = key.decrypt(data)
        if len(plain) != part.part_size or sha256_b64(plain) != part.part_hash:
            raise KsefIntegrityError(
                f"export part {part.part_name}: size/hash mismatch after decryption"
            )
        archive += plain
    entries = unpack(bytes(archive), status.compression_type) if archive else {}
    metadata: tuple[InvoiceMetadata, ...] = ()
    if "_metadata.json" in entries:
        try:
            raw = json.loads(entries["_metadata.json"])
        except ValueError as exc:
            raise KsefIntegrityError("the export's _metadata.json is not JSON") from exc
        metadata = tuple(
            parse(lambda d: [InvoiceMetadata.from_json(i) for i in d["invoices"]], raw)
        )
    invoices = {
        name.rsplit("/", 1)[-1][: -len(".xml")]: data
        for name, data in entries.items()
        if name.endswith(".xml")
    }
    return ExportResult(reference, invoices, metadata, status)
