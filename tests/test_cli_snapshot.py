"""`mockksef snapshot …` as a user runs it: the installed command against `mockksef serve --data`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from mockksef.cli import main
from tests import kit
from tests.conftest import Served, mockksef_serve
from tests.test_cli_serve import serve

MOCKKSEF = str(Path(sys.executable).with_name("mockksef"))
NIP = "5265877635"
TOKEN = "cli-snapshot-admin-token-0123456789"


def mockksef(base: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MOCKKSEF, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "MOCKKSEF_URL": base, **env},
    )


def cli(base: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The same command in-process (a subprocess costs a second of imports), same server."""
    result = CliRunner(env={"MOCKKSEF_URL": base, **env}).invoke(main, list(args))
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def one_line(done: subprocess.CompletedProcess[str], code: int, says: str) -> None:
    assert done.returncode == code, done
    assert done.stdout == "" and done.stderr.count("\n") == 1, done
    assert says in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-snapshot") / "data"


@pytest.fixture(scope="module")
def server(data: Path) -> Iterator[Served]:
    with mockksef_serve("--data", str(data), "--seed", "7") as served:
        yield served


def seed(base: str, invoices: int) -> dict[str, Any]:
    setup = {
        "invoices": [{"count": invoices, "seller": NIP}],
        "tokens": [{"context": NIP, "permissions": ["InvoiceRead"]}],
    }
    answer = httpx.post(
        f"{base}/_mock/seed", json={"environment": "test", "setup": setup}, timeout=30
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["seeded"]["test"]  # type: ignore[no-any-return]


def tokens(base: str) -> int:
    summary = httpx.get(f"{base}/_mock/state", timeout=10).json()
    return int(summary["environments"]["test"]["tokens"]["tokens"])


def test_save_reset_load(server: Served, data: Path) -> None:
    seeded = seed(server.base, 40)
    listed = cli(server.base, "snapshot", "list")
    assert listed.stdout == f"no snapshots in {data / 'snapshots'}\n", listed

    saved = mockksef(server.base, "snapshot", "save", "before-training")
    assert saved.returncode == 0, saved
    assert saved.stdout.startswith("saved before-training: test, demo, prod; invoices test 40;")
    assert (data / "snapshots" / "before-training.ksefsnap").is_file()
    cli(server.base, "snapshot", "save", "test-only", "--env", "test")
    one_line(
        cli(server.base, "snapshot", "save", "before-training"),
        1,
        "mockksef snapshot save: snapshot before-training exists; delete it or save with "
        "overwrite (409)",
    )

    table = cli(server.base, "snapshot", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "ENVIRONMENTS", "INVOICES", "CLOCK", "SIZE", "SAVED"]
    assert table[1].split()[:4] == ["before-training", "test,demo,prod", "test", "40"]
    assert table[2].split()[:2] == ["test-only", "test"]
    assert table[3] == f"(2 in {data / 'snapshots'})"

    assert cli(server.base, "reset").returncode == 0
    assert tokens(server.base) == 0
    loaded = mockksef(server.base, "snapshot", "load", "before-training")
    assert loaded.returncode == 0, loaded
    assert loaded.stdout.startswith("loaded before-training: demo, prod, test; clock 20")
    assert tokens(server.base) == 1
    with httpx.Client(base_url=f"{server.base}/v2", timeout=20) as api:
        session = kit.token_login(api, seeded["tokens"][0]["token"], NIP)
        number = seeded["invoices"][0]["firstKsefNumber"]
        assert api.get(f"/invoices/ksef/{number}", headers=session.headers).status_code == 200

    partly = cli(server.base, "snapshot", "load", "test-only", "--env", "test")
    assert partly.stdout.startswith("loaded test-only: test; clock left at 20"), partly


def test_download_upload_delete(server: Served, tmp_path: Path) -> None:
    cli(server.base, "snapshot", "save", "mailed", "--env", "test")
    target = tmp_path / "mail.ksefsnap"
    down = cli(server.base, "snapshot", "download", "mailed", str(target))
    assert down.returncode == 0 and down.stdout.startswith(f"downloaded mailed to {target} ("), down
    assert target.stat().st_size > 0
    into_dir = cli(server.base, "snapshot", "download", "mailed", str(tmp_path))
    assert into_dir.returncode == 0 and (tmp_path / "mailed.ksefsnap").is_file()

    up = cli(server.base, "snapshot", "upload", str(target), "received")
    assert up.returncode == 0 and up.stdout.startswith("uploaded received: test;"), up
    one_line(cli(server.base, "snapshot", "upload", str(target), "received"), 1, "(409)")
    again = cli(server.base, "snapshot", "upload", str(target), "received", "--overwrite")
    assert again.returncode == 0, again

    junk = tmp_path / "notes.txt"
    junk.write_text("not a snapshot\n" * 100)
    one_line(
        cli(server.base, "snapshot", "upload", str(junk), "junk"),
        1,
        "mockksef snapshot upload: the upload: not a readable mockksef state file",
    )
    assert cli(server.base, "snapshot", "delete", "received").stdout == "deleted received\n"
    one_line(
        cli(server.base, "snapshot", "delete", "received"),
        1,
        "mockksef snapshot delete: no snapshot named received in ",
    )
    one_line(
        cli(server.base, "snapshot", "download", "received", str(tmp_path / "x")),
        1,
        "(404)",
    )
    assert not (tmp_path / "x").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mail.ksefsnap",
        "mailed.ksefsnap",
        "notes.txt",
    ]


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["snapshot", "save", "a b"],
            "mockksef snapshot save: Invalid value for 'NAME': 'a b': use 1-64 letters, digits, "
            "'.', '_' or '-'",
        ),
        (
            ["snapshot", "load", "x", "--env", "mars"],
            "mockksef snapshot load: Invalid value for '--env': 'mars' is not one of 'test', "
            "'demo', 'prod'.",
        ),
        (
            ["snapshot", "upload", "/no/such/file", "x"],
            "mockksef snapshot upload: Invalid value for 'FILE': File '/no/such/file' does not "
            "exist.",
        ),
        (
            ["snapshot", "list", "--url", "http://127.0.0.1:1"],
            "mockksef snapshot list: cannot reach http://127.0.0.1:1: ",
        ),
        (["snapshot", "frob"], "mockksef snapshot: No such command 'frob'."),
    ],
)
def test_a_wrong_argument_is_one_line_and_exit_2(argv: list[str], line: str) -> None:
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(line) and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


def test_snapshot_dir_and_the_admin_token(tmp_path: Path) -> None:
    snaps = tmp_path / "snaps"
    with serve("--snapshot-dir", str(snaps), "--admin-token", TOKEN) as served:
        one_line(
            cli(served.base, "snapshot", "list"),
            1,
            "mockksef snapshot list: ",
        )
        saved = cli(served.base, "snapshot", "save", "s", MOCKKSEF_ADMIN_TOKEN=TOKEN)
        assert saved.returncode == 0, saved
        assert (snaps / "s.ksefsnap").is_file()
