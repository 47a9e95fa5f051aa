"""What a KSeF client does to send invoices, written out for the sessions tests.

Invoices come from the official sample templates (read at run time, with their
``#nip#``-style placeholders filled in); encryption follows reference B §1
exactly: AES-256-CBC/PKCS#7 with the IV passed apart, the key wrapped with
RSA-OAEP SHA-256/MGF1-SHA-256 under the ``SymmetricKeyEncryption`` certificate
from ``GET /security/public-key-certificates``. Works over any httpx-like
client (in-process TestClient or a socket client).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random
import tarfile
import zipfile
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mockksef.models import nip_checksum_ok
from tests.conftest import OFFICIAL

FA3 = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}
FA2 = {"systemCode": "FA (2)", "schemaVersion": "1-0E", "value": "FA"}
FA_RR = {"systemCode": "FA_RR (1)", "schemaVersion": "1-1E", "value": "FA_RR"}
PEF = {"systemCode": "PEF (3)", "schemaVersion": "2-1", "value": "PEF"}
START_DAY = date(2026, 3, 2)


def sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def random_nip(seed: int) -> str:
    rng = random.Random(seed)
    while True:
        nip = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(9))
        if nip_checksum_ok(nip) and nip[1:3] != "00":
            return nip


@cache
def template(name: str) -> str:
    return (OFFICIAL / "sample-invoices" / name).read_text(encoding="utf-8")


def fa3(
    nip: str,
    number: str = "1",
    issue: date = START_DAY,
    buyer: str = "1111111111",
    name: str = "invoice-template-fa-3.xml",
) -> bytes:
    """An FA(3) invoice from the official template: seller ``nip``, P_2 ``FA/GRQMB-{number}/05/2025``."""
    text = (
        template(name)
        .replace("#nip#", nip)
        .replace("#invoice_number#", number)
        .replace("#nipOdbiorca#", buyer)
        .replace("<P_1>2025-09-01</P_1>", f"<P_1>{issue.isoformat()}</P_1>")
        .replace("<NIP>1111111111</NIP>", f"<NIP>{buyer}</NIP>")
    )
    return text.encode("utf-8")


def fa2(nip: str, number: str = "1", issue: date = START_DAY) -> bytes:
    text = (
        template("invoice-template-fa-2.xml")
        .replace("#nip#", nip)
        .replace("#invoice_number#", number)
        .replace("<P_1>2025-09-01</P_1>", f"<P_1>{issue.isoformat()}</P_1>")
    )
    return text.encode("utf-8")


def fa_rr(nip: str, number: str = "RR/1", buyer: str = "1111111111") -> bytes:
    text = (
        template("invoice-template-fa-rr-1.xml")
        .replace("#nip#", nip)
        .replace("#buyer_nip#", buyer)
        .replace("#invoice_number#", number)
    )
    return text.encode("utf-8")


def aes_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def symmetric_certificate(client: Any) -> tuple[x509.Certificate, str]:
    keys = client.get("/security/public-key-certificates").json()
    entry = next(k for k in keys if "SymmetricKeyEncryption" in k["usage"])
    certificate = x509.load_der_x509_certificate(base64.b64decode(entry["certificate"]))
    return certificate, entry["publicKeyId"]


@dataclass
class Crypto:
    """A session key and IV, wrapped for the Ministry key as a client does it."""

    key: bytes = field(default_factory=lambda: os.urandom(32))
    iv: bytes = field(default_factory=lambda: os.urandom(16))

    def encryption(self, client: Any, with_key_id: bool = True) -> dict[str, str]:
        certificate, key_id = symmetric_certificate(client)
        wrapped = certificate.public_key().encrypt(  # type: ignore[union-attr]
            self.key,
            asym_padding.OAEP(
                mgf=asym_padding.MGF1(algorithm=hashes.SHA256()),
                algorithm=hashes.SHA256(),
                label=None,
            ),
        )
        out = {
            "encryptedSymmetricKey": base64.b64encode(wrapped).decode(),
            "initializationVector": base64.b64encode(self.iv).decode(),
        }
        if with_key_id:
            out["publicKeyId"] = key_id
        return out

    def invoice_body(self, xml: bytes, **extra: Any) -> dict[str, Any]:
        encrypted = aes_encrypt(self.key, self.iv, xml)
        body: dict[str, Any] = {
            "invoiceHash": sha(xml),
            "invoiceSize": len(xml),
            "encryptedInvoiceHash": sha(encrypted),
            "encryptedInvoiceSize": len(encrypted),
            "encryptedInvoiceContent": base64.b64encode(encrypted).decode(),
        }
        body.update(extra)
        return body


def open_online(
    client: Any, headers: dict[str, str], crypto: Crypto, form: dict[str, str] = FA3, **kw: Any
) -> str:
    response = client.post(
        "/sessions/online",
        json={"formCode": form, "encryption": crypto.encryption(client)},
        headers={**headers, **kw.get("extra_headers", {})},
    )
    assert response.status_code == 201, response.text
    return response.json()["referenceNumber"]  # type: ignore[no-any-return]


def send(
    client: Any, headers: dict[str, str], ref: str, crypto: Crypto, xml: bytes, **extra: Any
) -> Any:
    return client.post(
        f"/sessions/online/{ref}/invoices", json=crypto.invoice_body(xml, **extra), headers=headers
    )


def send_ok(
    client: Any, headers: dict[str, str], ref: str, crypto: Crypto, xml: bytes, **extra: Any
) -> str:
    response = send(client, headers, ref, crypto, xml, **extra)
    assert response.status_code == 202, response.text
    return response.json()["referenceNumber"]  # type: ignore[no-any-return]


def invoice_status(
    client: Any, headers: dict[str, str], ref: str, invoice_ref: str
) -> dict[str, Any]:
    response = client.get(f"/sessions/{ref}/invoices/{invoice_ref}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def session_status(client: Any, headers: dict[str, str], ref: str) -> dict[str, Any]:
    response = client.get(f"/sessions/{ref}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# -- batch ---------------------------------------------------------------------------------


def build_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def build_targz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def split(archive: bytes, parts: int) -> list[bytes]:
    """The C# client's split: ceil(len/N) bytes per part, before encryption."""
    size = -(-len(archive) // parts)
    return [archive[i * size : (i + 1) * size] for i in range(parts) if archive[i * size :]]


@dataclass
class Package:
    archive: bytes
    parts: list[bytes]
    crypto: Crypto
    compression: str = "Zip"

    def batch_file(self) -> dict[str, Any]:
        return {
            "fileSize": len(self.archive),
            "fileHash": sha(self.archive),
            "compressionType": self.compression,
            "fileParts": [
                {"ordinalNumber": n, "fileSize": len(part), "fileHash": sha(part)}
                for n, part in enumerate(self.parts, start=1)
            ],
        }


def package(
    files: dict[str, bytes], parts: int = 1, compression: str = "Zip", crypto: Crypto | None = None
) -> Package:
    crypto = crypto or Crypto()
    archive = build_targz(files) if compression == "TarGz" else build_zip(files)
    encrypted = [aes_encrypt(crypto.key, crypto.iv, p) for p in split(archive, parts)]
    return Package(archive, encrypted, crypto, compression)


def open_batch(
    client: Any,
    headers: dict[str, str],
    pkg: Package,
    form: dict[str, str] = FA3,
    encryption: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "formCode": form,
        "batchFile": pkg.batch_file(),
        "encryption": encryption or pkg.crypto.encryption(client),
        **extra,
    }
    response = client.post("/sessions/batch", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def upload(client: Any, opened: dict[str, Any], parts: list[bytes]) -> None:
    for request in opened["partUploadRequests"]:
        data = parts[request["ordinalNumber"] - 1]
        response = client.request(
            request["method"], request["url"], content=data, headers=request["headers"]
        )
        assert response.status_code == 201, response.text


def send_batch(
    client: Any,
    headers: dict[str, str],
    files: dict[str, bytes],
    parts: int = 1,
    compression: str = "Zip",
    **extra: Any,
) -> str:
    pkg = package(files, parts, compression)
    opened = open_batch(client, headers, pkg, **extra)
    upload(client, opened, pkg.parts)
    closed = client.post(f"/sessions/batch/{opened['referenceNumber']}/close", headers=headers)
    assert closed.status_code == 204, closed.text
    return opened["referenceNumber"]  # type: ignore[no-any-return]
