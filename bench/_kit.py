"""What a KSeF client does, for the benchmarks (the same steps as ``tests/sessions_kit.py``).

Invoices are the official FA(3) sample (``sample-invoices/invoice-template-fa-3.xml``,
read at run time from the official directory) with its placeholders filled in.
Encryption follows the KSeF rules: AES-256-CBC/PKCS#7, the key wrapped with
RSA-OAEP SHA-256 under the ``SymmetricKeyEncryption`` certificate. Requests go
through httpx (an ``AsyncClient`` over ``ASGITransport`` in-process or over a
socket) or Starlette's ``TestClient``, as integrators' tests do.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import random
import zipfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mockksef import official
from mockksef.clock import parse_datetime
from mockksef.models import nip_checksum_ok

FA3 = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}
BUYER = "1111111111"


def sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def nip(seed: int) -> str:
    """A valid-checksum NIP, the same for the same seed."""
    rng = random.Random(seed)
    while True:
        value = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(9))
        if nip_checksum_ok(value) and value[1:3] != "00":
            return value


@cache
def template() -> str:
    path = official.locate() / "sample-invoices" / "invoice-template-fa-3.xml"
    return path.read_text(encoding="utf-8")


def fa3(seller: str, number: str, issue: date, buyer: str = BUYER) -> bytes:
    """The official FA(3) sample: seller ``seller``, invoice number ``FA/GRQMB-{number}/05/2025``."""
    text = (
        template()
        .replace("#nip#", seller)
        .replace("#invoice_number#", number)
        .replace("<P_1>2025-09-01</P_1>", f"<P_1>{issue.isoformat()}</P_1>")
        .replace("<NIP>1111111111</NIP>", f"<NIP>{buyer}</NIP>")
    )
    return text.encode("utf-8")


def aes_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def symmetric_key_entry(listing: list[dict[str, Any]]) -> tuple[x509.Certificate, str]:
    entry = next(k for k in listing if "SymmetricKeyEncryption" in k["usage"])
    certificate = x509.load_der_x509_certificate(base64.b64decode(entry["certificate"]))
    return certificate, entry["publicKeyId"]


@dataclass
class Crypto:
    """A session key and IV, wrapped for the Ministry key as a client does it."""

    key: bytes = field(default_factory=lambda: os.urandom(32))
    iv: bytes = field(default_factory=lambda: os.urandom(16))

    def encryption(self, listing: list[dict[str, Any]]) -> dict[str, str]:
        certificate, key_id = symmetric_key_entry(listing)
        wrapped = certificate.public_key().encrypt(  # type: ignore[union-attr]
            self.key,
            asym_padding.OAEP(
                mgf=asym_padding.MGF1(algorithm=hashes.SHA256()),
                algorithm=hashes.SHA256(),
                label=None,
            ),
        )
        return {
            "encryptedSymmetricKey": base64.b64encode(wrapped).decode(),
            "initializationVector": base64.b64encode(self.iv).decode(),
            "publicKeyId": key_id,
        }

    def invoice_body(self, xml: bytes) -> dict[str, Any]:
        encrypted = aes_encrypt(self.key, self.iv, xml)
        return {
            "invoiceHash": sha(xml),
            "invoiceSize": len(xml),
            "encryptedInvoiceHash": sha(encrypted),
            "encryptedInvoiceSize": len(encrypted),
            "encryptedInvoiceContent": base64.b64encode(encrypted).decode(),
        }


def build_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@dataclass
class Package:
    """A batch package: the ZIP, its encrypted parts and what ``POST /sessions/batch`` declares."""

    archive: bytes
    parts: list[bytes]
    crypto: Crypto

    def batch_file(self) -> dict[str, Any]:
        return {
            "fileSize": len(self.archive),
            "fileHash": sha(self.archive),
            "compressionType": "Zip",
            "fileParts": [
                {"ordinalNumber": n, "fileSize": len(part), "fileHash": sha(part)}
                for n, part in enumerate(self.parts, start=1)
            ],
        }


def package(files: dict[str, bytes], part_bytes: int = 50_000_000) -> Package:
    crypto = Crypto()
    archive = build_zip(files)
    count = max(1, -(-len(archive) // part_bytes))
    size = -(-len(archive) // count)
    plain = [archive[i * size : (i + 1) * size] for i in range(count)]
    return Package(archive, [aes_encrypt(crypto.key, crypto.iv, p) for p in plain], crypto)


# -- a client with no HTTP library: ASGI calls straight into the app -------------------------


class AsgiResponse:
    def __init__(self, method: str, url: str, status: int, body: bytes) -> None:
        self.status_code = status
        self.content = body
        self.request = _Req(method, url)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class _Req:
    def __init__(self, method: str, url: str) -> None:
        self.method = method
        self.url = url


class AsgiClient:
    """Requests as ASGI calls, no client library: what the server alone costs in-process.

    Only what the benchmarks need: a base path, JSON or raw bodies, query
    parameters, headers; answers are read whole.
    """

    def __init__(
        self, app: Any, base: str = "/v2", client: tuple[str, int] = ("127.0.0.1", 50000)
    ) -> None:
        self.app = app
        self.base = base
        self.client = client

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> AsgiResponse:
        body = content if content is not None else b""
        raw = [(b"host", b"testserver")]
        if json_body is not None:
            body = json.dumps(json_body).encode()
            raw.append((b"content-type", b"application/json"))
        raw.append((b"content-length", str(len(body)).encode()))
        for name, value in (headers or {}).items():
            raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        full = path if path.startswith(("http://", "https://")) else self.base + path
        if full.startswith(("http://", "https://")):
            full = "/" + full.split("/", 3)[3]
        target, _, query = full.partition("?")
        if params:
            query = urlencode(params)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(target),
            "raw_path": target.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": raw,
            "client": self.client,
            "server": ("testserver", 80),
        }
        chunks: list[bytes] = []
        status = 0
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return AsgiResponse(method, full, status, b"".join(chunks))

    async def get(self, path: str, **kw: Any) -> AsgiResponse:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> AsgiResponse:
        return await self.request("POST", path, json_body=json, **kw)


class SocketClient:
    """The same calls over real keep-alive HTTP/1.1 connections to 127.0.0.1, without a
    client library: a Python client like httpx costs more CPU per request than the
    server does, so it, not the server, would set the pace of a socket benchmark.

    Answers must carry Content-Length (the mock's always do).
    """

    def __init__(self, base: str, connections: int = 1) -> None:
        parts = urlsplit(base)
        if parts.hostname != "127.0.0.1":
            raise ValueError("benchmarks talk to 127.0.0.1 only")
        self.host, self.port, self.base = parts.hostname, parts.port or 80, parts.path
        self.size = connections
        self._pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None = None

    async def _connections(
        self,
    ) -> asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        if self._pool is None:
            pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
            for _ in range(self.size):
                pool.put_nowait(await asyncio.open_connection(self.host, self.port))
            self._pool = pool
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            while not self._pool.empty():
                _, writer = self._pool.get_nowait()
                writer.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> AsgiResponse:
        body = content if content is not None else b""
        head = {"Host": f"{self.host}:{self.port}"}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            head["Content-Type"] = "application/json"
        head.update(headers or {})
        head["Content-Length"] = str(len(body))
        if path.startswith(("http://", "https://")):
            target = "/" + path.split("/", 3)[3]
        else:
            target = self.base + path
        if params:
            target = target.split("?", 1)[0] + "?" + urlencode(params)
        lines = "".join(f"{k}: {v}\r\n" for k, v in head.items())
        raw = f"{method} {target} HTTP/1.1\r\n{lines}\r\n".encode("latin-1") + body
        pool = await self._connections()
        reader, writer = await pool.get()
        try:
            writer.write(raw)
            answer = await reader.readuntil(b"\r\n\r\n")
            status = int(answer[9:12])
            length = 0
            for line in answer.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            data = await reader.readexactly(length) if length else b""
        finally:
            pool.put_nowait((reader, writer))
        return AsgiResponse(method, target, status, data)

    async def get(self, path: str, **kw: Any) -> AsgiResponse:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> AsgiResponse:
        return await self.request("POST", path, json_body=json, **kw)


# -- authentication ---------------------------------------------------------------------------


def xades_request(challenge: dict[str, Any], seller: str) -> bytes:
    """A signed ``AuthTokenRequest`` with a fresh self-signed certificate (TEST accepts it)."""
    from ksefclient.xades import auth_token_request, personal_certificate, sign_auth_token_request

    server_now = parse_datetime(challenge["timestamp"])
    credentials = personal_certificate(nip=seller, not_before=server_now - timedelta(days=1))
    xml = auth_token_request(challenge["challenge"], "Nip", seller)
    return sign_auth_token_request(xml, credentials, signing_time=server_now)  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ok(response: Any, status: int) -> Any:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text[:500]}"
        )
    return response.json() if response.content else None


def login(client: Any, seller: str, polls: int = 50) -> str:
    """XAdES login over a sync client: challenge -> signature -> status -> redeem; the access token."""
    challenge = ok(client.post("/auth/challenge"), 200)
    init = ok(
        client.post(
            "/auth/xades-signature",
            content=xades_request(challenge, seller),
            headers={"Content-Type": "application/xml"},
        ),
        202,
    )
    operation = bearer(init["authenticationToken"]["token"])
    for _ in range(polls):
        status = ok(client.get(f"/auth/{init['referenceNumber']}", headers=operation), 200)
        if status["status"]["code"] != 100:
            break
    if status["status"]["code"] != 200:
        raise RuntimeError(f"authentication failed: {status}")
    redeemed = ok(client.post("/auth/token/redeem", headers=operation), 200)
    return redeemed["accessToken"]["token"]  # type: ignore[no-any-return]


async def alogin(client: Any, seller: str, polls: int = 50) -> str:
    """``login`` over an ``httpx.AsyncClient``."""
    challenge = ok(await client.post("/auth/challenge"), 200)
    init = ok(
        await client.post(
            "/auth/xades-signature",
            content=xades_request(challenge, seller),
            headers={"Content-Type": "application/xml"},
        ),
        202,
    )
    operation = bearer(init["authenticationToken"]["token"])
    for _ in range(polls):
        status = ok(await client.get(f"/auth/{init['referenceNumber']}", headers=operation), 200)
        if status["status"]["code"] != 100:
            break
    if status["status"]["code"] != 200:
        raise RuntimeError(f"authentication failed: {status}")
    redeemed = ok(await client.post("/auth/token/redeem", headers=operation), 200)
    return redeemed["accessToken"]["token"]  # type: ignore[no-any-return]
