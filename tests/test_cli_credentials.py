"""The credentials a scenario gives a client: printed by ``scenario show`` and ``serve``, written as files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ksefclient import CertificateCredentials, KsefClient
from ksefclient.xades import SigningCredentials
from mockksef.scenarios import resolve
from tests.conftest import mockksef_serve

BIN = Path(sys.executable).parent
NIP = "5265877635"
TOKEN = str(resolve("dataset-small").setup["tokens"][0]["value"])


def run(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


def test_scenario_show_prints_the_token_and_where_the_certificates_come_from() -> None:
    shown = run("mockksef", "scenario", "show", "dataset-small")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    at = lines.index("  credentials:")
    assert lines[at + 1 : at + 5] == [
        "    token erp: context NIP 5265877635 (InvoiceRead, InvoiceWrite, CredentialsRead)",
        f"      {TOKEN}",
        "    certificate acme-seal: NIP 5265877635, context NIP 5265877635",
        "      issued when the scenario starts",
    ]
    assert "--write-credentials DIR` writes them to DIR/dataset-small/" in lines[at + 5]


@pytest.mark.server
def test_serve_writes_and_prints_credentials_that_log_in(tmp_path: Path) -> None:
    folder = tmp_path / "creds" / "dataset-small"
    with mockksef_serve(
        "--scenario", "dataset-small", "--write-credentials", str(tmp_path / "creds")
    ) as served:
        token_file = folder / "test-erp.token"
        assert token_file.read_text() == TOKEN + "\n"
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        logged_in = run(
            "ksefclient",
            "--base-url",
            served.base + "/v2",
            "--nip",
            NIP,
            "authenticate",
            KSEF_TOKEN=token_file.read_text().strip(),
        )
        assert logged_in.returncode == 0, logged_in.stderr
        pem, key, pfx = (folder / f"test-acme-seal{s}" for s in (".pem", ".key.pem", ".pfx"))
        from_pfx = SigningCredentials.from_pkcs12(pfx.read_bytes())
        assert (
            from_pfx.fingerprint
            == SigningCredentials.from_pem(pem.read_bytes(), key.read_bytes()).fingerprint
        )
        with KsefClient(
            base_url=served.base + "/v2",
            nip=NIP,
            credentials=CertificateCredentials.from_files(pem, key),
        ) as client:
            assert client.authenticate().permissions
    banner = served.output
    assert f"      {TOKEN}" in banner and f"      file: {token_file}" in banner
    assert f"      files: {pem}, {key}, {pfx}" in banner
    assert (
        f'try: KSEF_TOKEN="$(cat {token_file})" ksefclient --base-url {served.base}/test/v2'
        in banner
    )


def test_write_credentials_without_a_scenario_is_a_one_line_error(tmp_path: Path) -> None:
    result = run("mockksef", "serve", "--port", "0", "--write-credentials", str(tmp_path))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        "mockksef serve: --write-credentials writes what a scenario sets up: add --scenario NAME\n"
    )
