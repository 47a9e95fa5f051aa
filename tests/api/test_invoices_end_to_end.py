"""Issue 3's reading story end to end, in-process and over a real uvicorn socket.

Real XAdES logins for a seller, a buyer and a third subject -> invoices sent in
encrypted online sessions -> metadata queries find each invoice under the right
subject types and nobody else's -> an HWM synchronisation over many pages and
several sessions returns every invoice exactly once -> downloads are byte for
byte what was sent -> an export's parts, fetched from the pre-signed storage
links without a token, decrypt to a ZIP holding the invoices and _metadata.json.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import httpx
from starlette.testclient import TestClient

from mockksef.clock import format_datetime
from mockksef.services.invoices.store import is_valid_ksef_number
from tests import kit
from tests.kit import xades_login


def subject3_invoice(seller: str, buyer: str, third: str, number: str) -> bytes:
    text = (
        kit.template("invoice-template-fa-3-with-custom-Subject3.xml")
        .replace("#nip#", seller)
        .replace("#nipOdbiorca#", third)
        .replace("<NIP>9795075130</NIP>", f"<NIP>{buyer}</NIP>")
        .replace("<P_2>FV2026/02/150</P_2>", f"<P_2>{number}</P_2>")
    )
    return text.encode("utf-8")


def send_session(client, headers, documents: list[bytes]) -> list[str]:  # type: ignore[no-untyped-def]
    """Open, send every document, close; the KSeF numbers in sending order."""
    crypto = kit.Crypto()
    ref = kit.open_online(client, headers, crypto)
    refs = [kit.send_ok(client, headers, ref, crypto, xml) for xml in documents]
    numbers = []
    for invoice_ref in refs:
        status = kit.invoice_status(client, headers, ref, invoice_ref)
        assert status["status"]["code"] == 200, status
        numbers.append(status["ksefNumber"])
    assert client.post(f"/sessions/online/{ref}/close", headers=headers).status_code == 204
    return numbers


def metadata(client, headers, subject: str, since: str, **params) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    body = {
        "subjectType": subject,
        "dateRange": {
            "dateType": "PermanentStorage",
            "from": since,
            "restrictToPermanentStorageHwmDate": True,
        },
    }
    resp = client.post("/invoices/query/metadata", headers=headers, json=body, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def sync(client, headers, cursor: str, seen: list[str]) -> str:  # type: ignore[no-untyped-def]
    """One HWM synchronisation run (pageSize 10); returns the next cursor."""
    offset = 0
    while True:
        page = metadata(client, headers, "Subject1", cursor, pageOffset=offset, pageSize=10)
        seen.extend(i["ksefNumber"] for i in page["invoices"])
        if not page["hasMore"]:
            return page["permanentStorageHwmDate"]  # type: ignore[no-any-return]
        offset += 1


def test_send_find_sync_download_export(lane):  # type: ignore[no-untyped-def]
    client, mock = lane
    seller_nip, buyer_nip, third_nip, stranger_nip = (kit.random_nip(s) for s in (11, 12, 13, 14))
    seller = xades_login(client, seller_nip).headers
    buyer = xades_login(client, buyer_nip).headers
    third = xades_login(client, third_nip).headers
    stranger = xades_login(client, stranger_nip).headers
    cursor = format_datetime(mock.clock.now())

    # First session: 23 plain invoices and 4 with a third subject.
    documents = {}
    for i in range(23):
        documents[f"A{i}"] = kit.fa3(seller_nip, f"A{i}", buyer=buyer_nip)
    for i in range(4):
        documents[f"S{i}"] = subject3_invoice(seller_nip, buyer_nip, third_nip, f"FV/S3/{i}")
    first = send_session(client, seller, list(documents.values()))
    assert all(is_valid_ksef_number(n) for n in first)
    sent = dict(zip(first, documents.values(), strict=True))
    mock.clock.advance(5)

    seen: list[str] = []
    cursor = sync(client, seller, cursor, seen)

    # Second and third sessions arrive between synchronisation runs.
    for run in range(2):
        more = [kit.fa3(seller_nip, f"B{run}-{i}", buyer=buyer_nip) for i in range(17)]
        numbers = send_session(client, seller, more)
        sent.update(zip(numbers, more, strict=True))
        mock.clock.advance(5)
        cursor = sync(client, seller, cursor, seen)
    assert sorted(seen) == sorted(sent) and len(seen) == len(set(seen)) == 61
    again: list[str] = []
    sync(client, seller, cursor, again)
    assert again == []  # nothing new past the last HWM

    # Each subject type finds the invoices of its party, and no one else's.
    start = format_datetime(mock.clock.now().replace(hour=0, minute=0))
    as_buyer = metadata(client, buyer, "Subject2", start, pageSize=100)
    assert sorted(i["ksefNumber"] for i in as_buyer["invoices"]) == sorted(sent)
    as_third = metadata(client, third, "Subject3", start, pageSize=100)
    assert sorted(i["ksefNumber"] for i in as_third["invoices"]) == sorted(first[23:])
    assert as_third["invoices"][0]["thirdSubjects"][0]["identifier"] == {
        "type": "Nip",
        "value": third_nip,
    }
    for subject in ("Subject2", "Subject3", "SubjectAuthorized"):
        assert metadata(client, seller, subject, start)["invoices"] == []
    for subject in ("Subject1", "Subject2", "Subject3", "SubjectAuthorized"):
        assert metadata(client, stranger, subject, start)["invoices"] == []

    # Downloads: byte for byte, for every party; never for a stranger.
    for number in (first[0], first[-1], list(sent)[-1]):
        for headers in (seller, buyer):
            resp = client.get(f"/invoices/ksef/{number}", headers=headers)
            assert resp.status_code == 200, resp.text
            assert resp.content == sent[number]
            assert resp.headers["x-ms-meta-hash"] == kit.sha(sent[number])
    assert client.get(f"/invoices/ksef/{first[-1]}", headers=third).content == sent[first[-1]]
    refused = client.get(f"/invoices/ksef/{first[0]}", headers=stranger)
    assert refused.status_code == 400
    assert refused.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21164

    # Export: the client's key, parts from the storage links, no bearer.
    crypto = kit.Crypto()
    started = client.post(
        "/invoices/exports",
        headers=buyer,
        json={
            "encryption": crypto.encryption(client),
            "filters": {
                "subjectType": "Subject2",
                "dateRange": {"dateType": "PermanentStorage", "from": start},
            },
        },
    )
    assert started.status_code == 201, started.text
    reference = started.json()["referenceNumber"]
    status = client.get(f"/invoices/exports/{reference}", headers=buyer).json()
    assert status["status"]["code"] == 200, status
    package = status["package"]
    assert package["invoiceCount"] == 61 and package["compressionType"] == "Zip"
    archive = b""
    with httpx.Client(timeout=20) as storage:
        for part in package["parts"]:
            if isinstance(client, TestClient):
                resp = client.get(part["url"])
            else:
                resp = storage.get(part["url"])  # a plain HTTP client, no token
            assert resp.status_code == 200, resp.text
            assert resp.headers["x-ms-meta-hash"] == part["encryptedPartHash"]
            archive += crypto.decrypt(resp.content)
    with zipfile.ZipFile(io.BytesIO(archive)) as unpacked:
        files = {name: unpacked.read(name) for name in unpacked.namelist()}
    assert set(files) == {f"{n}.xml" for n in sent} | {"_metadata.json"}
    assert all(files[f"{n}.xml"] == xml for n, xml in sent.items())
    listed = json.loads(files["_metadata.json"])["invoices"]
    assert sorted(m["ksefNumber"] for m in listed) == sorted(sent)
    assert all(m["buyer"]["identifier"] == {"type": "Nip", "value": buyer_nip} for m in listed)
