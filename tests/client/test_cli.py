"""The ``ksefclient`` command line against the mock on a real socket (real clock)."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ksefclient._cli import main
from ksefclient.xades import personal_certificate
from mockksef import MockConfig, MockState, create_app
from mockksef.server import ThreadedServer
from tests.client.support import NIP_A, NIP_B, invoice, spec

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def live() -> Iterator[ThreadedServer]:
    state = MockState(MockConfig(seed=3, clock_mode="real", rate_limits_enabled=False), spec=spec())
    with ThreadedServer(create_app(state=state)) as server:
        yield server


@pytest.fixture
def ksef(live: ThreadedServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    credentials = personal_certificate(nip=NIP_A)
    cert, key = credentials.to_pem()
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    common = [
        "--base-url", f"{live.url}/v2",
        "--nip", NIP_A,
        "--cert", str(tmp_path / "cert.pem"),
        "--key", str(tmp_path / "key.pem"),
        "--session-file", str(tmp_path / "session.json"),
    ]  # fmt: skip

    def run(*args: str) -> tuple[int, list[dict], str]:
        out, err = io.StringIO(), io.StringIO()
        code = main([*common, *args], stdout=out, stderr=err)
        lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
        return code, lines, err.getvalue() + out.getvalue()

    return run


def test_authenticate_keeps_a_private_session_file(ksef, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, (line,), _ = ksef("authenticate")
    assert code == 0
    assert line["context"] == NIP_A and "Owner" in line["permissions"]
    session = tmp_path / "session.json"
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    assert "accessToken" in json.loads(session.read_text())


def test_send_download_upo_and_import(ksef, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = []
    for number in ("CLI/1", "CLI/2"):
        path = tmp_path / f"{number.replace('/', '-')}.xml"
        path.write_bytes(invoice(NIP_A, f"{number}/{os.getpid()}", buyer=NIP_B))
        files.append(path)
    code, sent, text = ksef("send", *map(str, files))
    assert code == 0, text
    assert [s["status"] for s in sent] == [200, 200]
    session, ksef_number = sent[0]["session"], sent[0]["ksefNumber"]

    code, _, text = ksef("download", ksef_number, "-o", str(tmp_path / "copy.xml"))
    assert code == 0, text
    assert (tmp_path / "copy.xml").read_bytes() == files[0].read_bytes()

    code, _, text = ksef(
        "upo", "--session", session, "--ksef-number", ksef_number, "-o", str(tmp_path / "upo.xml")
    )
    assert code == 0, text
    assert b"Potwierdzenie" in (tmp_path / "upo.xml").read_bytes()
    code, pages, text = ksef("upo", "--session", session, "--all", "-o", str(tmp_path / "upo"))
    assert code == 0 and len(pages) == 1, text

    checkpoint = tmp_path / "checkpoint.json"
    code, lines, text = ksef(
        "import-new", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "in")
    )
    assert code == 0, text
    imported = {line["ksefNumber"] for line in lines if "ksefNumber" in line}
    assert {s["ksefNumber"] for s in sent} <= imported
    assert (tmp_path / "in" / f"{ksef_number}.xml").read_bytes() == files[0].read_bytes()
    code, lines, _ = ksef(
        "import-new", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "in")
    )
    assert code == 0 and lines[-1]["imported"] == 0  # nothing new since the checkpoint


def test_batch_send(ksef, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "b.xml"
    path.write_bytes(invoice(NIP_A, f"CLI/B/{os.getpid()}"))
    code, (line,), text = ksef("send", "--batch", str(path))
    assert code == 0, text
    assert line["status"] == 200 and line["file"] == "b.xml"


def test_errors_are_explained_with_exit_codes(ksef, live: ThreadedServer) -> None:  # type: ignore[no-untyped-def]
    code, _, text = ksef("download", f"{NIP_A}-20260302-0100001AF629-AF")
    assert code == 1 and "21164" in text and "visible" in text
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["--base-url", f"{live.url}/v2", "--token", "A" * 64, "authenticate"],
        stdout=out,
        stderr=err,
    )
    assert code == 2 and "KSeF 1.0" in err.getvalue()


def test_python_dash_m_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ksefclient", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    for command in ("authenticate", "send", "import-new", "download", "upo"):
        assert command in done.stdout
