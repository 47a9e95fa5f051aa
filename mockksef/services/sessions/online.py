"""Online (interactive) sessions: open, send one invoice, close (reference B §2)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from mockksef import violations
from mockksef.clock import format_datetime
from mockksef.crypto import aes_cbc_decrypt, sha256_b64
from mockksef.errors import InvalidInputData, KsefError, MissingPermissions
from mockksef.models import Principal
from mockksef.services.sessions.models import (
    FILE_BADLY_ENCRYPTED,
    NOT_FOUND_ODNALEZIONA,
    ONLINE,
    Outcome,
    Session,
)
from mockksef.services.sessions.registry import SessionOperations
from mockksef.services.sessions.validation import Verdict, check_duplicate, check_invoice

_FA_WRITERS = ("InvoiceWrite", "EnforcementOperations")


def check_form_permission(principal: Principal, pef: bool) -> None:
    """PEF forms are for Peppol providers; FA forms for invoice writers."""
    held = principal.effective_permissions
    required = ("PefInvoiceWrite",) if pef else _FA_WRITERS
    if not held.intersection(required):
        raise MissingPermissions(list(required), sorted(held))


class OnlineSessions(SessionOperations):
    """Open, send to and close online sessions kept in the shared registry."""

    def open_online(
        self,
        principal: Principal,
        body: dict[str, Any],
        now: datetime,
        feature: str | None = None,
    ) -> dict[str, Any]:
        """POST /sessions/online.

        The key is unwrapped at once: a key that does not decrypt still opens
        the session (201) and its status is 415 from the start.
        """
        form = self.registry.form(body, batch=False)
        check_form_permission(principal, form.is_pef)
        key, iv = self.registry.key(body["encryption"])
        session = self.registry.new_session(ONLINE, principal, form, key, iv, now, feature)
        return {
            "referenceNumber": session.reference_number,
            "validUntil": format_datetime(session.valid_until),
        }

    def _online_session(
        self, principal: Principal, reference_number: str, now: datetime
    ) -> Session:
        session = self.registry.get(principal, reference_number, NOT_FOUND_ODNALEZIONA)
        if session.kind != ONLINE:
            raise KsefError(21173, NOT_FOUND_ODNALEZIONA.format(reference_number))
        self.registry.settle(session, now)
        return session

    def send_invoice(
        self,
        principal: Principal,
        reference_number: str,
        body: dict[str, Any],
        now: datetime,
    ) -> dict[str, str]:
        """POST /sessions/online/{ref}/invoices.

        Synchronous checks (400): 21173, 21180, 21184 (fault injection only),
        21155, 21405 (bad Base64), 21402, 21403, 21167, 21166. Everything else
        ends in the invoice status. An unknown ``hashOfCorrectedInvoice`` is
        accepted as an ordinary offline invoice (KSeF does not document it).

        Decryption and the content checks run outside the sessions lock (they
        may take a second on a large invoice, in a worker thread); the session
        is checked again, and the duplicate check and the recording done, under
        it.
        """
        with self.registry.lock:
            session = self._open_for_sending(principal, reference_number, now)
            if self.registry.take_fault("send", session.context) is not None:
                raise KsefError(
                    21184,
                    f"Trwają prace serwisowe i sesja {reference_number} jest tymczasowo "
                    "niedostępna. Spróbuj ponownie później lub otwórz nową sesję, aby wysłać "
                    "kolejne faktury.",
                )
            self._check_invoice_count(session, reference_number)
        try:
            content = base64.b64decode(body["encryptedInvoiceContent"], validate=True)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise InvalidInputData(violations.bad_format("encryptedInvoiceContent")) from exc
        if len(content) != body["encryptedInvoiceSize"]:
            raise KsefError(21402, "Długość treści nie zgadza się z rozmiarem pliku.")
        if sha256_b64(content) != body["encryptedInvoiceHash"]:
            raise KsefError(21403, "Skrót treści nie zgadza się ze skrótem pliku.")
        corrected = body.get("hashOfCorrectedInvoice") or None
        processing_at = now + self.registry.seconds("invoice_queue_seconds")
        final_at = processing_at + self.registry.seconds("invoice_processing_seconds")
        assert session.key is not None
        plain: bytes | None
        try:
            plain = aes_cbc_decrypt(session.key, session.iv, content)
        except ValueError:
            plain = None
        del content
        if plain is None:
            verdict = Verdict(Outcome(435, (FILE_BADLY_ENCRYPTED,)))
        else:
            verdict = check_invoice(
                self.env,
                session,
                plain,
                invoicing_date=now,
                declared_size=body["invoiceSize"],
                declared_hash=body["invoiceHash"],
                technical_correction=bool(corrected),
            )
        with self.registry.lock:
            # The session may have been closed or filled while the invoice was checked.
            self._open_for_sending(principal, reference_number, now)
            self._check_invoice_count(session, reference_number)
            if corrected:
                self._check_correction(corrected)
            invoice = self.registry.record(
                session,
                check_duplicate(self.env, verdict),
                ordinal=len(session.invoices) + 1,
                invoice_hash=body["invoiceHash"],
                invoicing_date=now,
                processing_at=processing_at,
                final_at=final_at,
                plain=plain,
                offline=bool(body.get("offlineMode")),
                hash_of_corrected=corrected,
            )
            return {"referenceNumber": invoice.reference_number}

    def _open_for_sending(
        self, principal: Principal, reference_number: str, now: datetime
    ) -> Session:
        session = self._online_session(principal, reference_number, now)
        code = self.registry.code(session, now)
        if code != 100:
            raise KsefError(21180, f"Status sesji {code} uniemożliwia wysyłkę faktur.")
        return session

    def _check_invoice_count(self, session: Session, reference_number: str) -> None:
        limit = self.env.limits.session_limits(session.context).online.max_invoices
        if len(session.invoices) >= limit:
            raise KsefError(
                21155,
                f"Sesja o numerze referencyjnym {reference_number} osiągnęła dozwolony "
                f"limit liczby faktur {limit}.",
            )

    def _check_correction(self, corrected: str) -> None:
        originals = self.registry.by_hash.get(corrected, [])
        if any(o.outcome.ok for o in originals):
            raise KsefError(
                21167, "Nie można wysłać korekty technicznej do prawidłowo przetworzonej faktury."
            )
        if corrected in self.registry.corrected:
            raise KsefError(
                21166, "Faktura posiada już przetworzoną prawidłowo korektę techniczną."
            )

    def close_online(self, principal: Principal, reference_number: str, now: datetime) -> None:
        """POST /sessions/online/{ref}/close: 170 at once, then the final status."""
        with self.registry.lock:
            session = self._online_session(principal, reference_number, now)
            code = self.registry.code(session, now)
            if code != 100:
                raise KsefError(21180, f"Status sesji {code} uniemożliwia jej zamknięcie.")
            session.closed_at = now
            self.env.events.emit("session.closed", reference=reference_number)
            self.registry.settle(session, now)
