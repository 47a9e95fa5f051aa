"""Batch sessions: ZIP, split, encrypt, open, upload the parts, close, wait (``/sessions/batch``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ksefclient._areas.sessions import close_session, session_invoices, wait_for_session
from ksefclient._core import Flow, ProtocolCore
from ksefclient._crypto import (
    MAX_BATCH_PART_BYTES,
    SYMMETRIC_KEY_ENCRYPTION,
    PublicKeyCertificate,
    SymmetricKey,
    build_zip,
    sha256_b64,
    split,
)
from ksefclient._exceptions import KsefConfigurationError, KsefProtocolError
from ksefclient._models import FA3, FormCode, SessionResult
from ksefclient._responses import parse

__all__ = ["send_batch"]


@dataclass
class _PendingUpload:
    ordinal_number: int
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> _PendingUpload:
        return cls(
            int(data["ordinalNumber"]),
            str(data.get("method") or "PUT"),
            str(data["url"]),
            {str(k): str(v) for k, v in (data.get("headers") or {}).items()},
        )


def send_batch(
    core: ProtocolCore,
    invoices: Mapping[str, bytes] | Sequence[bytes],
    form_code: FormCode = FA3,
    *,
    offline_mode: bool = False,
    part_size: int = MAX_BATCH_PART_BYTES,
    timeout: float | None = None,
) -> Flow[SessionResult]:
    """Send a batch session (ZIP, encrypted parts) and wait for its processing."""
    if isinstance(invoices, Mapping):
        entries = {str(k): bytes(v) for k, v in invoices.items()}
    else:
        entries = {f"invoice-{i + 1:05d}.xml": bytes(x) for i, x in enumerate(invoices)}
    if not entries:
        raise KsefConfigurationError("a batch needs at least one invoice")
    archive = build_zip(entries)
    key = SymmetricKey.generate()
    encrypted = [key.encrypt(part) for part in split(archive, part_size)]

    def attempt(certificate: PublicKeyCertificate) -> Flow[Any]:
        body = {
            "formCode": form_code.to_json(),
            "batchFile": {
                "fileSize": len(archive),
                "fileHash": sha256_b64(archive),
                "fileParts": [
                    {"ordinalNumber": i + 1, "fileSize": len(p), "fileHash": sha256_b64(p)}
                    for i, p in enumerate(encrypted)
                ],
            },
            "encryption": key.encryption_info(certificate),
            "offlineMode": offline_mode,
        }
        return core.json_call("POST", "/sessions/batch", json=body, expected=(200, 201))

    data = yield from core.with_key(SYMMETRIC_KEY_ENCRYPTION, attempt)
    reference, uploads = parse(
        lambda d: (
            str(d["referenceNumber"]),
            [_PendingUpload.from_json(u) for u in d["partUploadRequests"]],
        ),
        data,
    )
    for upload in uploads:
        if not 1 <= upload.ordinal_number <= len(encrypted):
            raise KsefProtocolError(
                f"KSeF asked for part {upload.ordinal_number} of {len(encrypted)}",
                request=None,
                response=None,
            )
        # Pre-signed storage URLs: no token, no KSeF headers; a PUT overwrites.
        yield from core.call(
            upload.method,
            upload.url,
            auth=None,
            content=encrypted[upload.ordinal_number - 1],
            headers=upload.headers,
            expected=(200, 201, 204),
            api=False,
        )
    yield from close_session(core, "batch", reference)
    status = yield from wait_for_session(core, reference, timeout)
    statuses = yield from session_invoices(core, reference)
    return SessionResult(reference, status, tuple(statuses))
