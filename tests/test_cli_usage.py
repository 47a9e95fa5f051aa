"""Every mockksef command refuses a wrong argument in one line, exit 2, before doing anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mockksef.cli import main

# Nothing listens on port 1: a command that sent a request would say "cannot reach".
NOWHERE = "http://127.0.0.1:1"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["frobnicate"], "mockksef: No such command 'frobnicate'."),
        (["scenario", "frob"], "mockksef scenario: No such command 'frob'."),
        (
            ["scenario", "show", "nope-nope"],
            "mockksef scenario show: nope-nope: no such scenario in the catalogue (17 known)",
        ),
        (
            ["journal", "--url", "ftp://x"],
            "mockksef journal: Invalid value for '--url': 'ftp://x' is not an http:// or "
            "https:// address",
        ),
        (
            ["journal", "--url", NOWHERE, "--environment", "qa"],
            "mockksef journal: Invalid value for '--environment': 'qa' is not one of 'test', "
            "'demo', 'prod'.",
        ),
        (
            ["reset", "--url", NOWHERE, "--env", "mars"],
            "mockksef reset: Invalid value for '--env': 'mars' is not one of 'test', 'demo', "
            "'prod'.",
        ),
        (
            ["clock", "--url", NOWHERE, "--advance", "soon"],
            "mockksef clock: Invalid value for '--advance': 'soon' is not a duration "
            "(seconds, or 90s, 15m, 2h, 1d)",
        ),
        (
            ["contract", "--base-url", f"{NOWHERE}/v2", "--self-signed-nip", "123"],
            "mockksef contract: Invalid value for '--self-signed-nip': '123' is not a NIP "
            "(10 digits, not starting with 0)",
        ),
        (
            ["contract", "--base-url", f"{NOWHERE}/v2", "--tolerate", "auth.challenge=x"],
            "mockksef contract: --tolerate takes OPERATION=CODE[,CODE], got 'auth.challenge=x'",
        ),
        (
            ["sync", "/no/such/dir"],
            "mockksef sync: /no/such/dir: neither a directory nor an http(s) base URL",
        ),
        (["explain"], "mockksef explain: Missing argument 'TEXT...'."),
    ],
)
def test_one_line_and_exit_2(argv: list[str], line: str) -> None:
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2
    assert result.stderr == line + "\n" and result.stdout == ""


def test_the_installed_command_answers_the_same(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("mockksef")), "clock", "--set", "yesterday"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "mockksef clock: Invalid value for '--set': 'yesterday' is not an ISO date-time "
        "(2026-03-02T09:00:00Z)\n"
    )
