"""The served socket: header limits, read timers, idle and trickling connections.

Before (issue 13, uvicorn + httptools as served): an 8 MB header and 100,000
headers were answered 200, and idle or trickling connections were never
closed. These tests run a real uvicorn socket on 127.0.0.1 with short timers;
``bench/http_hardening.py`` measures the same with 500 connections.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from mockksef import MockConfig, MockState, create_app
from mockksef.server import ThreadedServer

HEADER_TIMEOUT = 0.6
KEEP_ALIVE = 0.4
BODY_TIMEOUT = 0.6
# Generous against a loaded CI machine; the timers above are what is tested.
PATIENCE = 5.0


@pytest.fixture
def server(spec) -> Iterator[ThreadedServer]:  # type: ignore[no-untyped-def]
    config = MockConfig(
        seed=1,
        clock_mode="virtual",
        rate_limits_enabled=False,
        header_timeout_seconds=HEADER_TIMEOUT,
        keep_alive_seconds=KEEP_ALIVE,
        body_timeout_seconds=BODY_TIMEOUT,
    )
    with ThreadedServer(create_app(state=MockState(config, spec=spec))) as srv:
        yield srv


def connect(server: ThreadedServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=PATIENCE)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (b"" on a silent close)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def exchange(server: ThreadedServer, request: bytes) -> bytes:
    with connect(server) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-send: the answer is already waiting
        return read_all(sock)


def health_request(*extra: bytes) -> bytes:
    return (
        b"GET /_mock/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        + b"".join(extra)
        + b"\r\n"
    )


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def probe(server: ThreadedServer) -> None:
    """A normal client is answered, and quickly."""
    response = httpx.get(f"{server.url}/_mock/health", timeout=PATIENCE)
    assert response.status_code == 200


def test_headers_within_the_limits_are_served(server) -> None:  # type: ignore[no-untyped-def]
    fields = [b"X-F%d: v\r\n" % i for i in range(97)]  # + Host + Connection = 99
    assert status(exchange(server, health_request(*fields))) == 200
    big = b"X-Big: " + b"a" * 30_000 + b"\r\n"  # under the 32 KiB block
    assert status(exchange(server, health_request(big))) == 200


def test_too_many_header_fields_answer_431(server) -> None:  # type: ignore[no-untyped-def]
    fields = [b"X-F%d: v\r\n" % i for i in range(99)]  # + Host + Connection = 101
    answer = exchange(server, health_request(*fields))
    assert status(answer) == 431 and b"at most 100" in answer
    hundred_thousand = [b"X-F%d: v\r\n" % i for i in range(100_000)]
    assert status(exchange(server, health_request(*hundred_thousand))) == 431
    probe(server)


def test_an_oversized_header_answers_431_before_it_is_read_whole(server) -> None:  # type: ignore[no-untyped-def]
    answer = exchange(server, health_request(b"X-Big: " + b"a" * 8_000_000 + b"\r\n"))
    assert status(answer) == 431 and b"at most 32768 bytes" in answer
    # An endless header line (no CRLF ever): the answer comes while it is still sent.
    with connect(server) as sock:
        sock.sendall(b"GET /_mock/health HTTP/1.1\r\nX-Endless: ")
        sent, answer = 0, b""
        while not answer and sent < 8_000_000:
            sock.sendall(b"a" * 65536)
            sent += 65536
            if select.select([sock], [], [], 0.01)[0]:
                answer = sock.recv(4096)
        assert status(answer) == 431 and sent <= 1_000_000, sent
    probe(server)


def test_an_idle_connection_is_closed(server) -> None:  # type: ignore[no-untyped-def]
    with connect(server) as sock:
        started = time.monotonic()
        assert read_all(sock) == b""  # closed without a word: nothing was asked
        assert time.monotonic() - started < PATIENCE


def test_the_header_deadline_holds_however_slowly_bytes_arrive(server) -> None:  # type: ignore[no-untyped-def]
    with connect(server) as sock:
        sock.settimeout(0.05)
        request = health_request()
        answer = b""
        deadline = time.monotonic() + PATIENCE
        for byte in request[:-2]:  # never finishes the header block
            try:
                sock.sendall(bytes([byte]))
                answer += sock.recv(4096)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if answer or time.monotonic() > deadline:
                break
        sock.settimeout(PATIENCE)
        answer += read_all(sock)
    assert status(answer) == 408


def test_a_second_request_has_its_own_header_deadline(server) -> None:  # type: ignore[no-untyped-def]
    """On a kept-alive connection the next request's headers are timed from its first byte:
    one request answered, then a half header block and silence gets 408."""
    with connect(server) as sock:
        sock.sendall(b"GET /_mock/health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert status(first) == 200
        sock.sendall(b"GET /_mock/health HTTP/1.1\r\nHost: x\r\n")  # no blank line
        started = time.monotonic()
        answer = read_all(sock)
    assert status(answer) == 408
    assert HEADER_TIMEOUT * 0.8 <= time.monotonic() - started < PATIENCE


def test_a_pipelined_half_request_is_not_served_and_the_connection_ends(server) -> None:  # type: ignore[no-untyped-def]
    """A whole request and the start of the next in one write: the first is answered, the
    second, never finished, never reaches the app, and the connection is ended."""
    with connect(server) as sock:
        sock.sendall(
            b"GET /_mock/health HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /_mock/health HTTP/1.1\r\nHost: x\r\n"
        )
        started = time.monotonic()
        answer = read_all(sock)
    assert answer.count(b"HTTP/1.1 200") == 1
    assert answer.count(b"HTTP/1.1") == 1 or b"HTTP/1.1 408" in answer
    assert time.monotonic() - started < PATIENCE


def test_a_keep_alive_connection_is_closed_when_idle(server) -> None:  # type: ignore[no-untyped-def]
    with connect(server) as sock:
        sock.sendall(b"GET /_mock/health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_all(sock)  # the server keeps it open, then ends it after KEEP_ALIVE
    assert status(answer) == 200


def test_a_stalled_body_is_cut_and_a_slow_but_flowing_one_is_served(server) -> None:  # type: ignore[no-untyped-def]
    head = b"POST /_mock/clock HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with connect(server) as sock:
        sock.sendall(head + b"Content-Length: 100\r\n\r\n{")
        assert read_all(sock) == b""  # closed after BODY_TIMEOUT of silence
    body = b'{"advance": "1s"}'
    with connect(server) as sock:
        sock.sendall(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
        # Each pause is shorter than the body timer, the whole is longer.
        for index in range(0, len(body), 4):
            time.sleep(BODY_TIMEOUT / 3)
            sock.sendall(body[index : index + 4])
        assert status(read_all(sock)) == 200


def test_idle_and_trickling_connections_do_not_hold_up_others(server) -> None:  # type: ignore[no-untyped-def]
    """30 idle, 30 trickling headers, 30 stalled bodies; probes meanwhile; all closed."""
    idle = [connect(server) for _ in range(30)]
    trickling = [connect(server) for _ in range(30)]
    stalled = [connect(server) for _ in range(30)]
    for sock in stalled:
        sock.sendall(b"POST /_mock/clock HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
    stop = threading.Event()

    def trickle() -> None:
        request = health_request()
        for position in range(len(request) - 2):
            for sock in trickling:
                try:
                    sock.sendall(request[position : position + 1])
                except OSError:
                    pass
            if stop.wait(0.05):
                return

    feeder = threading.Thread(target=trickle, daemon=True)
    feeder.start()
    try:
        for _ in range(10):
            probe(server)
            time.sleep(0.05)
        closed_by = time.monotonic() + PATIENCE
        for sock in idle + trickling + stalled:
            sock.settimeout(max(0.1, closed_by - time.monotonic()))
            answer = read_all(sock)  # raises TimeoutError if the server kept it open
            assert answer == b"" or status(answer) == 408
    finally:
        stop.set()
        feeder.join()
        for sock in idle + trickling + stalled:
            sock.close()
    probe(server)


def test_the_limits_come_from_the_config(spec) -> None:  # type: ignore[no-untyped-def]
    config = replace(MockConfig(seed=1), max_header_count=5, max_header_bytes=200)
    with ThreadedServer(create_app(state=MockState(config, spec=spec))) as srv:
        assert status(exchange(srv, health_request(b"A: 1\r\n", b"B: 2\r\n"))) == 200
        assert status(exchange(srv, health_request(*[b"A: 1\r\n"] * 4))) == 431
        assert status(exchange(srv, health_request(b"A: " + b"x" * 200 + b"\r\n"))) == 431
