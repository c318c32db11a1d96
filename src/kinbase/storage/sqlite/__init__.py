"""The embedded SQLite engine (the default).

One file in WAL mode. Each server process keeps two connections: a **read** connection used
directly on the event loop (an indexed read takes microseconds; a thread hop would cost more than
the read, see docs/decisions.md), and a **write** connection owned by one transaction at a time
(an :class:`asyncio.Lock`), opened with ``BEGIN IMMEDIATE``. Another process holding the write
lock makes ``BEGIN IMMEDIATE`` fail fast; we then retry with an asyncio sleep, so a busy database
never blocks the event loop. Statements that may scan many rows run in a thread: reads on a
per-thread connection, writes on the write connection (which the lock protects).

Durability: a write is acknowledged after ``COMMIT`` returned. With ``synchronous=NORMAL`` (the
default) a committed transaction survives the process being killed; with ``FULL`` it also
survives a power loss, and the commit's fsync runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kinbase.errors import BaaSError
from kinbase.query.sql import register_sqlite_functions
from kinbase.storage.base import Reader, StorageBackend, Writer
from kinbase.storage.exceptions import StorageError
from kinbase.storage.migrations import load_migrations, split_statements
from kinbase.storage.sql import Dialect, Row, SqlReader, SqlWriter

__all__ = ["SQLiteStorage"]

DIALECT = Dialect(name="sqlite", placeholder="?", json_param="?", text_cast="", for_update="")

_BUSY_DEADLINE_SECONDS = 10.0
_ANALYZE_EVERY_CHANGES = 50_000


def _connect(path: str, *, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=512)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'full' else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 0")
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("PRAGMA mmap_size = 268435456")
    conn.execute("PRAGMA temp_store = MEMORY")
    register_sqlite_functions(conn)
    return conn


class _SQLiteOps:
    """The primitives over one connection (mixed into the reader and the writer)."""

    dialect = DIALECT

    def __init__(self, storage: SQLiteStorage, conn: sqlite3.Connection) -> None:
        self._storage = storage
        self._conn = conn

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, params).fetchone()
        return row

    async def _all(self, sql: str, params: Sequence[Any] = (), *, long: bool = False) -> list[Row]:
        if long:
            return await self._storage._run_long(self._conn, sql, params)
        return self._conn.execute(sql, params).fetchall()


class SQLiteReader(_SQLiteOps, SqlReader):
    async def _all(self, sql: str, params: Sequence[Any] = (), *, long: bool = False) -> list[Row]:
        if long:
            return await self._storage._read_long(sql, params)
        return self._conn.execute(sql, params).fetchall()


class SQLiteWriter(_SQLiteOps, SqlWriter):
    def __init__(self, storage: SQLiteStorage, conn: sqlite3.Connection) -> None:
        _SQLiteOps.__init__(self, storage, conn)
        SqlWriter.__init__(self)

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    async def _run_many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, params)


class SQLiteStorage(StorageBackend):
    """SQLite storage in one database file."""

    engine = "sqlite"

    def __init__(self, path: str | Path, *, synchronous: str = "normal") -> None:
        self.path = str(path)
        self.synchronous = synchronous
        self._read_conn: sqlite3.Connection | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._thread_conns: list[sqlite3.Connection] = []
        self._thread_conns_lock = threading.Lock()
        self._changes_at_analyze = 0

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._write_conn = _connect(self.path, synchronous=self.synchronous)
            await self._migrate(self._write_conn)
            await self._analyze(self._write_conn)
            self._read_conn = _connect(self.path, synchronous=self.synchronous)
            self._read_conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the SQLite database {self.path!r}: {exc}", original=exc) from exc
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kinbase-sqlite")

    async def stop(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
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

    async def ping(self) -> bool:
        try:
            async with self.reader() as reader:
                await reader.get_meta("ping")
        except BaaSError:
            return False
        return True

    # -- readers and writers -----------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[Reader]:
        conn = self._read_conn
        if conn is None:
            raise StorageError("the SQLite storage is not started")
        try:
            yield SQLiteReader(self, conn)
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite read failed: {exc}", original=exc) from exc

    @contextlib.asynccontextmanager
    async def writer(self) -> AsyncIterator[Writer]:
        conn = self._write_conn
        if conn is None:
            raise StorageError("the SQLite storage is not started")
        async with self._write_lock:
            await self._begin(conn)
            try:
                yield SQLiteWriter(self, conn)
            except BaseException as exc:
                conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StorageError(f"SQLite write failed: {exc}", original=exc) from exc
                raise
            try:
                if self.synchronous == "full":
                    await asyncio.get_running_loop().run_in_executor(self._executor, conn.execute, "COMMIT")
                else:
                    conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StorageError(f"SQLite commit failed: {exc}", original=exc) from exc
            if conn.total_changes - self._changes_at_analyze > _ANALYZE_EVERY_CHANGES:
                await self._analyze(conn)

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
                    raise StorageError(f"SQLite cannot begin a transaction: {exc}", original=exc) from exc
                if time.monotonic() > deadline:
                    raise StorageError(
                        "the SQLite database stayed locked; retry later", original=exc
                    ) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    # -- statements that may take long -------------------------------------------------------
    def _thread_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, synchronous=self.synchronous)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._thread_conns_lock:
                self._thread_conns.append(conn)
        return conn

    async def _read_long(self, sql: str, params: Sequence[Any]) -> list[Row]:
        def run() -> list[Row]:
            return self._thread_conn().execute(sql, params).fetchall()

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)

    async def _run_long(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Row]:
        def run() -> list[Row]:
            return conn.execute(sql, params).fetchall()

        return await asyncio.get_running_loop().run_in_executor(self._executor, run)
