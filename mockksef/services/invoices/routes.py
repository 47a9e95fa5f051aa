"""HTTP routes of the invoices area (thin: parse, call the backend, render)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute

from mockksef.http.endpoint import Call, endpoint, hashed_xml, json_response


@endpoint("invoices.download", auth="access")
def download(call: Call) -> Response:
    """Exact bytes + ``x-ms-meta-hash``; seen by the invoice's subjects and its sender [inferred]."""
    invoice = call.env.invoices.download(call.context, call.path["ksefNumber"])
    return hashed_xml(invoice.xml)


@endpoint("invoices.query_metadata", auth="access", body="json")
def query_metadata(call: Call) -> Response:
    """Every filter; HWM = the current time; Issue ranges compare Warsaw calendar days."""
    result = call.env.invoices.query_metadata(
        call.context,
        call.body,
        page_offset=call.query.get("pageOffset", 0),
        page_size=call.query.get("pageSize", 10),
        sort_order=call.query.get("sortOrder", "Asc"),
    )
    return json_response(result)


@endpoint("invoices.export", auth="access", body="json")
def export(call: Call) -> Response:
    """Package built on the first status read after ``export_processing_seconds``."""
    reference = call.env.invoices.start_export(call.context, call.body)
    return json_response({"referenceNumber": reference}, status=201)


# The first read after the ready time builds the package (seconds): in a worker thread.
@endpoint("invoices.export_status", auth="access", offload="always")
def export_status(call: Call) -> Response:
    """Package lifetime 3 days [not documented], status kept 7 days (then 410); links 1 h."""
    result = call.env.invoices.export_status(
        call.context, call.path["referenceNumber"], call.public_base_url
    )
    return json_response(result)


routes: list[BaseRoute] = [download, query_metadata, export, export_status]
