"""The client's cryptography and packaging, checked against the mock's own decryption."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ksefclient import KsefConfigurationError, KsefIntegrityError
from ksefclient._crypto import (
    SYMMETRIC_KEY_ENCRYPTION,
    SymmetricKey,
    build_zip,
    encrypt_ksef_token,
    sha256_b64,
    split,
    unpack,
)
from ksefclient._models import parse_public_keys
from mockksef.crypto import rsa_oaep_decrypt
from tests import kit
from tests.client.support import Harness


@given(st.binary(max_size=2000))
def test_aes_round_trip_and_pkcs7_growth(data: bytes) -> None:
    key = SymmetricKey.generate()
    encrypted = key.encrypt(data)
    # The IV travels separately: ciphertext = plaintext rounded up to the next block.
    assert len(encrypted) == 16 * (len(data) // 16) + 16
    assert key.decrypt(encrypted) == data


def test_wrong_key_is_an_integrity_error() -> None:
    encrypted = SymmetricKey.generate().encrypt(b"<Faktura/>" * 10)
    with pytest.raises(KsefIntegrityError):
        SymmetricKey.generate().decrypt(encrypted[:-1])


def test_session_key_and_token_decrypt_with_the_ministry_key(sync_harness: Harness) -> None:
    keys = sync_harness.state.env("test").public_keys
    listing = parse_public_keys(keys.listing())
    certificate = next(c for c in listing if SYMMETRIC_KEY_ENCRYPTION in c.usage)
    key = SymmetricKey.generate()
    info = key.encryption_info(certificate)
    private = keys.private_key_for(SYMMETRIC_KEY_ENCRYPTION, info["publicKeyId"])
    assert rsa_oaep_decrypt(private, base64.b64decode(info["encryptedSymmetricKey"])) == key.key
    assert base64.b64decode(info["initializationVector"]) == key.iv
    token_key = keys.private_key_for("KsefTokenEncryption", None)
    sealed = encrypt_ksef_token(token_key.public_key(), "ref|nip-5265877635|abc", 1752236636015)
    assert (
        rsa_oaep_decrypt(token_key, base64.b64decode(sealed))
        == b"ref|nip-5265877635|abc|1752236636015"
    )


@given(st.binary(min_size=1, max_size=5000), st.integers(1, 700))
def test_split_is_lossless_and_even(data: bytes, part: int) -> None:
    if -(-len(data) // part) > 50:
        with pytest.raises(KsefConfigurationError, match="50"):
            split(data, part)
        return
    parts = split(data, part)
    assert b"".join(parts) == data
    assert all(len(p) <= part for p in parts)


def test_zip_and_tar_gz_unpack() -> None:
    entries = {"a.xml": b"<a/>", "b.xml": b"<b/>" * 100}
    packed = build_zip(entries)
    assert unpack(packed) == entries
    assert build_zip(entries) == packed  # deterministic: the same hash for the same invoices
    assert unpack(kit.build_targz(entries), "TarGz") == entries
    with pytest.raises(KsefIntegrityError):
        unpack(b"not an archive")


def test_sha256_b64_is_44_characters() -> None:
    assert len(sha256_b64(b"")) == 44
