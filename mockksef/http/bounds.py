"""How much one request may carry: body bytes and list lengths, per operation.

Three checks, each before the costly step it guards: the declared
``Content-Length`` and then the bytes as they stream in
(``endpoint.read_limited``); the number of JSON values, counted on the raw
bytes before ``json.loads`` (which holds the interpreter for the whole parse,
80 ns a value: 13 MB of ``0,`` would take 0.64 s); the length of every list
of the parsed JSON, before the schema validator walks it (a 2,000,000-item
``invoiceTypes`` once held the event loop for 22.7 s, issue 13). A request over a bound is answered 400 21405
with the service's own sentence; the storage PUT of a batch part answers 413
``RequestBodyTooLarge`` as Azure Blob Storage does (``mockksef.storage``).

Where KSeF documents a limit, the bound follows from it (reference A §7, B §3,
C §2):

* an online invoice: the body carries the encrypted invoice in Base64, and an
  invoice may reach ``maxInvoiceWithAttachmentSizeInMB``, which test data can
  raise to 10 MB; a larger invoice is still judged (status 430), a larger body
  is not read;
* a collective identifier lists up to ``collectiveIdentifier.maxInvoices``
  invoices (at most 5,000);
* ``fileParts`` (50) and ``certificateSerialNumbers`` (10) keep the schema's
  ``maxItems`` and their own codes; the bounds here are only generous ceilings.

Everything else is undocumented: a JSON body of 1 MB and 1,000 items per list
are far above any request the API defines (the largest, a grant or a test-data
subject, is a few kilobytes). The README's "Request limits" table lists them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mockksef import violations
from mockksef.errors import InvalidInputData
from mockksef.services.limits.models import (
    COLLECTIVE_MAX_INVOICES_RANGE,
    MB,
    SESSION_OVERRIDE_RANGES,
)

if TYPE_CHECKING:
    from mockksef.config import MockConfig

JSON_BODY_BYTES = 1_000_000
XML_BODY_BYTES = 1_000_000
MAX_ITEMS = 1000
# About 8 ms of parsing at most.
MAX_VALUES = 100_000


def _base64_size(size: int) -> int:
    return 4 * -(-size // 3)


# The largest invoice test data allows, AES-CBC padded (at most one block more).
_LARGEST_INVOICE = SESSION_OVERRIDE_RANGES["maxInvoiceWithAttachmentSizeInMB"][1] * MB + 16
# One collective-identifier item at its largest: a 512-character description with
# every character \u-escaped (6 bytes), the KSeF number and the payment.
_COLLECTIVE_ITEM_BYTES = 512 * 6 + 256

BODY_BYTES: dict[str, int] = {
    # the hashes, sizes and flags around the invoice fit in 64 KiB many times over
    "sessions.send_invoice": _base64_size(_LARGEST_INVOICE) + 65_536,
    "collective.create": COLLECTIVE_MAX_INVOICES_RANGE[1] * _COLLECTIVE_ITEM_BYTES + 65_536,
    "auth.xades_signature": XML_BODY_BYTES,
}
ITEMS: dict[str, int] = {
    "collective.create": COLLECTIVE_MAX_INVOICES_RANGE[1],
}
VALUES: dict[str, int] = {
    # a handful of fields around one Base64 string
    "sessions.send_invoice": 1000,
    # every item's members, and commas in the descriptions (they count too)
    "collective.create": COLLECTIVE_MAX_INVOICES_RANGE[1] * 64,
}


def body_limit(op_id: str, config: MockConfig | None = None, xml: bool = False) -> int:
    """The most bytes ``op_id`` reads; ``config`` may lower it (``max_body_bytes``,
    ``max_xml_bytes``), never raise it."""
    limit = BODY_BYTES.get(op_id, XML_BODY_BYTES if xml else JSON_BODY_BYTES)
    if config is not None:
        limit = min(limit, config.max_xml_bytes if xml else config.max_body_bytes)
    return limit


def check_values(op_id: str, raw: bytes) -> None:
    """21405 when ``raw`` may hold more JSON values than the operation allows.

    Every value but the first follows a comma or opens a list or an object, so
    their count bounds the values from above; those inside strings count too,
    which only makes the bound generous. Counting is a byte scan (5 ms for 13 MB).
    """
    limit = VALUES.get(op_id, MAX_VALUES)
    if len(raw) <= limit:
        return
    found = raw.count(b",") + raw.count(b"[") + raw.count(b"{")
    if found > limit:
        raise InvalidInputData(violations.service("body_too_many_values", limit=limit))


def check_items(op_id: str, body: Any) -> None:
    """21405 when any list in ``body`` is longer than the operation allows.

    Iterative, and it only looks at lengths: the cost is one step per object
    or list in the body, never per scalar.
    """
    limit = ITEMS.get(op_id, MAX_ITEMS)
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(body, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            if len(node) > limit:
                name = violations.field_name(path) or "body"
                raise InvalidInputData(violations.service("too_many_items", name, limit=limit))
            stack.extend(
                (item, (*path, index))
                for index, item in enumerate(node)
                if isinstance(item, (list, dict))
            )
        elif isinstance(node, dict):
            stack.extend(
                (value, (*path, str(key)))
                for key, value in node.items()
                if isinstance(value, (list, dict))
            )
