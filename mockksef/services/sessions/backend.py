"""State and rules of the sessions area: online and batch sessions, invoice statuses, UPO.

One ``SessionsBackend`` per environment. Entities live in ``models.py``; the
operations are split by entity: ``online.py`` (open/send/close online),
``batch.py`` (open/upload/close batch and package processing), ``status.py``
(lists, statuses, UPO). Checks on invoice content are in ``validation.py``.

Timing (moto-style note): outcomes are decided when the request that makes them
possible arrives and are filed in the invoice store at once, dated on the clock
``MockConfig.*_seconds`` ahead; reads show each status only from its instant
on (100 -> 150 -> final for invoices, 100 -> 170 -> final for online sessions,
100 -> 150 -> final for batch sessions). No background tasks.

Fault injection for the statuses the mock cannot otherwise reach (invoice 500,
550, 405; session 500; HTTP 21184): ``arm_fault``.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mockksef.crypto import rsa_oaep_decrypt
from mockksef.errors import InvalidInputData, KsefError
from mockksef.models import ContextIdentifier, Principal
from mockksef.services.invoices.models import StoredInvoice
from mockksef.services.sessions.batch import BatchMixin
from mockksef.services.sessions.models import (
    NO_INVOICES,
    NOT_FOUND_ZNALEZIONA,
    ONLINE,
    SESSION_LIFETIME,
    SYSTEM_ABORT,
    UPO_PAGE_SIZE,
    Outcome,
    Session,
    SessionInvoice,
    UpoPage,
)
from mockksef.services.sessions.online import OnlineMixin
from mockksef.services.sessions.status import StatusMixin
from mockksef.services.sessions.urls import UrlSigner
from mockksef.services.sessions.validation import Verdict, sha256_b64, warsaw_day
from mockksef.xml import xsd
from mockksef.xml.upo import RECEIVER_NAME, UpoDocument, UpoHeader

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState

FAULT_KINDS = ("send", "invoice", "session")


@dataclass
class Fault:
    """An armed fault: the next matching event ends with ``code``.

    kinds: ``send`` (HTTP 400 21184 on an online send), ``invoice`` (invoice
    status ``code``, e.g. 500 or 550, instead of its verdict), ``session``
    (the next session to be decided ends with status ``code``, e.g. 500: a
    batch after its package was enumerated, its invoices then ending with 405;
    an online session at close, its accepted invoices staying accepted).
    """

    kind: str
    code: int
    context: ContextIdentifier | None = None


class SessionsBackend(OnlineMixin, BatchMixin, StatusMixin):
    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self._lock = threading.RLock()
        self.sessions: dict[str, Session] = {}
        self._by_context: dict[ContextIdentifier, list[Session]] = {}
        # invoiceHash -> records (technical corrections find their originals by hash)
        self._by_hash: dict[str, list[SessionInvoice]] = {}
        # hashes of originals whose technical correction was accepted (21166)
        self._corrected: set[str] = set()
        self._faults: deque[Fault] = deque()
        self.urls = UrlSigner(env.rng.bytes(32))

    # -- configuration helpers --------------------------------------------------------

    def _seconds(self, name: str) -> timedelta:
        return timedelta(seconds=float(getattr(self.env.config, name)))

    def receiver_name(self) -> str:
        """UPO ``NazwaPodmiotuPrzyjmujacego`` (XSD-valid unless configured as TE/TR)."""
        if self.env.config.upo_environment_receiver_name:
            return self.env.profile.upo_receiver_name
        return RECEIVER_NAME

    # -- fault injection ------------------------------------------------------------------

    def arm_fault(self, kind: str, code: int, context: ContextIdentifier | None = None) -> None:
        """Make the next matching event fail with ``code`` (scenarios, tests)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind}")
        with self._lock:
            self._faults.append(Fault(kind, code, context))

    def _take_fault(self, kind: str, context: ContextIdentifier) -> Fault | None:
        for fault in list(self._faults):
            if fault.kind == kind and fault.context in (None, context):
                self._faults.remove(fault)
                return fault
        return None

    # -- opening ------------------------------------------------------------------------

    def _form(self, body: dict[str, Any], batch: bool) -> xsd.FormSpec:
        code = body.get("formCode") or {}
        form = xsd.find_form(code.get("systemCode"), code.get("schemaVersion"), code.get("value"))
        if form is None or (batch and not form.batch_allowed):
            raise InvalidInputData(xsd.UNSUPPORTED_FORM)
        if form.system_code == "FA (2)" and not self.env.profile.accepts_fa2:
            raise InvalidInputData(xsd.UNSUPPORTED_FORM)
        return form

    def _key(self, encryption: dict[str, Any]) -> tuple[bytes | None, bytes]:
        """(AES key, or None when it does not decrypt; IV). 21470/21405 synchronously."""
        private_key = self.env.public_keys.private_key_for(
            "SymmetricKeyEncryption", encryption.get("publicKeyId")
        )
        wrapped = _b64(encryption.get("encryptedSymmetricKey"), "encryption.encryptedSymmetricKey")
        iv = _b64(encryption.get("initializationVector"), "encryption.initializationVector")
        if len(iv) != 16:
            raise InvalidInputData(
                "encryption.initializationVector: wektor inicjalizujący musi mieć długość "
                "16 bajtów."
            )
        try:
            key = rsa_oaep_decrypt(private_key, wrapped)
        except ValueError:
            return None, iv
        return (key if len(key) == 32 else None), iv

    def _auth_proof(self, principal: Principal) -> tuple[str | None, str]:
        """(KSeF token reference, auth document hash) for the UPO ``Uwierzytelnienie``.

        The hash of the signed XAdES document as received, recorded by the auth
        area. Simplification: a principal without such a record (a token minted
        outside the authentication flow) gets a stable stand-in, the SHA-256 of
        its authentication reference number.
        """
        if principal.ksef_token_reference:
            return principal.ksef_token_reference, ""
        operation = self.env.auth.operation(principal.reference_number)
        if operation is not None and operation.document_hash:
            return None, operation.document_hash
        return None, sha256_b64(principal.reference_number.encode("utf-8"))

    def _new_session(
        self,
        kind: str,
        principal: Principal,
        form: xsd.FormSpec,
        key: bytes | None,
        iv: bytes,
        now: datetime,
        feature: str | None,
    ) -> Session:
        assert principal.context is not None
        token_ref, doc_hash = self._auth_proof(principal)
        session = Session(
            reference_number=self.env.rng.reference_number("SO" if kind == ONLINE else "SB", now),
            kind=kind,
            context=principal.context,
            opener=principal.subject,
            form=form,
            created=now,
            valid_until=now + SESSION_LIFETIME,
            ksef_token_reference=token_ref,
            auth_document_hash=doc_hash or None,
            key=key,
            iv=iv,
            subject_identifier_validation=_feature_on(feature),
        )
        with self._lock:
            self.sessions[session.reference_number] = session
            self._by_context.setdefault(session.context, []).append(session)
        self.env.events.emit("session.opened", reference=session.reference_number, kind=kind)
        return session

    # -- lookup ----------------------------------------------------------------------------

    def _session(
        self,
        principal: Principal,
        reference_number: str,
        detail: str = NOT_FOUND_ZNALEZIONA,
        missing: KsefError | None = None,
    ) -> Session:
        """The session, visible only to its own context.

        Else 400 21173, or ``missing`` on the operations whose official table
        does not list 21173 (invoice status and invoice UPOs).
        """
        session = self.sessions.get(reference_number)
        if session is None or session.context != principal.context:
            raise missing or KsefError(21173, detail.format(reference_number))
        return session

    # -- settling ------------------------------------------------------------------------------

    def _settle(self, session: Session, now: datetime) -> None:
        """Apply what the clock has made true: auto-close, timeouts, final outcomes."""
        with self._lock:
            if session.kind == ONLINE:
                self._settle_online(session, now)
            else:
                self._settle_batch(session, now)

    def _settle_online(self, session: Session, now: datetime) -> None:
        if session.outcome is not None and session.final_at is not None:
            if now >= session.final_at and session.upo_pages is None:
                self._finish(session)
            return
        if session.key is None:
            session.outcome = Outcome(415)
            session.final_at = session.created
            session.upo_pages = []
            return
        if session.closed_at is None and now >= session.valid_until:
            session.closed_at = session.valid_until
        if session.closed_at is None:
            return
        final_at = session.closed_at + self._seconds("online_close_seconds")
        for invoice in session.invoices:
            final_at = max(final_at, invoice.final_at)
        fault = self._take_fault("session", session.context)
        if fault is not None:
            # Invoices already accepted stay accepted; only the session ends in error.
            outcome = Outcome(fault.code)
        elif not session.invoices:
            outcome = Outcome(440, (NO_INVOICES,))
        elif any(i.outcome.ok for i in session.invoices):
            outcome = Outcome(200)
        else:
            outcome = Outcome(445)
        session.outcome = outcome
        session.final_at = final_at
        if now >= final_at:
            self._finish(session)

    def _finish(self, session: Session) -> None:
        """Number the session UPO pages once the final status shows."""
        if session.upo_pages is not None:
            return
        pages: list[UpoPage] = []
        if session.outcome is not None and session.outcome.ok:
            accepted = [i for i in session.invoices if i.outcome.ok]
            assert session.final_at is not None
            for index in range(0, len(accepted), UPO_PAGE_SIZE):
                pages.append(
                    UpoPage(
                        self.env.rng.reference_number("EU", session.final_at),
                        len(pages) + 1,
                        index + 1,
                        accepted[index : index + UPO_PAGE_SIZE],
                    )
                )
        session.upo_pages = pages

    # -- recording an invoice --------------------------------------------------------------

    def _record(
        self,
        session: Session,
        verdict: Verdict,
        *,
        ordinal: int,
        invoice_hash: str,
        invoicing_date: datetime,
        processing_at: datetime,
        final_at: datetime,
        plain: bytes | None,
        offline: bool,
        hash_of_corrected: str | None = None,
        file_name: str | None = None,
    ) -> SessionInvoice:
        """Create the invoice record; file it in the invoice store when accepted."""
        facts = verdict.facts
        outcome = verdict.outcome
        fault = self._take_fault("invoice", session.context)
        if fault is not None:
            outcome = Outcome(fault.code, (SYSTEM_ABORT,) if fault.code == 550 else ())
        mode = "Online"
        if (
            offline
            or hash_of_corrected
            or (facts is not None and facts.issue_date < warsaw_day(invoicing_date))
        ):
            mode = "Offline"
        invoice = SessionInvoice(
            reference_number=self.env.rng.reference_number("EE", invoicing_date),
            ordinal=ordinal,
            invoice_hash=invoice_hash,
            invoicing_date=invoicing_date,
            processing_at=processing_at,
            final_at=final_at,
            outcome=outcome,
            invoicing_mode=mode,
            file_name=file_name,
            invoice_number=facts.invoice_number if facts else None,
            hash_of_corrected_invoice=hash_of_corrected,
        )
        if outcome.ok and facts is not None and plain is not None:
            form = session.form
            stored = StoredInvoice(
                ksef_number=self.env.invoices.next_ksef_number(facts.seller_nip, invoicing_date),
                invoice_reference_number=invoice.reference_number,
                session_reference_number=session.reference_number,
                sender_context=session.context,
                seller_nip=facts.seller_nip,
                seller_name=facts.seller_name,
                buyer_identifier=facts.buyer_identifier,
                buyer_name=facts.buyer_name,
                third_subjects=facts.third_subjects,
                authorized_subject=facts.authorized_subject,
                invoice_number=facts.invoice_number,
                invoice_type=facts.invoice_type,
                form_code=(form.system_code, form.schema_version, form.value),
                issue_date=facts.issue_date,
                invoicing_date=invoicing_date,
                acquisition_date=final_at,
                permanent_storage_date=final_at + self._seconds("permanent_storage_seconds"),
                net_amount=facts.net_amount,
                gross_amount=facts.gross_amount,
                vat_amount=facts.vat_amount,
                currency=facts.currency,
                invoicing_mode=mode,
                is_self_invoicing=facts.is_self_invoicing,
                has_attachment=facts.has_attachment,
                invoice_hash=invoice_hash,
                invoice_size=len(plain),
                hash_of_corrected_invoice=hash_of_corrected,
                xml=plain,
            )
            self.env.invoices.store(stored)
            invoice.stored = stored
            if hash_of_corrected:
                self._corrected.add(hash_of_corrected)
        session.add(invoice)
        self._by_hash.setdefault(invoice_hash, []).append(invoice)
        self.env.events.emit(
            "invoice.accepted" if invoice.stored is not None else "invoice.rejected",
            reference=invoice.reference_number,
            code=outcome.code,
        )
        return invoice

    # -- UPO documents ------------------------------------------------------------------------

    def _upo_header(self, session: Session) -> UpoHeader:
        return UpoHeader(
            receiver_name=self.receiver_name(),
            session_reference_number=session.reference_number,
            context=session.context,
            ksef_token_reference=session.ksef_token_reference,
            auth_document_hash=session.auth_document_hash,
            logical_name=session.form.logical_name,
            form_system_code=session.form.system_code,
        )

    @staticmethod
    def _upo_document(invoice: SessionInvoice) -> UpoDocument:
        stored = invoice.stored
        assert stored is not None
        return UpoDocument(
            seller_nip=stored.seller_nip,
            ksef_number=stored.ksef_number,
            invoice_number=stored.invoice_number,
            issue_date=stored.issue_date,
            invoicing_date=stored.invoicing_date,
            acquisition_date=stored.acquisition_date,
            invoice_hash=stored.invoice_hash,
            invoicing_mode=stored.invoicing_mode,
        )

    def summary(self) -> dict[str, int]:
        with self._lock:
            return {
                "sessions": len(self.sessions),
                "invoices": sum(len(s.invoices) for s in self.sessions.values()),
            }


def _b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidInputData(f"{where}: wartość jest wymagana.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputData(f"{where}: nieprawidłowe kodowanie Base64.") from exc


def _feature_on(header: str | None) -> bool:
    """Exactly one ``X-KSeF-Feature`` value takes effect (reference C §4.5)."""
    if not header:
        return False
    return header.strip().lower() == "subject-identifier-validation"
