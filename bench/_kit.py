"""The benchmarks' client side: the bundled client for set-up, one lean path for the hot loops.

Set-up that is not timed (XAdES login, opening an online session) goes through
the bundled client, ``ksefclient.AsyncKsefClient``, as an integrator's code
would. What is timed per invoice needs a client that costs less CPU than the
server, or the client would set the pace: :class:`LeanClient` sends requests
with no client library, either as ASGI calls straight into the app
(in-process) or over keep-alive HTTP/1.1 connections to 127.0.0.1. Request
bodies, invoices and batch packages come from the test kit (``tests/kit.py``),
itself built on ``ksefclient``.
"""

from __future__ import annotations

import abc
import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import httpx

from ksefclient import AsyncKsefClient, CertificateCredentials, OnlineSession
from tests import kit

# -- the lean path --------------------------------------------------------------------------


class LeanResponse:
    """What the benchmarks read of an answer: status, body, and the request for messages."""

    def __init__(self, method: str, url: str, status: int, body: bytes) -> None:
        self.status_code = status
        self.content = body
        self.request = _Request(method, url)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass(frozen=True)
class _Request:
    method: str
    url: str


class LeanClient(abc.ABC):
    """Requests with no client library: a base path, JSON or raw bodies, query, headers.

    Subclasses only carry the bytes (:meth:`_exchange`); answers are read whole.
    """

    def __init__(self, host: str, base: str) -> None:
        self.host = host
        self.base = base

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> LeanResponse:
        body = content if content is not None else b""
        head = [("host", self.host)]
        if json_body is not None:
            body = json.dumps(json_body).encode()
            head.append(("content-type", "application/json"))
        head += [(name.lower(), value) for name, value in (headers or {}).items()]
        head.append(("content-length", str(len(body))))
        # Pre-signed links are absolute: only their path goes on the wire.
        target = "/" + path.split("/", 3)[3] if "://" in path else self.base + path
        if params:
            target = target.split("?", 1)[0] + "?" + urlencode(params)
        status, data = await self._exchange(method, target, head, body)
        return LeanResponse(method, target, status, data)

    @abc.abstractmethod
    async def _exchange(
        self, method: str, target: str, head: list[tuple[str, str]], body: bytes
    ) -> tuple[int, bytes]:
        """Send one request, return the answer's status and body."""

    async def get(self, path: str, **kw: Any) -> LeanResponse:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> LeanResponse:
        return await self.request("POST", path, json_body=json, **kw)


class AsgiClient(LeanClient):
    """ASGI calls straight into the app: what the server alone costs in-process."""

    def __init__(
        self, app: Any, base: str = "/v2", client: tuple[str, int] = ("127.0.0.1", 50000)
    ) -> None:
        super().__init__("testserver", base)
        self.app = app
        self.client = client

    async def _exchange(
        self, method: str, target: str, head: list[tuple[str, str]], body: bytes
    ) -> tuple[int, bytes]:
        path, _, query = target.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(path),
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in head],
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
        return status, b"".join(chunks)


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 answer from a keep-alive connection; it must carry Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
            break
    return int(head[9:12]), await reader.readexactly(length) if length else b""


class SocketClient(LeanClient):
    """The same calls over keep-alive HTTP/1.1 connections to 127.0.0.1 (the mock's
    answers always carry Content-Length)."""

    def __init__(self, base: str, connections: int = 1) -> None:
        parts = urlsplit(base)
        if parts.hostname != "127.0.0.1":
            raise ValueError("benchmarks talk to 127.0.0.1 only")
        port = parts.port or 80
        super().__init__(f"{parts.hostname}:{port}", parts.path)
        self.address = (parts.hostname, port)
        self.size = connections
        self._pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None = None

    async def _connections(
        self,
    ) -> asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        if self._pool is None:
            pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
            for _ in range(self.size):
                pool.put_nowait(await asyncio.open_connection(*self.address))
            self._pool = pool
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            while not self._pool.empty():
                _, writer = self._pool.get_nowait()
                writer.close()

    async def _exchange(
        self, method: str, target: str, head: list[tuple[str, str]], body: bytes
    ) -> tuple[int, bytes]:
        lines = "".join(f"{k}: {v}\r\n" for k, v in head)
        raw = f"{method} {target} HTTP/1.1\r\n{lines}\r\n".encode("latin-1") + body
        pool = await self._connections()
        reader, writer = await pool.get()
        try:
            writer.write(raw)
            return await read_answer(reader)
        finally:
            pool.put_nowait((reader, writer))


def ok(response: Any, status: int) -> Any:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text[:500]}"
        )
    return response.json() if response.content else None


# -- set-up through the bundled client -------------------------------------------------------


@dataclass
class Opened:
    """An authenticated seller with an open online session, ready for the timed loop."""

    ksef: AsyncKsefClient
    headers: dict[str, str]
    session: OnlineSession

    async def close(self) -> None:
        await self.ksef.close_online_session(self.session)


def seller_client(http: httpx.AsyncClient, seller: str) -> AsyncKsefClient:
    """The bundled client for ``seller`` with a self-signed certificate (TEST accepts it);
    the benchmark apps run on the real clock."""
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    signing = kit.person(seller, not_before=day - timedelta(days=1))
    return AsyncKsefClient(
        base_url=str(http.base_url).rstrip("/"),
        http_client=http,
        nip=seller,
        credentials=CertificateCredentials(signing),
    )


async def open_online(http: httpx.AsyncClient, seller: str) -> Opened:
    """XAdES login and an online FA(3) session, through the bundled client."""
    ksef = seller_client(http, seller)
    tokens = await ksef.authenticate()
    session = await ksef.open_online_session()
    return Opened(ksef, kit.bearer(tokens.access_token.token), session)
