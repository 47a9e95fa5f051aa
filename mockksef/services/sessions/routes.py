"""HTTP routes of the sessions area (thin: parse, call the backend, render)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from mockksef.http.endpoint import (
    Call,
    endpoint,
    hashed_xml,
    json_response,
    no_content,
)
from mockksef.services.sessions.batch import check_part_count


def feature(call: Call) -> str | None:
    """``X-KSeF-Feature``: only a single value takes effect (reference C §4.5)."""
    values = call.request.headers.getlist("x-ksef-feature")
    return values[0] if len(values) == 1 else None


@endpoint("sessions.open_online", auth="access", body="json")
def open_online(call: Call) -> Response:
    """A key that does not decrypt still opens the session (201); its status is then 415."""
    result = call.env.sessions.open_online(call.me, call.body, call.now, feature(call))
    return json_response(result, status=201)


# A large invoice is decrypted and checked against the XSD in a worker thread.
@endpoint("sessions.send_invoice", auth="access", body="json", offload="large")
def send_invoice(call: Call) -> Response:
    """Content checks end in the invoice status, never in a 400; 21184 only by fault injection."""
    result = call.env.sessions.send_invoice(
        call.me, call.path["referenceNumber"], call.body, call.now
    )
    return json_response(result, status=202)


@endpoint("sessions.close_online", auth="access")
def close_online(call: Call) -> Response:
    """170 at once, then 200/440/445 once every invoice is final (``online_close_seconds``)."""
    call.env.sessions.close_online(call.me, call.path["referenceNumber"], call.now)
    return no_content()


@endpoint("sessions.open_batch", auth="access", body="json", body_check=check_part_count)
def open_batch(call: Call) -> Response:
    """Parts go to pre-signed PUT URLs on the mock's own ``/storage`` (20 min per part).

    21161 (too many parts) comes before the schema's own ``maxItems`` check, as in KSeF.
    """
    result = call.env.sessions.open_batch(
        call.me, call.body, call.public_base_url, call.now, feature(call)
    )
    return json_response(result, status=201)


# The package is decrypted, unpacked and checked in a worker thread.
@endpoint("sessions.close_batch", auth="access", offload="always")
def close_batch(call: Call) -> Response:
    """150 at once; the package is processed on close, its outcome shows after ``batch_processing_seconds``."""
    call.env.sessions.close_batch(call.me, call.path["referenceNumber"], call.now)
    return no_content()


@endpoint("sessions.list", auth="access")
def list_sessions(call: Call) -> Response:
    """Newest first; the continuation token is an opaque Base64 JSON cursor."""
    continuation = call.header("x-continuation-token") or None
    return json_response(
        call.env.sessions.list_sessions(call.me, call.query, continuation, call.now)
    )


@endpoint("sessions.status", auth="access")
def session_status(call: Call) -> Response:
    """Fresh pre-signed UPO links on every read; batch counters stay null until the package is enumerated."""
    return json_response(
        call.env.sessions.session_status(
            call.me, call.path["referenceNumber"], call.public_base_url, call.now
        )
    )


def _invoices(call: Call, failed_only: bool) -> Response:
    return json_response(
        call.env.sessions.session_invoices(
            call.me,
            call.path["referenceNumber"],
            int(call.query.get("pageSize") or 10),
            call.header("x-continuation-token") or None,
            failed_only,
            call.public_base_url,
            call.now,
        )
    )


@endpoint("sessions.invoices", auth="access")
def session_invoices(call: Call) -> Response:
    """Ordinal order; batch invoices are listed once processing has ended."""
    return _invoices(call, failed_only=False)


@endpoint("sessions.failed_invoices", auth="access")
def failed_invoices(call: Call) -> Response:
    """Invoices whose final status is an error, in ordinal order."""
    return _invoices(call, failed_only=True)


@endpoint("sessions.invoice_status", auth="access")
def invoice_status(call: Call) -> Response:
    """An unknown invoice reference is 400 21405 (the only code the spec documents here)."""
    return json_response(
        call.env.sessions.invoice_status(
            call.me,
            call.path["referenceNumber"],
            call.path["invoiceReferenceNumber"],
            call.public_base_url,
            call.now,
        )
    )


@endpoint("sessions.invoice_upo_by_ksef", auth="access")
def invoice_upo_by_ksef(call: Call) -> Response:
    """UPO v4-3, unsigned (no XAdES signature), valid against the official XSD."""
    return hashed_xml(
        call.env.sessions.invoice_upo_by_ksef(
            call.me, call.path["referenceNumber"], call.path["ksefNumber"], call.now
        )
    )


@endpoint("sessions.invoice_upo", auth="access")
def invoice_upo(call: Call) -> Response:
    """UPO v4-3, unsigned (no XAdES signature); 21178 when the invoice has none."""
    return hashed_xml(
        call.env.sessions.invoice_upo(
            call.me, call.path["referenceNumber"], call.path["invoiceReferenceNumber"], call.now
        )
    )


@endpoint("sessions.session_upo", auth="access")
def session_upo(call: Call) -> Response:
    """One page (≤10 000 documents) of the collective UPO, unsigned, valid against the XSD."""
    return hashed_xml(
        call.env.sessions.session_upo(
            call.me, call.path["referenceNumber"], call.path["upoReferenceNumber"], call.now
        )
    )


routes: list[BaseRoute] = [
    open_online,
    send_invoice,
    close_online,
    open_batch,
    close_batch,
    list_sessions,
    session_status,
    session_invoices,
    failed_invoices,
    invoice_status,
    invoice_upo_by_ksef,
    invoice_upo,
    session_upo,
]
