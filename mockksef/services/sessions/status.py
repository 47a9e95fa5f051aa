"""Session and invoice status reads, lists with continuation tokens, UPO (reference B §4, §5)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mockksef import paging, violations
from mockksef.clock import format_datetime, format_datetime_seconds, parse_datetime
from mockksef.errors import InvalidInputData, KsefError
from mockksef.models import Principal
from mockksef.models import status as status_info
from mockksef.services.sessions.models import (
    ONLINE,
    STATUS_GROUPS,
    Session,
    SessionInvoice,
    invoice_description,
    session_description,
)
from mockksef.services.sessions.registry import SessionOperations, visible_to
from mockksef.xml.upo import UpoSeal, render_invoice_upo, render_session_upo

_COUNTERS = ("invoiceCount", "successfulInvoiceCount", "failedInvoiceCount")
_DATE_FILTERS = (
    "dateCreatedFrom",
    "dateCreatedTo",
    "dateClosedFrom",
    "dateClosedTo",
    "dateModifiedFrom",
    "dateModifiedTo",
)


def encode_token(cursor: list[Any]) -> str:
    """Shaped like the real tokens of these lists: ``[{"token": ...}]``."""
    return paging.encode([{"token": cursor}])


def decode_token(token: str | None) -> list[Any] | None:
    """The cursor of a token; 400 21418 when it is not one of ours."""
    data = paging.decode(token)
    if data is None:
        return None
    try:
        cursor = data[0]["token"]
    except (TypeError, KeyError, IndexError) as exc:
        raise paging.invalid_token() from exc
    if not isinstance(cursor, list):
        raise paging.invalid_token()
    return cursor


class SessionReads(SessionOperations):
    """Lists, statuses and UPOs of the sessions kept in the shared registry."""

    # -- counts and dates -----------------------------------------------------------------

    def _counts(self, session: Session, now: datetime) -> tuple[int, int, int] | None:
        """(all, successful, failed); None where KSeF leaves them null (reference B §3.5)."""
        state = self.registry.state(session, now)
        if session.kind == ONLINE:
            if state.code == 415:
                return None
        elif not (session.enumerated and session.final_at is not None and now >= session.final_at):
            return None
        invoices = self.registry.visible_invoices(session, now)
        ok = failed = 0
        for invoice in invoices:
            if invoice.is_final(now):
                if invoice.outcome.ok:
                    ok += 1
                else:
                    failed += 1
        return len(invoices), ok, failed

    def _count_fields(self, session: Session, now: datetime) -> dict[str, int]:
        """The counters of GET /sessions/{ref}, one rule for both kinds.

        A batch session reports all three once its package is enumerated, 0 included
        (java BatchIntegrationTest reads failedInvoiceCount 0). An online session
        leaves a counter out (null) until it counts something: csharp
        OnlineSessionE2ETests polls until successfulInvoiceCount is not null and then
        reads a null failedInvoiceCount, before and after close.
        """
        counts = self._counts(session, now)
        if counts is None:
            return {}
        fields = dict(zip(_COUNTERS, counts, strict=True))
        if session.kind == ONLINE:
            return {name: count for name, count in fields.items() if count}
        return fields

    def _date_updated(self, session: Session, now: datetime) -> datetime:
        latest = session.created
        for moment in (session.closed_at, session.final_at):
            if moment is not None and latest < moment <= now:
                latest = moment
        for invoice in self.registry.visible_invoices(session, now):
            for moment in (invoice.invoicing_date, invoice.final_at):
                if latest < moment <= now:
                    latest = moment
        return latest

    # -- GET /sessions ----------------------------------------------------------------------

    def list_sessions(
        self,
        principal: Principal,
        query: dict[str, Any],
        continuation: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        """GET /sessions: newest first; ``Introspection``/``EnforcementOperations`` see
        every session of the context, ``InvoiceWrite`` only the caller's own."""
        cursor = decode_token(continuation)
        after: tuple[datetime, str] | None = None
        if cursor is not None:
            try:
                after = (parse_datetime(cursor[0]), str(cursor[1]))
            except (ValueError, IndexError, TypeError, AttributeError) as exc:
                raise KsefError(21418) from exc
        page_size = int(query.get("pageSize") or 10)
        kind = query.get("sessionType")
        ranges = {name: _parse_bound(query.get(name), name) for name in _DATE_FILTERS}
        codes: set[int] | None = None
        if query.get("statuses"):
            codes = set()
            for group in query["statuses"]:
                codes |= STATUS_GROUPS.get(group, frozenset())
        items: list[dict[str, Any]] = []
        more = False
        with self.registry.lock:
            sessions = list(self.registry.by_context.get(principal.context, []))  # type: ignore[arg-type]
            ordered = sorted(sessions, key=lambda s: (s.created, s.reference_number), reverse=True)
            for session in ordered:
                if session.kind != kind:
                    continue
                if not visible_to(principal, session):
                    continue
                wanted = query.get("referenceNumber")
                if wanted and session.reference_number != wanted:
                    continue
                if after is not None and (session.created, session.reference_number) >= after:
                    continue
                if not _within(session.created, ranges["dateCreatedFrom"], ranges["dateCreatedTo"]):
                    continue
                state = self.registry.state(session, now)
                closed = (
                    session.closed_at if session.closed_at and session.closed_at <= now else None
                )
                if (ranges["dateClosedFrom"] or ranges["dateClosedTo"]) and (
                    closed is None
                    or not _within(closed, ranges["dateClosedFrom"], ranges["dateClosedTo"])
                ):
                    continue
                updated = self._date_updated(session, now)
                if not _within(updated, ranges["dateModifiedFrom"], ranges["dateModifiedTo"]):
                    continue
                if codes is not None and state.code not in codes:
                    continue
                if len(items) == page_size:
                    more = True
                    break
                counts = self._counts(session, now) or (0, 0, 0)
                items.append(
                    {
                        "referenceNumber": session.reference_number,
                        "status": status_info(
                            state.code,
                            session_description(session.kind, state.code),
                            list(state.details),
                        ),
                        "dateCreated": format_datetime(session.created),
                        "dateUpdated": format_datetime(updated),
                        "validUntil": format_datetime(session.valid_until),
                        "totalInvoiceCount": counts[0],
                        "successfulInvoiceCount": counts[1],
                        "failedInvoiceCount": counts[2],
                    }
                )
        out: dict[str, Any] = {}
        if more and items:
            last = items[-1]
            out["continuationToken"] = encode_token([last["dateCreated"], last["referenceNumber"]])
        out["sessions"] = items
        return out

    # -- GET /sessions/{ref} -------------------------------------------------------------------

    def session_status(
        self,
        principal: Principal,
        reference_number: str,
        base_url: str,
        now: datetime,
    ) -> dict[str, Any]:
        """GET /sessions/{ref}: fresh pre-signed UPO links on every read."""
        with self.registry.lock:
            session = self.registry.get(principal, reference_number)
            state = self.registry.state(session, now)
            out: dict[str, Any] = {
                "status": status_info(
                    state.code, session_description(session.kind, state.code), list(state.details)
                ),
                "dateCreated": format_datetime(session.created),
                "dateUpdated": format_datetime(self._date_updated(session, now)),
                "validUntil": format_datetime(session.valid_until),
            }
            if state.code == 200 and session.upo_pages:
                expires = now + timedelta(hours=self.env.config.download_url_hours)
                out["upo"] = {
                    "pages": [
                        {
                            "referenceNumber": page.reference_number,
                            "downloadUrl": self.registry.urls.url(
                                base_url,
                                self.registry.resource(
                                    session, "session-upo", f"upo_{page.number:02d}.xml"
                                ),
                                expires,
                                "r",
                            ),
                            "downloadUrlExpirationDate": format_datetime_seconds(expires),
                        }
                        for page in session.upo_pages
                    ]
                }
            out.update(self._count_fields(session, now))
            return out

    # -- invoices of a session ------------------------------------------------------------------

    def _invoice_json(
        self,
        session: Session,
        invoice: SessionInvoice,
        base_url: str,
        now: datetime,
    ) -> dict[str, Any]:
        code = invoice.code_at(now)
        final = invoice.is_final(now)
        status: dict[str, Any] = {"code": code, "description": invoice_description(code)}
        if final and invoice.outcome.details:
            status["details"] = list(invoice.outcome.details)
        if final and invoice.outcome.extensions:
            status["extensions"] = dict(invoice.outcome.extensions)
        out: dict[str, Any] = {"ordinalNumber": invoice.ordinal}
        if final and invoice.invoice_number is not None:
            out["invoiceNumber"] = invoice.invoice_number
        stored = invoice.stored if final else None
        if stored is not None:
            out["ksefNumber"] = stored.ksef_number
        out["referenceNumber"] = invoice.reference_number
        out["invoiceHash"] = invoice.invoice_hash
        if invoice.file_name is not None:
            out["invoiceFileName"] = invoice.file_name
        if stored is not None:
            out["acquisitionDate"] = format_datetime(stored.acquisition_date)
        out["invoicingDate"] = format_datetime(invoice.invoicing_date)
        if stored is not None:
            if now >= stored.permanent_storage_date:
                out["permanentStorageDate"] = format_datetime(stored.permanent_storage_date)
            expires = now + timedelta(hours=self.env.config.download_url_hours)
            out["upoDownloadUrl"] = self.registry.urls.url(
                base_url,
                self.registry.resource(session, "invoice-upo", f"upo_{stored.ksef_number}.xml"),
                expires,
                "r",
            )
            out["upoDownloadUrlExpirationDate"] = format_datetime_seconds(expires)
        out["invoicingMode"] = invoice.invoicing_mode
        out["status"] = status
        return out

    def session_invoices(
        self,
        principal: Principal,
        reference_number: str,
        page_size: int,
        continuation: str | None,
        failed_only: bool,
        base_url: str,
        now: datetime,
    ) -> dict[str, Any]:
        """GET /sessions/{ref}/invoices and …/failed: ordinal order, continuation token."""
        cursor = decode_token(continuation)
        after = 0
        if cursor is not None:
            if len(cursor) != 1 or not isinstance(cursor[0], int) or isinstance(cursor[0], bool):
                raise KsefError(21418)
            after = cursor[0]
        with self.registry.lock:
            session = self.registry.get(principal, reference_number)
            self.registry.settle(session, now)
            chosen: list[SessionInvoice] = []
            more = False
            for invoice in self.registry.visible_invoices(session, now):
                if invoice.ordinal <= after:
                    continue
                if failed_only and not (invoice.is_final(now) and not invoice.outcome.ok):
                    continue
                if len(chosen) == page_size:
                    more = True
                    break
                chosen.append(invoice)
            out: dict[str, Any] = {}
            if more:
                out["continuationToken"] = encode_token([chosen[-1].ordinal])
            if chosen or not failed_only:
                # No failures: no list at all (java QueryInvoiceIntegrationTest reads null).
                out["invoices"] = [self._invoice_json(session, i, base_url, now) for i in chosen]
            return out

    def _invoice(
        self, session: Session, invoice_reference: str, now: datetime
    ) -> SessionInvoice | None:
        self.registry.settle(session, now)
        invoice = session.by_reference.get(invoice_reference)
        if invoice is None or not self.registry.visible_invoices(session, now):
            return None
        return invoice

    def invoice_status(
        self,
        principal: Principal,
        reference_number: str,
        invoice_reference: str,
        base_url: str,
        now: datetime,
    ) -> dict[str, Any]:
        """GET /sessions/{ref}/invoices/{invoiceRef}.

        An unknown session or invoice reference is 400 21405 (the spec documents
        no other code for this operation).
        """
        with self.registry.lock:
            session = self.registry.get(
                principal,
                reference_number,
                missing=InvalidInputData(
                    violations.service("session_not_found", reference=reference_number)
                ),
            )
            invoice = self._invoice(session, invoice_reference, now)
            if invoice is None:
                raise InvalidInputData(
                    violations.service(
                        "session_invoice_not_found",
                        invoice=invoice_reference,
                        session=reference_number,
                    )
                )
            return self._invoice_json(session, invoice, base_url, now)

    # -- UPO ------------------------------------------------------------------------------------

    def invoice_upo_by_ksef(
        self, principal: Principal, reference_number: str, ksef: str, now: datetime
    ) -> bytes:
        """GET /sessions/{ref}/invoices/ksef/{ksefNumber}/upo (21178 also for an unknown session)."""
        not_found = KsefError(
            21178,
            f"UPO o numerze KSeF {ksef} i numerze referencyjnym sesji {reference_number} "
            "nie zostało znalezione.",
        )
        with self.registry.lock:
            session = self.registry.get(principal, reference_number, missing=not_found)
            self.registry.settle(session, now)
            for invoice in self.registry.visible_invoices(session, now):
                stored = invoice.stored
                if stored is not None and stored.ksef_number == ksef and invoice.is_final(now):
                    return self._invoice_upo_bytes(session, invoice)
            raise not_found

    def invoice_upo(
        self,
        principal: Principal,
        reference_number: str,
        invoice_reference: str,
        now: datetime,
    ) -> bytes:
        """GET /sessions/{ref}/invoices/{invoiceRef}/upo.

        No UPO (unknown session or invoice, or not processed yet) is 400 21405:
        the only code the official table lists for this operation.
        """
        not_found = InvalidInputData(
            violations.service(
                "invoice_upo_not_found", invoice=invoice_reference, session=reference_number
            )
        )
        with self.registry.lock:
            session = self.registry.get(principal, reference_number, missing=not_found)
            invoice = self._invoice(session, invoice_reference, now)
            if invoice is None or invoice.stored is None or not invoice.is_final(now):
                raise not_found
            return self._invoice_upo_bytes(session, invoice)

    def session_upo(
        self,
        principal: Principal,
        reference_number: str,
        upo_reference: str,
        now: datetime,
    ) -> bytes:
        """GET /sessions/{ref}/upo/{upoRef}: one page of the collective UPO."""
        with self.registry.lock:
            session = self.registry.get(principal, reference_number)
            state = self.registry.state(session, now)
            for page in session.upo_pages or []:
                if page.reference_number == upo_reference and state.code == 200:
                    return self._session_upo_bytes(session, page.number)
            raise KsefError(
                21178,
                f"UPO o numerze referencyjnym {upo_reference} dla sesji {reference_number} "
                "nie zostało znalezione.",
            )

    def _seal(self, signed_at: datetime) -> UpoSeal:
        key = self.env.public_keys.upo_seal()
        return UpoSeal(key.private_key, key.certificate, signed_at)

    def _invoice_upo_bytes(self, session: Session, invoice: SessionInvoice) -> bytes:
        document = self.registry.upo_document(invoice)
        return render_invoice_upo(
            self.registry.upo_header(session), document, self._seal(document.acquisition_date)
        )

    def _session_upo_bytes(self, session: Session, number: int) -> bytes:
        pages = session.upo_pages or []
        page = pages[number - 1]
        total = sum(len(p.invoices) for p in pages)
        return render_session_upo(
            self.registry.upo_header(session),
            [self.registry.upo_document(i) for i in page.invoices],
            page.number,
            len(pages),
            page.first_ordinal,
            total,
            # Signed when the session's outcome was settled (its UPO's moment).
            self._seal(session.final_at or session.closed_at or session.created),
        )

    # -- pre-signed downloads (storage) ------------------------------------------------------------

    def download(
        self,
        session_path: str,
        kind: str,
        name: str,
        query: dict[str, str],
        now: datetime,
    ) -> tuple[str, bytes | None]:
        """A UPO by pre-signed URL: (verdict, bytes), verdict ok|invalid|expired|missing."""
        resource = f"{self.env.env.value}/{session_path}/{kind}/{name}"
        verdict = self.registry.urls.verify(resource, query, "r", now)
        if verdict != "ok":
            return verdict, None
        with self.registry.lock:
            session = self.registry.by_path(session_path)
            if session is None:
                return "missing", None
            state = self.registry.state(session, now)
            if kind == "session-upo":
                for page in session.upo_pages or []:
                    if name == f"upo_{page.number:02d}.xml" and state.code == 200:
                        return "ok", self._session_upo_bytes(session, page.number)
                return "missing", None
            for invoice in self.registry.visible_invoices(session, now):
                stored = invoice.stored
                if stored is not None and name == f"upo_{stored.ksef_number}.xml":
                    if invoice.is_final(now):
                        return "ok", self._invoice_upo_bytes(session, invoice)
            return "missing", None


def _parse_bound(value: Any, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return parse_datetime(str(value))
    except ValueError as exc:
        raise InvalidInputData(violations.bad_format(name)) from exc


def _within(value: datetime, low: datetime | None, high: datetime | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)
