"""XML attacks through the API: external entities (XXE) and entity expansion (billion laughs).

These already held before issue 13 (entities are never resolved, a document
with a DTD is refused); here they are asked end to end, through an online
session, a batch package and the XAdES endpoint, and the server is asked to
answer others afterwards. The parser-level cases (every DTD form, processing
instructions, encodings, nesting) are in ``tests/unit/test_xml_xsd.py`` and
``tests/unit/test_xades.py``; internal-entity DTDs and billion laughs on
``POST /auth/xades-signature`` in ``tests/api/test_auth.py``
(``test_garbage_dtd_encoding_and_content_type``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mockksef.server import ThreadedServer
from tests import kit
from tests.conftest import legacy_codes
from tests.security.hostile import PATIENCE, answers_health

NIP = "5265877635"
SECRET = "/etc/passwd"
# What the file would show if the entity were ever resolved.
LEAK = "root:"
LAUGHS = b'<!ENTITY a "lollollollollollollollollollol">' + b"".join(
    b'<!ENTITY %s "%s">'
    % (chr(ord("a") + i + 1).encode(), b"&%s;" % chr(ord("a") + i).encode() * 10)
    for i in range(9)
)


def _with_doctype(document: bytes, subset: bytes, reference: bytes) -> bytes:
    """``document`` with an internal DTD subset and ``reference`` as its invoice number."""
    at = document.index(b"?>") + 2
    root = document[at:].lstrip()[1:].split(maxsplit=1)[0]
    hostile = document[:at] + b"<!DOCTYPE " + root + b" [" + subset + b"]>" + document[at:]
    start = hostile.index(b"<P_2>") + len(b"<P_2>")
    end = hostile.index(b"</P_2>")
    return hostile[:start] + reference + hostile[end:]


XXE = _with_doctype(kit.fa3(NIP, "x1"), f'<!ENTITY x SYSTEM "file://{SECRET}">'.encode(), b"&x;")
BILLION = _with_doctype(kit.fa3(NIP, "b1"), LAUGHS, b"&j;")


def _refused_as_xml(status: dict[str, Any]) -> None:
    assert status["status"]["code"] == 450, status
    details = status["status"]["details"]
    assert details[0] == "Nieprawidłowy XML"
    assert "lollollol" * 3 not in " ".join(details) and LEAK not in " ".join(details)


@pytest.mark.parametrize("document", [XXE, BILLION], ids=["xxe", "billion-laughs"])
def test_an_online_invoice_with_entities_is_refused_as_xml(client, document):  # type: ignore[no-untyped-def]
    headers = kit.xades_login(client, NIP).headers
    crypto = kit.Crypto()
    ref = kit.open_online(client, headers, crypto)
    sent = kit.send_ok(client, headers, ref, crypto, document)
    _refused_as_xml(kit.invoice_status(client, headers, ref, sent))


def test_batch_entries_with_entities_are_refused_and_the_rest_accepted(client):  # type: ignore[no-untyped-def]
    headers = kit.xades_login(client, NIP).headers
    files = {"xxe.xml": XXE, "laughs.xml": BILLION, "good.xml": kit.fa3(NIP, "g1")}
    ref = kit.send_batch(client, headers, files)
    assert kit.counts(kit.session_status(client, headers, ref)) == (3, 1, 2)
    failed = client.get(f"/sessions/{ref}/invoices/failed", headers=headers).json()["invoices"]
    assert sorted(i["invoiceFileName"] for i in failed) == ["laughs.xml", "xxe.xml"]
    for invoice in failed:
        _refused_as_xml(invoice)


def test_a_xades_document_with_an_external_entity_is_21001(client):  # type: ignore[no-untyped-def]
    challenge = kit.challenge(client)["challenge"]
    document = (
        f'<?xml version="1.0"?><!DOCTYPE AuthTokenRequest [<!ENTITY x SYSTEM "file://{SECRET}">]>'
        '<AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/2.0">'
        f"<Challenge>{challenge}&x;</Challenge></AuthTokenRequest>"
    ).encode()
    answer = client.post("/auth/xades-signature", content=document, headers=kit.XML)
    assert answer.status_code == 400 and legacy_codes(answer) == [21001]
    assert LEAK not in answer.text


@pytest.mark.server
def test_entity_bombs_over_a_socket_leave_the_server_answering(server: ThreadedServer):
    with httpx.Client(base_url=server.url + "/v2", timeout=PATIENCE) as client:
        headers = kit.xades_login(client, NIP).headers
        crypto = kit.Crypto()
        ref = kit.open_online(client, headers, crypto)
        sent = kit.send_ok(client, headers, ref, crypto, BILLION)
        _refused_as_xml(kit.invoice_status(client, headers, ref, sent))
        bomb = b'<?xml version="1.0"?><!DOCTYPE a [' + LAUGHS + b"]><a>&j;</a>"
        answer = client.post("/auth/xades-signature", content=bomb, headers=kit.XML)
        assert legacy_codes(answer) == [21001]
    assert answers_health(server)
