"""The embedded SQLite engine (the default).

One file in WAL mode. Each server process keeps two connections: a **read** connection used
directly on the event loop (an indexed read takes microseconds; a thread hop would cost more than
the read, see docs/decisions.md), and a **write** connection owned by one transaction at a time
(an :class:`asyncio.Lock`), opened with ``BEGIN IMMEDIATE``. Another process holding the write
lock makes ``BEGIN IMMEDIATE`` fail fast; we then retry with an asyncio sleep, so a busy database
never blocks the event loop. Statements that may scan many rows run in a thread: reads on a
per-thread connection, writes on the write connection (which the lock protects). A read on the loop
that runs longer than a short slice is aborted and run again on a thread, and statements that
match regular expressions always run on one (:mod:`.budget`); on a thread a statement is
cancelled after the query budget (``query_timeout``).

Durability: a write is acknowledged after ``COMMIT`` returned. With ``synchronous=NORMAL`` (the
default) a committed transaction survives the process being killed; with ``FULL`` it also
survives a power loss, and the commit's fsync runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import mmap
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from kinbase.errors import BaaSError
from kinbase.query.sql import QuickSortRefused, quick_sort_refused
from kinbase.storage.base import Reader, StorageBackend, Writer
from kinbase.storage.exceptions import StorageError
from kinbase.storage.group import WriteGroups
from kinbase.storage.migrations import load_migrations, split_statements
from kinbase.storage.sql import Dialect, Row, SqlReader, SqlWriter
from kinbase.storage.sql.purge import purge_dropped, purge_leftovers
from kinbase.storage.sqlite.budget import Budget, Watch, classify, install_budget, interrupted
from kinbase.storage.sqlite.driver import sqlite as sqlite3
from kinbase.storage.sqlite.files import (
    WAL_INDEX_HEADER,
    WRITE_CACHE_KIB,
    WRITE_SPILL_PAGES,
    connect,
    map_wal_index,
)

__all__ = ["SQLiteStorage"]

DIALECT = Dialect(
    name="sqlite", placeholder="?", json_param="jsonb(?)", text_cast="", for_update="", text_function="json"
)
"""Documents and settings are stored as JSONB (:mod:`.driver`) and read back as JSON text."""

LOOP_SLICE_SECONDS = 0.02
"""How long a read may hold the event loop before it moves to a thread (see :mod:`.budget`)."""

_LONG_SQL = 20_000
"""Statements longer than this (thousands of conditions) are prepared off the loop: SQLite's
prepare grows faster than linearly with them and no progress handler runs during it."""

_BUSY_DEADLINE_SECONDS = 10.0
_DRIVER_ERRORS = (sqlite3.Error, OverflowError, UnicodeEncodeError)
_ANALYZE_EVERY_CHANGES = 50_000
THREAD_STATEMENTS = 4
"""Prepared statements each read thread's connection keeps (the loop's keep 512; ``pysqlite3``
keeps at least 5 whatever it is asked). The threads run the scans, whose statements are large:
each one kept holds ~40 slots of the connection's lookaside memory, which the scan's per-row JSON
calls need (``driver.LOOKASIDE_SLOTS``). A statement prepared again costs about 100 µs."""
_READ_META = "SELECT value FROM server_meta WHERE key = ?"


class _SQLiteOps:
    """The primitives over one connection (mixed into the reader and the writer).

    A ``SELECT`` runs on the event loop with a short time slice (:mod:`.budget`); one that
    overruns it, one marked ``long`` and one that matches a regular expression run on a thread
    instead, under the whole query budget. Writes run where they are called; the bulk paths call
    them in bounded chunks."""

    dialect = DIALECT

    def __init__(self, storage: SQLiteStorage, conn: sqlite3.Connection, budget: Budget) -> None:
        self._storage = storage
        self._conn = conn
        self._budget = budget

    async def _off_loop(self, sql: str, params: Sequence[Any]) -> list[Row]:
        return await self._storage._run_long(self._conn, sql, params)

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        if not sql.startswith("SELECT"):  # INSERT/UPDATE ... RETURNING: never interrupted
            try:
                row: Row | None = self._conn.execute(sql, params).fetchone()
            except _DRIVER_ERRORS as exc:
                raise classify(exc, "write") from exc
            return row
        budget = self._budget
        budget.deadline = time.monotonic() + self._storage.loop_slice
        try:
            row = self._conn.execute(sql, params).fetchone()
            return row
        except _DRIVER_ERRORS as exc:
            if not interrupted(exc):
                raise classify(exc, "read") from exc
        finally:
            budget.deadline = math.inf
        rows = await self._off_loop(sql, params)
        return rows[0] if rows else None

    async def _all(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        long: bool = False,
        custom_plan: bool = False,
        walk: bool = False,
    ) -> list[Row]:
        if long or len(sql) > _LONG_SQL or "kb_regexp(" in sql:
            return await self._off_loop(sql, params)
        budget = self._budget
        budget.deadline = time.monotonic() + self._storage.loop_slice
        try:
            quick_sort_refused()  # a mark an interrupted statement left
            rows = self._conn.execute(sql, params).fetchall()
            if quick_sort_refused():
                raise QuickSortRefused
            return rows
        except _DRIVER_ERRORS as exc:
            if not interrupted(exc):
                raise classify(exc, "read") from exc
        finally:
            budget.deadline = math.inf
        return await self._off_loop(sql, params)


class _Reading(AbstractAsyncContextManager[Reader]):
    """:meth:`SQLiteStorage.reader`: a reader on the read connection; a driver error inside
    becomes a :class:`StorageError`. (A class, not ``asynccontextmanager``: every request enters
    one or more, and the generator's machinery cost ~4 us of a ~70-us GET by id.)"""

    __slots__ = ("_storage",)

    def __init__(self, storage: SQLiteStorage) -> None:
        self._storage = storage

    async def __aenter__(self) -> Reader:
        storage = self._storage
        conn = storage._read_conn
        if conn is None:
            raise StorageError("the SQLite storage is not started")
        return SQLiteReader(storage, conn, storage._read_budget)

    async def __aexit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, sqlite3.Error):
            raise classify(exc, "read") from exc


class SQLiteReader(_SQLiteOps, SqlReader):
    async def _off_loop(self, sql: str, params: Sequence[Any]) -> list[Row]:
        return await self._storage._read_long(sql, params)


class SQLiteWriter(_SQLiteOps, SqlWriter):
    reads_locked = True  # BEGIN IMMEDIATE: no other connection writes until the commit

    def __init__(self, storage: SQLiteStorage, conn: sqlite3.Connection, budget: Budget) -> None:
        _SQLiteOps.__init__(self, storage, conn, budget)
        SqlWriter.__init__(self)

    async def _run(self, sql: str, params: Sequence[Any] = (), *, long: bool = False) -> int:
        if long:
            return await self._storage._write_long(self._conn, sql, params)
        try:
            return self._conn.execute(sql, params).rowcount
        except _DRIVER_ERRORS as exc:
            raise classify(exc, "write") from exc

    async def _insert_oid(self, sql: str, params: Sequence[Any]) -> int:
        # the rowid of the insert, without RETURNING's result row (half the statement's time)
        try:
            oid = self._conn.execute(sql, params).lastrowid
        except _DRIVER_ERRORS as exc:
            raise classify(exc, "write") from exc
        assert oid is not None
        return int(oid)

    async def _run_many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql, params)
        except _DRIVER_ERRORS as exc:
            raise classify(exc, "write") from exc


class SQLiteStorage(StorageBackend):
    """SQLite storage in one database file."""

    engine = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "normal",
        query_timeout: float = 10.0,
        loop_slice: float = LOOP_SLICE_SECONDS,
        group_commit: bool = False,
    ) -> None:
        self.path = str(path)
        self.synchronous = synchronous
        self.query_timeout = query_timeout
        """How long one statement may run on a thread before it is cancelled (:class:`QueryTimeout`)."""
        self.loop_slice = loop_slice
        """How long a statement may hold the event loop before it is moved to a thread."""
        self._read_conn: sqlite3.Connection | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._read_budget = Budget()
        self._write_budget = Budget()
        self._write_lock = asyncio.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._thread_conns: list[sqlite3.Connection] = []
        self._thread_conns_lock = threading.Lock()
        self._changes_at_analyze = 0
        self._wal_index: mmap.mmap | None = None
        self.group_commit = group_commit
        self.groups = WriteGroups(self.writer, self._member, purge=lambda ids: purge_dropped(self, ids))

    @property
    def identity(self) -> str:
        return "sqlite:" + os.path.realpath(self.path)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._write_conn = connect(self.path, synchronous=self.synchronous, cache_kib=WRITE_CACHE_KIB)
            self._write_conn.execute(f"PRAGMA cache_spill = {WRITE_SPILL_PAGES}")
            await self._migrate(self._write_conn)
            await self._analyze(self._write_conn)
            self._write_budget = install_budget(self._write_conn)
            self._read_conn = connect(self.path, synchronous=self.synchronous)
            self._read_conn.execute("PRAGMA query_only = ON")
            self._read_budget = install_budget(self._read_conn)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the SQLite database {self.path!r}", original=exc) from exc
        self._wal_index = map_wal_index(self.path)  # the connections in WAL mode made the file
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kinbase-sqlite")
        await purge_leftovers(self)

    async def stop(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._wal_index is not None:
            self._wal_index.close()
            self._wal_index = None
        for conn in [self._read_conn, self._write_conn, *self._thread_conns]:
            if conn is not None:
                conn.close()
        self._read_conn = self._write_conn = None
        self._thread_conns = []

    async def _migrate(self, conn: sqlite3.Connection) -> None:
        await self._begin(conn)
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied INTEGER)"
            )
            applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for migration in load_migrations("sqlite"):
                if migration.version in applied:
                    continue
                for statement in split_statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)",
                    (migration.version, int(time.time())),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def pool_stats(self) -> dict[str, int]:
        """One reader and one writer connection on the loop, plus those of the query threads;
        ``in_use`` is the writer (one write transaction at a time), ``waiting`` the writes queued
        behind it."""
        if self._write_conn is None:
            return {}
        size = 2 + len(self._thread_conns)
        busy = 1 if self._write_lock.locked() else 0
        waiters = getattr(self._write_lock, "_waiters", None) or ()
        return {"size": size, "in_use": busy, "idle": size - busy, "waiting": len(waiters), "max": size}

    async def ping(self) -> bool:
        try:
            async with self.reader() as reader:
                await reader.get_meta("ping")
        except BaaSError:
            return False
        return True

    def commit_marker(self) -> bytes | None:
        # A copy of the WAL index header: 0.1 us, where the poll's statement costs a few us and
        # three system calls (the shared lock taken and released, a stat).
        wal_index = self._wal_index
        return None if wal_index is None else wal_index[:WAL_INDEX_HEADER]

    async def read_meta(self, key: str) -> str | None:
        # A primary-key probe of a small table: on the loop's reader, without a reader object or
        # a time slice (it cannot run long).
        conn = self._read_conn
        if conn is None:
            raise StorageError("the SQLite storage is not started")
        try:
            row = conn.execute(_READ_META, (key,)).fetchone()
        except sqlite3.Error as exc:
            raise classify(exc, "read") from exc
        return None if row is None else str(row[0])

    # -- readers and writers -----------------------------------------------------------------
    def reader(self) -> AbstractAsyncContextManager[Reader]:
        return _Reading(self)

    @contextlib.asynccontextmanager
    async def writer(self) -> AsyncIterator[Writer]:
        conn = self._write_conn
        if conn is None:
            raise StorageError("the SQLite storage is not started")
        dropped: list[int] = []
        async with self._write_lock:
            await self._begin(conn)
            writer = SQLiteWriter(self, conn, self._write_budget)
            try:
                yield writer
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise classify(exc, "write") from exc
                raise
            try:
                if self.synchronous == "full":
                    await asyncio.get_running_loop().run_in_executor(self._executor, conn.execute, "COMMIT")
                else:
                    conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StorageError("The database failed to commit; retry later.", original=exc) from exc
            if conn.total_changes - self._changes_at_analyze > _ANALYZE_EVERY_CHANGES:
                await self._analyze(conn)
            dropped = writer.dropped
        if dropped:
            await purge_dropped(self, dropped)

    def grouped_writer(self, key: Hashable) -> AbstractAsyncContextManager[Writer]:
        return self.groups.writer(key) if self.group_commit else self.writer()

    @contextlib.asynccontextmanager
    async def _member(self, outer: Writer) -> AsyncIterator[Writer]:
        """One member of a group commit: a savepoint of the shared transaction."""
        conn = self._write_conn
        if conn is None or not conn.in_transaction:
            raise StorageError("The shared transaction was lost; retry later.")
        conn.execute("SAVEPOINT kb_member")
        writer = SQLiteWriter(self, conn, self._write_budget)
        try:
            yield writer
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO kb_member")
                conn.execute("RELEASE kb_member")
            if isinstance(exc, sqlite3.Error):
                raise classify(exc, "write") from exc
            raise
        conn.execute("RELEASE kb_member")

    async def _analyze(self, conn: sqlite3.Connection) -> None:
        """Refresh the planner's statistics (sampled, so it takes milliseconds).

        Without them SQLite guesses that ``parent_id = ?`` selects a few rows and prefers scanning a
        whole collection to probing a field index. Called at start and after every
        ``_ANALYZE_EVERY_CHANGES`` rows written by this process; statistics only steer plans, so a
        late refresh costs speed, never correctness.
        """
        self._changes_at_analyze = conn.total_changes
        try:
            await self._begin(conn)
            conn.execute("PRAGMA analysis_limit = 1000")
            conn.execute("ANALYZE")
            conn.execute("COMMIT")
        except (sqlite3.Error, StorageError):
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    async def _begin(self, conn: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``, retried without blocking while another process writes."""
        deadline = time.monotonic() + _BUSY_DEADLINE_SECONDS
        delay = 0.001
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise StorageError("The database cannot begin a transaction.", original=exc) from exc
                if time.monotonic() > deadline:
                    raise StorageError(
                        "the SQLite database stayed locked; retry later", original=exc
                    ) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    # -- statements that may take long -------------------------------------------------------
    def _thread_conn(self) -> sqlite3.Connection:
        """This thread's read connection (no progress handler: see :class:`.budget.Watch`)."""
        found: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if found is None:
            found = connect(self.path, synchronous=self.synchronous, statements=THREAD_STATEMENTS)
            found.execute("PRAGMA query_only = ON")
            self._local.conn = found
            with self._thread_conns_lock:
                self._thread_conns.append(found)
        return found

    def _budgeted(self, conn: sqlite3.Connection, watch: Watch, sql: str, params: Sequence[Any]) -> list[Row]:
        """A read on a thread; ``watch`` interrupts it past the query budget."""
        watch.begin(conn)
        try:
            quick_sort_refused()  # a mark an interrupted statement left
            rows = conn.execute(sql, params).fetchall()
        except _DRIVER_ERRORS as exc:
            raise classify(exc, "read") from exc
        finally:
            watch.end()
        if quick_sort_refused():
            raise QuickSortRefused
        return rows

    async def _on_thread(self, run: Callable[[Watch], list[Row]]) -> list[Row]:
        loop = asyncio.get_running_loop()
        watch = Watch(loop, self.query_timeout)
        try:
            return await loop.run_in_executor(self._executor, run, watch)
        finally:
            watch.cancel()

    async def _read_long(self, sql: str, params: Sequence[Any]) -> list[Row]:
        """A read on a thread's own connection, under the query budget."""
        return await self._on_thread(lambda watch: self._budgeted(self._thread_conn(), watch, sql, params))

    async def _run_long(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Row]:
        """A read on the write connection (inside its transaction), on a thread, under the query
        budget. The write lock keeps every other task off the connection meanwhile; its progress
        handler (for the loop) is off while the thread runs."""

        def run(watch: Watch) -> list[Row]:
            conn.set_progress_handler(None, 0)
            try:
                return self._budgeted(conn, watch, sql, params)
            finally:
                self._write_budget.attach(conn)

        return await self._on_thread(run)

    async def _write_long(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
        """A write statement that may take long, on a thread (never interrupted)."""

        def run() -> int:
            try:
                return conn.execute(sql, params).rowcount
            except _DRIVER_ERRORS as exc:
                raise classify(exc, "write") from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)
