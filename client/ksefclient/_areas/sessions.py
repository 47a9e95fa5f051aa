"""What online and batch sessions share: status, listings, invoice statuses, UPO, closing.

``/sessions/{ref}``, ``/sessions``, ``/sessions/{ref}/invoices[/failed]``,
``/sessions/{ref}/invoices/{ref}``, the UPO downloads and ``…/close``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ksefclient._core import Flow, ProtocolCore, segment
from ksefclient._exceptions import TRANSIENT_ERRORS, KsefBadRequestError, KsefConfigurationError
from ksefclient._models import SessionInvoice, SessionStatus, SessionSummary
from ksefclient._responses import parse

__all__ = [
    "close_session",
    "invoice_status",
    "invoice_upo",
    "list_sessions",
    "session_invoices",
    "session_status",
    "session_upo",
    "wait_for_invoice",
    "wait_for_session",
]


def close_session(core: ProtocolCore, kind: str, reference: str) -> Flow[None]:
    """Close an ``online`` or ``batch`` session; after an unknown outcome, read its status."""
    budget = core.budget()
    while True:
        try:
            yield from core.call(
                "POST",
                f"/sessions/{kind}/{segment(reference)}/close",
                replay=False,
                expected=(200, 204),
            )
            return
        except TRANSIENT_ERRORS as error:
            yield from core.wait_or_raise(budget, error)
            status = yield from session_status(core, reference)
            if status.status.code != 100:
                return
        except KsefBadRequestError as error:
            # 21180: no longer open — closed by a lost earlier attempt of ours, closed
            # automatically at validUntil, or failed. Closing is then done: the
            # session's status (read by the caller) tells how it ended.
            if not error.has(21180):
                raise
            status = yield from session_status(core, reference)
            if status.status.code == 100:
                raise
            return


def session_status(core: ProtocolCore, reference_number: str) -> Flow[SessionStatus]:
    data = yield from core.json_call("GET", f"/sessions/{segment(reference_number)}")
    return parse(SessionStatus.from_json, data)


def wait_for_session(
    core: ProtocolCore, reference_number: str, timeout: float | None = None
) -> Flow[SessionStatus]:
    """Poll until the session is processed (a status other than 100, 150, 170)."""
    return core.poll(
        lambda: session_status(core, reference_number),
        lambda s: s.status.code not in (100, 150, 170),
        what=f"session {reference_number}",
        reference_number=reference_number,
        timeout=timeout,
    )


def session_invoices(
    core: ProtocolCore, reference_number: str, *, failed: bool = False
) -> Flow[list[SessionInvoice]]:
    path = f"/sessions/{segment(reference_number)}/invoices" + ("/failed" if failed else "")
    return core.paged(path, "invoices", SessionInvoice.from_json, {"pageSize": 1000})


def list_sessions(
    core: ProtocolCore, session_type: str = "Online", statuses: Sequence[str] | None = None
) -> Flow[list[SessionSummary]]:
    params: dict[str, Any] = {"sessionType": session_type, "pageSize": 100}
    if statuses:
        params["statuses"] = list(statuses)
    return core.paged("/sessions", "sessions", SessionSummary.from_json, params)


def invoice_status(
    core: ProtocolCore, session_reference: str, invoice_reference: str
) -> Flow[SessionInvoice]:
    data = yield from core.json_call(
        "GET", f"/sessions/{segment(session_reference)}/invoices/{segment(invoice_reference)}"
    )
    return parse(SessionInvoice.from_json, data)


def wait_for_invoice(
    core: ProtocolCore,
    session_reference: str,
    invoice_reference: str,
    timeout: float | None = None,
) -> Flow[SessionInvoice]:
    return core.poll(
        lambda: invoice_status(core, session_reference, invoice_reference),
        lambda s: s.is_final,
        what=f"invoice {invoice_reference}",
        reference_number=invoice_reference,
        timeout=timeout,
    )


# -- UPO -----------------------------------------------------------------------------------


def invoice_upo(
    core: ProtocolCore,
    session_reference: str,
    *,
    ksef_number: str | None = None,
    invoice_reference: str | None = None,
) -> Flow[bytes]:
    """The UPO of one accepted invoice (XML bytes)."""
    if (ksef_number is None) == (invoice_reference is None):
        raise KsefConfigurationError("give exactly one of ksef_number or invoice_reference")
    tail = (
        f"ksef/{segment(ksef_number)}/upo"
        if ksef_number
        else f"{segment(invoice_reference or '')}/upo"
    )
    return (yield from core.download(f"/sessions/{segment(session_reference)}/invoices/{tail}"))


def session_upo(
    core: ProtocolCore, session_reference: str, upo_reference: str | None = None
) -> Flow[list[bytes]]:
    """The session's collective UPO pages (XML bytes): all of them, or one."""
    base = f"/sessions/{segment(session_reference)}/upo/"
    if upo_reference is not None:
        return [(yield from core.download(base + segment(upo_reference)))]
    status = yield from session_status(core, session_reference)
    pages = []
    for page in status.upo_pages:
        pages.append((yield from core.download(base + segment(page.reference_number))))
    return pages
