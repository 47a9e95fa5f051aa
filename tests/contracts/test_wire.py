"""ksefcontract.wire builds bodies from the bundled client's public pieces."""

from __future__ import annotations

import base64

import ksefclient
from ksefcontract import wire
from mockksef.crypto import rsa_oaep_decrypt
from mockksef.spec import Spec
from tests.contracts.conftest import mock_state


def test_encrypt_token_is_the_clients_public_token_encryption(spec: Spec) -> None:
    # The encryption is written once, in ksefclient, and offered in its public API.
    assert "encrypt_ksef_token" in ksefclient.__all__
    keys = mock_state(spec).env("test").public_keys
    certificate = wire.public_key(keys.listing(), "KsefTokenEncryption")
    assert certificate is not None
    sealed = wire.encrypt_token(certificate, "ref|nip-5265877635|abc", 1752236636015)
    private = keys.private_key_for("KsefTokenEncryption", certificate.public_key_id)
    assert (
        rsa_oaep_decrypt(private, base64.b64decode(sealed))
        == b"ref|nip-5265877635|abc|1752236636015"
    )
