"""Online sessions: open, send invoices one by one (never one twice), close (``/sessions/online``)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from ksefclient._areas.sessions import (
    close_session,
    invoice_status,
    session_invoices,
    wait_for_session,
)
from ksefclient._core import Flow, ProtocolCore, segment
from ksefclient._crypto import (
    SYMMETRIC_KEY_ENCRYPTION,
    PublicKeyCertificate,
    SymmetricKey,
    sha256_b64,
)
from ksefclient._exceptions import TRANSIENT_ERRORS, KsefBadRequestError, KsefConfigurationError
from ksefclient._models import (
    FA3,
    FormCode,
    OnlineSession,
    SentInvoice,
    SessionInvoice,
    SessionResult,
    parse_datetime,
)
from ksefclient._responses import parse

__all__ = [
    "close_online_session",
    "find_in_session",
    "open_online_session",
    "send_invoice",
    "send_invoices",
]


def open_online_session(core: ProtocolCore, form_code: FormCode = FA3) -> Flow[OnlineSession]:
    key = SymmetricKey.generate()

    def attempt(certificate: PublicKeyCertificate) -> Flow[Any]:
        body = {"formCode": form_code.to_json(), "encryption": key.encryption_info(certificate)}
        return core.json_call("POST", "/sessions/online", json=body, expected=(200, 201))

    data = yield from core.with_key(SYMMETRIC_KEY_ENCRYPTION, attempt)
    return parse(
        lambda d: OnlineSession(
            str(d["referenceNumber"]),
            parse_datetime(d["validUntil"]) if d.get("validUntil") else None,
            form_code,
            key,
        ),
        data,
    )


def send_invoice(
    core: ProtocolCore,
    session: OnlineSession,
    xml: bytes,
    *,
    offline_mode: bool = False,
    hash_of_corrected_invoice: str | None = None,
) -> Flow[SentInvoice]:
    """Send one invoice (never twice in one session, whatever the network does).

    After an answer that is lost or refused with a transient error, the
    session's invoices are searched for the same hash; only a confirmed miss is
    sent again.
    """
    if not isinstance(xml, bytes | bytearray):
        raise KsefConfigurationError("the invoice must be bytes (UTF-8 XML as it will be stored)")
    xml = bytes(xml)
    invoice_hash = sha256_b64(xml)
    reference = session.reference_number
    known = session.sent.get(invoice_hash)
    if known is not None:
        return SentInvoice(reference, known, invoice_hash, recovered=True)
    if invoice_hash in session.uncertain:
        found = yield from find_in_session(core, reference, invoice_hash)
        if found is not None:
            return _record(session, invoice_hash, found.reference_number, True)
        session.uncertain.discard(invoice_hash)
    encrypted = session.key.encrypt(xml)
    body: dict[str, Any] = {
        "invoiceHash": invoice_hash,
        "invoiceSize": len(xml),
        "encryptedInvoiceHash": sha256_b64(encrypted),
        "encryptedInvoiceSize": len(encrypted),
        "encryptedInvoiceContent": base64.b64encode(encrypted).decode("ascii"),
        "offlineMode": offline_mode,
    }
    if hash_of_corrected_invoice:
        body["hashOfCorrectedInvoice"] = hash_of_corrected_invoice
    budget = core.budget()
    while True:
        try:
            data = yield from core.json_call(
                "POST",
                f"/sessions/online/{segment(reference)}/invoices",
                json=body,
                replay=False,
                expected=(200, 202),
            )
        except TRANSIENT_ERRORS as error:
            # The answer is lost or refused; KSeF may or may not have the invoice.
            session.uncertain.add(invoice_hash)
            yield from core.wait_or_raise(budget, error)
            found = yield from find_in_session(core, reference, invoice_hash)
            if found is not None:
                return _record(session, invoice_hash, found.reference_number, True)
            session.uncertain.discard(invoice_hash)
            continue
        except KsefBadRequestError as error:
            # 21184: the session is paused for maintenance; nothing was registered.
            if not error.has(21184):
                raise
            yield from core.wait_or_raise(budget, error)
            continue
        invoice_reference = parse(lambda d: str(d["referenceNumber"]), data)
        return _record(session, invoice_hash, invoice_reference, False)


def find_in_session(
    core: ProtocolCore, session_reference: str, invoice_hash: str
) -> Flow[SessionInvoice | None]:
    invoices = yield from session_invoices(core, session_reference)
    return next((i for i in invoices if i.invoice_hash == invoice_hash), None)


def close_online_session(core: ProtocolCore, session: OnlineSession) -> Flow[None]:
    yield from close_session(core, "online", session.reference_number)
    session.closed = True


def send_invoices(
    core: ProtocolCore,
    invoices: Iterable[bytes],
    form_code: FormCode = FA3,
    *,
    offline_mode: bool = False,
    timeout: float | None = None,
) -> Flow[SessionResult]:
    """Open, send all, close, wait: the session and its invoices in the order given."""
    documents = [bytes(x) for x in invoices]
    session = yield from open_online_session(core, form_code)
    sent = []
    for document in documents:
        sent.append((yield from send_invoice(core, session, document, offline_mode=offline_mode)))
    yield from close_online_session(core, session)
    reference = session.reference_number
    status = yield from wait_for_session(core, reference, timeout)
    statuses = yield from session_invoices(core, reference)
    by_reference = {s.reference_number: s for s in statuses}
    out = []
    for item in sent:
        found = by_reference.get(item.reference_number)
        if found is None:
            found = yield from invoice_status(core, reference, item.reference_number)
        out.append(found)
    return SessionResult(reference, status, tuple(out))


def _record(
    session: OnlineSession, invoice_hash: str, invoice_reference: str, recovered: bool
) -> SentInvoice:
    session.sent[invoice_hash] = invoice_reference
    session.uncertain.discard(invoice_hash)
    return SentInvoice(session.reference_number, invoice_reference, invoice_hash, recovered)
