"""POST /invoices/exports, GET /invoices/exports/{ref} and the part downloads (§8.5–8.6)."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import tarfile
import zipfile
from dataclasses import replace
from datetime import timedelta

import pytest

from mockksef.clock import format_datetime, parse_datetime
from mockksef.models import ContextIdentifier
from tests import kit
from tests.conftest import auth_headers, legacy_codes
from tests.unit.test_invoices_factory import bulk_invoices, put

SELLER = "5265877635"
BUYER = "7352765225"


headers = functools.partial(auth_headers, permissions=("InvoiceRead",))


class Keys:
    """What a client keeps (its export key) and sends (the ``encryption`` object, which
    tests change to send what no client would)."""

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.key = kit.Crypto()
        self.encryption = self.key.encryption(client, with_key_id=False)


def start(client, mock, filters, keys=None, hdrs=None, **extra):  # type: ignore[no-untyped-def]
    keys = keys or Keys(client)
    body = {"encryption": keys.encryption, "filters": filters, **extra}
    return client.post("/invoices/exports", headers=hdrs or headers(mock), json=body), keys


def filters_since(when, subject="Subject1", date_type="PermanentStorage", **extra):  # type: ignore[no-untyped-def]
    return {
        "subjectType": subject,
        "dateRange": {"dateType": date_type, "from": format_datetime(when), **extra},
    }


def fetch_package(client, keys, package) -> bytes:  # type: ignore[no-untyped-def]
    """Download every part (no bearer), check hashes, decrypt each, concatenate."""
    plain = b""
    for part in sorted(package["parts"], key=lambda p: p["ordinalNumber"]):
        resp = client.get(part["url"], headers={})
        assert resp.status_code == 200, resp.text
        data = resp.content
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert resp.headers["x-ms-meta-hash"] == digest == part["encryptedPartHash"]
        assert len(data) == part["encryptedPartSize"]
        chunk = keys.key.decrypt(data)
        assert len(chunk) == part["partSize"]
        assert base64.b64encode(hashlib.sha256(chunk).digest()).decode() == part["partHash"]
        plain += chunk
    assert len(plain) == package["size"]
    return plain


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_export_round_trip_zip(client, mock, env, spec) -> None:  # type: ignore[no-untyped-def]
    begin = mock.clock.now()
    invoices = [put(env, accepted=begin + timedelta(seconds=i)) for i in range(5)]
    put(env, seller=BUYER, buyer=SELLER)  # the context is its buyer: not in Subject1
    mock.clock.advance(60)
    resp, keys = start(client, mock, filters_since(begin - timedelta(hours=1)))
    assert resp.status_code == 201, resp.text
    op = spec.operation("POST", "/invoices/exports")
    schema = op.raw["responses"]["201"]["content"]["application/json"]["schema"]
    assert spec.validate_value(schema, resp.json()).errors == []
    reference = resp.json()["referenceNumber"]
    assert reference[9:11] == "EH"

    status = client.get(f"/invoices/exports/{reference}", headers=headers(mock))
    assert status.status_code == 200, status.text
    body = status.json()
    op = spec.operation("GET", "/invoices/exports/{referenceNumber}")
    schema = op.raw["responses"]["200"]["content"]["application/json"]["schema"]
    assert spec.validate_value(schema, body).errors == []
    assert body["status"] == {"code": 200, "description": "Eksport faktur zakończony sukcesem"}
    package = body["package"]
    assert package["invoiceCount"] == 5 and package["isTruncated"] is False
    assert package["compressionType"] == "Zip"
    assert package["permanentStorageHwmDate"] == format_datetime(mock.clock.now())
    assert "lastPermanentStorageDate" not in package
    part = package["parts"][0]
    assert part["partName"] == f"{reference}-001.zip.aes" and part["method"] == "GET"
    assert parse_datetime(part["expirationDate"]) == mock.clock.now() + timedelta(hours=1)
    assert parse_datetime(body["packageExpirationDate"]) > parse_datetime(body["completedDate"])

    files = unzip(fetch_package(client, keys, package))
    assert set(files) == {f"{i.ksef_number}.xml" for i in invoices} | {"_metadata.json"}
    for inv in invoices:
        assert files[f"{inv.ksef_number}.xml"] == inv.xml
    metadata = json.loads(files["_metadata.json"])
    assert [m["ksefNumber"] for m in metadata["invoices"]] == [i.ksef_number for i in invoices]
    item_schema = {"$ref": "#/components/schemas/InvoiceMetadata"}
    for item in metadata["invoices"]:
        assert spec.validate_value(item_schema, item).errors == []


def test_tar_gz_only_metadata_and_split_parts(client, mock, env, config) -> None:  # type: ignore[no-untyped-def]
    begin = mock.clock.now()
    invoices = [put(env, accepted=begin + timedelta(seconds=i)) for i in range(12)]
    mock.clock.advance(60)
    resp, keys = start(
        client, mock, filters_since(begin, date_type="Invoicing"), compressionType="TarGz"
    )
    package = client.get(
        f"/invoices/exports/{resp.json()['referenceNumber']}", headers=headers(mock)
    ).json()["package"]
    assert package["compressionType"] == "TarGz"
    assert package["parts"][0]["partName"].endswith("-001.tar.gz.aes")
    assert "permanentStorageHwmDate" not in package  # Invoicing: no HWM
    with tarfile.open(fileobj=io.BytesIO(fetch_package(client, keys, package)), mode="r:gz") as tar:
        names = tar.getnames()
        assert sorted(names) == sorted(
            [f"{i.ksef_number}.xml" for i in invoices] + ["_metadata.json"]
        )
        member = tar.extractfile(f"{invoices[3].ksef_number}.xml")
        assert member is not None and member.read() == invoices[3].xml

    resp, keys = start(client, mock, filters_since(begin), onlyMetadata=True)
    package = client.get(
        f"/invoices/exports/{resp.json()['referenceNumber']}", headers=headers(mock)
    ).json()["package"]
    files = unzip(fetch_package(client, keys, package))
    assert list(files) == ["_metadata.json"]
    assert len(json.loads(files["_metadata.json"])["invoices"]) == 12 == package["invoiceCount"]


def test_package_is_split_into_separately_encrypted_parts(client, mock, env, config) -> None:  # type: ignore[no-untyped-def]
    mock.config = replace(mock.config, export_part_bytes=4096)
    env.config = mock.config
    begin = mock.clock.now()
    invoices = [put(env, accepted=begin + timedelta(seconds=i)) for i in range(20)]
    mock.clock.advance(60)
    resp, keys = start(client, mock, filters_since(begin))
    package = client.get(
        f"/invoices/exports/{resp.json()['referenceNumber']}", headers=headers(mock)
    ).json()["package"]
    assert len(package["parts"]) > 2
    assert [p["ordinalNumber"] for p in package["parts"]] == list(
        range(1, len(package["parts"]) + 1)
    )
    assert all(p["partSize"] <= 4096 for p in package["parts"])
    files = unzip(fetch_package(client, keys, package))
    assert len(files) == 21 and files[f"{invoices[-1].ksef_number}.xml"] == invoices[-1].xml


def test_truncated_export_names_the_last_date_and_continues(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    begin = mock.clock.now()
    batch = bulk_invoices(env, begin, 10_003)
    env.invoices.bulk_store(batch)
    mock.clock.advance(60)
    resp, keys = start(client, mock, filters_since(begin), onlyMetadata=True)
    package = client.get(
        f"/invoices/exports/{resp.json()['referenceNumber']}", headers=headers(mock)
    ).json()["package"]
    assert package["invoiceCount"] == 10_000 and package["isTruncated"] is True
    last = batch[9_999].permanent_storage_date
    assert package["lastPermanentStorageDate"] == format_datetime(last)
    # Next window starts at the last date (inclusive: the client deduplicates).
    resp, keys = start(client, mock, filters_since(last), onlyMetadata=True)
    package = client.get(
        f"/invoices/exports/{resp.json()['referenceNumber']}", headers=headers(mock)
    ).json()["package"]
    assert package["isTruncated"] is False and "lastPermanentStorageDate" not in package
    metadata = json.loads(unzip(fetch_package(client, keys, package))["_metadata.json"])
    assert [m["ksefNumber"] for m in metadata["invoices"]] == [b.ksef_number for b in batch[9_999:]]


def test_incremental_export_sync_gets_every_invoice_once(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    """Part B §8.4: continue from lastPermanentStorageDate or permanentStorageHwmDate."""
    cursor = format_datetime(mock.clock.now() - timedelta(days=1))
    expected, seen = set(), {}
    for _ in range(4):
        for _i in range(7):
            expected.add(put(env, storage_delay=2).ksef_number)
        mock.clock.advance(10)
        filters = {
            "subjectType": "Subject1",
            "dateRange": {
                "dateType": "PermanentStorage",
                "from": cursor,
                "restrictToPermanentStorageHwmDate": True,
            },
        }
        resp, keys = start(client, mock, filters)
        package = client.get(
            f"/invoices/exports/{resp.json()['referenceNumber']}", headers=headers(mock)
        ).json()["package"]
        files = unzip(fetch_package(client, keys, package))
        for meta in json.loads(files["_metadata.json"])["invoices"]:
            seen[meta["ksefNumber"]] = files[f"{meta['ksefNumber']}.xml"]
        cursor = (
            package["lastPermanentStorageDate"]
            if package["isTruncated"]
            else package["permanentStorageHwmDate"]
        )
    assert set(seen) == expected
    assert all(seen[n] == env.invoices.get(n).xml for n in expected)


def test_status_is_100_until_ready(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    mock.config = replace(mock.config, export_processing_seconds=5)
    env.config = mock.config
    resp, _ = start(client, mock, filters_since(mock.clock.now() - timedelta(hours=1)))
    reference = resp.json()["referenceNumber"]
    first = client.get(f"/invoices/exports/{reference}", headers=headers(mock)).json()
    assert first == {"status": {"code": 100, "description": "Eksport faktur w toku"}}
    mock.clock.advance(5)
    done = client.get(f"/invoices/exports/{reference}", headers=headers(mock)).json()
    assert done["status"]["code"] == 200 and done["package"]["invoiceCount"] == 0


def test_concurrent_export_limit_is_21182(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    mock.config = replace(mock.config, export_processing_seconds=60)
    env.config = mock.config
    filters = filters_since(mock.clock.now() - timedelta(hours=1))
    for _ in range(10):
        assert start(client, mock, filters)[0].status_code == 201
    resp, _ = start(client, mock, filters)
    assert resp.status_code == 400 and legacy_codes(resp) == [21182]
    detail = resp.json()["exception"]["exceptionDetailList"][0]
    assert detail["exceptionDescription"] == "Osiągnięto limit trwających eksportów."
    assert "maksymalny limit 10 równoczesnych eksportów" in detail["details"][0]
    # Another context is not affected; once they finish, more may start.
    assert start(client, mock, filters, hdrs=headers(mock, BUYER))[0].status_code == 201
    mock.clock.advance(60)
    assert start(client, mock, filters)[0].status_code == 201


def test_undecryptable_key_is_status_415(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    keys = Keys(client)
    keys.encryption["encryptedSymmetricKey"] = base64.b64encode(b"\x01" * 256).decode()
    resp, _ = start(client, mock, filters_since(mock.clock.now()), keys=keys)
    assert resp.status_code == 201
    body = client.get(
        f"/invoices/exports/{resp.json()['referenceNumber']}", headers=headers(mock)
    ).json()
    assert body["status"] == {"code": 415, "description": "Błąd odszyfrowania dostarczonego klucza"}
    assert "package" not in body


def test_unknown_public_key_id_is_21470(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    keys = Keys(client)
    keys.encryption["publicKeyId"] = base64.b64encode(b"\x00" * 32).decode()
    resp, _ = start(client, mock, filters_since(mock.clock.now()), keys=keys)
    assert resp.status_code == 400 and legacy_codes(resp) == [21470]


def test_from_after_hwm_with_restrict_is_status_420(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    filters = filters_since(
        mock.clock.now() + timedelta(hours=1), restrictToPermanentStorageHwmDate=True
    )
    resp, _ = start(client, mock, filters)
    assert resp.status_code == 201
    body = client.get(
        f"/invoices/exports/{resp.json()['referenceNumber']}", headers=headers(mock)
    ).json()
    assert body["status"] == {
        "code": 420,
        "description": "Zakres filtrowania wykracza poza dostępny zakres danych",
        "details": [
            "Parametr dateRange.from jest późniejszy niż PermanentStorageHwmDate przy włączonym "
            "restrictToPermanentStorageHwmDate."
        ],
    }


@pytest.mark.parametrize(
    ("context", "subject"),
    [
        (ContextIdentifier("InternalId", f"{SELLER}-12345"), "Subject1"),
        (ContextIdentifier("InternalId", f"{SELLER}-12345"), "SubjectAuthorized"),
        (ContextIdentifier("NipVatUe", f"{SELLER}-DE123456789"), "Subject3"),
    ],
)
def test_subject_type_that_does_not_fit_the_context_is_21181(
    client, mock, env, context, subject
) -> None:  # type: ignore[no-untyped-def]
    resp, _ = start(
        client,
        mock,
        filters_since(mock.clock.now(), subject=subject),
        hdrs=headers(mock, context=context),
    )
    assert resp.status_code == 400 and legacy_codes(resp) == [21181]
    detail = resp.json()["exception"]["exceptionDetailList"][0]["details"][0]
    assert detail == (
        f"Nie można wyeksportować paczki faktur dla wybranego podmiotu ({subject}) "
        f"i zalogowanego identyfikatora kontekstu ({context.type})."
    )


def test_range_over_100_days_is_21405(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    resp, _ = start(client, mock, filters_since(mock.clock.now() - timedelta(days=101)))
    assert resp.status_code == 400 and legacy_codes(resp) == [21405]


def test_unknown_or_foreign_export_is_21175(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    resp, _ = start(client, mock, filters_since(mock.clock.now()))
    reference = resp.json()["referenceNumber"]
    other = client.get(f"/invoices/exports/{reference}", headers=headers(mock, BUYER))
    assert other.status_code == 400 and legacy_codes(other) == [21175]
    unknown = env.rng.reference_number("EH", mock.clock.now())
    resp = client.get(f"/invoices/exports/{unknown}", headers=headers(mock))
    assert resp.status_code == 400 and legacy_codes(resp) == [21175]
    bad = client.get("/invoices/exports/not-a-reference", headers=headers(mock))
    assert bad.status_code == 400 and legacy_codes(bad) == [21405]


def test_links_expire_packages_expire_then_the_status_is_gone(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    put(env)
    mock.clock.advance(10)
    resp, keys = start(client, mock, filters_since(mock.clock.now() - timedelta(hours=1)))
    reference = resp.json()["referenceNumber"]
    package = client.get(f"/invoices/exports/{reference}", headers=headers(mock)).json()["package"]
    link = package["parts"][0]["url"]
    assert client.get(link).status_code == 200
    assert client.get(link.replace("sig=", "sig=A")).status_code == 401
    assert client.get(link.split("?")[0]).status_code == 401
    assert client.get(link.replace("-001.", "-002.")).status_code == 401  # signed per part
    mock.clock.advance(3601)
    expired = client.get(link)
    assert expired.status_code == 403 and b"AuthorizationFailure" in expired.content
    # A new status call signs fresh links.
    package = client.get(f"/invoices/exports/{reference}", headers=headers(mock)).json()["package"]
    link = package["parts"][0]["url"]
    assert client.get(link).status_code == 200
    # After the package expiry: 210, no package.
    mock.clock.advance(3 * 86400)
    body = client.get(f"/invoices/exports/{reference}", headers=headers(mock)).json()
    assert body["status"] == {
        "code": 210,
        "description": "Eksport faktur wygasł i nie jest już dostępny do pobrania",
    }
    assert "package" not in body
    assert client.get(link).status_code in (403, 404)
    # After 7 days the status itself is gone: 410 problem+json.
    mock.clock.advance(4 * 86400)
    gone = client.get(f"/invoices/exports/{reference}", headers=headers(mock))
    assert gone.status_code == 410
    assert gone.headers["content-type"].startswith("application/problem+json")
    assert gone.json()["detail"] == "Operacja wygasła i nie jest już dostępna."


def test_links_use_the_configured_public_base_url(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    mock.config = replace(mock.config, public_base_url="https://ksef.example.test:8443/")
    env.config = mock.config
    resp, _ = start(client, mock, filters_since(mock.clock.now()))
    package = client.get(
        f"/invoices/exports/{resp.json()['referenceNumber']}", headers=headers(mock)
    ).json()["package"]
    url = package["parts"][0]["url"]
    assert url.startswith("https://ksef.example.test:8443/storage/test/invoice-part/")


def test_pascal_case_export_request(client, mock, env) -> None:  # type: ignore[no-untyped-def]
    keys = Keys(client)
    body = {
        "Encryption": {
            "EncryptedSymmetricKey": keys.encryption["encryptedSymmetricKey"],
            "InitializationVector": keys.encryption["initializationVector"],
        },
        "Filters": {
            "SubjectType": "Subject2",
            "DateRange": {"DateType": "Issue", "From": format_datetime(mock.clock.now())},
        },
        "CompressionType": "Zip",
        "OnlyMetadata": False,
    }
    resp = client.post("/invoices/exports", headers=headers(mock), json=body)
    assert resp.status_code == 201, resp.text
