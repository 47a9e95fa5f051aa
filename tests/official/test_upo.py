"""UPO documents (invoice and session) as the official suites fetch and parse them.

Sources: CIRFMF/ksef-client-csharp 2.6.1 (ce49441, 2026-06-15): E2E/Upo/UpoE2ETests.cs,
UpoVersionedE2ETests.cs, OnlineSession/OnlineSessionE2ETests.cs, BatchSession/BatchSessionE2ETests.cs;
KSeF.Client.Tests.Utils/Upo/InvoiceUpoV4_3.cs and SessionUpoV4_3.cs (``Signature`` = the
xmldsig ``Signature`` element).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from lxml import etree
from signxml import SignatureConfiguration
from signxml.exceptions import InvalidDigest
from signxml.xades import XAdESVerifier

from tests import kit
from tests.official.conftest import NIP, PAST

UPO = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"
DS = "http://www.w3.org/2000/09/xmldsig#"


def text(root: Any, path: str) -> str | None:
    return root.findtext("/".join(f"{{{UPO}}}{part}" for part in path.split("/")))  # type: ignore[no-any-return]


@pytest.fixture
def closed(client, owner):  # type: ignore[no-untyped-def]
    """A closed online session with one accepted invoice: (session, invoice item, status)."""
    crypto = kit.Crypto()
    reference = kit.open_online(client, owner.headers, crypto)
    sent = kit.send_ok(client, owner.headers, reference, crypto, kit.fa3(NIP, "1", PAST))
    closing = client.post(f"/sessions/online/{reference}/close", headers=owner.headers)
    assert closing.status_code == 204
    item = kit.invoice_status(client, owner.headers, reference, sent)
    return reference, item, kit.session_status(client, owner.headers, reference)


def published(client: Any) -> set[bytes]:
    """The DER of every certificate in GET /security/public-key-certificates."""
    listing = client.get("/security/public-key-certificates").json()
    return {base64.b64decode(entry["certificate"]) for entry in listing}


def verified_signer(client: Any, document: bytes) -> x509.Certificate:
    """Verify a UPO's enveloped XAdES signature with the certificate it names, and check that
    the certificate is one the mock publishes."""
    signature = etree.fromstring(document).find(f"{{{DS}}}Signature")
    assert signature is not None
    der = base64.b64decode(signature.findtext(f".//{{{DS}}}X509Certificate") or "")
    assert der in published(client)
    certificate = x509.load_der_x509_certificate(der)
    XAdESVerifier().verify(
        document,
        x509_cert=certificate,
        expect_config=SignatureConfiguration(expect_references=3),
    )
    return certificate


def test_invoice_upo_three_ways_with_hash_header(client, owner, closed):  # type: ignore[no-untyped-def]
    """csharp UpoE2ETests.UpoRetreivalAsyncFullIntegrationFlowAllStepsSucceed (lines 108-163):
    the invoice UPO from ``upoDownloadUrl``, by KSeF number and by invoice reference each carry
    ``x-ms-meta-hash`` = Base64 SHA-256 of the body, and NumerKSeFDokumentu = the KSeF number."""
    reference, item, _ = closed
    base = f"/sessions/{reference}/invoices"
    answers = [
        client.get(item["upoDownloadUrl"]),
        client.get(f"{base}/ksef/{item['ksefNumber']}/upo", headers=owner.headers),
        client.get(f"{base}/{item['referenceNumber']}/upo", headers=owner.headers),
    ]
    for response in answers:
        assert response.status_code == 200
        assert response.headers["x-ms-meta-hash"] == kit.sha(response.content)
        root = etree.fromstring(response.content)
        assert text(root, "Dokument/NumerKSeFDokumentu") == item["ksefNumber"]
    assert len({response.content for response in answers}) == 1


def test_invoice_upo_fields_the_clients_read(client, closed):  # type: ignore[no-untyped-def]
    """csharp OnlineSessionE2ETests lines 191-198, BatchSessionE2ETests lines 462-470 and
    UpoVersionedE2ETests line 130: NazwaPodmiotuPrzyjmujacego, NumerReferencyjnySesji,
    Uwierzytelnienie, NazwaStrukturyLogicznej, KodFormularza, NipSprzedawcy, TrybWysylki."""
    reference, item, _ = closed
    root = etree.fromstring(client.get(item["upoDownloadUrl"]).content)
    assert text(root, "NazwaPodmiotuPrzyjmujacego")
    assert text(root, "NumerReferencyjnySesji") == reference
    assert root.find(f"{{{UPO}}}Uwierzytelnienie") is not None
    assert text(root, "NazwaStrukturyLogicznej") and text(root, "KodFormularza")
    assert text(root, "Dokument/NipSprzedawcy") == NIP
    assert text(root, "Dokument/TrybWysylki")


def test_invoice_upo_is_signed(client, owner, closed):  # type: ignore[no-untyped-def]
    """csharp OnlineSessionE2ETests line 198 and BatchSessionE2ETests line 469:
    ``Assert.NotNull(invoiceUpo.Signature)`` - the real UPO carries the Ministry's XML
    signature; issue 12: signed with the environment's Ministry key, verifiable against a
    certificate the mock publishes (by ``upoDownloadUrl`` and through the API alike)."""
    reference, item, _ = closed
    by_url = client.get(item["upoDownloadUrl"]).content
    by_api = client.get(
        f"/sessions/{reference}/invoices/{item['referenceNumber']}/upo", headers=owner.headers
    ).content
    for document in (by_url, by_api):
        verified_signer(client, document)


def test_session_upo_is_signed_and_names_the_session(client, owner, closed):  # type: ignore[no-untyped-def]
    """csharp UpoE2ETests lines 166-169 (SessionUpoV4_3.ReferenceNumber equals the session) and
    the ``Signature`` member of SessionUpoV4_3 (issue 12: session UPOs are signed too, also
    through ``downloadUrl``)."""
    reference, _, status = closed
    page = status["upo"]["pages"][0]
    by_api = client.get(
        f"/sessions/{reference}/upo/{page['referenceNumber']}", headers=owner.headers
    )
    by_url = client.get(page["downloadUrl"])
    for response in (by_api, by_url):
        assert response.status_code == 200
        assert text(etree.fromstring(response.content), "NumerReferencyjnySesji") == reference
        verified_signer(client, response.content)


def test_a_changed_upo_fails_verification(client, closed):  # type: ignore[no-untyped-def]
    """What a verifying client relies on (issue 12): the signature covers the document, so a
    changed KSeF number no longer verifies."""
    _, item, _ = closed
    document = client.get(item["upoDownloadUrl"]).content
    verified_signer(client, document)
    changed = document.replace(item["ksefNumber"].encode(), b"0" * len(item["ksefNumber"]))
    with pytest.raises(InvalidDigest):
        verified_signer(client, changed)


def test_upo_version_feature_header_accepted(client, owner):  # type: ignore[no-untyped-def]
    """csharp UpoVersionedE2ETests.OnlineSessionReturnsVersionedUpoData (lines 62-130):
    ``X-KSeF-Feature: upo-v4-3`` on session open; the invoice UPO parses as v4-3 and
    Dokument/TrybWysylki (InvoicingMode) is present."""
    crypto = kit.Crypto()
    reference = kit.open_online(
        client, owner.headers, crypto, extra_headers={"X-KSeF-Feature": "upo-v4-3"}
    )
    sent = kit.send_ok(client, owner.headers, reference, crypto, kit.fa3(NIP, "V", PAST))
    client.post(f"/sessions/online/{reference}/close", headers=owner.headers)
    item = kit.invoice_status(client, owner.headers, reference, sent)
    root = etree.fromstring(client.get(item["upoDownloadUrl"]).content)
    assert root.tag == f"{{{UPO}}}Potwierdzenie"
    assert text(root, "Dokument/TrybWysylki")
