"""Batch sessions: open, part upload (storage), close and package processing (reference B §3)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mockksef import violations
from mockksef.crypto import aes_cbc_decrypt, sha256_b64
from mockksef.errors import InvalidInputData, KsefError
from mockksef.models import Principal
from mockksef.services.sessions.archive import (
    ArchiveError,
    Bounds,
    Entry,
    TooManyEntries,
    read_archive,
)
from mockksef.services.sessions.models import (
    BATCH,
    KEY_DECRYPTION_FAILED,
    MAX_PART_ENCRYPTED,
    MAX_PARTS,
    NO_INVOICES,
    NOT_FOUND_ZNALEZIONA,
    UPLOAD_TIME_EXCEEDED,
    BatchInfo,
    BatchPart,
    Outcome,
    Session,
)
from mockksef.services.sessions.registry import Fault, SessionOperations
from mockksef.services.sessions.validation import Verdict, check_duplicate, check_invoice

PART_HEADERS = {"x-ms-blob-type": "BlockBlob"}
# Invoices recorded per hold of the sessions lock while a package is processed.
_RECORD_SLICE = 200


def check_part_count(body: Any) -> None:
    """21161 before schema validation (the schema's maxItems would say 21405)."""
    if not isinstance(body, dict):
        return
    batch = _get(body, "batchFile")
    if not isinstance(batch, dict):
        return
    parts = _get(batch, "fileParts")
    if isinstance(parts, list) and len(parts) > MAX_PARTS:
        raise KsefError(21161, f"Liczba części pliku musi być mniejsza lub równa niż {MAX_PARTS}.")
    size = _get(batch, "fileSize")
    if isinstance(size, int) and not isinstance(size, bool) and size > 5_000_000_000:
        raise InvalidInputData(violations.at_most("fileSize", 5_000_000_000))


def _get(data: dict[str, Any], name: str) -> Any:
    for key, value in data.items():
        if key.lower() == name.lower():
            return value
    return None


class BatchSessions(SessionOperations):
    """Open batch sessions, take part uploads, close and process the package."""

    def open_batch(
        self,
        principal: Principal,
        body: dict[str, Any],
        base_url: str,
        now: datetime,
        feature: str | None = None,
    ) -> dict[str, Any]:
        """POST /sessions/batch: parts are uploaded to pre-signed URLs on the mock's storage.

        The upload window is ``batch_part_url_minutes`` (20) per declared part,
        the same for every part. A key that does not decrypt is only reported
        after close (session status 415), as KSeF does.
        """
        form = self.registry.form(body, batch=True)
        batch_file = body["batchFile"]
        declared = batch_file["fileParts"]
        if len(declared) > MAX_PARTS:
            raise KsefError(
                21161, f"Liczba części pliku musi być mniejsza lub równa niż {MAX_PARTS}."
            )
        ordinals = sorted(p["ordinalNumber"] for p in declared)
        if ordinals != list(range(1, len(declared) + 1)):
            raise InvalidInputData(
                violations.service("part_numbers", "batchFile.fileParts", count=len(declared))
            )
        for part in declared:
            if part["fileSize"] > MAX_PART_ENCRYPTED:
                raise KsefError(
                    21157,
                    f"Rozmiar części {part['ordinalNumber']} przekroczył dozwolony rozmiar 100MB.",
                )
        key, iv = self.registry.key(body["encryption"])
        session = self.registry.new_session(BATCH, principal, form, key, iv, now, feature)
        minutes = self.env.config.batch_part_url_minutes * len(declared)
        deadline = now + timedelta(minutes=minutes)
        session.offline_mode = bool(body.get("offlineMode"))
        session.enumerated = False
        session.batch = BatchInfo(
            file_size=batch_file["fileSize"],
            file_hash=batch_file["fileHash"],
            compression=batch_file.get("compressionType") or "Zip",
            parts={
                p["ordinalNumber"]: BatchPart(p["ordinalNumber"], p["fileSize"], p["fileHash"])
                for p in declared
            },
            upload_deadline=deadline,
        )
        requests = [
            {
                "ordinalNumber": ordinal,
                "method": "PUT",
                "url": self.registry.urls.url(
                    base_url,
                    self.registry.resource(session, "batch-parts", str(ordinal)),
                    deadline,
                    "w",
                ),
                "headers": dict(PART_HEADERS),
            }
            for ordinal in ordinals
        ]
        return {"referenceNumber": session.reference_number, "partUploadRequests": requests}

    # -- storage: PUT of one part ------------------------------------------------------------

    def upload_part(
        self,
        session_path: str,
        ordinal: str,
        data: bytes,
        query: dict[str, str],
        now: datetime,
    ) -> str:
        """A part upload to its pre-signed URL: ``created``, ``invalid`` (bad or
        missing signature), ``expired`` or ``closed`` (the session takes no more parts).

        Re-uploading a part overwrites it.
        """
        resource = f"{self.env.env.value}/{session_path}/batch-parts/{ordinal}"
        verdict = self.registry.urls.verify(resource, query, "w", now)
        if verdict != "ok":
            return verdict
        with self.registry.lock:
            session = self.registry.by_path(session_path)
            if session is None or session.batch is None or not ordinal.isdigit():
                return "invalid"
            part = session.batch.parts.get(int(ordinal))
            if part is None:
                return "invalid"
            if self.registry.code(session, now) != 100:
                return "closed"
            part.data = bytes(data)
            part.uploaded_at = now
            return "created"

    # -- close and processing ----------------------------------------------------------------

    def close_batch(self, principal: Principal, reference_number: str, now: datetime) -> None:
        """POST /sessions/batch/{ref}/close: 150 at once, the outcome after
        ``batch_processing_seconds``.

        Synchronous: 21173, 21208 (cancelled after 12 h without close), 21180,
        21205 (a declared part was not uploaded), 21157 (a part's size differs
        from its declaration). Hash, key, decryption, archive and invoice
        problems end in the session status (405, 415, 435, 430, 420, 440, 445).
        """
        with self.registry.lock:
            session = self.registry.get(principal, reference_number)
            if session.kind != BATCH or session.batch is None:
                raise KsefError(21173, NOT_FOUND_ZNALEZIONA.format(reference_number))
            state = self.registry.state(session, now)
            if state.code == 440 and UPLOAD_TIME_EXCEEDED in state.details:
                raise KsefError(21208, "Sesja anulowana, przekroczony czas wysyłki.")
            if state.code != 100:
                raise KsefError(21180, f"Status sesji {state.code} uniemożliwia jej zamknięcie.")
            for ordinal, part in sorted(session.batch.parts.items()):
                if part.data is None:
                    raise KsefError(
                        21205, f"Nie przesłano zadeklarowanej '{ordinal}' części pliku."
                    )
            for ordinal, part in sorted(session.batch.parts.items()):
                assert part.data is not None
                if len(part.data) != part.size:
                    raise KsefError(
                        21157,
                        f"Zadeklarowany rozmiar części '{ordinal}' nie zgadza się z rzeczywistym.",
                    )
            session.closed_at = now
            self.env.events.emit("session.closed", reference=reference_number)
            # From here the package belongs to the processing alone: the session
            # shows 150 and takes no more parts.
            parts = [
                (part.ordinal, part.hash, part.data)
                for _, part in sorted(session.batch.parts.items())
            ]
            session.batch.drop_data()
        self._process_batch(session, parts, now)

    def _process_batch(
        self, session: Session, parts: list[tuple[int, str, bytes | None]], now: datetime
    ) -> None:
        """Decrypt, unpack and check the package outside the sessions lock (a zip
        bomb or 10,000 invoices take seconds, in a worker thread); record the
        invoices under it, a slice at a time, so a request waiting for the lock
        waits for one slice at most. The outcome shows once everything is recorded.
        """
        batch = session.batch
        assert batch is not None
        final_at = now + self.registry.seconds("batch_processing_seconds")
        unpacked = self._unpack(session, batch, parts)
        del parts
        enumerated = not isinstance(unpacked, Outcome)
        if isinstance(unpacked, Outcome):
            outcome = unpacked
        else:
            outcome = self._judge_entries(session, *unpacked, final_at)
        with self.registry.lock:
            session.enumerated = enumerated
            session.outcome = outcome
            session.final_at = final_at

    def _unpack(
        self, session: Session, batch: BatchInfo, parts: list[tuple[int, str, bytes | None]]
    ) -> Outcome | tuple[list[Entry], Bounds]:
        """The package's entries, or the session outcome that ends it before enumeration."""
        for ordinal, expected, data in parts:
            assert data is not None
            if sha256_b64(data) != expected:
                return Outcome(
                    405,
                    (
                        f"Skrót SHA-256 części: '{ordinal}' nie zgadza się z zadeklarowanym "
                        f"skrótem: '{expected}'.",
                    ),
                )
        if session.key is None:
            return Outcome(415, (KEY_DECRYPTION_FAILED,))
        plain_parts: list[bytes] = []
        for index, (ordinal, _, data) in enumerate(parts):
            assert data is not None
            try:
                plain_parts.append(aes_cbc_decrypt(session.key, session.iv, data))
            except ValueError:
                return Outcome(
                    435, (f"Nie udało się odszyfrować części '{ordinal}' pliku paczki.",)
                )
            parts[index] = (ordinal, "", None)  # free the ciphertext as we go
        archive = b"".join(plain_parts)
        del plain_parts
        if sha256_b64(archive) != batch.file_hash:
            return Outcome(
                430,
                (
                    "Skrót SHA-256 przesłanej paczki faktur nie jest zgodny z zadeklarowanym "
                    f"skrótem: '{batch.file_hash}'.",
                ),
            )
        if len(archive) != batch.file_size:
            return Outcome(
                430,
                (
                    "Rozmiar przesłanej paczki faktur nie jest zgodny z zadeklarowanym "
                    f"rozmiarem: '{batch.file_size}'.",
                ),
            )
        limits = self.env.limits.session_limits(session.context).batch
        bounds = Bounds(
            max_entries=limits.max_invoices,
            max_entry_bytes=max(
                limits.max_invoice_size_bytes, limits.max_invoice_with_attachment_size_bytes
            ),
            max_total_bytes=self.env.config.batch_max_uncompressed_bytes,
            max_ratio=self.env.config.batch_max_compression_ratio,
        )
        try:
            entries = read_archive(archive, batch.compression, bounds)
        except TooManyEntries as too_many:
            return Outcome(
                420,
                (
                    f"Przekroczono dopuszczalną liczbę faktur w paczce: '{limits.max_invoices}'. "
                    f"Liczba faktur w paczce: '{too_many.count}'.",
                ),
            )
        except ArchiveError as error:
            return Outcome(430, (error.detail,))
        return entries, bounds

    def _judge_entries(
        self, session: Session, entries: list[Entry], bounds: Bounds, final_at: datetime
    ) -> Outcome:
        if not entries:
            return Outcome(440, (NO_INVOICES,))
        with self.registry.lock:
            fault = self.registry.take_fault("session", session.context)
        verdicts = [self._entry_verdict(session, entry, bounds, fault) for entry in entries]
        accepted = False
        for first in range(0, len(entries), _RECORD_SLICE):
            with self.registry.lock:
                for index in range(first, min(first + _RECORD_SLICE, len(entries))):
                    entry = entries[index]
                    invoice = self.registry.record(
                        session,
                        check_duplicate(self.env, verdicts[index]),
                        ordinal=index + 1,
                        invoice_hash=entry.hash,
                        invoicing_date=session.created,
                        processing_at=final_at,
                        final_at=final_at,
                        plain=entry.data,
                        offline=session.offline_mode,
                        file_name=entry.name,
                    )
                    entry.data = None
                    accepted = accepted or invoice.outcome.ok
        if fault is not None:
            return Outcome(fault.code)
        return Outcome(200) if accepted else Outcome(445)

    def _entry_verdict(
        self, session: Session, entry: Entry, bounds: Bounds, fault: Fault | None
    ) -> Verdict:
        """Every check of one entry but the duplicate one (that one needs the lock)."""
        if fault is not None:
            return Verdict(Outcome(405))
        if entry.data is None:
            limit = bounds.max_entry_bytes
            return Verdict(
                Outcome(
                    430,
                    (f"Rozmiar faktury ({entry.size} B) przekracza dopuszczalny limit {limit} B.",),
                )
            )
        return check_invoice(self.env, session, entry.data, invoicing_date=session.created)
