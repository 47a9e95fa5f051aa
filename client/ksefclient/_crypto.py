"""Cryptography and packaging KSeF needs (reference B §1, §3.1, §8.5).

* session/export keys: a fresh AES-256 key and IV, the key wrapped with the
  Ministry's ``SymmetricKeyEncryption`` RSA key (RSA-OAEP, SHA-256, MGF1-SHA-256);
* invoices and batch parts: AES-256-CBC with PKCS#7 padding, the IV only in
  ``initializationVector`` (never prefixed to the ciphertext);
* KSeF-token authentication: RSA-OAEP of ``"{token}|{timestampMs}"`` with the
  ``KsefTokenEncryption`` key;
* batch archives: ZIP, split binarily into parts, each part encrypted alone;
* export packages: decrypt each part, concatenate, unpack ZIP or tar.gz.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ksefclient._exceptions import KsefConfigurationError, KsefIntegrityError

__all__ = [
    "KSEF_TOKEN_ENCRYPTION",
    "MAX_BATCH_PARTS",
    "MAX_BATCH_PART_BYTES",
    "MAX_UNPACKED_BYTES",
    "PublicKeyCache",
    "PublicKeyCertificate",
    "SYMMETRIC_KEY_ENCRYPTION",
    "SymmetricKey",
    "build_zip",
    "encrypt_ksef_token",
    "rsa_oaep_encrypt",
    "sha256_b64",
    "split",
    "unpack",
]

_OAEP = padding.OAEP(
    mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)
KSEF_TOKEN_ENCRYPTION = "KsefTokenEncryption"
SYMMETRIC_KEY_ENCRYPTION = "SymmetricKeyEncryption"
# KSeF caps batch parts at 100 MB (SI) before encryption, and packages at 50 parts.
MAX_BATCH_PART_BYTES = 100_000_000
MAX_BATCH_PARTS = 50
# Export archives are unpacked in memory; refuse absurd sizes (a package holds at
# most 10 000 invoices and 1 GB compressed).
MAX_UNPACKED_BYTES = 4_000_000_000


def sha256_b64(data: bytes) -> str:
    """Base64 of the SHA-256 digest: every ``*Hash`` field of the API (44 chars)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


@dataclass(frozen=True)
class SymmetricKey:
    """An AES-256 key and IV of one session or export (repr hides them)."""

    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)

    @classmethod
    def generate(cls) -> SymmetricKey:
        return cls(os.urandom(32), os.urandom(16))

    def encrypt(self, data: bytes) -> bytes:
        padder = sym_padding.PKCS7(128).padder()
        padded = padder.update(data) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).encryptor()
        return encryptor.update(padded) + encryptor.finalize()

    def decrypt(self, data: bytes) -> bytes:
        try:
            decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.iv)).decryptor()
            padded = decryptor.update(data) + decryptor.finalize()
            unpadder = sym_padding.PKCS7(128).unpadder()
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError as exc:
            raise KsefIntegrityError(f"cannot decrypt: {exc}") from exc

    def encryption_info(self, certificate: PublicKeyCertificate) -> dict[str, str]:
        """The ``encryption`` object of session and export requests."""
        return {
            "encryptedSymmetricKey": base64.b64encode(
                rsa_oaep_encrypt(certificate.public_key(), self.key)
            ).decode("ascii"),
            "initializationVector": base64.b64encode(self.iv).decode("ascii"),
            "publicKeyId": certificate.public_key_id,
        }


def rsa_oaep_encrypt(public_key: rsa.RSAPublicKey, data: bytes) -> bytes:
    return public_key.encrypt(data, _OAEP)


def encrypt_ksef_token(public_key: rsa.RSAPublicKey, token: str, timestamp_ms: int) -> str:
    """``encryptedToken`` of ``POST /auth/ksef-token``."""
    plain = f"{token}|{timestamp_ms}".encode()
    return base64.b64encode(rsa_oaep_encrypt(public_key, plain)).decode("ascii")


@dataclass(frozen=True)
class PublicKeyCertificate:
    """One entry of ``GET /security/public-key-certificates``."""

    certificate: bytes = field(repr=False)
    certificate_id: str
    public_key_id: str
    valid_from: datetime
    valid_to: datetime
    usage: tuple[str, ...]

    def public_key(self) -> rsa.RSAPublicKey:
        try:
            key = x509.load_der_x509_certificate(self.certificate).public_key()
        except ValueError as exc:
            raise KsefIntegrityError(f"the Ministry certificate cannot be read: {exc}") from exc
        if not isinstance(key, rsa.RSAPublicKey):
            # The clients also know an ECDH variant; KSeF publishes RSA keys only.
            raise KsefConfigurationError("the Ministry published a non-RSA key; not supported")
        return key

    def valid_at(self, now: datetime) -> bool:
        return self.valid_from <= now < self.valid_to


class PublicKeyCache:
    """The Ministry keys, fetched once and re-fetched after a day or after ``21470``.

    ``choose`` applies the documented rule: a certificate with the usage, valid
    now, the latest ``validFrom`` when several are (rotation publishes the new
    key in advance). Key ids KSeF rejected are skipped until the next fetch.
    """

    max_age_seconds = 24 * 3600.0

    def __init__(self) -> None:
        self.certificates: tuple[PublicKeyCertificate, ...] = ()
        self.fetched_at: float | None = None
        self.rejected: set[str] = set()

    def stale(self, now: float) -> bool:
        return self.fetched_at is None or now - self.fetched_at >= self.max_age_seconds

    def store(self, certificates: Sequence[PublicKeyCertificate], now: float) -> None:
        self.certificates = tuple(certificates)
        self.fetched_at = now
        self.rejected.clear()

    def invalidate(self, rejected_key_id: str | None = None) -> None:
        self.fetched_at = None
        if rejected_key_id:
            self.rejected.add(rejected_key_id)

    def choose(self, usage: str, now: datetime) -> PublicKeyCertificate | None:
        usable = [
            c
            for c in self.certificates
            if usage in c.usage and c.public_key_id not in self.rejected
        ]
        current = [c for c in usable if c.valid_at(now)]
        candidates = current or usable
        if not candidates:
            return None
        # Later in the listing wins a tie: KSeF lists a rotated-in key after the old one.
        return max(enumerate(candidates), key=lambda item: (item[1].valid_from, item[0]))[1]


# -- batch packages --------------------------------------------------------------------


def build_zip(entries: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            # A fixed timestamp: the same invoices give the same archive (and hash).
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def split(data: bytes, max_part: int = MAX_BATCH_PART_BYTES) -> list[bytes]:
    """Cut an archive into the fewest equal parts of at most ``max_part`` bytes."""
    if max_part <= 0:
        raise KsefConfigurationError("part size must be positive")
    count = max(1, -(-len(data) // max_part))
    if count > MAX_BATCH_PARTS:
        raise KsefConfigurationError(
            f"the package needs {count} parts; KSeF accepts at most {MAX_BATCH_PARTS} — "
            "send the invoices in several batch sessions"
        )
    size = -(-len(data) // count) if data else 0
    return [data[i * size : (i + 1) * size] for i in range(count)] if data else [b""]


def unpack(archive: bytes, compression: str = "Zip") -> dict[str, bytes]:
    """Entries of an export package by name (in memory; nothing touches the disk)."""
    total = 0
    out: dict[str, bytes] = {}
    try:
        if compression.lower() == "targz":
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
                for member in tar:
                    if not member.isfile():
                        continue
                    total += member.size
                    if total > MAX_UNPACKED_BYTES:
                        raise KsefIntegrityError("export package unpacks to too many bytes")
                    handle = tar.extractfile(member)
                    if handle is not None:
                        out[member.name] = handle.read()
            return out
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            for info in zipped.infolist():
                if info.is_dir():
                    continue
                total += info.file_size
                if total > MAX_UNPACKED_BYTES:
                    raise KsefIntegrityError("export package unpacks to too many bytes")
                out[info.filename] = zipped.read(info)
        return out
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise KsefIntegrityError(f"cannot unpack the export package: {exc}") from exc
