"""The state file as a file: versions, damage, migrations, the lock, the loader's guard, snapshots.

* a file of a newer format, a damaged file and a foreign SQLite file are refused
  with one line, and left byte for byte as they were;
* a migration is honest: a real file of the older format, a step that changes
  the schema, run once, in a transaction (a failing step leaves the file as it
  was), the version bumped after each step;
* a second server on a locked directory says which process holds it (exit 2);
* a crafted pickle (``os.system``, ``builtins.getattr``, a dunder method, a
  foreign class reached through a mockksef module) is refused and nothing runs;
* a snapshot of 20,000 seeded invoices loads back equal, page by page.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import pickle
import socket
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from mockksef import seeding
from mockksef.environments import Env
from mockksef.models import ContextIdentifier
from mockksef.persistence import codec, database
from mockksef.persistence.database import StoreError
from mockksef.persistence.snapshots import Snapshots
from tests import kit
from tests.conftest import auth_headers
from tests.persistence.support import client_of, metadata_page, new_state, opened

MOCKKSEF = [sys.executable, "-m", "mockksef", "serve", "--log-level", "warning"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def files_of(directory: Path) -> dict[str, str]:
    """Every file of a data directory and its hash (the lock file is the server's own)."""
    return {p.name: digest(p) for p in sorted(directory.iterdir()) if p.name != "lock"}


def make_data_dir(directory: Path, spec: Any, invoices: int = 3) -> list[str]:
    """A real data directory (closed cleanly) holding ``invoices`` sent over the API."""
    nip = kit.random_nip(1450)
    with opened(directory, spec) as (client, _state):
        headers = kit.xades_login(client, nip).headers
        crypto = kit.Crypto()
        ref = kit.open_online(client, headers, crypto)
        refs = [
            kit.send_ok(client, headers, ref, crypto, kit.fa3(nip, f"F{i}"))
            for i in range(invoices)
        ]
        numbers = [kit.invoice_status(client, headers, ref, r)["ksefNumber"] for r in refs]
    assert (
        not (directory / "state.sqlite3-wal").exists()
        or (directory / "state.sqlite3-wal").stat().st_size == 0
    )
    return numbers


def set_meta(path: Path, journal: str = "wal", **values: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA journal_mode={journal}")
    with conn:
        for key, value in values.items():
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_once(directory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``mockksef serve --data DIR`` expected to refuse before it listens."""
    return subprocess.run(
        [*MOCKKSEF, "--port", str(free_port()), "--data", str(directory), *extra],
        capture_output=True,
        text=True,
        timeout=30,
    )


def one_line_exit_2(result: subprocess.CompletedProcess[str], says: str) -> str:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mockksef serve: --data ") and says in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


# -- versions and damage ------------------------------------------------------------------


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_a_newer_format_is_refused_and_left_untouched(tmp_path, spec, journal) -> None:  # type: ignore[no-untyped-def]
    make_data_dir(tmp_path, spec)
    data = tmp_path / "state.sqlite3"
    # A newer mockksef might keep its file in another journal mode: still untouched.
    set_meta(data, journal, format=str(database.FORMAT + 1), written_by="99.0.0")
    before = files_of(tmp_path)

    with pytest.raises(StoreError) as refused:
        new_state(tmp_path, spec)
    message = str(refused.value)
    assert "written by a newer mockksef (99.0.0, format" in message
    assert f"reads formats up to {database.FORMAT}" in message and "untouched" in message
    assert files_of(tmp_path) == before

    line = one_line_exit_2(serve_once(tmp_path), "written by a newer mockksef")
    assert str(data) in line
    assert files_of(tmp_path) == before
    # The lock was released: an in-process open is refused for the version, not the lock.
    with pytest.raises(StoreError, match="newer"):
        new_state(tmp_path, spec)


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path, spec, journal) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "state.sqlite3"
    conn = sqlite3.connect(data)
    conn.execute(f"PRAGMA journal_mode={journal}")
    with conn:
        conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT)")
        conn.execute("INSERT INTO accounts(owner) VALUES ('someone else')")
    conn.close()
    before = files_of(tmp_path)
    with pytest.raises(StoreError, match="not a mockksef state file"):
        new_state(tmp_path, spec)
    assert files_of(tmp_path) == before


@pytest.mark.parametrize("damage", ["garbage", "truncated", "scribbled"])
def test_a_damaged_file_is_refused(tmp_path, spec, damage) -> None:  # type: ignore[no-untyped-def]
    make_data_dir(tmp_path, spec, invoices=20)
    data = tmp_path / "state.sqlite3"
    raw = bytearray(data.read_bytes())
    page = int.from_bytes(raw[16:18], "big")
    if damage == "garbage":
        raw = bytearray(os.urandom(len(raw)))
    elif damage == "truncated":
        raw = raw[: len(raw) // 2 + 100]
    else:
        # Every page after the first two: b-tree headers gone, not just row contents.
        for start in range(2 * page, len(raw), page):
            raw[start : start + 16] = b"\xa5" * 16
    data.write_bytes(bytes(raw))
    before = files_of(tmp_path)

    with pytest.raises(StoreError) as refused:
        new_state(tmp_path, spec)
    assert str(data) in str(refused.value) or "stored state" in str(refused.value)
    assert files_of(tmp_path) == before
    result = serve_once(tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# -- migrations -----------------------------------------------------------------------------


def columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def test_an_older_format_is_migrated_once_in_a_transaction(tmp_path, spec, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    numbers = make_data_dir(tmp_path, spec)
    data = tmp_path / "state.sqlite3"
    assert database.read_meta(sqlite3.connect(data), "format") == str(database.FORMAT)
    old = database.FORMAT
    calls: list[tuple[int, bool, str | None]] = []

    def add_origin(conn: sqlite3.Connection) -> None:
        calls.append((old, conn.in_transaction, database.read_meta(conn, "format")))
        conn.execute("ALTER TABLE invoices ADD COLUMN origin TEXT")
        conn.execute("UPDATE invoices SET origin = 'before-migration'")

    def add_index(conn: sqlite3.Connection) -> None:
        calls.append((old + 1, conn.in_transaction, database.read_meta(conn, "format")))
        conn.execute("CREATE INDEX invoices_origin ON invoices(origin)")

    monkeypatch.setattr(database, "FORMAT", old + 2)
    monkeypatch.setattr(database, "MIGRATIONS", {old: add_origin, old + 1: add_index})

    with opened(tmp_path, spec) as (client, _state):
        # Each step ran once, inside a transaction, seeing the version the previous one wrote.
        assert calls == [(old, True, str(old)), (old + 1, True, str(old + 1))]
        fresh = kit.xades_login(client, kit.random_nip(1450)).headers
        for number in numbers:
            assert client.get(f"/invoices/ksef/{number}", headers=fresh).status_code == 200
    conn = sqlite3.connect(data)
    assert database.read_meta(conn, "format") == str(old + 2)
    assert "origin" in columns(conn, "invoices")
    assert {row[0] for row in conn.execute("SELECT DISTINCT origin FROM invoices")} == {
        "before-migration"
    }
    assert conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='index' AND name='invoices_origin'"
    ).fetchone()
    conn.close()

    with opened(tmp_path, spec):
        pass
    assert len(calls) == 2  # not again


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path, spec, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    make_data_dir(tmp_path, spec)
    data = tmp_path / "state.sqlite3"
    old = database.FORMAT

    def half_done(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE invoices ADD COLUMN origin TEXT")
        conn.execute("SELECT * FROM no_such_table")  # fails after a schema change

    monkeypatch.setattr(database, "FORMAT", old + 1)
    monkeypatch.setattr(database, "MIGRATIONS", {old: half_done})
    with pytest.raises(StoreError):
        new_state(tmp_path, spec)
    conn = sqlite3.connect(data)
    assert database.read_meta(conn, "format") == str(old)
    assert "origin" not in columns(conn, "invoices")
    conn.close()

    # No step for a version: refused, naming both versions.
    monkeypatch.setattr(database, "MIGRATIONS", {})
    with pytest.raises(StoreError, match=f"format {old} cannot be migrated to {old + 1}"):
        new_state(tmp_path, spec)


# -- the lock -------------------------------------------------------------------------------


def test_a_locked_directory_names_the_process_holding_it(tmp_path, spec) -> None:  # type: ignore[no-untyped-def]
    with opened(tmp_path, spec):
        script = (
            "import sys\n"
            "from mockksef.persistence.database import StoreError, open_directory\n"
            "try:\n"
            f"    open_directory({str(tmp_path)!r})\n"
            "except StoreError as exc:\n"
            "    print(exc)\n"
            "    sys.exit(3)\n"
        )
        other = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        assert other.returncode == 3, other
        assert f"in use by another mockksef (pid {os.getpid()})" in other.stdout

        line = one_line_exit_2(serve_once(tmp_path), f"(pid {os.getpid()})")
        assert "stop it or choose another --data directory" in line
    # Released with the state: the next server opens it.
    with opened(tmp_path, spec) as (_client, state):
        assert state.persistence.restored


# -- the loader's guard ---------------------------------------------------------------------


def op_global(module: str, name: str) -> bytes:
    return (
        b"\x8c"
        + bytes([len(module)])
        + module.encode()
        + b"\x8c"
        + bytes([len(name)])
        + name.encode()
        + b"\x93"
    )


def op_str(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def call(module: str, name: str, *args: bytes) -> bytes:
    """Pickle opcodes that call ``module.name(*args)`` (protocol 5, dotted names allowed)."""
    return op_global(module, name) + b"(" + b"".join(args) + b"tR"


def crafted(body: bytes) -> bytes:
    return b"\x80\x05" + body + b"."


def hostile_pickles(marker: Path, victim: Path) -> dict[str, bytes]:
    context = pickle.dumps(ContextIdentifier("Nip", "5265877635"), protocol=5)[2:-1]
    environments = op_global("mockksef.environments", "Env") + op_str("test") + b"\x85R"
    return {
        "os.system": crafted(call("os", "system", op_str(f"touch {marker}"))),
        "posix.system": crafted(call("posix", "system", op_str(f"touch {marker}"))),
        "protocol-0 os.system": f"cos\nsystem\n(S'touch {marker}'\ntR.".encode(),
        "builtins.getattr": crafted(
            call(
                "builtins",
                "getattr",
                call("builtins", "set"),
                op_str("__class__"),
            )
        ),
        "builtins.eval": crafted(call("builtins", "eval", op_str(f"open({str(marker)!r}, 'w')"))),
        "dunder bound method": crafted(
            call("mockksef.persistence.codec", "bound_method", context, op_str("__init__"))
        ),
        "private bound method": crafted(
            call("mockksef.persistence.codec", "bound_method", context, op_str("_replace"))
        ),
        "a domain module's function": crafted(
            call("mockksef.clock", "parse_datetime", op_str("2026-01-01T00:00:00Z"))
        ),
        # A foreign class reached through a mockksef module that imports it.
        "io.FileIO via a domain module": crafted(
            call(
                "mockksef.services.sessions.archive", "io.FileIO", op_str(str(victim)), op_str("w")
            )
        ),
        "zipfile.ZipFile via a domain module": crafted(
            call(
                "mockksef.services.sessions.archive",
                "zipfile.ZipFile",
                op_str(str(victim)),
                op_str("w"),
            )
        ),
        "a type's metaclass": crafted(
            call("mockksef.models", "ContextIdentifier.__class__", op_str("x"))
        ),
        # The state root is always written as a reference, never built from a pickle
        # (building one opens a data directory wherever the pickle says).
        "MockState": crafted(
            op_global("mockksef.state", "MockState")
            + call(
                "mockksef.config",
                "MockConfig",
                environments + b"\x85",  # (Env.TEST,)
                environments,
                b"NN",
                op_str(str(marker)),  # data_dir
            )
            + b"\x85R"
        ),
    }


def test_crafted_pickles_are_refused_and_nothing_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "pwned"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    loaded: dict[str, Any] = {}
    for name, data in hostile_pickles(marker, victim).items():
        try:
            loaded[name] = codec.loads(data)
        except StoreError:
            pass
    assert loaded == {}, f"loaded: {sorted(loaded)}"
    assert not marker.exists()
    assert victim.read_text() == "precious"
    # What mockksef itself writes still loads.
    assert codec.loads(codec.dumps(ContextIdentifier("Nip", "5265877635"))) == ContextIdentifier(
        "Nip", "5265877635"
    )


def test_a_crafted_blob_in_a_data_directory_is_refused(tmp_path, spec) -> None:  # type: ignore[no-untyped-def]
    make_data_dir(tmp_path, spec, invoices=1)
    marker = tmp_path / "pwned"
    conn = sqlite3.connect(tmp_path / "state.sqlite3")
    with conn:
        conn.execute(
            "UPDATE envs SET blob=? WHERE env='test'",
            (hostile_pickles(marker, marker)["os.system"],),
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with pytest.raises(StoreError, match="os.system"):
        new_state(tmp_path, spec)
    assert not marker.exists()
    result = serve_once(tmp_path)
    assert result.returncode == 2 and "os.system" in result.stderr, result
    assert not marker.exists()


@pytest.mark.parametrize(
    ("column", "value"),
    [("blob", pickle.dumps(5)), ("hwm", "not a date")],
)
def test_rows_that_decode_but_do_not_fit_are_refused_in_one_line(  # type: ignore[no-untyped-def]
    tmp_path, spec, column, value
) -> None:
    """A plain value where an environment belongs, a hand-edited date: one StoreError,
    and at `serve --data` one line and exit 2, never a traceback."""
    make_data_dir(tmp_path, spec, invoices=1)
    conn = sqlite3.connect(tmp_path / "state.sqlite3")
    with conn:
        conn.execute(f"UPDATE envs SET {column}=? WHERE env='test'", (value,))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with pytest.raises(StoreError, match="stored state cannot be read"):
        new_state(tmp_path, spec)
    result = serve_once(tmp_path)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


# -- snapshots ------------------------------------------------------------------------------


def all_metadata(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every invoice of the context as Subject1, day by day (a query stops at 10,000)."""
    out: list[dict[str, Any]] = []
    # Seeded invoices span the 30 days up to the clock (2026-03-02 09:00).
    days = [(date(2026, 1, 30) + timedelta(days=n)).isoformat() for n in range(33)]
    for first, last in itertools.pairwise(days):
        offset = 0
        while True:
            day = {"dateType": "Invoicing", "from": f"{first}T00:00:00Z", "to": f"{last}T00:00:00Z"}
            page = metadata_page(client, headers, day, offset, 250)
            assert not page.get("isTruncated"), (first, page.get("isTruncated"))
            out.extend(page["invoices"])
            if not page["hasMore"]:
                break
            offset += 1
    return out


def test_a_snapshot_of_20000_invoices_loads_back_equal(tmp_path, spec) -> None:  # type: ignore[no-untyped-def]
    nip = kit.random_nip(1460)
    source = new_state(None, spec)
    seeding.add_invoices(source.env(Env.TEST), 20_000, seller=nip, seed=7)
    with client_of(source) as client:
        before = all_metadata(client, auth_headers(source, nip, ("InvoiceRead",)))
    numbers = [m["ksefNumber"] for m in before]
    assert len(numbers) == len(set(numbers)) == 20_000

    shelf = Snapshots(tmp_path / "snapshots")
    shelf.save(source, "big")
    assert shelf.describe("big")["invoices"] == {"test": 20_000}

    target = new_state(None, spec, seed=99)
    shelf.load(target, "big")
    with client_of(target) as client:
        headers = auth_headers(target, nip, ("InvoiceRead",))
        after = all_metadata(client, headers)
        assert after == before
        sample = numbers[:: len(numbers) // 40]
        with client_of(source) as original:
            old_headers = auth_headers(source, nip, ("InvoiceRead",))
            for number in sample:
                theirs = original.get(f"/invoices/ksef/{number}", headers=old_headers)
                ours = client.get(f"/invoices/ksef/{number}", headers=headers)
                assert ours.status_code == theirs.status_code == 200
                assert ours.content == theirs.content
