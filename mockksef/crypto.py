"""Crypto primitives the mock needs, all from ``cryptography``.

Mock Ministry key pairs and certificates, RSA-OAEP (SHA-256, MGF1-SHA-256),
AES-256-CBC/PKCS#7, identifiers derived from certificates and keys.

RSA key generation cannot take a seeded random source (``cryptography`` draws
from the OS), so key material is the one thing that differs between two runs
with the same seed; everything derived from it (ids) follows the key.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Literal, get_args

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

OAEP_SHA256 = asym_padding.OAEP(
    mgf=asym_padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)


def new_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def name(**attrs: str) -> x509.Name:
    oids = {
        "common_name": NameOID.COMMON_NAME,
        "organization": NameOID.ORGANIZATION_NAME,
        "organization_identifier": NameOID.ORGANIZATION_IDENTIFIER,
        "country": NameOID.COUNTRY_NAME,
        "given_name": NameOID.GIVEN_NAME,
        "surname": NameOID.SURNAME,
        "serial_number": NameOID.SERIAL_NUMBER,
        "organizational_unit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    }
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in attrs.items() if v])


KeyUsageName = Literal[
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
]
_KEY_USAGES: tuple[KeyUsageName, ...] = get_args(KeyUsageName)


def issue_certificate(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer: x509.Name,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    not_before: datetime,
    not_after: datetime,
    serial: int,
    *,
    ca: bool | None = False,
    path_length: int | None = None,
    usage: Collection[KeyUsageName] = (),
    subject_key_id: bool = False,
    authority_key_id: bool = False,
) -> x509.Certificate:
    """The one X.509 builder of the mock (CA, issued, Ministry and seeded certificates).

    ``ca`` None leaves BasicConstraints out (a bare self-signed certificate);
    ``usage`` names the KeyUsage bits to set (critical); the key identifiers
    are added when asked, the authority's taken from ``issuer_key``.
    """
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length), critical=True
        )
    if usage:
        flags = {name: name in usage for name in _KEY_USAGES}
        builder = builder.add_extension(
            x509.KeyUsage(**flags, encipher_only=False, decipher_only=False), critical=True
        )
    if subject_key_id:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
    if authority_key_id:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def self_signed(
    key: PrivateKey,
    subject: x509.Name,
    not_before: datetime,
    days: int,
    serial: int,
    usage: Collection[KeyUsageName] = (),
) -> x509.Certificate:
    return issue_certificate(
        subject,
        key.public_key(),
        subject,
        key,
        not_before,
        not_before + timedelta(days=days),
        serial,
        usage=usage,
    )


def sha256_b64(data: bytes) -> str:
    """Base64 SHA-256: how KSeF states every hash (invoices, parts, UPOs, keys)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def cert_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def cert_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert_der(cert)).decode("ascii")


def cert_sha256_b64(cert: x509.Certificate) -> str:
    return sha256_b64(cert_der(cert))


def fingerprint(cert: x509.Certificate) -> str:
    """Upper-case hex SHA-256 of the DER certificate (64 chars), as KSeF uses it."""
    return hashlib.sha256(cert_der(cert)).hexdigest().upper()


def public_key_id(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    """Base64 SHA-256 of the DER SubjectPublicKeyInfo (44 chars)."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return sha256_b64(spki)


def rsa_oaep_encrypt(public_key: rsa.RSAPublicKey, data: bytes) -> bytes:
    return public_key.encrypt(data, OAEP_SHA256)


def rsa_oaep_decrypt(private_key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    """Raises ``ValueError`` when the ciphertext does not decrypt."""
    return private_key.decrypt(data, OAEP_SHA256)


def aes_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def aes_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """Raises ``ValueError`` on a wrong key/IV length, bad block size or padding."""
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def load_certificate(data: bytes) -> x509.Certificate:
    """DER or PEM; raises ``ValueError`` when unreadable."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)
