"""Request bodies are bounded per operation before they are parsed (issue 13).

Before: any JSON body up to 16 MB was read whole and validated on the event
loop; a 2,000,000-item ``invoiceTypes`` (14 MB) held every client for 22.7 s.
Now (``mockksef/http/bounds.py``): the declared ``Content-Length`` is refused
before a byte is read, a streamed body stops at the limit, the JSON values are
counted before ``json.loads`` and every list is bounded before the schema;
each answer is 400 21405. Batch part uploads answer 413 as Azure does.

Malformed JSON, invalid UTF-8 and wrong content types on every operation are
in ``tests/api/test_bad_input.py``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from mockksef.errors import InvalidInputData
from mockksef.http import bounds
from mockksef.server import ThreadedServer
from mockksef.services.sessions.models import MAX_PART_ENCRYPTED
from mockksef.storage import routes as storage_routes
from tests import kit
from tests.conftest import auth_headers, legacy_codes
from tests.security.hostile import PATIENCE, answers_health, online_session, padded

NIP = "5265877635"
METADATA = "/v2/invoices/query/metadata"
QUERY = {
    "subjectType": "Subject1",
    "dateRange": {
        "dateType": "Issue",
        "from": "2026-02-01T00:00:00Z",
        "to": "2026-03-01T00:00:00Z",
    },
}
TOO_LARGE = "Rozmiar żądania przekracza dopuszczalny limit {} bajtów."


def details(answer: Any) -> list[str]:
    body = answer.json() if hasattr(answer, "json") else json.loads(answer)
    return [d for e in body["exception"]["exceptionDetailList"] for d in e["details"]]


# -- the wire: what the server reads of a body it refuses ------------------------------------


class Sent:
    """A request whose body the app pulls chunk by chunk (httpx's ASGI transport reads
    the stream only as the app asks); counts what it pulled."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.pulled = 0
        self.status = 0
        self.body = b""

    def call(self, app: Any, path: str, headers: dict[str, str], method: str = "POST") -> Sent:
        async def stream() -> AsyncIterator[bytes]:
            for chunk in self.chunks:
                self.pulled += len(chunk)
                yield chunk

        async def go() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                answer = await c.request(method, path, content=stream(), headers=headers)
            self.status, self.body = answer.status_code, answer.content

        asyncio.run(go())
        return self


def endless(chunk: int = 65_536) -> Iterator[bytes]:
    """A JSON body that never ends (bounded only by what the reader takes)."""
    yield b'{"subjectType":"Subject1","padding":"'
    while True:
        yield b"x" * chunk


def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read(app, mock):  # type: ignore[no-untyped-def]
    headers = {
        **auth_headers(mock, NIP),
        "content-type": "application/json",
        "content-length": "14000000",
    }
    sent = Sent(endless()).call(app, METADATA, headers)
    assert sent.status == 400 and sent.pulled == 0
    assert details(sent.body) == [TOO_LARGE.format(bounds.JSON_BODY_BYTES)]


def test_a_streamed_body_is_read_only_up_to_its_limit(app, mock):  # type: ignore[no-untyped-def]
    headers = {**auth_headers(mock, NIP), "content-type": "application/json"}
    sent = Sent(endless()).call(app, METADATA, headers)
    assert sent.status == 400
    assert details(sent.body) == [TOO_LARGE.format(bounds.JSON_BODY_BYTES)]
    assert bounds.JSON_BODY_BYTES < sent.pulled <= bounds.JSON_BODY_BYTES + 65_536 + 64


def test_an_online_invoice_body_may_carry_the_largest_invoice_test_data_allows(app, mock):  # type: ignore[no-untyped-def]
    # 10 MB (maxInvoiceWithAttachmentSizeInMB at most), AES-padded, in Base64, plus the fields.
    limit = bounds.body_limit("sessions.send_invoice")
    assert limit >= 4 * -(-(10_000_000 + 16) // 3)
    headers = {
        **auth_headers(mock, NIP),
        "content-type": "application/json",
        "content-length": str(limit + 1),
    }
    path = "/v2/sessions/online/20260302-SO-2DFC46C000-3AC6D5877F-D4/invoices"
    sent = Sent(endless()).call(app, path, headers)
    assert sent.status == 400 and sent.pulled == 0
    assert details(sent.body) == [TOO_LARGE.format(limit)]


def test_an_invoice_over_the_context_limit_is_still_judged_not_refused(client, mock):  # type: ignore[no-untyped-def]
    """3.5 MB: over the default 3 MB, under the body bound: status 430, as KSeF answers."""
    headers, crypto, ref = online_session(client, NIP)
    sent = kit.send(client, headers, ref, crypto, padded(kit.fa3(NIP), 3_500_000))
    assert sent.status_code == 202, sent.text
    status = kit.invoice_status(client, headers, ref, sent.json()["referenceNumber"])
    assert status["status"]["code"] == 430
    assert "przekracza dopuszczalny limit 3000000 B" in " ".join(status["status"]["details"])


def test_a_xades_document_over_its_limit_is_refused(client):  # type: ignore[no-untyped-def]
    answer = client.post(
        "/auth/xades-signature",
        content=b"<a>" + b" " * bounds.XML_BODY_BYTES + b"</a>",
        headers=kit.XML,
    )
    assert answer.status_code == 400 and legacy_codes(answer) == [21405]
    assert details(answer) == [TOO_LARGE.format(bounds.XML_BODY_BYTES)]


# -- lists and values: bounded before the schema validator and the JSON parser ----------------


def test_a_list_over_its_bound_is_refused_before_the_schema_walks_it(client, mock):  # type: ignore[no-untyped-def]
    headers = auth_headers(mock, NIP)
    longest = client.post(
        "/invoices/query/metadata",
        json={**QUERY, "invoiceTypes": ["Vat"] * bounds.MAX_ITEMS},
        headers=headers,
    )
    assert longest.status_code == 200, longest.text
    over = client.post(
        "/invoices/query/metadata",
        json={**QUERY, "invoiceTypes": ["Vat"] * (bounds.MAX_ITEMS + 1)},
        headers=headers,
    )
    assert over.status_code == 400 and legacy_codes(over) == [21405]
    assert details(over) == ["invoiceTypes: lista może zawierać co najwyżej 1000 pozycji."]


def test_lists_are_named_by_their_path_and_collective_identifiers_take_5000():
    nested = {"a": [{"b": [[0] * 1001]}]}
    with pytest.raises(InvalidInputData) as refused:
        bounds.check_items("tokens.generate", nested)
    assert refused.value.errors[0].details == (
        "a[0].b[0]: lista może zawierać co najwyżej 1000 pozycji.",
    )
    bounds.check_items("collective.create", {"invoices": [{}] * 5000})
    with pytest.raises(InvalidInputData):
        bounds.check_items("collective.create", {"invoices": [{}] * 5001})


def test_a_body_with_too_many_values_is_refused_before_it_is_parsed(client, mock):  # type: ignore[no-untyped-def]
    # Within the 1 MB limit, an unknown member (ignored by the schema) of 100,001 zeros.
    raw = json.dumps({**QUERY, "x": [0] * (bounds.MAX_VALUES + 1)}).encode()
    assert len(raw) < bounds.JSON_BODY_BYTES
    answer = client.post(
        "/invoices/query/metadata",
        content=raw,
        headers={**auth_headers(mock, NIP), "Content-Type": "application/json"},
    )
    assert answer.status_code == 400 and legacy_codes(answer) == [21405]
    assert details(answer) == ["Treść żądania może zawierać co najwyżej 100000 wartości."]


# -- batch part uploads: Azure's 413 ------------------------------------------------------------


def _part_url(client: Any, mock: Any) -> str:
    headers = kit.xades_login(client, NIP).headers
    pkg = kit.package({"1.xml": kit.fa3(NIP)})
    url: str = kit.open_batch(client, headers, pkg)["partUploadRequests"][0]["url"]
    return url.removeprefix("http://testserver")


def test_a_part_declared_over_100_mb_answers_413_before_it_is_read(client, app, mock):  # type: ignore[no-untyped-def]
    url = _part_url(client, mock)
    headers = {"x-ms-blob-type": "BlockBlob", "content-length": str(MAX_PART_ENCRYPTED + 1)}
    sent = Sent(endless()).call(app, url, headers, method="PUT")
    assert sent.status == 413 and sent.pulled == 0
    assert b"<Code>RequestBodyTooLarge</Code>" in sent.body


def test_a_streamed_part_stops_at_the_limit_with_413(client, app, mock, monkeypatch):  # type: ignore[no-untyped-def]
    # The real bound is 100 MB; a small one shows the same reading loop at work.
    monkeypatch.setattr(storage_routes, "MAX_PART_ENCRYPTED", 200_000)
    url = _part_url(client, mock)
    sent = Sent(endless()).call(app, url, {"x-ms-blob-type": "BlockBlob"}, method="PUT")
    assert sent.status == 413 and 200_000 < sent.pulled <= 200_000 + 65_536 + 64
    assert b"<Code>RequestBodyTooLarge</Code>" in sent.body


# -- over a socket: the refusal comes at once and others are still answered --------------------


@pytest.mark.server
def test_a_14_mb_body_is_refused_over_a_socket_and_others_are_answered(server: ThreadedServer):
    token = auth_headers(server.state, NIP)["Authorization"]
    head = (
        f"POST {METADATA} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 14000000\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=PATIENCE) as sock:
        # Two million list items were coming; the answer comes before them.
        sock.sendall(head + b'{"invoiceTypes":["Vat"')
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65_536)
            if not chunk:
                break
            answer += chunk
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 400"), answer[:200]
    assert details(rest.partition(b"\r\n\r\n")[2]) == [TOO_LARGE.format(bounds.JSON_BODY_BYTES)]
    assert answers_health(server)
