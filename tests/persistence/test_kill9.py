"""``kill -9`` of a ``mockksef serve --data DIR`` under load loses nothing it acknowledged.

A real server process; client threads send invoices in online sessions as
fast as it takes them and note every 202 (and the KSeF number they read right
after it). The server is SIGKILLed while they send, restarted on the same
directory, and every acknowledged invoice must be there: the same reference,
KSeF number, status and body. The sessions stay open, take more invoices
(ordinal numbers go on, no KSeF number repeats) and the JWTs of before still work.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from tests import kit

THREADS = 6
LOAD_SECONDS = 2.5
MIN_ACKNOWLEDGED = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(directory: Path, log: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m mockksef serve --data DIR`` on 127.0.0.1:port, healthy on entry."""
    command = [
        sys.executable,
        "-m",
        "mockksef",
        "serve",
        "--port",
        str(port),
        "--data",
        str(directory),
        "--seed",
        "1414",
        "--clock",
        "virtual",
        "--clock-start",
        "2026-03-02T09:00:00Z",
        "--no-rate-limits",
        "--log-level",
        "warning",
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/_mock/health", timeout=1)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


@dataclass
class Acknowledged:
    session: str
    reference: str
    xml: bytes
    status: dict[str, Any] | None = None  # read after the 202, before the kill


@dataclass
class Sender:
    nip: str
    headers: dict[str, str] = field(default_factory=dict)
    session: str = ""
    crypto: kit.Crypto = field(default_factory=kit.Crypto)
    acknowledged: list[Acknowledged] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def prepare(base: str, sender: Sender) -> None:
    with httpx.Client(base_url=base + "/v2", timeout=20) as client:
        sender.headers = kit.xades_login(client, sender.nip).headers
        sender.session = kit.open_online(client, sender.headers, sender.crypto)


def send_until_dead(base: str, sender: Sender, stop: threading.Event) -> None:
    """Send invoices until the server dies; note every 202 and what was read after it."""
    with httpx.Client(base_url=base + "/v2", timeout=20) as client:
        n = 0
        while not stop.is_set():
            xml = kit.fa3(sender.nip, f"K{n}")
            n += 1
            try:
                sent = kit.send(client, sender.headers, sender.session, sender.crypto, xml)
            except httpx.TransportError as exc:
                sender.errors.append(type(exc).__name__)
                return
            if sent.status_code != 202:
                sender.errors.append(f"{sent.status_code} {sent.text[:200]}")
                return
            item = Acknowledged(sender.session, sent.json()["referenceNumber"], xml)
            sender.acknowledged.append(item)
            try:
                read = client.get(
                    f"/sessions/{sender.session}/invoices/{item.reference}", headers=sender.headers
                )
            except httpx.TransportError as exc:
                sender.errors.append(type(exc).__name__)
                return
            if read.status_code == 200:
                item.status = read.json()


def session_invoices(client: httpx.Client, sender: Sender) -> list[dict[str, Any]]:
    """What the restarted server holds of a sender's session (one page takes all of it)."""
    listed = client.get(
        f"/sessions/{sender.session}/invoices", headers=sender.headers, params={"pageSize": 1000}
    )
    assert listed.status_code == 200, listed.text
    return listed.json()["invoices"]  # type: ignore[no-any-return]


def without_host(status: dict[str, Any]) -> dict[str, Any]:
    """A status as a client compares it across servers: URLs without scheme and host."""
    out = dict(status)
    if "upoDownloadUrl" in out:
        parts = urlsplit(out["upoDownloadUrl"])
        out["upoDownloadUrl"] = urlunsplit(("", "", parts.path, parts.query, ""))
    return out


def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data"
    log = tmp_path / "server.log"
    senders = [Sender(kit.random_nip(1470 + i)) for i in range(THREADS)]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(data, log, port) as process:
        for sender in senders:
            prepare(base, sender)
        stop = threading.Event()
        threads = [
            threading.Thread(target=send_until_dead, args=(base, s, stop), daemon=True)
            for s in senders
        ]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        while True:
            count = sum(len(s.acknowledged) for s in senders)
            if time.monotonic() - started >= LOAD_SECONDS and count >= MIN_ACKNOWLEDGED:
                break
            assert time.monotonic() - started < 30, f"only {count} invoices acknowledged"
            assert process.poll() is None, log.read_text()
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
            assert not thread.is_alive()
    assert process.returncode == -signal.SIGKILL
    # Every sender was still sending when the server died.
    for sender in senders:
        assert sender.errors, sender.nip
        assert all(not e[0].isdigit() for e in sender.errors), sender.errors
    acknowledged = [a for s in senders for a in s.acknowledged]
    assert len(acknowledged) >= MIN_ACKNOWLEDGED
    read_before = [a for a in acknowledged if a.status is not None]
    assert len(read_before) >= len(acknowledged) - THREADS
    assert all(a.status["status"]["code"] == 200 for a in read_before)  # type: ignore[index]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with serve(data, log, port), httpx.Client(base_url=base + "/v2", timeout=20) as client:
        numbers: set[str] = set()
        for sender in senders:
            on_file = {i["referenceNumber"]: i for i in session_invoices(client, sender)}
            for item in sender.acknowledged:
                assert item.reference in on_file, (sender.nip, item.reference)
                status = client.get(
                    f"/sessions/{item.session}/invoices/{item.reference}", headers=sender.headers
                )
                assert status.status_code == 200, status.text
                now = status.json()
                assert now["status"]["code"] == 200, now
                if item.status is not None:
                    assert without_host(now) == without_host(item.status)
                body = client.get(f"/invoices/ksef/{now['ksefNumber']}", headers=sender.headers)
                assert body.status_code == 200, body.text
                assert body.content == item.xml
                assert now["ksefNumber"] not in numbers
                numbers.add(now["ksefNumber"])
            # Nothing on file twice; what is on file beyond the acknowledged was in flight.
            ordinals = [i["ordinalNumber"] for i in on_file.values()]
            assert len(ordinals) == len(set(ordinals))
            assert len(on_file) - len(sender.acknowledged) in (0, 1)

        # The sessions take more: ordinal numbers go on, KSeF numbers never repeat.
        every: set[str] = set()
        for sender in senders:
            listed = session_invoices(client, sender)
            every |= {i["ksefNumber"] for i in listed if "ksefNumber" in i}
            highest = max(i["ordinalNumber"] for i in listed)
            for n in range(2):
                xml = kit.fa3(sender.nip, f"after-{n}")
                ref = kit.send_ok(client, sender.headers, sender.session, sender.crypto, xml)
                status = kit.invoice_status(client, sender.headers, sender.session, ref)
                assert status["status"]["code"] == 200, status
                assert status["ordinalNumber"] == highest + 1 + n
                assert status["ksefNumber"] not in every
                every.add(status["ksefNumber"])
