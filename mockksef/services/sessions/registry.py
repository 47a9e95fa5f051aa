"""The sessions of one environment and what the clock makes of them.

``SessionRegistry`` is the state the operation groups (``online.py``,
``batch.py``, ``status.py``) share by reference: the sessions, their indexes,
the armed faults and the URL signer, with the rules every group applies —
lookup, settling on the clock, the computed status, recording an invoice and
numbering UPO pages. ``SessionsBackend`` (``backend.py``) wires them together.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mockksef import violations
from mockksef.crypto import rsa_oaep_decrypt, sha256_b64
from mockksef.errors import InvalidInputData, KsefError
from mockksef.ids import secret_bytes
from mockksef.models import ContextIdentifier, Principal
from mockksef.services.invoices.models import StoredInvoice
from mockksef.services.sessions.models import (
    BATCH,
    NO_INVOICES,
    NOT_FOUND_ZNALEZIONA,
    ONLINE,
    SESSION_LIFETIME,
    SYSTEM_ABORT,
    UPLOAD_TIME_EXCEEDED,
    UPO_PAGE_SIZE,
    Outcome,
    Session,
    SessionInvoice,
    UpoPage,
)
from mockksef.services.sessions.urls import UrlSigner
from mockksef.services.sessions.validation import Verdict, warsaw_day
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


class SessionRegistry:
    def __init__(self, env: EnvironmentState) -> None:
        self.env = env
        self.lock = threading.RLock()
        self.sessions: dict[str, Session] = {}
        self.by_context: dict[ContextIdentifier, list[Session]] = {}
        # invoiceHash -> records (technical corrections find their originals by hash)
        self.by_hash: dict[str, list[SessionInvoice]] = {}
        # hashes of originals whose technical correction was accepted (21166)
        self.corrected: set[str] = set()
        self.faults: deque[Fault] = deque()
        self.urls = UrlSigner(secret_bytes(32))
        # Sessions looked up or changed since the persister last asked (--data).
        self.touched: set[str] = set()

    # -- persistence (--data): the indexes are rebuilt, not stored ----------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        # One entry per session invoice: rebuilt from the sessions on load.
        state["by_hash"] = None
        state["corrected"] = None
        state["touched"] = set()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.by_hash = {}
        self.corrected = set()
        for session in self.sessions.values():
            self._index(session)

    def _index(self, session: Session) -> None:
        for invoice in session.invoices:
            self.by_hash.setdefault(invoice.invoice_hash, []).append(invoice)
            if invoice.stored is not None and invoice.hash_of_corrected_invoice:
                self.corrected.add(invoice.hash_of_corrected_invoice)

    def adopt(self, sessions: Iterable[Session]) -> None:
        """Add restored sessions the registry does not list yet (written after its pickle)."""
        with self.lock:
            for session in sessions:
                if session.reference_number not in self.sessions:
                    self.sessions[session.reference_number] = session
                    self.by_context.setdefault(session.context, []).append(session)
                    self._index(session)

    def drain_touched(self) -> set[str]:
        """The sessions touched since the last call (the persister writes their rows)."""
        with self.lock:
            touched, self.touched = self.touched, set()
        return touched

    # -- configuration helpers --------------------------------------------------------

    def seconds(self, name: str) -> timedelta:
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
        with self.lock:
            self.faults.append(Fault(kind, code, context))

    def disarm_faults(self) -> None:
        """Forget every armed fault that has not fired yet."""
        with self.lock:
            self.faults.clear()

    def take_fault(self, kind: str, context: ContextIdentifier) -> Fault | None:
        for fault in list(self.faults):
            if fault.kind == kind and fault.context in (None, context):
                self.faults.remove(fault)
                return fault
        return None

    # -- opening ------------------------------------------------------------------------

    def form(self, body: dict[str, Any], batch: bool) -> xsd.FormSpec:
        code = body.get("formCode") or {}
        form = xsd.find_form(code.get("systemCode"), code.get("schemaVersion"), code.get("value"))
        if form is None or (batch and not form.batch_allowed):
            raise InvalidInputData(violations.service("unsupported_form", "formCode"))
        if form.system_code == "FA (2)" and not self.env.profile.accepts_fa2:
            raise InvalidInputData(violations.service("unsupported_form", "formCode"))
        return form

    def key(self, encryption: dict[str, Any]) -> tuple[bytes | None, bytes]:
        """(AES key, or None when it does not decrypt; IV). 21470/21405 synchronously."""
        private_key = self.env.public_keys.private_key_for(
            "SymmetricKeyEncryption", encryption.get("publicKeyId")
        )
        wrapped = _b64(encryption.get("encryptedSymmetricKey"), "encryption.encryptedSymmetricKey")
        iv = _b64(encryption.get("initializationVector"), "encryption.initializationVector")
        if len(iv) != 16:
            raise InvalidInputData(
                violations.service("iv_length", "encryption.initializationVector")
            )
        try:
            key = rsa_oaep_decrypt(private_key, wrapped)
        except ValueError:
            return None, iv
        return (key if len(key) == 32 else None), iv

    def auth_proof(self, principal: Principal) -> tuple[str | None, str]:
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

    def new_session(
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
        token_ref, doc_hash = self.auth_proof(principal)
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
        with self.lock:
            self.sessions[session.reference_number] = session
            self.by_context.setdefault(session.context, []).append(session)
            self.touched.add(session.reference_number)
        self.env.events.emit("session.opened", reference=session.reference_number, kind=kind)
        return session

    # -- lookup ----------------------------------------------------------------------------

    def get(
        self,
        principal: Principal,
        reference_number: str,
        detail: str = NOT_FOUND_ZNALEZIONA,
        missing: KsefError | None = None,
    ) -> Session:
        """The session, if ``visible_to`` the caller.

        Else 400 21173, or ``missing`` on the operations whose official table
        does not list 21173 (invoice status and invoice UPOs).
        """
        session = self.sessions.get(reference_number)
        if session is None or not visible_to(principal, session):
            raise missing or KsefError(21173, detail.format(reference_number))
        self.touched.add(reference_number)
        return session

    def by_path(self, session_path: str) -> Session | None:
        """The session a storage path names (its reference number in lower case)."""
        session = self.sessions.get(session_path.upper())
        if session is not None:
            self.touched.add(session.reference_number)
        return session

    # -- computed state ------------------------------------------------------------------

    def state(self, session: Session, now: datetime) -> Outcome:
        """What a client sees now (code and details)."""
        self.settle(session, now)
        if session.outcome is not None and session.final_at is not None:
            if now >= session.final_at:
                return session.outcome
        if session.closed_at is not None and session.closed_at <= now:
            return Outcome(170 if session.kind == ONLINE else 150)
        return Outcome(100)

    def code(self, session: Session, now: datetime) -> int:
        return self.state(session, now).code

    def visible_invoices(self, session: Session, now: datetime) -> list[SessionInvoice]:
        if session.kind == BATCH:
            # Listed once the package has been enumerated (the final status shows).
            if session.final_at is None or now < session.final_at:
                return []
        return session.invoices

    # -- settling ------------------------------------------------------------------------------

    def expire_sessions(self, now: datetime, context: ContextIdentifier | None = None) -> list[str]:
        """End now the lifetime of every open session of ``context`` (all when None).

        For scenarios: the next read settles each one as a session whose lifetime
        ran out. Returns the reference numbers whose lifetime was cut.
        """
        with self.lock:
            pool = self.sessions.values() if context is None else self.by_context.get(context, [])
            expired = []
            for session in list(pool):
                if session.closed_at is None and session.valid_until > now:
                    session.valid_until = now
                    expired.append(session.reference_number)
                    self.touched.add(session.reference_number)
        return expired

    def settle(self, session: Session, now: datetime) -> None:
        """Apply what the clock has made true: auto-close, timeouts, final outcomes."""
        with self.lock:
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
        final_at = session.closed_at + self.seconds("online_close_seconds")
        for invoice in session.invoices:
            final_at = max(final_at, invoice.final_at)
        fault = self.take_fault("session", session.context)
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

    def _settle_batch(self, session: Session, now: datetime) -> None:
        if session.outcome is not None and session.final_at is not None:
            if now >= session.final_at and session.upo_pages is None:
                self._finish(session)
            return
        if session.closed_at is None and now >= session.valid_until:
            session.outcome = Outcome(440, (UPLOAD_TIME_EXCEEDED,))
            session.final_at = session.valid_until
            session.enumerated = False
            if session.batch is not None:
                session.batch.drop_data()
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

    def record(
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
        fault = self.take_fault("invoice", session.context)
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
                permanent_storage_date=final_at + self.seconds("permanent_storage_seconds"),
                net_amount=float(facts.net_amount),
                gross_amount=float(facts.gross_amount),
                vat_amount=float(facts.vat_amount),
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
                self.corrected.add(hash_of_corrected)
        session.add(invoice)
        self.by_hash.setdefault(invoice_hash, []).append(invoice)
        self.env.events.emit(
            "invoice.accepted" if invoice.stored is not None else "invoice.rejected",
            reference=invoice.reference_number,
            code=outcome.code,
        )
        return invoice

    # -- UPO documents ------------------------------------------------------------------------

    def upo_header(self, session: Session) -> UpoHeader:
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
    def upo_document(invoice: SessionInvoice) -> UpoDocument:
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

    def resource(self, session: Session, kind: str, name: str) -> str:
        """The storage path of one of the session's files (batch parts, UPOs)."""
        return f"{self.env.env.value}/{session.reference_number.lower()}/{kind}/{name}"

    def summary(self) -> dict[str, int]:
        with self.lock:
            return {
                "sessions": len(self.sessions),
                "invoices": sum(len(s.invoices) for s in self.sessions.values()),
            }


class SessionOperations:
    """A group of the area's operations (online, batch, reads) on the shared registry."""

    def __init__(self, registry: SessionRegistry) -> None:
        self.registry = registry
        self.env = registry.env


# Permissions that see every session of the context; InvoiceWrite alone sees its own.
ALL_SESSIONS = frozenset({"Introspection", "EnforcementOperations"})


def visible_to(principal: Principal, session: Session) -> bool:
    """Whether the caller sees the session at all: in its context, opened by the same
    subject unless it holds ``ALL_SESSIONS``. The one rule of GET /sessions and of every
    operation on one session (csharp OnlineSessionE2ETests: a person holding only
    InvoiceWrite can neither list the invoices of the owner's session nor close it)."""
    if session.context != principal.context:
        return False
    return session.opener == principal.subject or bool(
        principal.effective_permissions & ALL_SESSIONS
    )


def _b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidInputData(violations.not_empty(where))
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputData(violations.bad_format(where)) from exc


def _feature_on(header: str | None) -> bool:
    """Exactly one ``X-KSeF-Feature`` value takes effect (reference C §4.5)."""
    if not header:
        return False
    return header.strip().lower() == "subject-identifier-validation"
