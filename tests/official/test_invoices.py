"""Invoice metadata queries and exports as the official suites check them on TEST.

Sources: CIRFMF/ksef-client-csharp 2.6.1 (ce49441, 2026-06-15) BatchSession/BatchSessionE2ETests.cs,
Invoice/InvoiceDateRangeE2ETests.cs, Invoice/IncrementalInvoiceRetrievalE2ETests.cs;
CIRFMF/ksef-client-java 3.0.24 (fff86ab, 2026-04-22) QueryInvoiceIntegrationTest,
SearchInvoiceForSubject2IntegrationTest, SearchInvoiceForSubject3IntegrationTest.
Reference part C §4.4 (API 2.7.1+: at most 100 days in UTC; newest wins over the C# 3-month test).
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from typing import Any

import pytest

from tests import kit
from tests.official.conftest import NIP, PAST, legacy_details, login


def query(date_from: str, date_to: str, date_type: str = "Invoicing") -> dict[str, Any]:
    return {
        "subjectType": "Subject1",
        "dateRange": {"dateType": date_type, "from": date_from, "to": date_to},
    }


def metadata(client: Any, who: kit.Session, body: dict[str, Any]) -> Any:
    return client.post(
        "/invoices/query/metadata",
        params={"pageOffset": 0, "pageSize": 10, "sortOrder": "Asc"},
        json=body,
        headers=who.headers,
    )


@pytest.fixture
def stored(client, owner):  # type: ignore[no-untyped-def]
    """One accepted invoice of the owner, its session closed: the KSeF number."""
    crypto = kit.Crypto()
    reference = kit.open_online(client, owner.headers, crypto)
    sent = kit.send_ok(client, owner.headers, reference, crypto, kit.fa3(NIP, "Q1", PAST))
    client.post(f"/sessions/online/{reference}/close", headers=owner.headers)
    return kit.invoice_status(client, owner.headers, reference, sent)["ksefNumber"]


def export(client, owner, **extra: Any) -> tuple[dict[str, Any], dict[str, bytes], bytes]:  # type: ignore[no-untyped-def]
    """An export as the Java client asks for it (key and IV, no publicKeyId): its status, the
    files of the decrypted package, and the package's first bytes."""
    crypto = kit.Crypto()
    body = {
        "encryption": crypto.encryption(client, with_key_id=False),
        "filters": query("2026-02-25T00:00:00Z", "2026-03-05T00:00:00Z"),
        **extra,
    }
    started = client.post("/invoices/exports", json=body, headers=owner.headers)
    assert started.status_code == 201, started.text
    reference = started.json()["referenceNumber"]
    status = client.get(f"/invoices/exports/{reference}", headers=owner.headers).json()
    assert status["status"]["code"] == 200, status
    parts = sorted(status["package"]["parts"], key=lambda p: p["ordinalNumber"])
    blob = b"".join(
        crypto.decrypt(client.request(part["method"], part["url"]).content) for part in parts
    )
    if blob[:2] == b"\x1f\x8b":
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as archive:
            files = {
                m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
                for m in archive.getmembers()
                if m.isfile()
            }
    else:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            files = {name: archive.read(name) for name in archive.namelist()}
    return status, files, blob[:2]


def test_range_of_100_utc_days_accepted_101_refused(client, owner):  # type: ignore[no-untyped-def]
    """Reference part C §4.4 (API 2.7.1+, supersedes csharp InvoiceDateRangeE2ETests.
    QueryInvoiceMetadata_DateRange_ThreeMonths_EdgeCases of 2.6.1): 2026-01-01 ->
    2026-04-11T23:59:59Z is accepted, 2026-01-01 -> 2026-04-12 is 21405."""
    ok = metadata(client, owner, query("2026-01-01T00:00:00Z", "2026-04-11T23:59:59Z"))
    assert ok.status_code == 200
    refused = metadata(client, owner, query("2026-01-01T00:00:00Z", "2026-04-12T00:00:00Z"))
    assert refused.status_code == 400 and legacy_details(refused)[0]["exceptionCode"] == 21405


@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [
        ("2026-03-02T08:55:00+00:00", "2026-03-02T09:05:00+00:00"),
        ("2026-03-02T09:55:00+01:00", "2026-03-02T10:05:00+01:00"),
        ("2026-03-02T00:00:00+01:00", "2026-03-02T10:05:00+01:00"),
    ],
)
@pytest.mark.parametrize("date_type", ["Invoicing", "PermanentStorage"])
def test_offsets_are_converted_to_utc(client, owner, stored, date_from, date_to, date_type):  # type: ignore[no-untyped-def]
    """csharp InvoiceDateRangeE2ETests.QueryInvoiceMetadata_WithVariousDateTimeOffsetFormats_
    ShowsOffsetImpact (lines 72-176): UtcNow±5 min, Now±5 min with a +01:00 offset and local
    midnight with its offset all find the invoice just sent (Invoicing and PermanentStorage)."""
    found = metadata(client, owner, query(date_from, date_to, date_type)).json()["invoices"]
    assert stored in [i["ksefNumber"] for i in found]


def test_export_default_zip_not_truncated_with_metadata_file(client, owner, stored):  # type: ignore[no-untyped-def]
    """csharp BatchSessionE2ETests.VerifyInvoiceExportPackageAsync (lines 222-253, 314-330) and
    java QueryInvoiceIntegrationTest.initExportAndFetchAsyncInvoiceExportStatus (key and IV
    only): status 200, invoiceCount > 0, parts, isTruncated false, lastPermanentStorageDate and
    permanentStorageHwmDate null; no compressionType -> ZIP (PK); _metadata.json lists the
    KSeF number and an XML holds the seller NIP."""
    status, files, magic = export(client, owner)
    package = status["package"]
    assert package["invoiceCount"] > 0 and package["parts"]
    assert package["isTruncated"] is False
    assert package.get("lastPermanentStorageDate") is None
    assert package.get("permanentStorageHwmDate") is None
    assert magic == b"PK"
    assert stored in [i["ksefNumber"] for i in json.loads(files["_metadata.json"])["invoices"]]
    assert any(name.endswith(".xml") and NIP.encode() in data for name, data in files.items())


def test_export_targz_on_request(client, owner, stored):  # type: ignore[no-untyped-def]
    """csharp BatchSession_ShouldExportInvoicePackageWithRequestedOrDefaultCompression
    (lines 146-176, 244-247): compressionType TarGz -> gzip magic 1F 8B."""
    _, files, magic = export(client, owner, compressionType="TarGz")
    assert magic == b"\x1f\x8b"
    assert "_metadata.json" in files


def test_export_only_metadata(client, owner, stored):  # type: ignore[no-untyped-def]
    """java QueryInvoiceIntegrationTest.queryInvoiceExportOnlyMetadata (lines 113-149):
    onlyMetadata -> the package holds exactly one file (_metadata.json) with one invoice."""
    _, files, _ = export(client, owner, onlyMetadata=True)
    assert list(files) == ["_metadata.json"]
    assert len(json.loads(files["_metadata.json"])["invoices"]) == 1


def test_metadata_summary_fields(client, owner, stored):  # type: ignore[no-untyped-def]
    """csharp IncrementalInvoiceRetrievalE2ETests.IncrementalInvoiceRetrievalE2EWithHwmShift
    lines 139-151: every _metadata.json entry has formCode, ksefNumber, currency, buyer,
    seller, invoiceType; for a plain invoice hashOfCorrectedInvoice and authorizedSubject are
    null."""
    _, files, _ = export(client, owner)
    for entry in json.loads(files["_metadata.json"])["invoices"]:
        for name in ("formCode", "ksefNumber", "currency", "buyer", "seller", "invoiceType"):
            assert entry.get(name), name
        assert entry.get("hashOfCorrectedInvoice") is None
        assert entry.get("authorizedSubject") is None


@pytest.mark.parametrize(
    ("template", "subject_type"),
    [
        ("invoice-template-fa-3-with-custom-Subject2.xml", "Subject2"),
        ("invoice-template-fa-3-with-custom-Subject3.xml", "Subject3"),
    ],
)
def test_buyer_and_third_party_find_the_invoice(client, owner, template, subject_type):  # type: ignore[no-untyped-def]
    """java SearchInvoiceForSubject2IntegrationTest / SearchInvoiceForSubject3IntegrationTest
    (line 94): the NIP named as buyer (Podmiot2) or third party (Podmiot3) logs in to its own
    context and a Subject2/Subject3 metadata query over the invoicing date finds exactly 1."""
    other = kit.random_nip(70)
    crypto = kit.Crypto()
    reference = kit.open_online(client, owner.headers, crypto)
    xml = kit.fa3(NIP, "S1", PAST, buyer=other, name=template)
    sent = kit.send_ok(client, owner.headers, reference, crypto, xml)
    item = kit.invoice_status(client, owner.headers, reference, sent)
    assert item["status"]["code"] == 200, item
    recipient = login(client, other, seal=True)
    body = {
        "subjectType": subject_type,
        "dateRange": {
            "dateType": "Invoicing",
            "from": "2026-02-20T09:00:00Z",
            "to": "2026-03-04T09:00:00Z",
        },
    }
    assert len(metadata(client, recipient, body).json()["invoices"]) == 1
