"""Snapshots: a whole state (one environment or all) in one portable file.

A snapshot is the data directory's SQLite schema in a single file without a
WAL (``NAME.ksefsnap``), written to a temporary name and renamed, so a
half-written snapshot never exists. It carries its schema version and the
mockksef version that wrote it; loading a newer one is refused, an older one
is migrated in a temporary copy (the file itself is never changed). Any
machine can load it: nothing in it depends on the machine or on ``--data``.

Loading replaces the named environments (all the snapshot holds by default);
clock and scenarios come back only when every environment is loaded, since
they are shared by all.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mockksef.clock import format_datetime
from mockksef.environments import Env
from mockksef.persistence.database import (
    StoreError,
    connect,
    read_format,
    read_meta,
    write_meta,
)
from mockksef.persistence.persister import Persister

if TYPE_CHECKING:
    from mockksef.state import MockState

SUFFIX = ".ksefsnap"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class SnapshotError(StoreError):
    """A snapshot request that cannot be done (unknown name, bad name, exists…)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def default_directory(data_dir: str | None) -> Path:
    """``DIR/snapshots`` with ``--data``; else the user's data directory (XDG)."""
    if data_dir:
        return Path(data_dir).expanduser().resolve() / "snapshots"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mockksef" / "snapshots"


class Snapshots:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path(self, name: str) -> Path:
        # fullmatch: ``$`` alone lets a trailing newline into the file name.
        if not NAME.fullmatch(name):
            raise SnapshotError(
                f"snapshot name {name!r}: use 1-64 letters, digits, '.', '_' or '-'"
            )
        return self.directory / f"{name}{SUFFIX}"

    # -- save --------------------------------------------------------------------------

    def save(
        self,
        state: MockState,
        name: str,
        environments: list[str] | None = None,
        *,
        overwrite: bool = False,
    ) -> dict[str, Any]:
        target = self.path(name)
        envs = _environments(state, environments)
        if target.exists() and not overwrite:
            raise SnapshotError(f"snapshot {name} exists; delete it or save with overwrite", 409)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.directory)
            os.close(fd)
            os.unlink(temp)
        except OSError as exc:
            raise SnapshotError(
                f"{self.directory}: cannot write snapshots ({exc.strerror})", 500
            ) from None
        conn = connect(Path(temp), wal=False)
        try:
            Persister(conn).write_whole(state, envs)
            write_meta(conn, "kind", "snapshot")
            write_meta(conn, "name", name)
            write_meta(conn, "environments", ",".join(e.value for e in envs))
            write_meta(conn, "clock", format_datetime(state.clock.now()))
            conn.close()
            os.replace(temp, target)
        except BaseException:
            conn.close()
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return self.describe(name)

    # -- load --------------------------------------------------------------------------

    def load(
        self, state: MockState, name: str, environments: list[str] | None = None
    ) -> dict[str, Any]:
        source = self.path(name)
        if not source.exists():
            raise SnapshotError(f"no snapshot named {name} in {self.directory}", 404)
        return load_file(state, source, environments)

    # -- list / delete / describe ---------------------------------------------------

    def list(self) -> list[dict[str, Any]]:
        if not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            try:
                out.append(self.describe(path.name[: -len(SUFFIX)]))
            except StoreError as exc:
                out.append(
                    {"name": path.name[: -len(SUFFIX)], "path": str(path), "error": str(exc)}
                )
        return out

    def describe(self, name: str) -> dict[str, Any]:
        path = self.path(name)
        if not path.exists():
            raise SnapshotError(f"no snapshot named {name} in {self.directory}", 404)
        return describe_file(path) | {"name": name}

    def delete(self, name: str) -> None:
        path = self.path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise SnapshotError(f"no snapshot named {name} in {self.directory}", 404) from None

    def incoming(self, name: str, *, overwrite: bool = False) -> Path:
        """An empty temporary file beside the snapshots, for an upload to be written to.

        Refuses first what :meth:`adopt` would refuse without reading (a bad name, an
        existing snapshot), so that a refused upload is never read.
        """
        target = self.path(name)
        if target.exists() and not overwrite:
            raise SnapshotError(f"snapshot {name} exists; delete it or upload with overwrite", 409)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.directory)
        except OSError as exc:
            raise SnapshotError(
                f"{self.directory}: cannot write snapshots ({exc.strerror})", 500
            ) from None
        os.close(fd)
        return Path(temp)

    def adopt(self, name: str, temp: Path, *, overwrite: bool = False) -> dict[str, Any]:
        """Keep ``temp`` (from :meth:`incoming`) as snapshot ``name`` once it reads as one;
        ``temp`` is gone afterwards either way."""
        try:
            target = self.path(name)
            if target.exists() and not overwrite:
                raise SnapshotError(
                    f"snapshot {name} exists; delete it or upload with overwrite", 409
                )
            describe_file(temp, label="the upload", check=True)
            os.replace(temp, target)
            # mkstemp made it private; a snapshot is as readable as one saved here.
            os.chmod(target, 0o644)
        finally:
            temp.unlink(missing_ok=True)
        return self.describe(name)


def _environments(state: MockState, names: list[str] | None) -> list[Env]:
    if not names:
        return list(state.environments)
    out = []
    for name in names:
        try:
            env = Env.parse(name)
        except (KeyError, ValueError):
            raise SnapshotError(f"unknown environment {name!r}") from None
        if env not in state.environments:
            raise SnapshotError(f"environment {env.value} is not enabled")
        out.append(env)
    return out


@contextlib.contextmanager
def _readable_copy(path: Path, label: str | None = None) -> Iterator[sqlite3.Connection]:
    """Open a copy, so that reading (and migrating) never changes the snapshot itself.

    A snapshot may come by mail: a file whose tables or values are not what
    mockksef writes is a :class:`SnapshotError`, never a crash. Messages name the
    file as ``label`` (default: its name), never the temporary copy.
    """
    label = label or path.name
    with tempfile.TemporaryDirectory(prefix="mockksef-snap-") as work:
        copy = Path(work) / "snapshot.sqlite3"
        shutil.copyfile(path, copy)
        try:
            conn = connect(copy, wal=False)
        except StoreError as exc:
            raise SnapshotError(str(exc).replace(str(copy), label)) from None
        try:
            if read_meta(conn, "kind") != "snapshot":
                raise SnapshotError(f"{label}: not a mockksef snapshot")
            yield conn
        except (sqlite3.Error, ValueError, TypeError, LookupError, AttributeError) as exc:
            raise SnapshotError(
                f"{label}: not a readable mockksef snapshot ({type(exc).__name__}: {exc})"
            ) from None
        finally:
            conn.close()


@contextlib.contextmanager
def _peek(path: Path, label: str) -> Iterator[sqlite3.Connection]:
    """Open the snapshot itself read-only, for the few rows a listing shows.

    No copy, no integrity check: a list of big snapshots must not read each one
    whole. Loading and uploading go through :func:`_readable_copy`, which checks.
    """
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise SnapshotError(f"{label}: not a readable mockksef snapshot ({exc})") from None
    try:
        if read_meta(conn, "kind") != "snapshot":
            raise SnapshotError(f"{label}: not a mockksef snapshot")
        yield conn
    except (sqlite3.Error, ValueError, TypeError) as exc:
        raise SnapshotError(f"{label}: not a readable mockksef snapshot ({exc})") from None
    finally:
        conn.close()


def _describe(conn: sqlite3.Connection, path: Path) -> dict[str, Any]:
    counts = dict(conn.execute("SELECT env, COUNT(*) FROM invoices GROUP BY env").fetchall())
    for env, total in conn.execute(
        "SELECT env, SUM(last - first + 1) FROM invoice_chunks GROUP BY env"
    ):
        counts[env] = counts.get(env, 0) + int(total)
    return {
        "path": str(path),
        "size": path.stat().st_size,
        "format": read_format(conn, path.name),
        "writtenBy": read_meta(conn, "written_by"),
        # The file's own time (the operating system's), not the simulated clock's.
        "modified": datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds"),
        "clock": read_meta(conn, "clock"),
        "environments": [e for e in (read_meta(conn, "environments") or "").split(",") if e],
        "invoices": counts,
    }


def describe_file(path: Path, label: str | None = None, *, check: bool = False) -> dict[str, Any]:
    """What a snapshot holds; ``check`` (uploads) first migrates a copy and runs SQLite's
    integrity check on it, else only its meta is read. Neither unpickles anything:
    a crafted blob is refused when the snapshot is loaded."""
    opener = _readable_copy if check else _peek
    with opener(path, label or path.name) as conn:
        return _describe(conn, path)


def load_file(
    state: MockState, path: Path, environments: list[str] | None = None
) -> dict[str, Any]:
    """Load a snapshot file into ``state`` (the environments it holds, or those named)."""
    with _readable_copy(path) as conn:
        held = [e for e in (read_meta(conn, "environments") or "").split(",") if e]
        wanted = _environments(state, environments) if environments else None
        if wanted is not None:
            missing = [e.value for e in wanted if e.value not in held]
            if missing:
                raise SnapshotError(
                    f"{path.name} holds {', '.join(held)}, not {', '.join(missing)}"
                )
        else:
            wanted = [Env.parse(e) for e in held if Env.parse(e) in state.environments]
        whole = set(wanted) == set(state.environments) and set(held) >= {
            e.value for e in state.environments
        }
        loaded = Persister(conn).restore(state, only=None if whole else wanted)
    if state.persistence is not None:
        for env in loaded:
            state.persistence.persister.forget(env)
        state.commit()
    return {
        "loaded": [e.value for e in loaded],
        "clock": format_datetime(state.clock.now()),
        "scenarios": state.scenarios.active if whole else None,
    }


__all__ = [
    "SUFFIX",
    "SnapshotError",
    "Snapshots",
    "default_directory",
    "describe_file",
    "load_file",
]
