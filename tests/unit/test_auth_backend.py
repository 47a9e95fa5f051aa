"""AuthBackend and PublicKeysBackend without HTTP (reference A §2, §3)."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta

import pytest

from ksefclient.xades import auth_token_request, personal_certificate, sign_auth_token_request
from mockksef import MockState, crypto
from mockksef.clock import Clock, to_millis
from mockksef.environments import Env
from mockksef.errors import Forbidden, Gone, KsefError
from mockksef.http.security import principal_from_claims
from mockksef.ids import with_checksum
from mockksef.models import ContextIdentifier, Principal
from mockksef.services.auth.sessions import _decode_continuation, _encode_continuation
from mockksef.services.certificates.keys import KSEF_TOKEN_ENCRYPTION, SYMMETRIC_KEY_ENCRYPTION
from tests.conftest import START

NIP = "5265877635"


@pytest.fixture(scope="module")
def creds():  # type: ignore[no-untyped-def]
    return personal_certificate(nip=NIP, not_before=START - timedelta(hours=1))


def principal(env, token: str) -> Principal:  # type: ignore[no-untyped-def]
    return principal_from_claims(env.jwt.decode(token))


def xades_start(env, creds, context: str = NIP) -> dict:  # type: ignore[no-untyped-def,type-arg]
    now = env.clock.now()
    challenge = env.auth.challenge("10.0.0.1", now)["challenge"]
    signed = sign_auth_token_request(auth_token_request(challenge, "Nip", context), creds)
    return env.auth.init_xades(signed, "application/xml; charset=utf-8", None, now)  # type: ignore[no-any-return]


def token_body(env, plaintext: bytes | None = None, challenge: dict | None = None, **extra) -> dict:  # type: ignore[no-untyped-def,type-arg]
    challenge = challenge or env.auth.challenge("10.0.0.1", env.clock.now())
    plaintext = plaintext if plaintext is not None else f"x|{challenge['timestampMs']}".encode()
    public = env.public_keys.public_key(KSEF_TOKEN_ENCRYPTION)
    return {
        "challenge": challenge["challenge"],
        "contextIdentifier": {"type": "Nip", "value": NIP},
        "encryptedToken": base64.b64encode(crypto.rsa_oaep_encrypt(public, plaintext)).decode(),
        **extra,
    }


def outcome(env, started: dict) -> tuple[int, tuple[str, ...]]:  # type: ignore[no-untyped-def,type-arg]
    operation = env.auth.operation(started["referenceNumber"])
    assert operation is not None and operation.outcome is not None
    return operation.outcome.code, operation.outcome.details


# -- challenges ---------------------------------------------------------------------------


def test_challenge_timestamp_floor_single_use_and_lifetime(env, mock, creds):  # type: ignore[no-untyped-def]
    mock.clock.set(START + timedelta(microseconds=999_999))
    body = env.auth.challenge("10.0.0.1", mock.clock.now())
    assert body["timestampMs"] == to_millis(START) + 999
    assert body["timestamp"] == "2026-03-02T09:00:00.9999990+00:00"
    assert body["clientIp"] == "10.0.0.1"
    item = env.auth.challenges[body["challenge"]]
    assert item.expires - item.timestamp == timedelta(minutes=10)
    mock.clock.advance(599)
    env.auth._usable_challenge(body["challenge"], mock.clock.now())
    mock.clock.advance(1)
    with pytest.raises(KsefError) as excinfo:
        env.auth._usable_challenge(body["challenge"], mock.clock.now())
    assert excinfo.value.code == 21111


def test_expired_and_used_challenges_are_purged(env, mock):  # type: ignore[no-untyped-def]
    for _ in range(3):
        env.auth.challenge("10.0.0.1", mock.clock.now())
    mock.clock.advance(601)
    env.auth.challenge("10.0.0.1", mock.clock.now())
    assert len(env.auth.challenges) == 1


# -- KSeF token decryption ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plaintext", "detail"),
    [
        (b"no-separator", "Nieprawidłowe kodowanie tokena"),
        (b"|123", "Nieprawidłowe kodowanie tokena"),
        (b"token|12a", "Nieprawidłowe kodowanie tokena"),
        (b"token|\xd9\xa1\xd9\xa2", "Nieprawidłowe kodowanie tokena"),  # Arabic-Indic digits
        (b"\xff\xfe|1", "Nieprawidłowe kodowanie tokena"),
        (b"a|b|c|1", "Nieprawidłowy czas tokena"),
    ],
)
def test_plaintext_variants(env, plaintext, detail):  # type: ignore[no-untyped-def]
    started = env.auth.init_token(token_body(env, plaintext), env.clock.now())
    assert outcome(env, started) == (450, (detail,))


def test_token_string_is_split_on_the_last_separator(env):  # type: ignore[no-untyped-def]
    challenge = env.auth.challenge("10.0.0.1", env.clock.now())
    token = f"{with_checksum('20260302-EC-0000000000-0000000000')}|nip-{NIP}|{'a' * 64}"
    body = token_body(env, f"{token}|{challenge['timestampMs']}".encode(), challenge)
    started = env.auth.init_token(body, env.clock.now())
    assert env.auth.operations[started["referenceNumber"]].token_string == token
    assert outcome(env, started) == (450, ("Nieprawidłowy token",))


def test_undecryptable_and_unknown_key(env):  # type: ignore[no-untyped-def]
    body = token_body(env)
    body["encryptedToken"] = base64.b64encode(b"\x01" * 256).decode()
    assert outcome(env, env.auth.init_token(body, env.clock.now())) == (
        450,
        ("Nieprawidłowe szyfrowanie tokena",),
    )
    symmetric = env.public_keys.current(SYMMETRIC_KEY_ENCRYPTION).public_key_id
    with pytest.raises(KsefError) as excinfo:
        env.auth.init_token(token_body(env, publicKeyId=symmetric), env.clock.now())
    assert excinfo.value.code == 21470
    assert excinfo.value.errors[0].details == (
        f"Klucz o identyfikatorze {symmetric} nie jest wspierany.",
    )


def test_ip_policy_validation(env):  # type: ignore[no-untyped-def]
    for policy in (
        {"allowedIps": {"ip4Ranges": ["10.0.0.9-10.0.0.1"]}},
        {"allowedIps": {"ip4Masks": [f"10.0.{i}.0/24" for i in range(11)]}},
    ):
        with pytest.raises(KsefError) as excinfo:
            env.auth.init_token(token_body(env, authorizationPolicy=policy), env.clock.now())
        assert excinfo.value.code == 21405
    started = env.auth.init_token(
        token_body(env, authorizationPolicy={"allowedIps": {}}), env.clock.now()
    )
    assert env.auth.operations[started["referenceNumber"]].authorization_policy is None


# -- XAdES operations -----------------------------------------------------------------------------


def test_lazy_processing_and_hooks(mock, spec, creds):  # type: ignore[no-untyped-def]
    state = MockState(
        replace(mock.config, auth_processing_seconds=3), spec=spec, clock=Clock.virtual(START)
    )
    env = state.env(Env.TEST)
    started = xades_start(env, creds)
    me = principal(env, started["authenticationToken"]["token"])
    assert (
        env.auth.status(me, started["referenceNumber"], state.clock.now())["status"]["code"] == 100
    )
    assert env.auth.summary()["succeeded"] == 0
    state.clock.advance(3)
    assert (
        env.auth.status(me, started["referenceNumber"], state.clock.now())["status"]["code"] == 200
    )
    env.auth.set_outcome(started["referenceNumber"], 550)
    status = env.auth.status(me, started["referenceNumber"], state.clock.now())["status"]
    assert status == {
        "code": 550,
        "description": "Operacja została anulowana przez system",
        "details": [
            "Przetwarzanie zostało przerwane z przyczyn wewnętrznych systemu. Spróbuj ponownie"
        ],
    }
    with pytest.raises(KsefError) as excinfo:
        env.auth.redeem(me, state.clock.now())
    assert excinfo.value.errors[0].details == (
        "Status uwierzytelniania (550) nie pozwala na pobranie tokenów.",
    )


def test_status_ownership_and_retention(env, mock, creds):  # type: ignore[no-untyped-def]
    first, second = xades_start(env, creds), xades_start(env, creds)
    me = principal(env, first["authenticationToken"]["token"])
    with pytest.raises(Forbidden):
        env.auth.status(me, second["referenceNumber"], mock.clock.now())
    with pytest.raises(KsefError) as excinfo:
        env.auth.status(me, "20260302-AU-0000000000-0000000000-00", mock.clock.now())
    assert excinfo.value.code == 21304
    with pytest.raises(Gone):
        env.auth.status(me, first["referenceNumber"], mock.clock.now() + timedelta(days=7))
    assert env.auth.status(
        me, first["referenceNumber"], mock.clock.now() + timedelta(days=7) - timedelta(seconds=1)
    )


def test_redeem_refresh_revoke_and_summary(env, mock, creds):  # type: ignore[no-untyped-def]
    started = xades_start(env, creds)
    operation = principal(env, started["authenticationToken"]["token"])
    tokens = env.auth.redeem(operation, mock.clock.now())
    access = principal(env, tokens["accessToken"]["token"])
    refresh = principal(env, tokens["refreshToken"]["token"])
    assert access.context == ContextIdentifier("Nip", NIP) and access.is_owner
    assert access.claims["sud"].count("CertificateFingerprint") == 1
    assert env.auth.summary() == {
        "challenges": 0,
        "operations": 1,
        "succeeded": 1,
        "activeSessions": 1,
    }
    assert (
        env.auth.list_sessions(access, None, 10, mock.clock.now())["items"][0]["isCurrent"] is True
    )
    env.auth.revoke(refresh, started["referenceNumber"], mock.clock.now())
    env.auth.revoke(refresh, started["referenceNumber"], mock.clock.now())  # idempotent
    assert env.auth.summary()["activeSessions"] == 0
    with pytest.raises(KsefError) as excinfo:
        env.auth.refresh(refresh, mock.clock.now())
    assert excinfo.value.code == 21301
    assert env.auth.list_sessions(access, None, 10, mock.clock.now()) == {"items": []}


def test_sessions_expire_with_the_refresh_token(env, mock, creds):  # type: ignore[no-untyped-def]
    started = xades_start(env, creds)
    tokens = env.auth.redeem(
        principal(env, started["authenticationToken"]["token"]), mock.clock.now()
    )
    access = principal(env, tokens["accessToken"]["token"])
    assert env.auth.summary()["activeSessions"] == 1
    mock.clock.advance(7 * 86400)
    assert env.auth.summary()["activeSessions"] == 0
    assert env.auth.list_sessions(access, None, 10, mock.clock.now()) == {"items": []}


def test_continuation_tokens():  # type: ignore[no-untyped-def]
    assert _decode_continuation(None) == 0
    assert _decode_continuation(_encode_continuation(30)) == 30
    assert "\\" not in _encode_continuation(10)
    for bad in (
        "%%",
        base64.b64encode(b"[1]").decode(),
        base64.b64encode(b'{"skip":-1}').decode(),
        base64.b64encode(b'{"skip":true}').decode(),
    ):
        with pytest.raises(KsefError) as excinfo:
            _decode_continuation(bad)
        assert excinfo.value.code == 21418


def test_wrong_content_type_is_21001(env, creds):  # type: ignore[no-untyped-def]
    with pytest.raises(KsefError) as excinfo:
        env.auth.init_xades(b"<a/>", "text/plain", None, env.clock.now())
    assert excinfo.value.code == 21001
    for media in ("text/xml", "application/soap+xml", None):
        with pytest.raises(KsefError) as excinfo:
            env.auth.init_xades(b"<a/>", media, None, env.clock.now())
        assert excinfo.value.code == 9101


# -- public keys ------------------------------------------------------------------------------------


def test_public_keys_lifecycle(env, mock):  # type: ignore[no-untyped-def]
    keys = env.public_keys
    token_key = keys.current(KSEF_TOKEN_ENCRYPTION)
    symmetric_key = keys.current(SYMMETRIC_KEY_ENCRYPTION)
    assert token_key.public_key_id != symmetric_key.public_key_id
    assert keys.private_key_for(KSEF_TOKEN_ENCRYPTION, None) is token_key.private_key
    assert (
        keys.private_key_for(KSEF_TOKEN_ENCRYPTION, token_key.public_key_id)
        is token_key.private_key
    )
    with pytest.raises(KsefError):
        keys.private_key_for(KSEF_TOKEN_ENCRYPTION, symmetric_key.public_key_id)
    with pytest.raises(ValueError):
        keys.current("Signing")
    with pytest.raises(KeyError):
        keys.withdraw("unknown")
    rotated = keys.rotate(KSEF_TOKEN_ENCRYPTION, emergency=True)
    with pytest.raises(KsefError):
        keys.private_key_for(KSEF_TOKEN_ENCRYPTION, token_key.public_key_id)
    assert keys.private_key_for(KSEF_TOKEN_ENCRYPTION, None) is rotated.private_key
    assert keys.summary()[KSEF_TOKEN_ENCRYPTION] == {"keys": 2, "accepted": 1}
    cert = rotated.certificate
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=730)
    # The keys are the environment's own and survive its reset.
    mock.reset(Env.TEST)
    assert (
        mock.env(Env.TEST).public_keys.current(KSEF_TOKEN_ENCRYPTION).public_key_id
        == rotated.public_key_id
    )
    assert (
        mock.env(Env.DEMO).public_keys.current(KSEF_TOKEN_ENCRYPTION).public_key_id
        != rotated.public_key_id
    )
