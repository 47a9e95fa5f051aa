"""Batch sessions over HTTP: open, pre-signed part uploads, close, every batch status (reference B §3)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from lxml import etree

from mockksef.models import ContextIdentifier
from mockksef.services.invoices.store import is_valid_ksef_number
from mockksef.xml import xsd
from mockksef.xml.upo import unsigned
from tests import kit
from tests.api.test_sessions_online import assert_conforms
from tests.conftest import OFFICIAL, bearer, legacy_codes, mint_access_token, tuned_client

NIP = "5265877635"
OTHER = "7352765225"


@pytest.fixture
def h(mock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(mint_access_token(mock, nip=NIP))


def invoices(n: int, nip: str = NIP, prefix: str = "B") -> dict[str, bytes]:
    return {f"faktura-{i}.xml": kit.fa3(nip, f"{prefix}{i}") for i in range(1, n + 1)}


def detail(response) -> list[str]:  # type: ignore[no-untyped-def]
    return response.json()["exception"]["exceptionDetailList"][0]["details"]  # type: ignore[no-any-return]


def close(client, h, ref):  # type: ignore[no-untyped-def]
    return client.post(f"/sessions/batch/{ref}/close", headers=h)


def opened_and_uploaded(client, h, pkg, **kw):  # type: ignore[no-untyped-def]
    opened = kit.open_batch(client, h, pkg, **kw)
    kit.upload(client, opened, pkg.parts)
    return opened["referenceNumber"]


# -- the happy path -------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["Zip", "TarGz"])
def test_batch_in_parts_with_upo(client, mock, h, spec, compression):
    files = invoices(5)
    pkg = kit.package(files, parts=3, compression=compression)
    opened = kit.open_batch(client, h, pkg)
    assert_conforms(spec, "POST", "/sessions/batch", "201", opened)
    assert [r["ordinalNumber"] for r in opened["partUploadRequests"]] == [1, 2, 3]
    request = opened["partUploadRequests"][0]
    assert request["method"] == "PUT" and request["headers"] == {"x-ms-blob-type": "BlockBlob"}
    assert request["url"].startswith("http://testserver/storage/test/")
    ref = opened["referenceNumber"]
    assert "-SB-" in ref
    kit.upload(client, opened, pkg.parts)
    assert kit.session_status(client, h, ref)["status"] == {
        "code": 100,
        "description": "Sesja wsadowa rozpoczęta",
    }
    closed = close(client, h, ref)
    assert closed.status_code == 204 and closed.content == b""
    status = kit.session_status(client, h, ref)
    assert status["status"] == {"code": 200, "description": "Sesja wsadowa przetworzona pomyślnie"}
    assert kit.counts(status) == (5, 5, 0)
    listed = client.get(f"/sessions/{ref}/invoices", headers=h, params={"pageSize": 10}).json()
    items = listed["invoices"]
    assert [i["invoiceFileName"] for i in items] == list(files)
    assert [i["ordinalNumber"] for i in items] == [1, 2, 3, 4, 5]
    for item, xml in zip(items, files.values(), strict=True):
        assert item["status"]["code"] == 200
        assert item["invoiceHash"] == kit.sha(xml)
        assert is_valid_ksef_number(item["ksefNumber"])
        assert item["invoicingDate"] == status["dateCreated"]
        assert mock.env("test").invoices.get(item["ksefNumber"]).xml == xml
    schema = xsd.upo_schema(OFFICIAL)
    page = status["upo"]["pages"][0]
    upo = client.get(f"/sessions/{ref}/upo/{page['referenceNumber']}", headers=h)
    root = etree.fromstring(upo.content)
    assert schema.validate(unsigned(root)), schema.error_log
    assert len(root.findall(f"{{{xsd.UPO_NS}}}Dokument")) == 5
    assert upo.headers["x-ms-meta-hash"] == kit.sha(upo.content)


def test_close_shows_150_until_processing_ends(mock, spec):
    with tuned_client(mock, batch_processing_seconds=5) as (client, state):
        headers = bearer(mint_access_token(state, nip=NIP))
        ref = kit.send_batch(client, headers, invoices(2))
        status = kit.session_status(client, headers, ref)
        assert status["status"] == {"code": 150, "description": "Trwa przetwarzanie"}
        assert "invoiceCount" not in status
        assert client.get(f"/sessions/{ref}/invoices", headers=headers).json()["invoices"] == []
        state.clock.advance(5)
        assert kit.session_status(client, headers, ref)["status"]["code"] == 200


def test_public_base_url_names_the_upload_host(mock, spec):
    with tuned_client(mock, public_base_url="https://ksef-mock.example:8443") as (client, state):
        headers = bearer(mint_access_token(state, nip=NIP))
        opened = kit.open_batch(client, headers, kit.package(invoices(1)))
        url = opened["partUploadRequests"][0]["url"]
        assert url.startswith("https://ksef-mock.example:8443/storage/test/")


# -- open errors ------------------------------------------------------------------------------


def test_open_errors(client, h):
    pkg = kit.package(invoices(1))
    encryption = pkg.crypto.encryption(client)
    body = {"formCode": kit.FA3, "batchFile": pkg.batch_file(), "encryption": encryption}

    def parts(*sizes: int, first: int = 1) -> dict[str, Any]:
        listed = [
            {"ordinalNumber": n, "fileSize": size, "fileHash": kit.sha(b"x")}
            for n, size in enumerate(sizes, start=first)
        ]
        return {"fileParts": listed}

    for batch_file, other, code, details in (
        (parts(*[16] * 51), {}, 21161, ["Liczba części pliku musi być mniejsza lub równa niż 50."]),
        (parts(100_000_017), {}, 21157, ["Rozmiar części 1 przekroczył dozwolony rozmiar 100MB."]),
        (
            {"fileSize": 5_000_000_001},
            {},
            21405,
            ["'fileSize' must be less than or equal to '5000000000'."],
        ),
        ({}, {"formCode": kit.PEF}, 21405, ["Wskazany kod formularza nie jest wspierany."]),
        (parts(32, first=2), {}, 21405, None),
        ({}, {"encryption": {**encryption, "publicKeyId": "B" * 43 + "="}}, 21470, None),
        ({"fileParts": []}, {}, 21405, None),
    ):
        refused = client.post(
            "/sessions/batch",
            json={**body, "batchFile": {**body["batchFile"], **batch_file}, **other},
            headers=h,
        )
        assert legacy_codes(refused) == [code], (batch_file, other)
        if details is not None:
            assert detail(refused) == details
    broken = client.post(
        "/sessions/batch", content=b"{not json", headers={**h, "Content-Type": "application/json"}
    )
    assert legacy_codes(broken) == [21001]
    assert client.post("/sessions/batch", headers=h).status_code == 400


# -- close errors ---------------------------------------------------------------------------------


def test_close_with_a_missing_part_is_21205(client, h):
    pkg = kit.package(invoices(4), parts=2)
    opened = kit.open_batch(client, h, pkg)
    kit.upload(client, {"partUploadRequests": opened["partUploadRequests"][:1]}, pkg.parts)
    refused = close(client, h, opened["referenceNumber"])
    assert legacy_codes(refused) == [21205]
    assert detail(refused) == ["Nie przesłano zadeklarowanej '2' części pliku."]
    # Nothing was lost: upload the part and close.
    kit.upload(client, opened, pkg.parts)
    assert close(client, h, opened["referenceNumber"]).status_code == 204


def test_close_with_a_part_of_another_size_is_21157(client, h):
    pkg = kit.package(invoices(2))
    opened = kit.open_batch(client, h, pkg)
    kit.upload(client, opened, [pkg.parts[0] + b"\0" * 16])
    refused = close(client, h, opened["referenceNumber"])
    assert legacy_codes(refused) == [21157]
    assert detail(refused) == ["Zadeklarowany rozmiar części '1' nie zgadza się z rzeczywistym."]


def test_close_twice_and_unknown_sessions(client, mock, h):
    ref = kit.send_batch(client, h, invoices(1))
    again = close(client, h, ref)
    assert legacy_codes(again) == [21180]
    assert detail(again) == ["Status sesji 200 uniemożliwia jej zamknięcie."]
    stranger = bearer(mint_access_token(mock, nip=OTHER))
    foreign = close(client, stranger, ref)
    assert legacy_codes(foreign) == [21173]
    assert detail(foreign) == [f"Sesja o numerze referencyjnym {ref} nie została znaleziona."]
    online_ref = kit.open_online(client, h, kit.Crypto())
    assert legacy_codes(close(client, h, online_ref)) == [21173]


def test_after_12_hours_the_session_is_cancelled_and_close_is_21208(client, mock, h):
    pkg = kit.package(invoices(1))
    ref = kit.open_batch(client, h, pkg)["referenceNumber"]
    mock.clock.advance(12 * 3600)
    h = bearer(mint_access_token(mock, nip=NIP))
    status = kit.session_status(client, h, ref)
    assert status["status"] == {
        "code": 440,
        "description": "Sesja anulowana",
        "details": ["Przekroczono czas wysyłki"],
    }
    assert "invoiceCount" not in status
    refused = close(client, h, ref)
    assert legacy_codes(refused) == [21208]
    assert detail(refused) == ["Sesja anulowana, przekroczony czas wysyłki."]


# -- storage uploads ---------------------------------------------------------------------------


def test_upload_url_rules(client, mock, h):
    pkg = kit.package(invoices(2), parts=2)
    opened = kit.open_batch(client, h, pkg)
    request = opened["partUploadRequests"][0]
    url = request["url"]
    no_header = client.put(url, content=pkg.parts[0])
    assert no_header.status_code == 400 and b"MissingRequiredHeader" in no_header.content
    tampered = url.replace("batch-parts/1", "batch-parts/2")
    assert client.put(tampered, content=pkg.parts[0], headers=request["headers"]).status_code == 401
    unsigned = url.split("?")[0]
    assert client.put(unsigned, content=pkg.parts[0], headers=request["headers"]).status_code == 401
    unknown_env = url.replace("/storage/test/", "/storage/nowhere/")
    assert (
        client.put(unknown_env, content=pkg.parts[0], headers=request["headers"]).status_code == 404
    )
    empty = client.put(url, content=b"", headers=request["headers"])
    assert empty.status_code == 400
    # Re-upload overwrites; the window is 20 minutes per declared part.
    assert client.put(url, content=b"junk", headers=request["headers"]).status_code == 201
    assert client.put(url, content=pkg.parts[0], headers=request["headers"]).status_code == 201
    mock.clock.advance(40 * 60 + 1)
    late = client.put(url, content=pkg.parts[0], headers=request["headers"])
    assert late.status_code == 403 and b"AuthorizationFailure" in late.content


def test_upload_after_close_is_refused(client, h):
    pkg = kit.package(invoices(1))
    opened = kit.open_batch(client, h, pkg)
    kit.upload(client, opened, pkg.parts)
    assert close(client, h, opened["referenceNumber"]).status_code == 204
    request = opened["partUploadRequests"][0]
    again = client.put(request["url"], content=pkg.parts[0], headers=request["headers"])
    assert again.status_code == 403
    # The accepted invoice is untouched.
    assert kit.session_status(client, h, opened["referenceNumber"])["successfulInvoiceCount"] == 1


# -- batch session statuses (reference B §3.5 / §4.2), exact code and description ---------------


def _final(client, h, ref) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return kit.session_status(client, h, ref)


def closed_status(client, h, pkg, **kw) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Open, upload every part, close (204): the session's status afterwards."""
    ref = opened_and_uploaded(client, h, pkg, **kw)
    assert close(client, h, ref).status_code == 204
    return _final(client, h, ref)


def test_405_part_hash_differs_from_declaration(client, h):
    pkg = kit.package(invoices(2))
    opened = kit.open_batch(client, h, pkg)
    tampered = bytearray(pkg.parts[0])
    tampered[len(tampered) // 2] ^= 0xFF
    kit.upload(client, opened, [bytes(tampered)])
    assert close(client, h, opened["referenceNumber"]).status_code == 204
    status = _final(client, h, opened["referenceNumber"])
    declared = pkg.batch_file()["fileParts"][0]["fileHash"]
    assert status["status"] == {
        "code": 405,
        "description": "Błąd weryfikacji poprawności dostarczonych elementów paczki",
        "details": [
            f"Skrót SHA-256 części: '1' nie zgadza się z zadeklarowanym skrótem: '{declared}'."
        ],
    }
    assert "invoiceCount" not in status


def test_415_key_that_does_not_decrypt(client, h):
    pkg = kit.package(invoices(2))
    encryption = pkg.crypto.encryption(client)
    encryption["encryptedSymmetricKey"] = base64.b64encode(b"\x02" * 256).decode()
    ref = opened_and_uploaded(client, h, pkg, encryption=encryption)
    assert kit.session_status(client, h, ref)["status"]["code"] == 100  # known only after close
    assert close(client, h, ref).status_code == 204
    status = _final(client, h, ref)
    assert status["status"] == {
        "code": 415,
        "description": "Błąd odszyfrowania dostarczonego klucza",
        "details": ["Rozszyfrowania klucza symetrycznego zakończone błędem"],
    }
    assert "invoiceCount" not in status


def test_420_too_many_invoices(client, mock, h):
    mock.env("test").limits.set_session_limits(
        ContextIdentifier("Nip", NIP),
        kit.session_limits(batch=(1, 3, 2)),
    )
    ref = kit.send_batch(client, h, invoices(3))
    status = _final(client, h, ref)
    assert status["status"] == {
        "code": 420,
        "description": "Przekroczony limit faktur w sesji",
        "details": [
            "Przekroczono dopuszczalną liczbę faktur w paczce: '2'. Liczba faktur w paczce: '3'."
        ],
    }
    assert "invoiceCount" not in status


def test_430_wrong_iv_gives_a_package_hash_mismatch(client, h):
    pkg = kit.package(invoices(3), parts=2)
    encryption = pkg.crypto.encryption(client)
    encryption["initializationVector"] = base64.b64encode(bytes(16)).decode()
    status = closed_status(client, h, pkg, encryption=encryption)
    assert status["status"]["code"] == 430
    assert status["status"]["description"] == "Błąd dekompresji pierwotnego archiwum"
    assert status["status"]["details"] == [
        "Skrót SHA-256 przesłanej paczki faktur nie jest zgodny z zadeklarowanym skrótem: "
        f"'{pkg.batch_file()['fileHash']}'."
    ]


@pytest.mark.parametrize(
    ("archive", "fragment"),
    [
        (b"definitely not a zip file", "nie jest poprawnym archiwum ZIP"),
        (kit.build_zip({"../../etc/cron.d/x.xml": b"<a/>"}), "Nieprawidłowa nazwa pliku"),
        (kit.build_zip({"bomb.xml": b"\0" * 30_000_000}), "Stopień kompresji"),
    ],
    ids=["not-an-archive", "path-traversal", "zip-bomb"],
)
def test_430_archives_that_do_not_unpack(client, h, archive, fragment):
    crypto = kit.Crypto()
    pkg = kit.Package(archive, [crypto.encrypt(archive)], crypto)
    status = closed_status(client, h, pkg)
    assert (status["status"]["code"], status["status"]["description"]) == (
        430,
        "Błąd dekompresji pierwotnego archiwum",
    )
    assert fragment in status["status"]["details"][0]


def _with_bad_padding(crypto: kit.Crypto, ciphertext: bytes) -> bytes:
    """``ciphertext`` with its last block replaced by one whose plaintext has no valid
    PKCS#7 padding under this key (a zero block has valid padding 1 time in ~250)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    previous = ciphertext[-32:-16]
    for fill in range(256):
        block = bytes([fill]) * 16
        decryptor = Cipher(algorithms.AES(crypto.key), modes.ECB()).decryptor()
        plain = bytes(a ^ b for a, b in zip(decryptor.update(block), previous, strict=True))
        n = plain[-1]
        if not (1 <= n <= 16 and plain[-n:] == bytes([n]) * n):
            return ciphertext[:-16] + block
    raise AssertionError("no block with bad padding found")


def test_435_a_part_that_does_not_decrypt(client, h):
    crypto = kit.Crypto()
    archive = kit.build_zip(invoices(1))
    bogus = _with_bad_padding(crypto, crypto.encrypt(archive))
    pkg = kit.Package(archive, [bogus], crypto)
    status = closed_status(client, h, pkg)
    assert (status["status"]["code"], status["status"]["description"]) == (
        435,
        "Błąd odszyfrowania zaszyfrowanych części archiwum",
    )


def test_440_package_without_invoices(client, h):
    ref = kit.send_batch(client, h, {})
    status = _final(client, h, ref)
    assert status["status"] == {
        "code": 440,
        "description": "Sesja anulowana",
        "details": ["Nie przesłano faktur"],
    }


def test_445_all_invoices_rejected(client, h):
    ref = kit.send_batch(client, h, invoices(3, nip=OTHER))
    status = _final(client, h, ref)
    assert status["status"] == {
        "code": 445,
        "description": "Błąd weryfikacji, brak poprawnych faktur",
    }
    assert kit.counts(status) == (3, 0, 3)
    failed = client.get(f"/sessions/{ref}/invoices/failed", headers=h).json()["invoices"]
    assert {i["status"]["code"] for i in failed} == {410}
    assert "upo" not in status


def test_500_session_fault_aborts_its_invoices_with_405(client, mock, h):
    mock.env("test").sessions.arm_fault("session", 500)
    ref = kit.send_batch(client, h, invoices(2))
    status = _final(client, h, ref)
    assert status["status"] == {"code": 500, "description": "Nieznany błąd (500)"}
    items = client.get(f"/sessions/{ref}/invoices", headers=h).json()["invoices"]
    assert [i["status"] for i in items] == [
        {"code": 405, "description": "Przetwarzanie anulowane z powodu błędu sesji"}
    ] * 2
    # Nothing from the aborted package was filed: a clean resend goes through.
    resent = kit.send_batch(client, h, invoices(2))
    assert _final(client, h, resent)["status"]["code"] == 200


# -- invoice statuses specific to batch -------------------------------------------------------


def test_duplicates_inside_and_across_batches(client, h):
    files = {"a.xml": kit.fa3(NIP, "D1"), "b.xml": kit.fa3(NIP, "D1"), "c.xml": kit.fa3(NIP, "D2")}
    ref = kit.send_batch(client, h, files)
    items = client.get(f"/sessions/{ref}/invoices", headers=h).json()["invoices"]
    assert [i["status"]["code"] for i in items] == [200, 440, 200]
    assert items[1]["status"]["extensions"] == {
        "originalSessionReferenceNumber": ref,
        "originalKsefNumber": items[0]["ksefNumber"],
    }
    again = kit.send_batch(client, h, {"d.xml": kit.fa3(NIP, "D2")})
    item = client.get(f"/sessions/{again}/invoices", headers=h).json()["invoices"][0]
    assert item["status"]["code"] == 440
    assert item["status"]["extensions"]["originalKsefNumber"] == items[2]["ksefNumber"]


def test_attachments_need_consent_in_batch(client, mock, h):
    xml = kit.fa3(NIP, "Z1", name="invoice-template-fa-3-with-attachment.xml")
    ref = kit.send_batch(client, h, {"z.xml": xml})
    item = client.get(f"/sessions/{ref}/invoices", headers=h).json()["invoices"][0]
    assert item["status"] == {
        "code": 410,
        "description": "Nieprawidłowy zakres uprawnień",
        "details": [f"Sprzedawca {NIP} nie posiada zgody do wysyłania faktur z załącznikami"],
    }
    mock.env("test").testdata.allow_attachments(NIP)
    ref = kit.send_batch(client, h, {"z.xml": xml})
    item = client.get(f"/sessions/{ref}/invoices", headers=h).json()["invoices"][0]
    assert item["status"]["code"] == 200
    stored = mock.env("test").invoices.get(item["ksefNumber"])
    assert stored.has_attachment is True


def test_invoicing_date_is_the_opening_time_and_offline_applies_to_all(client, mock, h):
    pkg = kit.package(invoices(2))
    opened = kit.open_batch(client, h, pkg, offlineMode=True)
    mock.clock.advance(600)
    kit.upload(client, opened, pkg.parts)
    assert close(client, h, opened["referenceNumber"]).status_code == 204
    items = client.get(f"/sessions/{opened['referenceNumber']}/invoices", headers=h).json()[
        "invoices"
    ]
    assert {i["invoicingDate"][:19] for i in items} == {"2026-03-02T09:00:00"}
    assert {i["invoicingMode"] for i in items} == {"Offline"}


def test_fa2_and_fa_rr_batches(client, h):
    ref = kit.send_batch(client, h, {"fa2.xml": kit.fa2(NIP, "F2")}, form=kit.FA2)
    assert _final(client, h, ref)["status"]["code"] == 200
    rr = kit.send_batch(client, h, {"rr.xml": kit.fa_rr(NIP, "RR/1")}, form=kit.FA_RR)
    item = client.get(f"/sessions/{rr}/invoices", headers=h).json()["invoices"][0]
    assert item["status"]["code"] == 200, item
    upo = client.get(f"/sessions/{rr}/invoices/ksef/{item['ksefNumber']}/upo", headers=h)
    assert (
        b"<NazwaStrukturyLogicznej>Schemat_FA_RR(1)_v1-1E.xsd</NazwaStrukturyLogicznej>"
        in upo.content
    )
