"""GET /security/public-key-certificates and the key lifecycle (reference A §3, C §4.9)."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from starlette.testclient import TestClient

from ksefcontract import wire
from mockksef.clock import parse_datetime
from mockksef.environments import Env
from mockksef.services.certificates.keys import KSEF_TOKEN_ENCRYPTION, SYMMETRIC_KEY_ENCRYPTION
from tests import kit
from tests.conftest import START, legacy_codes, problem_codes


def listing(client) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    response = client.get("/security/public-key-certificates")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()  # type: ignore[no-any-return]


def by_usage(items: list[dict], usage: str) -> list[dict]:  # type: ignore[type-arg]
    return [i for i in items if usage in i["usage"]]


def key_accepted(client, key_id: str) -> bool:  # type: ignore[no-untyped-def]
    challenge = client.post("/auth/challenge").json()
    body = {
        "challenge": challenge["challenge"],
        "contextIdentifier": {"type": "Nip", "value": "5265877635"},
        "encryptedToken": base64.b64encode(b"x" * 256).decode(),
        "publicKeyId": key_id,
    }
    response = client.post("/auth/ksef-token", json=body)
    if response.status_code == 400:
        assert legacy_codes(response) == [21470]
        return False
    assert response.status_code == 202
    return True


def test_listing_shape_ids_and_certificates(client, spec):  # type: ignore[no-untyped-def]
    items = listing(client)
    op = spec.operation("GET", "/security/public-key-certificates")
    assert (
        spec.validate_value(
            op.raw["responses"]["200"]["content"]["application/json"]["schema"], items
        ).errors
        == []
    )
    assert sorted(u for i in items for u in i["usage"]) == [
        KSEF_TOKEN_ENCRYPTION,
        SYMMETRIC_KEY_ENCRYPTION,
    ]
    keys = set()
    for item in items:
        der = base64.b64decode(item["certificate"])
        cert = x509.load_der_x509_certificate(der)
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert item["certificateId"] == base64.b64encode(hashlib.sha256(der).digest()).decode()
        assert item["publicKeyId"] == base64.b64encode(hashlib.sha256(spki).digest()).decode()
        assert len(item["publicKeyId"]) == 44
        assert (
            cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
            == "Ministerstwo Finansów"
        )
        assert cert.public_key().key_size == 2048
        assert (
            parse_datetime(item["validFrom"])
            == cert.not_valid_before_utc
            == START - timedelta(days=30)
        )
        assert parse_datetime(item["validTo"]) == cert.not_valid_after_utc
        assert parse_datetime(item["validFrom"]) <= START < parse_datetime(item["validTo"])
        keys.add(item["publicKeyId"])
    assert len(keys) == 2, "one key per usage"
    assert listing(client) == items


def test_environments_have_their_own_keys_and_keys_survive_a_reset(app, mock):  # type: ignore[no-untyped-def]
    with (
        TestClient(app, base_url="http://testserver/test/v2") as test,
        TestClient(app, base_url="http://testserver/demo/v2") as demo,
    ):
        test_ids = {i["publicKeyId"] for i in listing(test)}
        assert test_ids.isdisjoint({i["publicKeyId"] for i in listing(demo)})
        mock.reset(Env.TEST)
        assert {i["publicKeyId"] for i in listing(test)} == test_ids
        demo_key = kit.public_key(demo).public_key_id
        assert not key_accepted(test, demo_key)


def test_planned_rotation_keeps_the_old_key_until_withdrawn(client, mock):  # type: ignore[no-untyped-def]
    keys = mock.env(Env.TEST).public_keys
    old = by_usage(listing(client), KSEF_TOKEN_ENCRYPTION)[0]
    fresh = keys.rotate(KSEF_TOKEN_ENCRYPTION, overlap_days=14)
    during = by_usage(listing(client), KSEF_TOKEN_ENCRYPTION)
    assert [i["publicKeyId"] for i in during] == [old["publicKeyId"], fresh.public_key_id]
    assert len(listing(client)) == 3
    # Clients pick the latest validFrom; the server's default follows.
    assert keys.current(KSEF_TOKEN_ENCRYPTION).public_key_id == fresh.public_key_id
    assert key_accepted(client, old["publicKeyId"]) and key_accepted(client, fresh.public_key_id)
    mock.clock.advance(15 * 86400)
    assert [i["publicKeyId"] for i in by_usage(listing(client), KSEF_TOKEN_ENCRYPTION)] == [
        fresh.public_key_id
    ]
    assert key_accepted(client, old["publicKeyId"])
    keys.withdraw(old["publicKeyId"])
    assert not key_accepted(client, old["publicKeyId"])


def test_emergency_rotation_rejects_the_old_key_at_once(client, mock):  # type: ignore[no-untyped-def]
    old = kit.public_key(client)
    old_id = old.public_key_id
    mock.env(Env.TEST).public_keys.rotate(KSEF_TOKEN_ENCRYPTION, emergency=True)
    assert old_id not in {i["publicKeyId"] for i in listing(client)}
    challenge = client.post("/auth/challenge").json()
    body = {
        "challenge": challenge["challenge"],
        "contextIdentifier": {"type": "Nip", "value": "5265877635"},
        "encryptedToken": wire.encrypt_token(old, "t", challenge["timestampMs"]),
        "publicKeyId": old_id,
    }
    response = client.post(
        "/auth/ksef-token", json=body, headers={"X-Error-Format": "problem-details"}
    )
    assert response.status_code == 400 and problem_codes(response) == [21470]
    assert response.json()["errors"][0]["details"] == [
        f"Klucz o identyfikatorze {old_id} nie jest wspierany."
    ]


def test_recertification_keeps_the_key_and_changes_the_certificate(client, mock):  # type: ignore[no-untyped-def]
    before = by_usage(listing(client), SYMMETRIC_KEY_ENCRYPTION)[0]
    mock.clock.advance(86400)
    mock.env(Env.TEST).public_keys.recertify(SYMMETRIC_KEY_ENCRYPTION)
    after = by_usage(listing(client), SYMMETRIC_KEY_ENCRYPTION)
    assert len(after) == 1
    assert after[0]["publicKeyId"] == before["publicKeyId"]
    assert after[0]["certificateId"] != before["certificateId"]
    assert parse_datetime(after[0]["validFrom"]) == parse_datetime(before["validFrom"]) + timedelta(
        days=1
    )
    # The other usage is untouched.
    assert len(by_usage(listing(client), KSEF_TOKEN_ENCRYPTION)) == 1
