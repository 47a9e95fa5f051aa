"""Online sessions over HTTP: open, send, close, every invoice and session status (reference B §2, §4)."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from lxml import etree

from mockksef.models import ContextIdentifier, SubjectIdentifier
from mockksef.services.invoices.store import is_valid_ksef_number
from mockksef.xml import xsd
from mockksef.xml.upo import unsigned
from tests import kit
from tests.conftest import (
    OFFICIAL,
    bearer,
    legacy_codes,
    mint_access_token,
    problem_codes,
    tuned_client,
)

NIP = "5265877635"
OTHER = "7352765225"


@pytest.fixture
def h(mock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(mint_access_token(mock, nip=NIP))


@pytest.fixture
def online(client, h):  # type: ignore[no-untyped-def]
    crypto = kit.Crypto()
    return kit.open_online(client, h, crypto), crypto


def schema_of(spec, method: str, path: str, status: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    op = spec.operation(method, path)
    return op.raw["responses"][status]["content"]["application/json"]["schema"]  # type: ignore[no-any-return]


def assert_conforms(spec, method: str, path: str, status: str, body: Any) -> None:  # type: ignore[no-untyped-def]
    assert spec.validate_value(schema_of(spec, method, path, status), body).errors == []


def status_of(client, h, ref: str, invoice_ref: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return kit.invoice_status(client, h, ref, invoice_ref)["status"]  # type: ignore[no-any-return]


def limits_body(**online: int) -> dict[str, Any]:
    body = kit.session_limits()
    body["onlineSession"].update(online)
    return body


# -- the happy path ----------------------------------------------------------------------------


def test_open_send_close_with_upo(client, mock, h, spec):
    crypto = kit.Crypto()
    opened = client.post(
        "/sessions/online",
        json={"formCode": kit.FA3, "encryption": crypto.encryption(client)},
        headers=h,
    )
    assert opened.status_code == 201, opened.text
    assert_conforms(spec, "POST", "/sessions/online", "201", opened.json())
    ref = opened.json()["referenceNumber"]
    assert opened.json()["validUntil"].startswith("2026-03-02T21:00:00")
    xml = kit.fa3(NIP, "1")
    sent = kit.send(client, h, ref, crypto, xml)
    assert sent.status_code == 202, sent.text
    assert_conforms(spec, "POST", "/sessions/online/{referenceNumber}/invoices", "202", sent.json())
    invoice_ref = sent.json()["referenceNumber"]
    assert "-EE-" in invoice_ref

    status = kit.invoice_status(client, h, ref, invoice_ref)
    assert_conforms(
        spec, "GET", "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}", "200", status
    )
    assert status["status"] == {"code": 200, "description": "Sukces"}
    assert is_valid_ksef_number(status["ksefNumber"])
    assert status["ksefNumber"].startswith(f"{NIP}-20260302-")
    assert status["invoiceHash"] == kit.sha(xml)
    assert status["invoiceNumber"] == "FA/GRQMB-1/05/2025"
    assert status["invoicingMode"] == "Online"
    assert status["ordinalNumber"] == 1
    stored = mock.env("test").invoices.get(status["ksefNumber"])
    assert stored is not None and stored.xml == xml

    # Still open: counters are live.
    open_status = kit.session_status(client, h, ref)
    assert open_status["status"]["code"] == 100
    assert (open_status["invoiceCount"], open_status["successfulInvoiceCount"]) == (1, 1)

    closed = client.post(f"/sessions/online/{ref}/close", headers=h)
    assert closed.status_code == 204 and closed.content == b""
    final = kit.session_status(client, h, ref)
    assert_conforms(spec, "GET", "/sessions/{referenceNumber}", "200", final)
    assert final["status"] == {
        "code": 200,
        "description": "Sesja interaktywna przetworzona pomyślnie",
    }
    assert kit.counts(final) == (1, 1, None)
    page = final["upo"]["pages"][0]
    assert "-EU-" in page["referenceNumber"]

    schema = xsd.upo_schema(OFFICIAL)
    upo = client.get(f"/sessions/{ref}/upo/{page['referenceNumber']}", headers=h)
    assert upo.status_code == 200
    assert upo.headers["content-type"] == "application/xml"
    assert upo.headers["x-ms-meta-hash"] == kit.sha(upo.content)
    root = etree.fromstring(upo.content)
    assert schema.validate(unsigned(root)), schema.error_log
    assert (
        root.findtext(f"{{{xsd.UPO_NS}}}Dokument/{{{xsd.UPO_NS}}}NumerKSeFDokumentu")
        == status["ksefNumber"]
    )
    # The pre-signed link serves the same bytes without a token.
    linked = client.get(page["downloadUrl"])
    assert linked.status_code == 200 and linked.content == upo.content
    assert linked.headers["x-ms-meta-hash"] == kit.sha(linked.content)

    for path in (
        f"/sessions/{ref}/invoices/{invoice_ref}/upo",
        f"/sessions/{ref}/invoices/ksef/{status['ksefNumber']}/upo",
    ):
        invoice_upo = client.get(path, headers=h)
        assert invoice_upo.status_code == 200
        assert invoice_upo.headers["x-ms-meta-hash"] == kit.sha(invoice_upo.content)
        assert schema.validate(unsigned(etree.fromstring(invoice_upo.content)))
    direct = client.get(status["upoDownloadUrl"])
    assert direct.status_code == 200 and direct.content == invoice_upo.content


def test_pascal_case_body_and_no_key_id_are_accepted(client, h):
    crypto = kit.Crypto()
    encryption = crypto.encryption(client, with_key_id=False)
    opened = client.post(
        "/sessions/online",
        json={
            "FormCode": {"SystemCode": "FA (3)", "SchemaVersion": "1-0E", "Value": "FA"},
            "Encryption": {
                "EncryptedSymmetricKey": encryption["encryptedSymmetricKey"],
                "InitializationVector": encryption["initializationVector"],
            },
        },
        headers=h,
    )
    assert opened.status_code == 201, opened.text
    ref = opened.json()["referenceNumber"]
    body = {k[0].upper() + k[1:]: v for k, v in crypto.invoice_body(kit.fa3(NIP)).items()}
    sent = client.post(f"/sessions/online/{ref}/invoices", json=body, headers=h)
    assert sent.status_code == 202, sent.text


def test_a_session_of_another_context_is_closed_by_a_token_of_the_same_context(
    client, mock, online
):
    ref, _ = online
    other_token = bearer(mint_access_token(mock, nip=NIP, permissions=("InvoiceWrite",)))
    assert client.post(f"/sessions/online/{ref}/close", headers=other_token).status_code == 204


# -- synchronous errors --------------------------------------------------------------------


# A well-formed KSeF number no session holds.
KSEF_NUMBER = "5265877635-20250101-0123456789AB-98"


def test_unknown_or_foreign_session_is_21173(client, mock, h, online):
    ref, crypto = online
    stranger = bearer(mint_access_token(mock, nip=OTHER))
    sent = kit.send(client, stranger, ref, crypto, kit.fa3(OTHER))
    assert sent.status_code == 400 and legacy_codes(sent) == [21173]
    detail = sent.json()["exception"]["exceptionDetailList"][0]["details"]
    assert detail == [f"Sesja o numerze referencyjnym {ref} nie została odnaleziona."]
    closed = client.post(f"/sessions/online/{ref}/close", headers=stranger)
    assert legacy_codes(closed) == [21173]
    status = client.get(f"/sessions/{ref}", headers=stranger)
    assert status.status_code == 400 and legacy_codes(status) == [21173]
    assert status.json()["exception"]["exceptionDetailList"][0]["details"] == [
        f"Sesja o numerze referencyjnym {ref} nie została znaleziona."
    ]
    # Each operation answers with a code its official table lists: 21173 where
    # documented, else 21405 (invoice status, invoice UPO) or 21178 (UPO by KSeF number).
    for path, code in (
        (f"/sessions/{ref}/invoices", 21173),
        (f"/sessions/{ref}/invoices/failed", 21173),
        (f"/sessions/{ref}/invoices/{ref}", 21405),
        (f"/sessions/{ref}/invoices/{ref}/upo", 21405),
        (f"/sessions/{ref}/invoices/ksef/{KSEF_NUMBER}/upo", 21178),
        (f"/sessions/{ref}/upo/{ref}", 21173),
    ):
        assert legacy_codes(client.get(path, headers=stranger)) == [code], path
    unknown = ref[:-2] + ("00" if ref[-2:] != "00" else "01")
    missing = client.get(f"/sessions/{unknown}", headers={**h, "X-Error-Format": "problem-details"})
    assert missing.status_code == 400 and problem_codes(missing) == [21173]


def test_closed_session_refuses_invoices_and_a_second_close(client, h, online):
    ref, crypto = online
    kit.send_ok(client, h, ref, crypto, kit.fa3(NIP, "1"))
    assert client.post(f"/sessions/online/{ref}/close", headers=h).status_code == 204
    again = client.post(f"/sessions/online/{ref}/close", headers=h)
    assert legacy_codes(again) == [21180]
    assert again.json()["exception"]["exceptionDetailList"][0]["details"] == [
        "Status sesji 200 uniemożliwia jej zamknięcie."
    ]
    sent = kit.send(client, h, ref, crypto, kit.fa3(NIP, "2"))
    assert legacy_codes(sent) == [21180]
    assert sent.json()["exception"]["exceptionDetailList"][0]["details"] == [
        "Status sesji 200 uniemożliwia wysyłkę faktur."
    ]


def test_invoice_limit_is_21155(client, mock, h, online):
    ref, crypto = online
    mock.env("test").limits.set_session_limits(
        ContextIdentifier("Nip", NIP), limits_body(maxInvoices=1)
    )
    kit.send_ok(client, h, ref, crypto, kit.fa3(NIP, "1"))
    refused = kit.send(client, h, ref, crypto, kit.fa3(NIP, "2"))
    assert legacy_codes(refused) == [21155]
    assert refused.json()["exception"]["exceptionDetailList"][0]["details"] == [
        f"Sesja o numerze referencyjnym {ref} osiągnęła dozwolony limit liczby faktur 1."
    ]


def test_encrypted_size_and_hash_mismatches_are_21402_21403(client, h, online):
    ref, crypto = online
    body = crypto.invoice_body(kit.fa3(NIP))
    for change, code, details in (
        (
            {"encryptedInvoiceSize": body["encryptedInvoiceSize"] + 16},
            21402,
            ["Długość treści nie zgadza się z rozmiarem pliku."],
        ),
        (
            {"encryptedInvoiceHash": kit.sha(b"other")},
            21403,
            ["Skrót treści nie zgadza się ze skrótem pliku."],
        ),
        ({"encryptedInvoiceContent": "%%%not base64%%%"}, 21405, None),
    ):
        refused = client.post(
            f"/sessions/online/{ref}/invoices", json={**body, **change}, headers=h
        )
        assert legacy_codes(refused) == [code], change
        if details is not None:
            assert refused.json()["exception"]["exceptionDetailList"][0]["details"] == details
    # Nothing was registered: an online session counts nothing yet (null, not 0).
    assert kit.counts(kit.session_status(client, h, ref)) == (None, None, None)


def test_open_errors(client, h):
    crypto = kit.Crypto()
    encryption = crypto.encryption(client)
    unknown_key = client.post(
        "/sessions/online",
        json={"formCode": kit.FA3, "encryption": {**encryption, "publicKeyId": "A" * 43 + "="}},
        headers=h,
    )
    assert legacy_codes(unknown_key) == [21470]
    for form in (
        {"systemCode": "FA(3)", "schemaVersion": "1-0E", "value": "FA"},
        {"systemCode": "FA_RR (1)", "schemaVersion": "1-1E", "value": "RR"},
        {"systemCode": "FA (3)", "schemaVersion": "1-0", "value": "FA"},
    ):
        refused = client.post(
            "/sessions/online", json={"formCode": form, "encryption": encryption}, headers=h
        )
        assert legacy_codes(refused) == [21405]
        assert refused.json()["exception"]["exceptionDetailList"][0]["details"] == [
            "Wskazany kod formularza nie jest wspierany."
        ]
    short_iv = client.post(
        "/sessions/online",
        json={
            "formCode": kit.FA3,
            "encryption": {
                **encryption,
                "initializationVector": base64.b64encode(b"x" * 8).decode(),
            },
        },
        headers=h,
    )
    assert legacy_codes(short_iv) == [21405]


def test_pef_needs_the_peppol_permission(client, h):
    crypto = kit.Crypto()
    refused = client.post(
        "/sessions/online",
        json={"formCode": kit.PEF, "encryption": crypto.encryption(client)},
        headers=h,
    )
    assert refused.status_code == 403
    assert refused.json()["reasonCode"] == "missing-permissions"


def test_fault_injected_21184(client, mock, h, online):
    ref, crypto = online
    mock.env("test").sessions.arm_fault("send", 21184)
    refused = kit.send(client, h, ref, crypto, kit.fa3(NIP))
    assert legacy_codes(refused) == [21184]
    assert refused.json()["exception"]["exceptionDetailList"][0]["exceptionDescription"] == (
        "Sesja tymczasowo niedostępna."
    )
    kit.send_ok(client, h, ref, crypto, kit.fa3(NIP))


# -- invoice statuses (reference B §4.3), each with its exact code and description ---------------


def _single(client, h, ref, crypto, xml, **extra):  # type: ignore[no-untyped-def]
    invoice_ref = kit.send_ok(client, h, ref, crypto, xml, **extra)
    return kit.invoice_status(client, h, ref, invoice_ref)


def test_invoice_430_declared_size_and_hash(client, h, online):
    ref, crypto = online
    xml = kit.fa3(NIP)
    status = _single(client, h, ref, crypto, xml, invoiceSize=len(xml) + 1)["status"]
    assert status == {
        "code": 430,
        "description": "Błąd weryfikacji pliku faktury",
        "details": [f"Rozmiar faktury nie zgadza się z zadeklarowaną wartością: '{len(xml) + 1}'."],
    }
    other = kit.sha(b"x")
    status = _single(client, h, ref, crypto, xml, invoiceHash=other)["status"]
    assert (status["code"], status["description"]) == (430, "Błąd weryfikacji pliku faktury")
    assert status["details"] == [
        f"Skrót faktury nie zgadza się z zadeklarowaną wartością: '{other}'."
    ]


def test_invoice_430_size_limit(client, mock, h, online):
    ref, crypto = online
    mock.env("test").limits.set_session_limits(
        ContextIdentifier("Nip", NIP),
        limits_body(maxInvoiceSizeInMB=0, maxInvoiceWithAttachmentSizeInMB=0),
    )
    status = _single(client, h, ref, crypto, kit.fa3(NIP))["status"]
    assert (status["code"], status["description"]) == (430, "Błąd weryfikacji pliku faktury")
    assert "przekracza dopuszczalny limit 0 B" in status["details"][0]


def test_invoice_435_bad_encryption(client, h, online):
    ref, crypto = online
    stranger = kit.Crypto()  # encrypts with a key the session does not know
    body = stranger.invoice_body(kit.fa3(NIP))
    sent = client.post(f"/sessions/online/{ref}/invoices", json=body, headers=h)
    assert sent.status_code == 202
    status = status_of(client, h, ref, sent.json()["referenceNumber"])
    assert status == {
        "code": 435,
        "description": "Błąd odszyfrowania pliku",
        "details": ["Plik niepoprawnie zaszyfrowany"],
    }


def test_invoice_435_tampered_ciphertext(client, h, online):
    ref, crypto = online
    body = crypto.invoice_body(kit.fa3(NIP))
    encrypted = bytearray(base64.b64decode(body["encryptedInvoiceContent"]))
    encrypted[-1] ^= 0x5A  # breaks the PKCS#7 padding
    body["encryptedInvoiceContent"] = base64.b64encode(bytes(encrypted)).decode()
    body["encryptedInvoiceHash"] = kit.sha(bytes(encrypted))
    sent = client.post(f"/sessions/online/{ref}/invoices", json=body, headers=h)
    assert status_of(client, h, ref, sent.json()["referenceNumber"])["code"] == 435


def test_invoice_440_duplicate_across_sessions(client, h, online):
    ref, crypto = online
    first = _single(client, h, ref, crypto, kit.fa3(NIP, "42"))
    assert first["status"]["code"] == 200
    crypto2 = kit.Crypto()
    ref2 = kit.open_online(client, h, crypto2)
    # Another file (other issue date) with the same seller, type and P_2.
    duplicate = _single(client, h, ref2, crypto2, kit.fa3(NIP, "42", issue=date(2026, 3, 1)))
    assert duplicate["invoiceNumber"] == "FA/GRQMB-42/05/2025"
    assert "ksefNumber" not in duplicate
    assert duplicate["status"] == {
        "code": 440,
        "description": "Duplikat faktury",
        "details": [
            f"Duplikat faktury. Faktura o numerze KSeF: {first['ksefNumber']} została już "
            f"prawidłowo przesłana do systemu w sesji: {ref}"
        ],
        "extensions": {
            "originalSessionReferenceNumber": ref,
            "originalKsefNumber": first["ksefNumber"],
        },
    }
    failed = client.get(f"/sessions/{ref2}/invoices/failed", headers=h).json()
    assert [i["status"]["code"] for i in failed["invoices"]] == [440]


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        (b"this is not xml", "Nieprawidłowy XML"),
        (kit.fa2(NIP), "No matching global declaration"),
        (
            kit.fa3(NIP, issue=date(2026, 3, 3)),
            "jest późniejsza niż data przyjęcia faktury 2026-03-02",
        ),
        (b"\xef\xbb\xbf" + kit.fa3(NIP), "BOM"),
    ],
    ids=["not-xml", "wrong-schema", "future-issue-date", "bom"],
)
def test_invoice_450(client, h, online, document, detail):
    ref, crypto = online
    status = _single(client, h, ref, crypto, document)["status"]
    assert (status["code"], status["description"]) == (
        450,
        "Błąd weryfikacji semantyki dokumentu faktury",
    )
    assert detail in " ".join(status["details"])


def test_invoice_450_identifier_checksums_only_with_the_feature_header(client, h):
    xml = kit.fa3(NIP, "n1", buyer="1234567890")  # bad NIP checksum for Podmiot2
    plain = kit.Crypto()
    ref = kit.open_online(client, h, plain)
    assert _single(client, h, ref, plain, xml)["status"]["code"] == 200
    strict = kit.Crypto()
    ref2 = kit.open_online(
        client, h, strict, extra_headers={"X-KSeF-Feature": "subject-identifier-validation"}
    )
    status = _single(client, h, ref2, strict, kit.fa3(NIP, "n2", buyer="1234567890"))["status"]
    assert status["code"] == 450
    assert status["details"] == ["Nieprawidłowy numer NIP 1234567890 (Podmiot2)."]


def test_invoice_410_seller_is_not_the_context(client, h, online):
    ref, crypto = online
    status = _single(client, h, ref, crypto, kit.fa3(OTHER))["status"]
    assert (status["code"], status["description"]) == (410, "Nieprawidłowy zakres uprawnień")


def test_invoice_415_attachment_in_an_online_session(client, h, online):
    ref, crypto = online
    xml = kit.fa3(NIP, name="invoice-template-fa-3-with-attachment.xml")
    status = _single(client, h, ref, crypto, xml)["status"]
    assert status == {
        "code": 415,
        "description": "Brak możliwości wysyłania faktury z załącznikiem",
    }


@pytest.mark.parametrize(
    ("code", "description", "details"),
    [
        (405, "Przetwarzanie anulowane z powodu błędu sesji", None),
        (500, "Nieznany błąd (500)", None),
        (
            550,
            "Operacja została anulowana przez system",
            ["Przetwarzanie zostało przerwane z przyczyn wewnętrznych systemu. Spróbuj ponownie"],
        ),
    ],
)
def test_invoice_fault_statuses(client, mock, h, online, code, description, details):
    ref, crypto = online
    mock.env("test").sessions.arm_fault("invoice", code)
    status = _single(client, h, ref, crypto, kit.fa3(NIP))
    expected: dict[str, Any] = {"code": code, "description": description}
    if details:
        expected["details"] = details
    assert status["status"] == expected
    assert "ksefNumber" not in status and "upoDownloadUrl" not in status


def test_offline_marking(client, h, online):
    ref, crypto = online
    declared = _single(client, h, ref, crypto, kit.fa3(NIP, "o1"), offlineMode=True)
    assert declared["invoicingMode"] == "Offline"
    earlier = _single(client, h, ref, crypto, kit.fa3(NIP, "o2", issue=date(2026, 3, 1)))
    assert earlier["invoicingMode"] == "Offline"
    today = _single(client, h, ref, crypto, kit.fa3(NIP, "o3"))
    assert today["invoicingMode"] == "Online"


# -- technical correction (reference B §10.3) ---------------------------------------------------


def _correction(client, h, online, xml: bytes, of: dict[str, Any]):  # type: ignore[no-untyped-def]
    """A technical correction (offline, ``hashOfCorrectedInvoice``) of ``of``: its status."""
    ref, crypto = online
    return _single(
        client, h, ref, crypto, xml, offlineMode=True, hashOfCorrectedInvoice=of["invoiceHash"]
    )


def test_technical_correction_of_a_rejected_offline_invoice(client, h, online):
    ref, crypto = online
    rejected_xml = kit.fa3(NIP, "T1", issue=date(2026, 3, 5))  # future date: 450
    rejected = _single(client, h, ref, crypto, rejected_xml, offlineMode=True)
    assert rejected["status"]["code"] == 450
    fixed = kit.fa3(NIP, "T1", issue=date(2026, 3, 1))
    correction = _correction(client, h, online, fixed, rejected)
    assert correction["status"]["code"] == 200
    assert correction["invoicingMode"] == "Offline"
    for corrected, number, code, text in (
        (rejected, "T2", 21166, "Faktura posiada już przetworzoną prawidłowo korektę techniczną."),
        (
            correction,
            "T3",
            21167,
            "Nie można wysłać korekty technicznej do prawidłowo przetworzonej faktury.",
        ),
    ):
        refused = kit.send(
            client,
            h,
            ref,
            crypto,
            kit.fa3(NIP, number),
            offlineMode=True,
            hashOfCorrectedInvoice=corrected["invoiceHash"],
        )
        assert legacy_codes(refused) == [code]
        assert refused.json()["exception"]["exceptionDetailList"][0]["details"] == [text]


def test_technical_correction_may_carry_an_attachment(client, h, online):
    ref, crypto = online
    original = _single(
        client, h, ref, crypto, kit.fa3(NIP, "A1", issue=date(2026, 3, 9)), offlineMode=True
    )
    fixed = kit.fa3(
        NIP, "A1", issue=date(2026, 3, 1), name="invoice-template-fa-3-with-attachment.xml"
    )
    corrected = _correction(client, h, online, fixed, original)
    assert corrected["status"]["code"] == 200


# -- session statuses ---------------------------------------------------------------------------


def test_session_415_key_that_does_not_decrypt(client, h, spec):
    encryption = kit.Crypto().encryption(client)
    encryption["encryptedSymmetricKey"] = base64.b64encode(b"\x01" * 256).decode()
    opened = client.post(
        "/sessions/online", json={"formCode": kit.FA3, "encryption": encryption}, headers=h
    )
    assert opened.status_code == 201
    ref = opened.json()["referenceNumber"]
    status = kit.session_status(client, h, ref)
    assert status["status"] == {
        "code": 415,
        "description": "Błąd odszyfrowania dostarczonego klucza",
    }
    assert "invoiceCount" not in status
    refused = kit.send(client, h, ref, kit.Crypto(), kit.fa3(NIP))
    assert legacy_codes(refused) == [21180]
    assert refused.json()["exception"]["exceptionDetailList"][0]["details"] == [
        "Status sesji 415 uniemożliwia wysyłkę faktur."
    ]


def test_session_440_closed_without_invoices(client, h, online):
    ref, _ = online
    assert client.post(f"/sessions/online/{ref}/close", headers=h).status_code == 204
    status = kit.session_status(client, h, ref)
    assert status["status"] == {
        "code": 440,
        "description": "Sesja anulowana",
        "details": ["Nie przesłano faktur"],
    }
    # An online session leaves out what it never counted (csharp OnlineSessionE2ETests).
    assert kit.counts(status) == (None, None, None)
    assert "upo" not in status


def test_session_445_no_valid_invoice(client, h, online):
    ref, crypto = online
    kit.send_ok(client, h, ref, crypto, kit.fa3(OTHER))
    kit.send_ok(client, h, ref, crypto, b"<broken")
    assert client.post(f"/sessions/online/{ref}/close", headers=h).status_code == 204
    status = kit.session_status(client, h, ref)
    assert status["status"] == {
        "code": 445,
        "description": "Błąd weryfikacji, brak poprawnych faktur",
    }
    assert kit.counts(status) == (2, None, 2)
    assert "upo" not in status


def test_session_closes_itself_after_12_hours(client, mock, h, online):
    ref, crypto = online
    kit.send_ok(client, h, ref, crypto, kit.fa3(NIP))
    mock.clock.advance(12 * 3600)
    h = bearer(mint_access_token(mock, nip=NIP))  # the first token expired meanwhile
    status = kit.session_status(client, h, ref)
    assert status["status"]["code"] == 200
    assert status["upo"]["pages"]
    assert legacy_codes(kit.send(client, h, ref, crypto, kit.fa3(NIP, "2"))) == [21180]


# -- timing on the clock ----------------------------------------------------------------------


def test_statuses_progress_on_the_clock(mock, spec):
    from starlette.testclient import TestClient

    from mockksef import MockState, create_app
    from mockksef.clock import Clock
    from tests.conftest import START

    slow = replace(
        mock.config,
        invoice_queue_seconds=2,
        invoice_processing_seconds=3,
        online_close_seconds=4,
        permanent_storage_seconds=1,
    )
    state = MockState(slow, spec=spec, clock=Clock.virtual(START))
    with TestClient(create_app(state=state), base_url="http://testserver/v2") as client:
        headers = bearer(mint_access_token(state, nip=NIP))
        crypto = kit.Crypto()
        ref = kit.open_online(client, headers, crypto)
        invoice_ref = kit.send_ok(client, headers, ref, crypto, kit.fa3(NIP))
        seen = []
        for _ in range(6):
            seen.append(kit.invoice_status(client, headers, ref, invoice_ref)["status"]["code"])
            state.clock.advance(1)
        assert seen == [100, 100, 150, 150, 150, 200]
        final = kit.invoice_status(client, headers, ref, invoice_ref)
        assert final["permanentStorageDate"] > final["acquisitionDate"]
        assert client.post(f"/sessions/online/{ref}/close", headers=headers).status_code == 204
        codes = []
        for _ in range(5):
            codes.append(kit.session_status(client, headers, ref)["status"]["code"])
            state.clock.advance(1)
        assert codes == [170, 170, 170, 170, 200]


def test_invoice_timestamps_and_upo_times(client, mock, h, online):
    ref, crypto = online
    mock.clock.advance(30)
    status = _single(client, h, ref, crypto, kit.fa3(NIP))
    assert status["invoicingDate"].startswith("2026-03-02T09:00:30")
    assert status["acquisitionDate"] >= status["invoicingDate"]
    upo = client.get(f"/sessions/{ref}/invoices/{status['referenceNumber']}/upo", headers=h).content
    assert (
        b"<DataPrzeslaniaDokumentu>2026-03-02T10:00:30.000+01:00</DataPrzeslaniaDokumentu>" in upo
    )


def test_upo_receiver_name_can_follow_the_environment(mock, spec):
    with tuned_client(mock, upo_environment_receiver_name=True) as (client, state):
        headers = bearer(mint_access_token(state, nip=NIP))
        crypto = kit.Crypto()
        ref = kit.open_online(client, headers, crypto)
        invoice_ref = kit.send_ok(client, headers, ref, crypto, kit.fa3(NIP))
        upo = client.get(f"/sessions/{ref}/invoices/{invoice_ref}/upo", headers=headers)
        assert "Ministerstwo Finansów - środowisko testowe (TE)".encode() in upo.content


def test_invoice_lists_are_schema_valid(client, h, online, spec):
    ref, crypto = online
    kit.send_ok(client, h, ref, crypto, kit.fa3(NIP, "1"))
    kit.send_ok(client, h, ref, crypto, b"<x/>")
    listed = client.get(f"/sessions/{ref}/invoices", headers=h)
    assert listed.status_code == 200
    assert_conforms(spec, "GET", "/sessions/{referenceNumber}/invoices", "200", listed.json())
    failed = client.get(f"/sessions/{ref}/invoices/failed", headers=h)
    assert_conforms(
        spec, "GET", "/sessions/{referenceNumber}/invoices/failed", "200", failed.json()
    )
    assert [i["ordinalNumber"] for i in failed.json()["invoices"]] == [2]


# -- environments and the Warsaw calendar -------------------------------------------------------


def test_demo_refuses_fa2_and_prod_checks_nip_checksums(client, mock):
    from mockksef.environments import Env

    demo = bearer(mint_access_token(mock, nip=NIP, env=Env.DEMO))
    crypto = kit.Crypto()
    demo_client = _Prefixed(client, "http://testserver/demo/v2")
    refused = demo_client.post(
        "/sessions/online",
        json={"formCode": kit.FA2, "encryption": crypto.encryption(demo_client)},
        headers=demo,
    )
    assert legacy_codes(refused) == [21405]
    prod = bearer(mint_access_token(mock, nip=NIP, env=Env.PROD))
    prod_client = _Prefixed(client, "http://testserver/prod/v2")
    ref = kit.open_online(prod_client, prod, crypto)
    invoice_ref = kit.send_ok(
        prod_client, prod, ref, crypto, kit.fa3(NIP, "P1", buyer="1234567890")
    )
    status = kit.invoice_status(prod_client, prod, ref, invoice_ref)["status"]
    assert status["code"] == 450
    assert status["details"] == ["Nieprawidłowy numer NIP 1234567890 (Podmiot2)."]


class _Prefixed:
    """The test client with another environment's base URL."""

    def __init__(self, client, base: str) -> None:  # type: ignore[no-untyped-def]
        self.client, self.base = client, base

    def get(self, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.client.get(self.base + path, **kw)

    def post(self, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.client.post(self.base + path, **kw)


def test_dates_follow_the_warsaw_calendar(client, mock):
    from datetime import UTC, datetime

    mock.clock.set(datetime(2026, 3, 1, 23, 30, tzinfo=UTC))  # 00:30 on 2 March in Warsaw
    headers = bearer(mint_access_token(mock, nip=NIP))
    crypto = kit.Crypto()
    ref = kit.open_online(client, headers, crypto)
    today = _single(client, headers, ref, crypto, kit.fa3(NIP, "W1", issue=date(2026, 3, 2)))
    assert today["status"]["code"] == 200
    assert today["invoicingMode"] == "Online"
    assert today["ksefNumber"].startswith(f"{NIP}-20260302-")
    yesterday = _single(client, headers, ref, crypto, kit.fa3(NIP, "W2", issue=date(2026, 3, 1)))
    assert yesterday["invoicingMode"] == "Offline"
    assert ref.startswith("20260302-SO-")  # reference numbers too carry the Warsaw day


def test_session_500_fault_keeps_accepted_invoices(client, mock, h, online):
    ref, crypto = online
    invoice_ref = kit.send_ok(client, h, ref, crypto, kit.fa3(NIP))
    mock.env("test").sessions.arm_fault("session", 500)
    assert client.post(f"/sessions/online/{ref}/close", headers=h).status_code == 204
    status = kit.session_status(client, h, ref)
    assert status["status"] == {"code": 500, "description": "Nieznany błąd (500)"}
    assert "upo" not in status
    assert kit.invoice_status(client, h, ref, invoice_ref)["status"]["code"] == 200


# -- the right to issue: grants of the seller -------------------------------------------------


def _grant(client, headers, subject: dict[str, str], permission: str) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/permissions/authorizations/grants",
        json={
            "subjectIdentifier": subject,
            "permission": permission,
            "description": "Uprawnienie testowe",
            "subjectDetails": {"fullName": "Podmiot uprawniony"},
        },
        headers=headers,
    )
    assert response.status_code == 202, response.text


def pef_invoice(seller: str, number: str) -> bytes:
    return kit.pef(seller, number, buyer=OTHER)


def test_pef_invoice_from_a_peppol_provider_needs_the_sellers_grant(client, mock, h):
    provider = bearer(
        mint_access_token(
            mock,
            context=ContextIdentifier("PeppolId", "PPL123456"),
            subject=SubjectIdentifier("Fingerprint", "AB" * 32),
            permissions=("PefInvoiceWrite",),
        )
    )
    crypto = kit.Crypto()
    ref = kit.open_online(client, provider, crypto, form=kit.PEF)
    before = _single(client, provider, ref, crypto, pef_invoice(NIP, "PEF/1"))
    assert before["status"]["code"] == 410
    _grant(client, h, {"type": "PeppolId", "value": "PPL123456"}, "PefInvoicing")
    mock.clock.advance(1)
    after = _single(client, provider, ref, crypto, pef_invoice(NIP, "PEF/2"))
    assert after["status"]["code"] == 200, after
    stored = mock.env("test").invoices.get(after["ksefNumber"])
    assert (stored.invoice_type, stored.form_code) == ("VatPef", ("PEF (3)", "2-1", "PEF"))
    upo = client.get(f"/sessions/{ref}/invoices/{after['referenceNumber']}/upo", headers=provider)
    root = etree.fromstring(upo.content)
    assert xsd.upo_schema(OFFICIAL).validate(unsigned(root))
    assert b"<IdDostawcyUslugPeppol>PPL123456</IdDostawcyUslugPeppol>" in upo.content


def test_self_invoicing_buyer_issues_for_the_seller_with_a_grant(client, mock, h):
    buyer = bearer(mint_access_token(mock, nip=OTHER))
    crypto = kit.Crypto()
    ref = kit.open_online(client, buyer, crypto)
    assert _single(client, buyer, ref, crypto, kit.fa3(NIP, "S1"))["status"]["code"] == 410
    _grant(client, h, {"type": "Nip", "value": OTHER}, "SelfInvoicing")
    mock.clock.advance(1)
    accepted = _single(client, buyer, ref, crypto, kit.fa3(NIP, "S2"))
    assert accepted["status"]["code"] == 200
    assert accepted["ksefNumber"].startswith(f"{NIP}-")
