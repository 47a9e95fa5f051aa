"""Online and batch sessions: counters, statuses, failed lists, visibility, as asserted on TEST.

Sources: CIRFMF/ksef-client-csharp 2.6.1 (ce49441, 2026-06-15) and
CIRFMF/ksef-client-java 3.0.24 (fff86ab, 2026-04-22).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tests import kit
from tests.official.conftest import NIP, PAST, login


def invoices(nip: str, prefix: str, count: int = 3) -> dict[str, bytes]:
    return {f"{prefix}{i}.xml": kit.fa3(nip, f"{prefix}{i}") for i in range(count)}


def send_batch(
    client: Any,
    who: kit.Session,
    files: dict[str, bytes],
    parts: int = 2,
    body: Callable[[dict[str, Any]], None] | None = None,
    uploads: Callable[[list[bytes]], list[bytes]] | None = None,
) -> str:
    """A closed batch session; ``body`` may change the open request, ``uploads`` the parts."""
    pkg = kit.package(files, parts)
    encryption = pkg.crypto.encryption(client)
    extra: dict[str, Any] = {"encryption": encryption}
    if body is not None:
        body(extra)
    opened = kit.open_batch(client, who.headers, pkg, encryption=extra["encryption"])
    kit.upload(client, opened, uploads(pkg.parts) if uploads else pkg.parts)
    reference: str = opened["referenceNumber"]
    closed = client.post(f"/sessions/batch/{reference}/close", headers=who.headers)
    assert closed.status_code == 204, closed.text
    return reference


def online(client: Any, who: kit.Session) -> tuple[str, kit.Crypto]:
    crypto = kit.Crypto()
    return kit.open_online(client, who.headers, crypto), crypto


def close(client: Any, who: kit.Session, reference: str) -> None:
    closed = client.post(f"/sessions/online/{reference}/close", headers=who.headers)
    assert closed.status_code == 204, closed.text


def status(client: Any, who: kit.Session, reference: str) -> dict[str, Any]:
    return kit.session_status(client, who.headers, reference)


# -- counters ---------------------------------------------------------------------------


def test_online_counters_null_until_first_success(lane):  # type: ignore[no-untyped-def]
    """csharp OnlineSessionE2ETests.OnlineSessionAsync_FullIntegrationFlow_AllStepsSucceed polls
    until ``SuccessfulInvoiceCount`` is not null (GetSessionStatusUntilInvoiceCountAvailableAsync,
    lines 258-267; UpoE2ETests line 59; UpoVersionedE2ETests line 83; SessionStatusE2ETests
    line 121): right after open nothing is counted yet."""
    client, _ = lane
    owner = login(client, NIP)
    reference, _ = online(client, owner)
    opened = status(client, owner, reference)
    assert opened.get("successfulInvoiceCount") is None
    assert opened.get("failedInvoiceCount") is None


def test_online_failed_count_null_while_nothing_failed(lane):  # type: ignore[no-untyped-def]
    """csharp OnlineSessionE2ETests lines 93-97 and UpoE2ETests lines 63-68 (status 100:
    successful 1, ``FailedInvoiceCount`` null, no UPO); java OnlineSessionIntegrationTest
    .getOnlineSessionUpoAfterCloseSession lines 202-207 (after close, 200: successful 1,
    failed null, UPO present)."""
    client, _ = lane
    owner = login(client, NIP)
    reference, crypto = online(client, owner)
    kit.send_ok(client, owner.headers, reference, crypto, kit.fa3(NIP, "1", PAST))
    sent = status(client, owner, reference)
    assert (sent["status"]["code"], sent["successfulInvoiceCount"]) == (100, 1)
    assert sent.get("failedInvoiceCount") is None and sent.get("upo") is None
    close(client, owner, reference)
    closed = status(client, owner, reference)
    assert (closed["status"]["code"], closed["successfulInvoiceCount"]) == (200, 1)
    assert closed.get("failedInvoiceCount") is None
    assert closed["upo"]["pages"][0]["referenceNumber"]


def test_batch_counters_are_numbers_once_processed(client, owner):  # type: ignore[no-untyped-def]
    """java BatchIntegrationTest.getBatchSessionStatus (lines 524-546: 200, invoiceCount and
    successful 35, failed the Integer 0) and csharp BatchSessionE2ETests line 434
    (``Assert.Equal(0, FailedInvoiceCount)``)."""
    processed = status(client, owner, send_batch(client, owner, invoices(NIP, "B")))
    assert processed["status"]["code"] == 200
    counts = [
        processed[k] for k in ("invoiceCount", "successfulInvoiceCount", "failedInvoiceCount")
    ]
    assert counts == [3, 3, 0]


def test_failed_invoices_absent_when_nothing_failed(client, owner):  # type: ignore[no-untyped-def]
    """java QueryInvoiceIntegrationTest.queryInvoiceWithAttachmentAndWithout lines 187-190:
    GET /sessions/{ref}/invoices/failed of a session without failures -> ``invoices`` null."""
    reference, crypto = online(client, owner)
    kit.send_ok(client, owner.headers, reference, crypto, kit.fa3(NIP, "1", PAST))
    response = client.get(
        f"/sessions/{reference}/invoices/failed", params={"pageSize": 10}, headers=owner.headers
    )
    assert response.status_code == 200
    assert response.json().get("invoices") is None


def test_session_list_counters_are_integers(client, owner):  # type: ignore[no-untyped-def]
    """csharp SessionStatusE2ETests.GetSessions_ReturnsActiveSessions lines 79-91: items of
    GET /sessions carry non-null totalInvoiceCount/successful/failed (``int``, >= 0) and dates."""
    reference, crypto = online(client, owner)
    kit.send_ok(client, owner.headers, reference, crypto, kit.fa3(NIP, "1", PAST))
    close(client, owner, reference)
    online(client, owner)
    listed = client.get(
        "/sessions", params={"sessionType": "Online", "pageSize": 10}, headers=owner.headers
    ).json()["sessions"]
    assert len(listed) == 2
    for item in listed:
        for name in ("totalInvoiceCount", "successfulInvoiceCount", "failedInvoiceCount"):
            assert isinstance(item[name], int) and item[name] >= 0
        assert item["dateCreated"] and item["dateUpdated"] and item["validUntil"]


# -- online session flow -----------------------------------------------------------------


def test_online_open_valid_until_within_a_day(client, owner, mock):  # type: ignore[no-untyped-def]
    """csharp InvoiceE2ETests.Invoice_GetInvoiceAsync_ReturnsInvoiceXml line 111:
    ``openSessionResponse.ValidUntil <= UtcNow + 1 day``."""
    crypto = kit.Crypto()
    opened = client.post(
        "/sessions/online",
        json={"formCode": kit.FA3, "encryption": crypto.encryption(client)},
        headers=owner.headers,
    ).json()
    assert datetime.fromisoformat(opened["validUntil"]) <= mock.clock.now() + timedelta(days=1)


def test_session_invoice_fields_online(client, owner):  # type: ignore[no-untyped-def]
    """csharp SessionStatusE2ETests.GetSessionInvoices_ContainsSentInvoice and
    GetSessionInvoice_ReturnsInvoiceDetails (lines 176-195, 237-253): ordinalNumber,
    invoiceNumber, ksefNumber, invoiceHash, referenceNumber, upoDownloadUrl set;
    invoiceFileName null (batch only); dates set; a template whose P_1 precedes the
    sending day is ``invoicingMode`` Offline."""
    reference, crypto = online(client, owner)
    sent = kit.send_ok(client, owner.headers, reference, crypto, kit.fa3(NIP, "1", PAST))
    item = kit.invoice_status(client, owner.headers, reference, sent)
    for name in ("invoiceNumber", "ksefNumber", "invoiceHash", "referenceNumber", "upoDownloadUrl"):
        assert item[name]
    assert item["ordinalNumber"] >= 0
    assert item.get("invoiceFileName") is None
    for name in (
        "acquisitionDate",
        "invoicingDate",
        "permanentStorageDate",
        "upoDownloadUrlExpirationDate",
    ):
        assert item[name]
    assert item["invoicingMode"] == "Offline"


def _crc8(data: bytes) -> int:
    """CRC-8, polynomial 0x07, as java KSeFNumberValidator computes it (written out here so
    that the check does not lean on the mock's own implementation)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def test_ksef_number_checksum(client, owner):  # type: ignore[no-untyped-def]
    """java OnlineSessionIntegrationTest.validKseFNumber (lines 171-177): the KSeF number passes
    KSeFNumberValidator (``{nip}-{yyyymmdd}-{12 hex}-{CRC-8 of the first 32 chars}``)."""
    reference, crypto = online(client, owner)
    sent = kit.send_ok(client, owner.headers, reference, crypto, kit.fa3(NIP, "1", PAST))
    number = kit.invoice_status(client, owner.headers, reference, sent)["ksefNumber"]
    assert len(number) == 35 and number.startswith(NIP + "-")
    assert number[-2:] == f"{_crc8(number[:32].encode()):02X}"


def test_empty_online_session_closes_as_cancelled(client):  # type: ignore[no-untyped-def]
    """java SessionIntegrationTest.searchSessionsByStatuses (lines 139-168): an online session
    closed without invoices is 440 "Sesja anulowana"; an open one 100 "Sesja interaktywna
    otwarta"; a statuses=[InProgress, Cancelled] filter returns both. The second session is
    closed with the access token of another auth session of the same subject."""
    first = login(client, NIP, seal=True)
    second = login(client, NIP, seal=True)
    still_open, _ = online(client, first)
    cancelled, _ = online(client, second)
    close(client, first, cancelled)
    listed = client.get(
        "/sessions",
        params=[
            ("sessionType", "Online"),
            ("statuses", "InProgress"),
            ("statuses", "Cancelled"),
            ("pageSize", "10"),
        ],
        headers=first.headers,
    ).json()["sessions"]
    by_reference = {
        s["referenceNumber"]: (s["status"]["code"], s["status"]["description"]) for s in listed
    }
    assert by_reference == {
        still_open: (100, "Sesja interaktywna otwarta"),
        cancelled: (440, "Sesja anulowana"),
    }


def test_online_session_with_only_failures_closes_445(client, owner):  # type: ignore[no-untyped-def]
    """java OnlineSessionIntegrationTest.shouldReturn445SessionStatusWhileSendingWrongInvoiceAnd
    CloseSession (lines 95-125): failedInvoiceCount > 0 before close, then status 445."""
    reference, crypto = online(client, owner)
    kit.send_ok(client, owner.headers, reference, crypto, kit.fa3("1111111111", "1", PAST))
    assert status(client, owner, reference)["failedInvoiceCount"] > 0
    close(client, owner, reference)
    closed = status(client, owner, reference)
    assert closed["status"]["code"] == 445 and closed["failedInvoiceCount"] > 0


def test_duplicate_invoice_is_440_with_details(client, owner):  # type: ignore[no-untyped-def]
    """csharp DuplicateInvoiceE2ETests (lines 77-126) and java DuplicateInvoiceIntegrationTest
    (lines 100, 133): the same invoice sent again (online after batch) appears in
    /invoices/failed with status 440, a description and details."""
    xml = kit.fa3(NIP, "DUP", PAST)
    batch = send_batch(client, owner, {"dup.xml": xml}, parts=1)
    assert status(client, owner, batch)["successfulInvoiceCount"] == 1
    reference, crypto = online(client, owner)
    kit.send_ok(client, owner.headers, reference, crypto, xml)
    failed = client.get(f"/sessions/{reference}/invoices/failed", headers=owner.headers)
    (item,) = failed.json()["invoices"]
    assert item["status"]["code"] == 440
    assert item["status"]["description"] and item["status"]["details"]


def test_technical_correction_in_another_session(client, owner, mock):  # type: ignore[no-untyped-def]
    """csharp InvoiceTechnicalCorrectionE2ETests.ShouldSuccessfullyProcessTechnicalCorrectionIn
    DifferentSession (lines 140-220): P_1 tomorrow (offlineMode) -> 450; the corrected invoice
    with hashOfCorrectedInvoice of the rejected one, in a new session -> 200."""
    tomorrow = (mock.clock.now() + timedelta(days=1)).date()
    first, crypto = online(client, owner)
    sent = kit.send_ok(
        client, owner.headers, first, crypto, kit.fa3(NIP, "TC", tomorrow), offlineMode=True
    )
    rejected = kit.invoice_status(client, owner.headers, first, sent)
    assert rejected["status"]["code"] == 450
    close(client, owner, first)
    second, crypto = online(client, owner)
    corrected = kit.send_ok(
        client,
        owner.headers,
        second,
        crypto,
        kit.fa3(NIP, "TC", PAST),
        offlineMode=True,
        hashOfCorrectedInvoice=rejected["invoiceHash"],
    )
    assert kit.invoice_status(client, owner.headers, second, corrected)["status"]["code"] == 200


def test_invoice_writer_cannot_read_or_close_anothers_session(client, owner):  # type: ignore[no-untyped-def]
    """csharp OnlineSessionE2ETests.OnlineSessionAsync_TryOperateOnOnlineSessionWithNoPermission_
    ShouldThrowException (lines 40-127): a person holding only InvoiceWrite in the context
    (granted by the owner) cannot list the invoices of the owner's session, cannot close it,
    and cannot download its invoice (no InvoiceRead)."""
    person = kit.random_nip(11)
    grant = client.post(
        "/permissions/persons/grants",
        json=kit.person_grant(
            ("Nip", person),
            ["InvoiceWrite"],
            "Grant write invoices permission for testing.",
            ("Anna", "Testowa"),
        ),
        headers=owner.headers,
    )
    assert grant.status_code == 202
    reference, crypto = online(client, owner)
    sent = kit.send_ok(client, owner.headers, reference, crypto, kit.fa3(NIP, "1", PAST))
    number = kit.invoice_status(client, owner.headers, reference, sent)["ksefNumber"]
    writer = login(client, NIP, subject=person)
    listed = client.get(f"/sessions/{reference}/invoices", headers=writer.headers)
    assert listed.status_code >= 400
    closed = client.post(f"/sessions/online/{reference}/close", headers=writer.headers)
    assert closed.status_code >= 400
    assert client.get(f"/invoices/ksef/{number}", headers=writer.headers).status_code >= 400
    close(client, owner, reference)


# -- batch outcomes --------------------------------------------------------------------------


def test_batch_wrong_seller_nip_is_445(client, owner):  # type: ignore[no-untyped-def]
    """java BatchIntegrationTest.shouldThrowWhileSendWithIncorrectNip (lines 120-135): 445,
    description containing "Błąd weryfikacji, brak poprawnych faktur", counts n / 0 / n."""
    processed = status(client, owner, send_batch(client, owner, invoices(kit.random_nip(20), "W")))
    assert processed["status"]["code"] == 445
    assert "Błąd weryfikacji, brak poprawnych faktur" in processed["status"]["description"]
    counts = [
        processed[k] for k in ("invoiceCount", "successfulInvoiceCount", "failedInvoiceCount")
    ]
    assert counts == [3, 0, 3]


def test_batch_bad_symmetric_key_is_415_without_counts(client, owner):  # type: ignore[no-untyped-def]
    """java BatchIntegrationTest.shouldThrowWhileSendWithInvalidEncryptedKey (lines 343-392):
    415 "Błąd odszyfrowania dostarczonego klucza", detail containing "Rozszyfrowania klucza
    symetrycznego zakończone błędem", all three counts null."""

    def garbage_key(body: dict[str, Any]) -> None:
        wrapped = base64.b64encode(os.urandom(256)).decode()
        body["encryption"] = {**body["encryption"], "encryptedSymmetricKey": wrapped}

    processed = status(
        client, owner, send_batch(client, owner, invoices(NIP, "K"), body=garbage_key)
    )
    assert processed["status"]["code"] == 415
    assert "Błąd odszyfrowania dostarczonego klucza" in processed["status"]["description"]
    assert (
        "Rozszyfrowania klucza symetrycznego zakończone błędem" in processed["status"]["details"][0]
    )
    for name in ("invoiceCount", "successfulInvoiceCount", "failedInvoiceCount"):
        assert processed.get(name) is None


def test_batch_corrupted_part_is_405(client, owner):  # type: ignore[no-untyped-def]
    """java BatchIntegrationTest.shouldThrowWhileSendWithCorruptedEncryptedData (lines 398-447):
    405 "Błąd weryfikacji poprawności dostarczonych elementów paczki", detail containing
    "Skrót SHA-256 części: '1' nie zgadza się z zadeklarowanym skrótem:"."""

    def flip_a_byte(parts: list[bytes]) -> list[bytes]:
        data = bytearray(parts[0])
        data[len(data) // 2] ^= 0xFF
        return [bytes(data), *parts[1:]]

    reference = send_batch(client, owner, invoices(NIP, "C"), uploads=flip_a_byte)
    processed = status(client, owner, reference)
    assert processed["status"]["code"] == 405
    assert (
        "Błąd weryfikacji poprawności dostarczonych elementów paczki"
        in processed["status"]["description"]
    )
    assert (
        "Skrót SHA-256 części: '1' nie zgadza się z zadeklarowanym skrótem:"
        in processed["status"]["details"][0]
    )
    assert processed.get("successfulInvoiceCount") is None


def test_batch_wrong_iv_is_430(client, owner):  # type: ignore[no-untyped-def]
    """java BatchIntegrationTest.shouldThrowWhileSendWithInvalidInitializationVector (lines
    453-499): 430, detail containing "Skrót SHA-256 przesłanej paczki faktur nie jest zgodny z
    zadeklarowanym skrótem:"."""

    def other_iv(body: dict[str, Any]) -> None:
        iv = base64.b64encode(os.urandom(16)).decode()
        body["encryption"] = {**body["encryption"], "initializationVector": iv}

    processed = status(client, owner, send_batch(client, owner, invoices(NIP, "V"), body=other_iv))
    assert processed["status"]["code"] == 430
    assert (
        "Skrót SHA-256 przesłanej paczki faktur nie jest zgodny z zadeklarowanym skrótem:"
        in processed["status"]["details"][0]
    )
    assert processed.get("invoiceCount") is None


def test_batch_over_10000_invoices_is_420(client, owner):  # type: ignore[no-untyped-def]
    """java BatchIntegrationTest.shouldThrowWhileSendExceedingInvoiceCount (lines 140-156): 10 001
    invoices -> 420 "Przekroczony limit faktur w sesji", detail "Przekroczono dopuszczalną
    liczbę faktur w paczce: '10000'. Liczba faktur w paczce: '10001'.", counts null.
    (~4 s: the package really holds 10 001 files.)"""
    xml = kit.fa3(NIP, "X")
    files = {f"i{i}.xml": xml for i in range(10_001)}
    processed = status(client, owner, send_batch(client, owner, files, parts=1))
    assert processed["status"]["code"] == 420
    assert "Przekroczony limit faktur w sesji" in processed["status"]["description"]
    assert (
        "Przekroczono dopuszczalną liczbę faktur w paczce: '10000'. Liczba faktur w paczce: '10001'."
        in processed["status"]["details"][0]
    )
    assert processed.get("invoiceCount") is None and processed.get("failedInvoiceCount") is None


def test_batch_session_invoices_single_page_has_no_continuation(client, owner):  # type: ignore[no-untyped-def]
    """csharp BatchSessionE2ETests.ExecuteBatchSessionFullIntegrationFlowAsync lines 449-454 and
    InvoiceE2ETests line 152: all invoices on one page -> continuationToken null; batch items
    carry invoiceFileName."""
    reference = send_batch(client, owner, invoices(NIP, "P"))
    page = client.get(
        f"/sessions/{reference}/invoices", params={"pageSize": 100}, headers=owner.headers
    ).json()
    assert len(page["invoices"]) == 3
    assert page.get("continuationToken") is None
    assert all(item["invoiceFileName"] for item in page["invoices"])


def test_session_upo_download_expiry_under_four_days(client, owner, mock):  # type: ignore[no-untyped-def]
    """csharp BatchSessionE2ETests line 440: ``Upo.Pages[0].DownloadUrlExpirationDate <
    UtcNow + 4 days``, downloadUrl and referenceNumber set."""
    reference = send_batch(client, owner, {"a.xml": kit.fa3(NIP, "E1")}, parts=1)
    page = status(client, owner, reference)["upo"]["pages"][0]
    expires = datetime.fromisoformat(page["downloadUrlExpirationDate"])
    assert expires < mock.clock.now() + timedelta(days=4)
    assert page["downloadUrl"] and page["referenceNumber"]


def test_targz_batch_package_accepted(client, owner):  # type: ignore[no-untyped-def]
    """csharp BatchSessionE2ETests.BatchSession_WithTarGzInputPackage_ShouldProcessInvoicesAndReturnUpo
    (lines 110-129): batchFile.compressionType TarGz with a tar.gz package -> 200, all invoices
    accepted, UPO pages present."""
    reference = kit.send_batch(client, owner.headers, invoices(NIP, "T"), 2, "TarGz")
    processed = status(client, owner, reference)
    assert (processed["status"]["code"], processed["successfulInvoiceCount"]) == (200, 3)
    assert processed["upo"]["pages"]
