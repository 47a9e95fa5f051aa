"""Issue 3's sending story end to end, in-process and over a real uvicorn socket.

XAdES (or KSeF-token) authentication -> online session with real encryption ->
KSeF numbers that pass the CRC-8 check -> UPOs valid against the official XSD
(API and pre-signed links, ``x-ms-meta-hash`` checked) -> batch session in
encrypted parts uploaded to the mock's storage -> the invoices downloadable
byte for byte.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from mockksef.ids import crc8
from mockksef.xml import xsd
from mockksef.xml.upo import unsigned
from tests import kit
from tests.conftest import OFFICIAL
from tests.kit import create_ksef_token, token_login, xades_login

U = f"{{{xsd.UPO_NS}}}"


def checksum_ok(ksef_number: str) -> bool:
    return len(ksef_number) == 35 and f"{crc8(ksef_number[:32].encode()):02X}" == ksef_number[33:]


def valid_upo(response: Any) -> etree._Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    assert response.headers["x-ms-meta-hash"] == kit.sha(response.content)
    root = etree.fromstring(response.content)
    schema = xsd.upo_schema(OFFICIAL)
    # The Ministry's signature is not in the XSD: the content is validated without it.
    assert root[-1].tag == "{http://www.w3.org/2000/09/xmldsig#}Signature"
    assert schema.validate(unsigned(root)), schema.error_log
    return root


def test_online_and_batch_sending(lane):
    client, mock = lane
    nip = kit.random_nip(303)
    owner = xades_login(client, nip)
    h = owner.headers

    # Online: three invoices, one of them rejected (foreign seller).
    crypto = kit.Crypto()
    ref = kit.open_online(client, h, crypto)
    sent = {
        kit.send_ok(client, h, ref, crypto, kit.fa3(nip, "E1")): kit.fa3(nip, "E1"),
        kit.send_ok(client, h, ref, crypto, kit.fa3(nip, "E2")): kit.fa3(nip, "E2"),
    }
    rejected = kit.send_ok(client, h, ref, crypto, kit.fa3(kit.random_nip(304), "E3"))
    assert client.post(f"/sessions/online/{ref}/close", headers=h).status_code == 204
    status = kit.session_status(client, h, ref)
    assert status["status"]["code"] == 200
    assert kit.counts(status) == (3, 2, 1)
    assert kit.invoice_status(client, h, ref, rejected)["status"]["code"] == 410

    numbers = []
    for invoice_ref, xml in sent.items():
        item = kit.invoice_status(client, h, ref, invoice_ref)
        number = item["ksefNumber"]
        assert checksum_ok(number) and number.startswith(f"{nip}-20260302-")
        numbers.append(number)
        upo = valid_upo(client.get(f"/sessions/{ref}/invoices/{invoice_ref}/upo", headers=h))
        assert upo.findtext(f"{U}Dokument/{U}NumerKSeFDokumentu") == number
        # The hash of the signed XAdES document names the authentication.
        recorded = mock.env("test").auth.operation(owner.reference_number).document_hash
        assert recorded and len(recorded) == 44
        assert upo.findtext(f"{U}Uwierzytelnienie/{U}SkrotDokumentuUwierzytelniajacego") == recorded
        assert (
            client.get(item["upoDownloadUrl"]).content
            == client.get(f"/sessions/{ref}/invoices/ksef/{number}/upo", headers=h).content
        )
        downloaded = client.get(f"/invoices/ksef/{number}", headers=h)
        assert downloaded.status_code == 200, downloaded.text
        assert downloaded.content == xml
    page = status["upo"]["pages"][0]
    by_api = client.get(f"/sessions/{ref}/upo/{page['referenceNumber']}", headers=h)
    session_upo = valid_upo(by_api)
    assert [
        d.findtext(f"{U}NumerKSeFDokumentu") for d in session_upo.iter(f"{U}Dokument")
    ] == numbers
    assert valid_upo(client.get(page["downloadUrl"])) is not None
    assert client.get(page["downloadUrl"]).content == by_api.content

    # Batch: ZIP in two encrypted parts through the pre-signed storage URLs.
    files = {f"f{i}.xml": kit.fa3(nip, f"BATCH-{i}") for i in range(1, 5)}
    batch_ref = kit.send_batch(client, h, files, parts=2)
    batch = kit.session_status(client, h, batch_ref)
    assert batch["status"]["code"] == 200
    assert (batch["invoiceCount"], batch["successfulInvoiceCount"]) == (4, 4)
    items = client.get(f"/sessions/{batch_ref}/invoices", headers=h).json()["invoices"]
    assert all(checksum_ok(i["ksefNumber"]) for i in items)
    valid_upo(client.get(batch["upo"]["pages"][0]["downloadUrl"]))
    valid_upo(
        client.get(f"/sessions/{batch_ref}/invoices/ksef/{items[0]['ksefNumber']}/upo", headers=h)
    )

    listed = client.get("/sessions", params={"sessionType": "Batch"}, headers=h).json()
    assert [s["referenceNumber"] for s in listed["sessions"]] == [batch_ref]


def test_token_authenticated_session_names_the_token_in_the_upo(lane):
    client, mock = lane
    nip = kit.random_nip(404)
    owner = xades_login(client, nip)
    created = create_ksef_token(client, owner, ["InvoiceWrite"])
    mock.clock.advance(1)
    by_token = token_login(client, created["token"], nip)
    crypto = kit.Crypto()
    ref = kit.open_online(client, by_token.headers, crypto)
    invoice_ref = kit.send_ok(client, by_token.headers, ref, crypto, kit.fa3(nip, "T1"))
    upo = valid_upo(
        client.get(f"/sessions/{ref}/invoices/{invoice_ref}/upo", headers=by_token.headers)
    )
    assert (
        upo.findtext(f"{U}Uwierzytelnienie/{U}NumerReferencyjnyTokenaKSeF")
        == created["referenceNumber"]
    )
