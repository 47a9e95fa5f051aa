"""The SQLite file under ``--data DIR`` and in every snapshot: tables, version, lock.

One file, ``DIR/state.sqlite3``, in WAL mode with ``synchronous=NORMAL``: a
commit is in the operating system's hands before the answer leaves, so a
``kill -9`` of the server loses nothing acknowledged (a power cut may lose the
last commits, never the file). Snapshots are the same schema in a single
self-contained file (no WAL), so one can be mailed.

Tables (``env`` is the environment name):

* ``meta(key, value)``: ``format`` (the schema version below), the mockksef
  version that wrote it, what the file is (``data`` or ``snapshot``);
* ``root(key, blob)``: clock, scenarios, environment generations;
* ``envs(env, generation, hwm, blob)``: everything of one environment that is
  not below, pickled (tokens, permissions, auth operations, limits, keys…);
* ``sessions(env, ref, blob)``: one row per session, without its invoices;
* ``session_invoices(env, seq, ref, blob)``: every invoice a session received;
* ``invoices(env, seq, ksef, blob)``: every invoice given a KSeF number;
* ``invoice_chunks(env, first, last, blob)``: many invoices in one row
  (snapshots and compaction: one load call instead of one per invoice);
* ``dictionaries(env, form, blob)``: the deflate dictionaries stored invoices
  were compressed against;
* ``generators(env, id, blob)``: the generators seeded invoices render their
  documents from (parties, word bank), each written once and referred to by
  its rows (inline, each row would carry the whole pool of parties).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

# The schema version written by this mockksef; older files are migrated on open.
FORMAT = 3
DATA_FILE = "state.sqlite3"
LOCK_FILE = "lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS root (key TEXT PRIMARY KEY, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS envs (
    env TEXT PRIMARY KEY, generation INTEGER NOT NULL, hwm TEXT, blob BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    env TEXT NOT NULL, ref TEXT NOT NULL, blob BLOB NOT NULL, PRIMARY KEY (env, ref)
);
CREATE TABLE IF NOT EXISTS session_invoices (
    env TEXT NOT NULL, seq INTEGER NOT NULL, ref TEXT NOT NULL, blob BLOB NOT NULL,
    PRIMARY KEY (env, seq)
);
CREATE TABLE IF NOT EXISTS invoices (
    env TEXT NOT NULL, seq INTEGER NOT NULL, ksef TEXT NOT NULL, blob BLOB NOT NULL,
    PRIMARY KEY (env, seq)
);
CREATE TABLE IF NOT EXISTS invoice_chunks (
    env TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, blob BLOB NOT NULL,
    PRIMARY KEY (env, first)
);
CREATE TABLE IF NOT EXISTS dictionaries (
    env TEXT NOT NULL, form TEXT NOT NULL, blob BLOB NOT NULL, PRIMARY KEY (env, form)
);
CREATE TABLE IF NOT EXISTS auth_operations (
    env TEXT NOT NULL, ref TEXT NOT NULL, blob BLOB NOT NULL, PRIMARY KEY (env, ref)
);
CREATE TABLE IF NOT EXISTS generators (
    env TEXT NOT NULL, id INTEGER NOT NULL, blob BLOB NOT NULL, PRIMARY KEY (env, id)
);
"""

# from-version -> the step that brings a file one version up (run in one transaction).
Migration = Callable[[sqlite3.Connection], None]


def _add_generators(conn: sqlite3.Connection) -> None:
    # Format 1 pickled a seeded row's generator inline; such rows still read.
    conn.execute(
        "CREATE TABLE IF NOT EXISTS generators (env TEXT NOT NULL, id INTEGER NOT NULL, "
        "blob BLOB NOT NULL, PRIMARY KEY (env, id))"
    )


def _add_auth_operations(conn: sqlite3.Connection) -> None:
    # Format 3: authentication operations in their own rows. A format-2 file keeps
    # them inside the environment pickle; the first commit after loading it moves
    # them (the persister writes every operation that has no row yet).
    conn.execute(
        "CREATE TABLE IF NOT EXISTS auth_operations (env TEXT NOT NULL, ref TEXT NOT NULL, "
        "blob BLOB NOT NULL, PRIMARY KEY (env, ref))"
    )


MIGRATIONS: dict[int, Migration] = {1: _add_generators, 2: _add_auth_operations}


def _version() -> str:
    # Imported late: the package's __init__ imports the state, which imports this.
    from mockksef import __version__

    return __version__


class StoreError(Exception):
    """A data directory or snapshot that cannot be used: one line that says why."""


def connect(path: Path, *, wal: bool = True) -> sqlite3.Connection:
    """Open (or create) a state file and bring it to :data:`FORMAT`.

    Refuses, with :class:`StoreError`, a file that is not a mockksef state file,
    one written by a newer mockksef (nothing is overwritten), or one that is
    damaged or locked.
    """
    existed = path.exists() and path.stat().st_size > 0
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=2.0)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open ({exc})") from None
    try:
        # An existing file is identified before anything is written to it (switching
        # to WAL rewrites its header): a foreign or newer file is left as it was.
        if existed:
            _check(conn, path)
        if wal:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{path}: cannot switch to WAL mode (got {mode})")
            # Durable against a killed process at every commit; fsync at checkpoints.
            conn.execute("PRAGMA synchronous=NORMAL")
        if not existed:
            with transaction(conn):
                for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                    conn.execute(statement)
                write_meta(conn, "format", str(FORMAT))
                write_meta(conn, "written_by", _version())
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(f"{path}: not a readable mockksef state file ({exc})") from None
    except StoreError:
        conn.close()
        raise
    return conn


def read_format(conn: sqlite3.Connection, label: str | Path) -> int:
    """The file's format version; ``StoreError`` when it names none."""
    found = read_meta(conn, "format")
    if found is None or not found.isdigit():
        raise StoreError(f"{label}: not a mockksef state file (no format version)")
    return int(found)


def _check(conn: sqlite3.Connection, path: Path) -> None:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "meta" not in tables:
        raise StoreError(f"{path}: not a mockksef state file (no meta table)")
    version = read_format(conn, path)
    if version > FORMAT:
        raise StoreError(
            f"{path}: written by a newer mockksef ({read_meta(conn, 'written_by') or '?'}, "
            f"format {version}); this mockksef {_version()} reads formats up to {FORMAT}. "
            "Upgrade mockksef; the file was left untouched."
        )
    while version < FORMAT:
        step = MIGRATIONS.get(version)
        if step is None:
            raise StoreError(f"{path}: format {version} cannot be migrated to {FORMAT}")
        try:
            with transaction(conn):
                step(conn)
                write_meta(conn, "format", str(version + 1))
                write_meta(conn, "written_by", _version())
        except (sqlite3.Error, StoreError):
            raise
        except Exception as exc:  # a step that met data it did not expect: rolled back
            raise StoreError(
                f"{path}: migrating format {version} to {version + 1} failed "
                f"({type(exc).__name__}: {exc}); the file was left as it was"
            ) from None
        version += 1
    result = conn.execute("PRAGMA quick_check").fetchone()[0]
    if result != "ok":
        raise StoreError(f"{path}: the file is damaged ({result})")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def read_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return None if row is None else str(row[0])


def write_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))


class DirectoryLock:
    """An exclusive lock on a data directory: one server per directory.

    ``fcntl.flock`` goes away with the process, so a killed server never
    leaves a stale lock behind.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"{self.path.parent}: cannot write here ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise StoreError(
                f"{self.path.parent}: in use by another mockksef (pid {holder}); "
                "stop it or choose another --data directory"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def open_directory(directory: str | os.PathLike[str]) -> tuple[sqlite3.Connection, DirectoryLock]:
    """Create or open ``--data DIR``: lock it, then open its state file."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the data directory ({exc.strerror})") from None
    if not path.is_dir():
        raise StoreError(f"{path}: not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise StoreError(f"{path}: not writable")
    lock = DirectoryLock(path)
    lock.acquire()
    try:
        conn = connect(path / DATA_FILE)
    except BaseException:
        lock.release()
        raise
    return conn, lock
