"""Persistence: ``serve --data DIR`` and snapshots (issue 14).

* :class:`DataDirectory`: the state of every environment kept in
  ``DIR/state.sqlite3`` (``database.py``), loaded at start, committed before
  every answer that may have changed it (``middleware.py``);
* :class:`~mockksef.persistence.snapshots.Snapshots`: whole copies of one
  environment or all, as single portable files.

How objects are written is in ``codec.py``; what is written when, in
``persister.py``. Without ``--data`` none of this runs.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from mockksef.persistence.database import DirectoryLock, StoreError, open_directory
from mockksef.persistence.persister import Persister

if TYPE_CHECKING:
    from mockksef.state import MockState

__all__ = ["DataDirectory", "StoreError"]


class DataDirectory:
    """An open ``--data`` directory: its lock, its state file, its persister."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: DirectoryLock) -> None:
        self.path = path
        self.conn = conn
        self.lock = lock
        self.persister = Persister(conn)
        self.restored: list[str] = []

    @classmethod
    def open(cls, directory: str | os.PathLike[str], state: MockState) -> DataDirectory:
        """Lock and open ``directory``, load what it holds into ``state``, write the rest."""
        path = Path(directory).expanduser().resolve()
        conn, lock = open_directory(path)
        data = cls(path, conn, lock)
        try:
            if not data.persister.is_empty():
                loaded = data.persister.restore(state, freeze=True)
                data.restored = [env.value for env in loaded]
            # Environments the file did not hold (first start, newly enabled) are
            # written now, so that a crash before the first request loses nothing.
            for env in state.environments:
                state.env(env)
            data.persister.commit(state)
        except BaseException:
            data.close()
            raise
        return data

    def commit(self, state: MockState, *, hot: bool = False, wait: bool = True) -> bool:
        return self.persister.commit(state, hot=hot, wait=wait)

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            self.lock.release()
