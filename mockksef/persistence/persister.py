"""State <-> the SQLite file: restore at start, a commit per answer, whole copies for snapshots.

A commit writes what a request may have changed, before its answer leaves
(``middleware.py``):

* new stored invoices and new invoices of a session: appended rows, each
  written once (both only ever grow);
* sessions the request touched (``SessionRegistry.drain_touched``): their row;
* the rest of each environment (tokens, permissions, auth operations, keys,
  limits…) as one pickle, and the root (clock, scenarios, generations) — except
  on the hot paths (an online invoice send, a batch part upload), which change
  nothing there that a restart cannot rebuild. That keeps the invoice pipeline
  at a few appended rows per invoice however large the state grows.

What is rebuilt instead of stored: the invoice store's indexes (from the rows),
the session registry's hash index and corrected set (from the sessions), and
every random stream (fresh from the OS after a restart, so no reference number
drawn before the restart is drawn again). An environment whose generation
changed (a data reset) or that was replaced (a snapshot load) is written whole.
"""

from __future__ import annotations

import gc
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from mockksef.clock import format_datetime, parse_datetime
from mockksef.environments import Env
from mockksef.ids import RandomSource, fresh_seed
from mockksef.invoicegen import GeneratedInvoice, InvoiceGenerator
from mockksef.persistence import codec
from mockksef.persistence.database import StoreError, transaction
from mockksef.persistence.rows import dumps_rows
from mockksef.services.invoices.models import StoredInvoice
from mockksef.services.invoices.store import InvoiceStore
from mockksef.services.sessions.models import Session, SessionInvoice

if TYPE_CHECKING:
    from mockksef.state import EnvironmentState, MockState

# Stored invoices: filed ones and seeded ones (whose XML is generated on demand).
_INVOICES = frozenset({StoredInvoice, GeneratedInvoice})
# Invoices per row in a whole write (snapshot, compaction): one load call each.
# Values shared by many rows (party NIPs and names) come back as one object per
# chunk, so fewer, larger chunks hold less after a restart (300,000 seeded rows:
# 1,395 B an invoice with chunks of 5,000, 1,234 B with 50,000; in memory 1,080 B).
CHUNK = 50_000
# More new invoices than this in one commit (a seeding, a large batch) go in chunks.
CHUNK_FROM = 64


@dataclass
class _Written:
    """What of one environment the file already holds."""

    generation: int
    env_state: Any  # the EnvironmentState object written (a snapshot load replaces it)
    invoices: int = 0
    session_invoices: dict[str, int] = field(default_factory=dict)
    next_si_seq: int = 0
    forms: set[str] = field(default_factory=set)
    hwm: Any = None
    # id(generator) -> (the generator, its row id in ``generators``): written once.
    generators: dict[int, tuple[InvoiceGenerator, int]] = field(default_factory=dict)


# Objects with rows of their own -> the key other pickles name them by.
_BY_TYPE: dict[type, Callable[[Any], Any]] = {
    StoredInvoice: lambda obj: ("inv", obj.ksef_number),
    GeneratedInvoice: lambda obj: ("inv", obj.ksef_number),
    SessionInvoice: lambda obj: ("si", obj.reference_number),
    Session: lambda obj: ("session", obj.reference_number),
    InvoiceStore: lambda obj: ("store",),
    RandomSource: lambda obj: ("rng", str(obj.seed), obj.stream),
}


def _attach_generators(invoices: list[StoredInvoice], by_key: dict[int, InvoiceGenerator]) -> None:
    """Give seeded rows their generator back (written as its id in ``generators``)."""
    seeded = [invoice for invoice in invoices if type(invoice) is GeneratedInvoice]
    if not seeded:
        return
    written: list[Any] = list(map(attrgetter("generator"), seeded))
    if set(map(type, written)) == {int}:
        # The usual case, a column at a time (a million rows: one C loop).
        try:
            generators = list(map(by_key.__getitem__, written))
        except KeyError as exc:
            raise StoreError(f"an invoice names unknown generator {exc.args[0]}") from None
        deque(map(_SET_GENERATOR, seeded, generators), maxlen=0)
        return
    for invoice, written_as in zip(seeded, written, strict=True):
        # Format 1 wrote the generator inline: kept as it is.
        if type(written_as) is int:
            found = by_key.get(written_as)
            if found is None:
                raise StoreError(f"an invoice names unknown generator {written_as}")
            _SET_GENERATOR(invoice, found)


_SET_GENERATOR: Any = GeneratedInvoice.__dict__["generator"].__set__


def _give_back_freed_memory() -> None:
    """Return to the system what a restore freed (its rows' blobs, its working lists).

    A restore's peak is about twice what stays; glibc keeps freed heap pages
    for reuse, so without this a restored server holds ~40% more per invoice
    than one that was seeded. Not glibc (macOS, musl): nothing to do.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


class Persister:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._lock = threading.RLock()
        self._written: dict[Env, _Written] = {}
        self._frozen = False  # restored objects put out of the collector's view
        self.commits = 0

    # -- references: what is not written inline ---------------------------------------

    def _env_refer(self, state: MockState) -> Any:
        fixed: dict[int, tuple[str, ...]] = {
            id(state): ("root",),
            id(state.spec): ("spec",),
            id(state.clock): ("clock",),
            id(state.event_sinks): ("sinks",),
            id(state.journal): ("journal",),
            id(state.scenarios): ("scenarios",),
            id(state.durable): ("durable",),
        }
        for built in state.built_environments():
            # Written as rows of their own (auth_operations): one per login, kept 7 days.
            fixed[id(built.auth.operations)] = ("auth-ops",)

        by_type = _BY_TYPE.get
        by_id = fixed.get

        def refer(obj: Any) -> Any:
            # Called for every object pickled: two lookups, no chain of tests.
            key = by_type(type(obj))
            if key is not None:
                return key(obj)
            return by_id(id(obj))

        return refer

    @staticmethod
    def _session_refer(session: Session) -> Any:
        own = {id(session.invoices): ("si-list",), id(session.by_reference): ("si-map",)}

        def refer(obj: Any) -> Any:
            kind = type(obj)
            if kind is SessionInvoice:
                return ("si", obj.reference_number)
            if kind in _INVOICES:
                return ("inv", obj.ksef_number)
            return own.get(id(obj))

        return refer

    @staticmethod
    def _si_refer(obj: Any) -> Any:
        return ("inv", obj.ksef_number) if type(obj) in _INVOICES else None

    # -- commit -----------------------------------------------------------------------

    def commit(self, state: MockState, *, hot: bool = False, wait: bool = True) -> bool:
        """Write what changed since the last commit, in one transaction.

        ``wait=False``: return False at once when another commit or a load holds
        the file (the caller waits off the event loop instead).
        """
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            with transaction(self.conn):
                # Every enabled environment, built if a reset dropped it: a reset must
                # replace the rows of the generation before it, or a restart revives them.
                for env in state.environments:
                    self._commit_env(state, state.env(env), hot)
                if not hot or state.scenarios.engaged:
                    self._write_root(state)
                self.commits += 1
        finally:
            self._lock.release()
        return True

    def _commit_env(self, state: MockState, env_state: EnvironmentState, hot: bool) -> None:
        mark = self._written.get(env_state.env)
        if mark is None or mark.env_state is not env_state:
            if mark is not None:
                self._unfreeze()  # replaced (a reset): the old one may be garbage now
            # Only the data file's own commit takes the "changed since" marks: what it
            # writes whole now, it need not write again (a snapshot leaves them be).
            env_state.sessions.registry.drain_touched()
            env_state.auth.drain_touched()
            self._write_env_whole(state, env_state)
            return
        self._write_auth_operations(env_state, env_state.auth.drain_touched())
        for ref in env_state.sessions.registry.drain_touched():
            session = env_state.sessions.registry.sessions.get(ref)
            if session is not None:
                self._write_session(env_state, session, mark)
        if not hot:
            self._write_env_blob(state, env_state)
        elif env_state.invoices.invoices.hwm_reported != mark.hwm:
            mark.hwm = env_state.invoices.invoices.hwm_reported
            self.conn.execute(
                "UPDATE envs SET hwm=? WHERE env=?",
                (format_datetime(mark.hwm), env_state.env.value),
            )
        # Last: sessions and the environment name invoices by KSeF number, and the
        # invoice rows only grow, so one accepted while this runs is still written.
        self._append_invoices(env_state, mark)

    def _write_env_whole(self, state: MockState, env_state: EnvironmentState) -> None:
        name = env_state.env.value
        for table in (
            "envs",
            "sessions",
            "session_invoices",
            "invoices",
            "invoice_chunks",
            "generators",
            "auth_operations",
        ):
            self.conn.execute(f"DELETE FROM {table} WHERE env=?", (name,))
        self.conn.execute("DELETE FROM dictionaries WHERE env=?", (name,))
        mark = _Written(env_state.generation, env_state)
        self._written[env_state.env] = mark
        self._write_auth_operations(env_state, list(env_state.auth.operations))
        for session in list(env_state.sessions.registry.sessions.values()):
            self._write_session(env_state, session, mark)
        self._write_env_blob(state, env_state)
        # Last, as in _commit_env: every invoice the rows above name is written.
        self._append_invoices(env_state, mark, chunked=True)

    def _append_invoices(
        self, env_state: EnvironmentState, mark: _Written, *, chunked: bool = False
    ) -> None:
        store = env_state.invoices.invoices
        name = env_state.env.value
        dictionaries = store.dictionaries()
        for form, data in dictionaries.items():
            if form not in mark.forms:
                self.conn.execute(
                    "INSERT OR REPLACE INTO dictionaries(env, form, blob) VALUES (?, ?, ?)",
                    (name, form, data),
                )
                mark.forms.add(form)
        rows = store.rows_table()
        total = len(rows)
        if total <= mark.invoices:
            return
        start = mark.invoices
        generator_id = self._generators(name, rows, start, total, mark)
        if chunked or total - start > CHUNK_FROM:
            for first in range(start, total, CHUNK):
                last = min(first + CHUNK, total)
                self.conn.execute(
                    "INSERT INTO invoice_chunks(env, first, last, blob) VALUES (?, ?, ?, ?)",
                    (name, first, last - 1, dumps_rows(rows[first:last], generator_id)),
                )
        else:
            self.conn.executemany(
                "INSERT INTO invoices(env, seq, ksef, blob) VALUES (?, ?, ?, ?)",
                (
                    (name, seq, rows[seq].ksef_number, dumps_rows(rows[seq], generator_id))
                    for seq in range(start, total)
                ),
            )
        mark.invoices = total

    def _generators(
        self, name: str, rows: list[StoredInvoice], start: int, total: int, mark: _Written
    ) -> Callable[[Any], int]:
        """Write the generators of new seeded rows not written yet; -> generator's id.

        A seeded row's generator (every party of the seeding, a word bank) is
        written once to ``generators``; the row keeps its id there instead.
        """
        written = mark.generators
        for seq in range(start, total):
            row = rows[seq]
            if type(row) is GeneratedInvoice and id(row.generator) not in written:
                key = len(written) + 1
                while any(k == key for _, k in written.values()):
                    key += 1
                written[id(row.generator)] = (row.generator, key)
                self.conn.execute(
                    "INSERT OR REPLACE INTO generators(env, id, blob) VALUES (?, ?, ?)",
                    (name, key, codec.dumps(row.generator)),
                )

        def generator_id(generator: Any) -> int:
            return written[id(generator)][1]

        return generator_id

    def _write_session(self, env_state: EnvironmentState, session: Session, mark: _Written) -> None:
        name = env_state.env.value
        ref = session.reference_number
        done = mark.session_invoices.get(ref, 0)
        invoices = session.invoices
        if len(invoices) > done:
            rows = []
            for item in invoices[done:]:
                rows.append((name, mark.next_si_seq, ref, codec.dumps(item, self._si_refer)))
                mark.next_si_seq += 1
            self.conn.executemany(
                "INSERT INTO session_invoices(env, seq, ref, blob) VALUES (?, ?, ?, ?)", rows
            )
            mark.session_invoices[ref] = len(invoices)
        self.conn.execute(
            "INSERT OR REPLACE INTO sessions(env, ref, blob) VALUES (?, ?, ?)",
            (name, ref, codec.dumps(session, self._session_refer(session))),
        )

    def _write_auth_operations(self, env_state: EnvironmentState, refs: Iterable[str]) -> None:
        name = env_state.env.value
        operations = env_state.auth.operations
        for ref in refs:
            operation = operations.get(ref)
            if operation is None:
                self.conn.execute("DELETE FROM auth_operations WHERE env=? AND ref=?", (name, ref))
                continue
            # An upsert keeps the row's place: rows read back in rowid order give
            # the dict its order (GET /auth/sessions lists in that order).
            self.conn.execute(
                "INSERT INTO auth_operations(env, ref, blob) VALUES (?, ?, ?) "
                "ON CONFLICT(env, ref) DO UPDATE SET blob=excluded.blob",
                (name, ref, self._dump_retrying(operation, None)),
            )

    def _write_env_blob(self, state: MockState, env_state: EnvironmentState) -> None:
        blob = self._dump_retrying(env_state, self._env_refer(state))
        mark = self._written.get(env_state.env)
        if mark is not None:
            mark.hwm = env_state.invoices.invoices.hwm_reported
        self.conn.execute(
            "INSERT OR REPLACE INTO envs(env, generation, hwm, blob) VALUES (?, ?, ?, ?)",
            (
                env_state.env.value,
                env_state.generation,
                format_datetime(env_state.invoices.invoices.hwm_reported),
                blob,
            ),
        )

    def _write_root(self, state: MockState) -> None:
        root = {
            "clock": state.clock.export_state(),
            "generations": {env.value: state.generation(env) for env in state.environments},
            "scenarios": state.scenarios.export_state(),
            # A copy: the live dict is a reference in environment pickles.
            "durable": dict(state.durable),
            "seed": state.seed,
        }
        self.conn.execute(
            "INSERT OR REPLACE INTO root(key, blob) VALUES ('state', ?)",
            (self._dump_retrying(root, self._env_refer(state)),),
        )

    @staticmethod
    def _dump_retrying(obj: Any, refer: Any) -> bytes:
        # A worker thread (batch close, a large invoice) may add to a dict while
        # this walks it; the next try sees a consistent state.
        for attempt in range(5):
            try:
                return codec.dumps(obj, refer)
            except RuntimeError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    # -- restore ----------------------------------------------------------------------

    def is_empty(self) -> bool:
        return self.conn.execute("SELECT 1 FROM root LIMIT 1").fetchone() is None

    def restore(
        self, state: MockState, only: Iterable[Env] | None = None, *, freeze: bool = False
    ) -> list[Env]:
        """Load what the file holds into ``state``; returns the environments loaded.

        The cyclic garbage collector is off meanwhile: a million rows are a few
        million new objects, none of them garbage, and a collection pass every
        few thousand allocations doubled the time to load them.

        ``freeze`` (a server's start, where nothing is replaced): afterwards the
        loaded objects leave the collector's view (``gc.freeze``), or its first
        pass would walk all of them before the first answer, and every full pass
        again. The first environment written whole later (a reset, a snapshot
        load: the old one may be garbage now) gives them back (``gc.unfreeze``).
        """
        collecting = gc.isenabled()
        gc.disable()
        try:
            try:
                loaded = self._restore(state, only)
            except (sqlite3.Error, ValueError, TypeError, LookupError, AttributeError) as exc:
                # Rows that decode but do not fit (a damaged or hand-edited file): one
                # message for the data directory and the snapshots alike, nothing installed.
                raise StoreError(
                    f"stored state cannot be read ({type(exc).__name__}: {exc})"
                ) from None
            if freeze and loaded:
                gc.freeze()
                self._frozen = True
            if loaded:
                _give_back_freed_memory()
            return loaded
        finally:
            if collecting:
                gc.enable()

    def _restore(self, state: MockState, only: Iterable[Env] | None) -> list[Env]:
        row = self.conn.execute("SELECT blob FROM root WHERE key='state'").fetchone()
        wanted = set(only) if only is not None else None
        with self._lock:
            # Everything is read first and put in place only when all of it read:
            # a refused environment (a damaged or crafted file) changes nothing.
            root = codec.loads(row[0], self._root_resolver(state)) if row is not None else None
            names = [r[0] for r in self.conn.execute("SELECT env FROM envs ORDER BY env")]
            ready: list[EnvironmentState] = []
            for name in names:
                env = Env.parse(name)
                if env not in state.environments:
                    continue
                if wanted is not None and env not in wanted:
                    continue
                ready.append(self._load_env(state, env))
            if root is not None and wanted is None:
                state.clock.import_state(root["clock"])
                state.durable.update(root["durable"])
                state.scenarios.import_state(root["scenarios"])
            for env_state in ready:
                state.install(env_state)
        return [env_state.env for env_state in ready]

    def _root_resolver(self, state: MockState) -> Any:
        def resolve(pid: Any) -> Any:
            kind = pid[0]
            if kind == "rng":
                return RandomSource(f"{pid[1]}~{fresh_seed()}", pid[2])
            fixed = {
                "root": state,
                "spec": state.spec,
                "clock": state.clock,
                "sinks": state.event_sinks,
                "journal": state.journal,
                "scenarios": state.scenarios,
                "durable": state.durable,
            }
            if kind in fixed:
                return fixed[kind]
            raise StoreError(f"unexpected reference {pid!r} in the stored root")

        return resolve

    def _load_env(self, state: MockState, env: Env) -> EnvironmentState:
        name = env.value
        conn = self.conn
        dictionaries = {
            form: bytes(blob)
            for form, blob in conn.execute(
                "SELECT form, blob FROM dictionaries WHERE env=?", (name,)
            )
        }

        generators: dict[int, tuple[InvoiceGenerator, int]] = {}
        by_key: dict[int, InvoiceGenerator] = {}
        for key, blob in conn.execute("SELECT id, blob FROM generators WHERE env=?", (name,)):
            generator = codec.loads(blob)
            if type(generator) is not InvoiceGenerator:
                raise StoreError(f"generator {key} of {name} is not an invoice generator")
            by_key[key] = generator
            generators[id(generator)] = (generator, key)

        invoices: list[StoredInvoice] = []
        for (blob,) in conn.execute(
            "SELECT blob FROM invoice_chunks WHERE env=? ORDER BY first", (name,)
        ):
            # Values many rows hold alike (a party's NIP, names, context) come back
            # as one object per chunk, not one in all as in memory (~130 B a row
            # more); making them one again cost ~3 s a million rows, too much for a
            # restart.
            invoices.extend(codec.loads(blob))
        for (blob,) in conn.execute("SELECT blob FROM invoices WHERE env=? ORDER BY seq", (name,)):
            invoices.append(codec.loads(blob))
        _attach_generators(invoices, by_key)
        env_row = conn.execute(
            "SELECT generation, hwm, blob FROM envs WHERE env=?", (name,)
        ).fetchone()
        generation, hwm, env_blob = env_row
        store = InvoiceStore()
        store.restore(invoices, dictionaries, parse_datetime(hwm) if hwm else None)

        def stored(ksef: str) -> StoredInvoice:
            found = store.get(ksef)
            if found is None:
                raise StoreError(f"a stored session invoice names unknown KSeF number {ksef}")
            return found

        def si_resolve(pid: Any) -> Any:
            if pid[0] == "inv":
                return stored(pid[1])
            raise StoreError(f"unexpected reference {pid!r} in a session invoice")

        by_session: dict[str, list[SessionInvoice]] = {}
        si_by_ref: dict[str, SessionInvoice] = {}
        for ref, blob in conn.execute(
            "SELECT ref, blob FROM session_invoices WHERE env=? ORDER BY seq", (name,)
        ):
            item = codec.loads(blob, si_resolve)
            by_session.setdefault(ref, []).append(item)
            si_by_ref[item.reference_number] = item

        sessions: dict[str, Session] = {}
        for ref, blob in conn.execute("SELECT ref, blob FROM sessions WHERE env=?", (name,)):
            own = by_session.get(ref, [])

            def session_resolve(pid: Any, own: list[SessionInvoice] = own) -> Any:
                kind = pid[0]
                if kind == "si-list":
                    return own
                if kind == "si-map":
                    return {item.reference_number: item for item in own}
                if kind == "si":
                    return si_by_ref[pid[1]]
                if kind == "inv":
                    return stored(pid[1])
                raise StoreError(f"unexpected reference {pid!r} in a stored session")

            sessions[ref] = codec.loads(blob, session_resolve)

        root_resolve = self._root_resolver(state)

        auth_operations = {
            ref: codec.loads(blob)
            for ref, blob in conn.execute(
                "SELECT ref, blob FROM auth_operations WHERE env=? ORDER BY rowid", (name,)
            )
        }

        def env_resolve(pid: Any) -> Any:
            kind = pid[0]
            if kind == "auth-ops":
                return auth_operations
            if kind == "inv":
                return stored(pid[1])
            if kind == "si":
                found = si_by_ref.get(pid[1])
                if found is None:
                    raise StoreError(f"unknown session invoice {pid[1]}")
                return found
            if kind == "session":
                found_session = sessions.get(pid[1])
                if found_session is None:
                    raise StoreError(f"unknown session {pid[1]}")
                return found_session
            if kind == "store":
                return store
            return root_resolve(pid)

        env_state: EnvironmentState = codec.loads(env_blob, env_resolve)
        # Operations kept inline by a format-2 file have no row yet: the next commit
        # writes them.
        env_state.auth.touched.update(set(env_state.auth.operations) - set(auth_operations))
        # Sessions whose row is newer than the environment pickle (opened by a
        # request whose commit wrote only them) join the registry here.
        env_state.sessions.registry.adopt(sessions.values())
        mark = _Written(generation, env_state)
        mark.invoices = len(invoices)
        mark.session_invoices = {ref: len(items) for ref, items in by_session.items()}
        mark.next_si_seq = sum(mark.session_invoices.values())
        max_seq = conn.execute(
            "SELECT MAX(seq) FROM session_invoices WHERE env=?", (name,)
        ).fetchone()[0]
        if max_seq is not None:
            mark.next_si_seq = max(mark.next_si_seq, max_seq + 1)
        mark.forms = set(dictionaries)
        mark.generators = generators
        self._written[env] = mark
        return env_state

    # -- whole copies (snapshots) -------------------------------------------------------

    def write_whole(self, state: MockState, environments: Iterable[Env]) -> None:
        """Write ``environments`` (and the root) whole: the body of a snapshot."""
        with self._lock, transaction(self.conn):
            for env in environments:
                self._write_env_whole(state, state.env(env))
            self._write_root(state)

    def forget(self, env: Env) -> None:
        """The next commit writes ``env`` whole (it was replaced or reset)."""
        with self._lock:
            self._written.pop(env, None)
            self._unfreeze()

    def _unfreeze(self) -> None:
        if self._frozen:
            gc.unfreeze()
            self._frozen = False
