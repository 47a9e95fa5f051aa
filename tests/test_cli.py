"""The command line, including a real ``mockksef serve`` process."""

from __future__ import annotations

import httpx
from click.testing import CliRunner

from mockksef.cli import main
from tests.conftest import mockksef_serve


def test_serve_starts_and_answers_on_every_prefix():
    with mockksef_serve("--seed", "3") as served:
        for prefix in ("/v2", "/test/v2", "/demo/v2", "/prod/v2", "/api/v2"):
            response = httpx.post(f"{served.base}{prefix}/auth/challenge", timeout=5)
            assert response.status_code == 200, (prefix, response.text)
            assert response.headers["content-type"].startswith("application/json")


def test_official_command_reports_pins():
    result = CliRunner().invoke(main, ["official"])
    assert result.exit_code == 0, result.output
    assert "match their SHA-256 pins" in result.output


def test_serve_without_official_files_says_what_to_do(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--official-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "official KSeF files were not found" in result.output


def test_operations_lists_every_official_operation():
    result = CliRunner().invoke(main, ["operations"])
    assert result.exit_code == 0
    assert result.output.count("\n") >= 84
