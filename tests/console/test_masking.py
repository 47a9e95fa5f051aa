"""Secrets never reach the console's screen: tokens, keys, signatures are cut to a stub."""

from __future__ import annotations

import json

from mockksef.console import masking

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwiY2l2IjoiNTI2NTg3NzYzNSJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2ln"
SECRET = "536e67efca4f16a776bfe1406753ff7deff844ebb431f7283336011e78c36238"
KSEF_TOKEN = f"20260220-EC-76EEA87D8A-14ED3C94D6-FE|nip-5265877635|{SECRET}"


def test_bearer_headers_keep_the_scheme_and_lose_the_token():
    masked = dict(masking.mask_headers([("Authorization", f"Bearer {JWT}"), ("Accept", "*/*")]))
    assert masked["Authorization"].startswith("Bearer eyJhbG…[masked, ")
    assert JWT not in masked["Authorization"]
    assert masked["Accept"] == "*/*"


def test_json_bodies_mask_secret_keys_and_token_shapes_anywhere():
    body = json.dumps(
        {
            "accessToken": {"token": JWT, "validUntil": "2026-03-02T09:15:00Z"},
            "referenceNumber": "20260302-AU-1234567890-ABCDEF1234-56",
            "encryptedToken": "QUJD" * 40,
            "note": f"token was {KSEF_TOKEN}",
            "privateKey": "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----",
        }
    ).encode()
    shown = masking.mask_body(body, "application/json", 10_000)
    assert JWT not in shown and SECRET not in shown and "MIGHAgEA" not in shown
    assert "QUJDQUJD" not in shown
    data = json.loads(shown)
    # Public references and dates stay readable.
    assert data["referenceNumber"] == "20260302-AU-1234567890-ABCDEF1234-56"
    assert data["accessToken"]["validUntil"] == "2026-03-02T09:15:00Z"
    # The public part of a KSeF token (reference, context) stays, the secret goes.
    assert "20260220-EC-76EEA87D8A-14ED3C94D6-FE|nip-5265877635|536e67…[masked, 64]" in data["note"]


def test_xades_signatures_and_pem_blocks_are_masked_in_xml():
    xml = (
        "<AuthTokenRequest><ds:Signature><ds:SignedInfo><ds:DigestValue>"
        + "A" * 44
        + "</ds:DigestValue></ds:SignedInfo><ds:SignatureValue>"
        + "B" * 100
        + "</ds:SignatureValue><ds:X509Certificate>"
        + "C" * 300
        + "</ds:X509Certificate></ds:Signature></AuthTokenRequest>"
    )
    shown = masking.mask_body(xml.encode(), "application/xml", 10_000)
    assert "B" * 20 not in shown and "C" * 20 not in shown and "A" * 20 not in shown
    assert "<ds:SignatureValue>BBBBBB…[masked, 100]</ds:SignatureValue>" in shown


def test_a_secret_cut_by_the_capture_limit_is_still_masked():
    cut = json.dumps({"x": JWT})[:60].encode()  # not valid JSON any more
    shown = masking.mask_body(cut, "application/json", 10_000)
    assert "eyJzdWIi" not in shown


def test_binary_bodies_are_described_not_shown():
    assert masking.mask_body(b"\x89PNG\x00\xff\xfe", "application/octet-stream", 100) == (
        "[binary, 7 B application/octet-stream]"
    )
    assert masking.mask_body(b"", None, 100) == ""
