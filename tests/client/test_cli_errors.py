"""``ksefclient`` says what went wrong in one line of plain words, with an exit code that tells."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ksefclient._cli import main
from mockksef import MockState, create_app
from tests.client.support import NIP_A, NIP_B, invoice

BIN = Path(sys.executable).parent
TOKEN = "20260201-EC-D6BD9E03FB-68AD3F3626-8C|nip-5265877635|" + "ab" * 32


def ksefclient(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KSEF_")}
    return subprocess.run(
        [str(BIN / "ksefclient"), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("authenticate",), "give credentials: a KSeF token (--token or KSEF_TOKEN)"),
        (("--cert", "c.pem", "authenticate"), "--cert c.pem: no such file"),
        (("--token", TOKEN, "--env", "qa", "authenticate"), "--env qa: use test, demo or prod"),
        (("--token", TOKEN, "--nip", "123", "authenticate"), "--nip 123: a NIP has 10 digits"),
        (("--token", TOKEN, "send", "missing.xml"), "no such invoice file: missing.xml"),
        (("--token", TOKEN, "frobnicate"), "invalid choice: 'frobnicate'"),
        (("--token", TOKEN, "import-new", "--out", "x"), "the following arguments are required"),
        (
            ("--token", TOKEN, "import-new", "--checkpoint", "c", "--out", "x", "--since", "May"),
            "--since May: not an ISO date-time",
        ),
        (("--token", "A" * 64, "authenticate"), "KSeF 1.0 authorisation token"),
    ],
)
def test_wrong_arguments_are_one_plain_line_and_exit_2(
    args: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(BIN / "ksefclient"), *args],
        env={k: v for k, v in os.environ.items() if not k.startswith("KSEF_")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("ksefclient") and result.stderr.count("\n") == 1
    assert message in result.stderr
    # No Python in the words a user reads: no class names, reprs or tracebacks.
    for python in ("Traceback", "Error:", "=(", "(...)", "context="):
        assert python not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_dead_server_is_reported_within_ten_seconds() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    started = time.monotonic()
    result = ksefclient(
        "--base-url", f"http://127.0.0.1:{port}/v2", "authenticate", KSEF_TOKEN=TOKEN
    )
    assert time.monotonic() - started < 10
    assert result.returncode == 3
    assert result.stderr == (
        f"ksefclient: cannot connect to http://127.0.0.1:{port}/v2 (connection refused): "
        "is the server running there?\n"
    )


def test_send_exits_1_when_ksef_rejects_an_invoice(mock: MockState, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.xml", tmp_path / "bad.xml"
    good.write_bytes(invoice(NIP_A, "CLI/OK/1", buyer=NIP_B))
    bad.write_bytes(invoice(NIP_A, "CLI/BAD/1", buyer=NIP_B).replace(b"<P_1>", b"<P_1>x"))
    from mockksef.seeding import add_certificate

    seal = add_certificate(mock.env("test"), {"nip": NIP_A}, self_signed=True)
    (tmp_path / "seal.pem").write_bytes(seal.certificate_pem)
    (tmp_path / "seal.key").write_bytes(seal.private_key_pem or b"")
    out, err = io.StringIO(), io.StringIO()
    with TestClient(create_app(state=mock)) as http:
        code = main(
            ["--base-url", "http://testserver/v2", "--nip", NIP_A]
            + ["--cert", str(tmp_path / "seal.pem"), "--key", str(tmp_path / "seal.key")]
            + ["send", str(good), str(bad)],
            stdout=out,
            stderr=err,
            http_client=http,
            clock=mock.clock.timestamp,
            sleep=mock.clock.advance,
        )
    statuses = [json.loads(line)["status"] for line in out.getvalue().splitlines()]
    assert statuses[0] == 200 and statuses[1] >= 400
    assert code == 1
    assert err.getvalue() == "ksefclient: KSeF did not accept 1 of 2 invoices: bad.xml\n"
