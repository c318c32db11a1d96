"""The PostgreSQL engine: ``jsonb`` documents over a psycopg 3 connection pool.

A reader borrows a pooled connection in autocommit mode; a writer borrows one and runs one
transaction on it. Writers of one parent serialise on the parent's row lock (taken before the
stamp is bumped), so concurrent writers never reuse or reorder a stamp and never fail with a
conflict. A connection is checked before it is lent (one round trip) unless it served a request
without error in the last :data:`TRUSTED_SECONDS`: a busy server skips the check, and a connection
the server closed while it was idle does not fail the next request; a dead one is replaced at once
(:mod:`kinbase.storage.postgresql.pool`). Statements are prepared by psycopg after a few
executions. What a borrowed connection does (the reader, the writer in pipeline mode) is
:mod:`kinbase.storage.postgresql.connections`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg_pool import AsyncConnectionPool

from kinbase.storage.base import Reader, StorageBackend, Writer
from kinbase.storage.exceptions import StorageError
from kinbase.storage.feed import InvalidationFeed
from kinbase.storage.group import WriteGroups
from kinbase.storage.migrations import load_migrations
from kinbase.storage.postgresql.appends import Ahead
from kinbase.storage.postgresql.connections import DIALECT, READ_RETRIES, PGReader, PGWriter
from kinbase.storage.postgresql.errors import broken, classify
from kinbase.storage.postgresql.generic import GENERIC_MODE, GenericPlans
from kinbase.storage.postgresql.notify import NotifyFeed
from kinbase.storage.postgresql.pool import PoolKind, connection_class, loan
from kinbase.storage.postgresql.statistics import Statistics
from kinbase.storage.sql import Row
from kinbase.storage.sql.purge import purge_dropped, purge_leftovers

__all__ = [
    "ANALYZE_EVERY_ROWS",
    "DIALECT",
    "READ_RETRIES",
    "TRUSTED_SECONDS",
    "PGReader",
    "PGWriter",
    "PostgreSQLStorage",
]

TRUSTED_SECONDS = 2.0
"""A connection that finished a request without error this recently is lent without a check."""

ANALYZE_EVERY_ROWS = 50_000
"""Objects written by the bulk path (imports) after which this process refreshes the planner's
statistics, as SQLite's engine does (autovacuum may be off, or lag behind a bulk load)."""

RECONNECT_TIMEOUT = 30.0
"""How long the pool tries to refill a slot (with its exponential backoff) before it gives the slot
up; a request waiting for a connection then opens a new one at once. psycopg_pool's default, five
minutes, could leave a slot waiting a minute after the database came back."""


_CLIENT_ERRORS = (psycopg.Error, UnicodeEncodeError)

_MIGRATION_LOCK = int.from_bytes(hashlib.sha256(b"kinbase-migrations").digest()[:8], "big", signed=True)


class PostgreSQLStorage(StorageBackend):
    """PostgreSQL storage.

    Args:
        url: a libpq connection URL.
        min_size, max_size: the pool bounds.
        schema: a schema to create and use instead of the connection's default ``search_path``
            (tests give each run its own).
    """

    engine = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 2,
        max_size: int = 16,
        schema: str | None = None,
        query_timeout: float = 10.0,
        group_commit: bool = False,
        pool_timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.schema = schema
        self.query_timeout = query_timeout
        """How long one statement may run before the server cancels it (``statement_timeout``)."""
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]] | None = None
        self._planned: AsyncConnectionPool[psycopg.AsyncConnection[Row]] | None = None
        """Connections whose prepared statements are planned with each execution's values, for
        the compiled finds of readers (:class:`~.connections.PGReader`); opened on first use."""
        self._generic: AsyncConnectionPool[psycopg.AsyncConnection[Row]] | None = None
        """Connections whose prepared statements keep one generic plan, for the index walks whose
        generic plan was checked (:mod:`.generic`); opened on first use."""
        self.generic_plans = GenericPlans(functools.partial(self._connection, "generic"))
        self._min_size = min_size
        self.max_size = max_size
        self.pool_timeout = pool_timeout
        """How long a request waits for a connection before it gets its 503."""
        self.group_commit = group_commit
        self._ahead = Ahead(lambda: self._require_pool().connection())
        self.groups = WriteGroups(self.writer, self._member, purge=lambda ids: purge_dropped(self, ids))
        self._bulk_rows = 0
        self.statistics = Statistics(self._connection)
        self._used: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    async def _check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        used = self._used.get(conn)
        if used is not None and time.monotonic() - used < TRUSTED_SECONDS:
            return
        await AsyncConnectionPool.check_connection(conn)

    async def _loan(
        self, pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]] | None = None
    ) -> psycopg.AsyncConnection[Row]:
        """A connection of ``pool`` (the main pool by default), checked unless trusted
        (:func:`~kinbase.storage.postgresql.pool.loan`)."""
        return await loan(pool or self._require_pool(), self._check, self.pool_timeout)

    @contextlib.asynccontextmanager
    async def _connection(self, kind: PoolKind = "main") -> AsyncIterator[psycopg.AsyncConnection[Row]]:
        """A checked connection of the ``kind`` pool, for the block."""
        pool = self._require_pool(kind)
        conn = await self._loan(pool)
        try:
            yield conn
        finally:
            await pool.putconn(conn)

    def distrust(self) -> None:
        """Check every pooled connection before it is lent again (one was found dead: the others
        may be too, e.g. after a server restart or ``pg_terminate_backend``)."""
        self._used.clear()

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        # The query budget of every statement (a write's lock wait included), set once per
        # connection; migrations and index builds lift it for their own transaction.
        timeout_ms = max(1, int(self.query_timeout * 1000))
        await conn.execute(pgsql.SQL("SET statement_timeout = {}").format(pgsql.Literal(timeout_ms)))
        if self.schema is not None:
            await conn.execute(pgsql.SQL("SET search_path TO {}").format(pgsql.Identifier(self.schema)))
        await conn.execute("SET TIME ZONE 'UTC'")
        # JIT compilation made some generated statements take 0.1-9 s instead of milliseconds.
        await conn.execute("SET jit = off")

    async def _configure_planned(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await self._configure(conn)
        await conn.execute("SET plan_cache_mode = force_custom_plan")

    async def _configure_generic(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await self._configure(conn)
        await conn.execute(f"SET plan_cache_mode = {GENERIC_MODE}")

    async def start(self) -> None:
        try:
            if self.schema is not None:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(
                        pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(self.schema))
                    )
            self._pool = self._new_pool(self._configure, self._min_size, self.max_size, "kinbase")
            await self._pool.open(wait=True, timeout=10)
            # No connection until a find needs one; at most half the main pool's each.
            self._planned = self._new_pool(
                self._configure_planned, 0, max(1, self.max_size // 2), "kinbase-planned"
            )
            await self._planned.open(wait=False)
            self._generic = self._new_pool(
                self._configure_generic, 0, max(1, self.max_size // 2), "kinbase-generic"
            )
            await self._generic.open(wait=False)
            await self._migrate()
            await purge_leftovers(self)
        except (psycopg.Error, TimeoutError) as exc:
            await self.stop()
            raise StorageError("Cannot connect to PostgreSQL.", original=exc) from exc

    def _new_pool(
        self,
        configure: Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]],
        low: int,
        high: int,
        name: str,
    ) -> AsyncConnectionPool[psycopg.AsyncConnection[Row]]:
        return AsyncConnectionPool(
            self.url,
            min_size=low,
            max_size=high,
            kwargs={"autocommit": True},
            connection_class=connection_class(configure),
            timeout=self.pool_timeout,
            reconnect_timeout=RECONNECT_TIMEOUT,
            open=False,
            name=name,
        )

    async def stop(self) -> None:
        await self.statistics.stop()
        await self.generic_plans.stop()
        for pool in (self._generic, self._planned, self._pool):
            if pool is not None:
                await pool.close()
        self._pool = self._planned = self._generic = None

    def _require_pool(self, kind: PoolKind = "main") -> AsyncConnectionPool[psycopg.AsyncConnection[Row]]:
        """The main pool, the pool of the compiled finds (``planned``) or of the index walks on
        generic plans (``generic``)."""
        pool = self._planned if kind == "planned" else self._generic if kind == "generic" else self._pool
        if pool is None:
            raise StorageError("the PostgreSQL storage is not started")
        return pool

    async def _migrate(self) -> None:
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SET LOCAL statement_timeout = 0")
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version integer PRIMARY KEY, applied timestamptz)"
            )
            cur = await conn.execute("SELECT version FROM schema_migrations")
            applied = {row[0] for row in await cur.fetchall()}
            for migration in load_migrations("postgresql"):
                if migration.version in applied:
                    continue
                await conn.execute(migration.sql.encode())
                await conn.execute(
                    "INSERT INTO schema_migrations (version, applied) VALUES (%s, now())",
                    (migration.version,),
                )

    def pool_stats(self) -> dict[str, int]:
        if self._pool is None:
            return {}
        stats = self._pool.get_stats()
        size = stats.get("pool_size", 0)
        idle = stats.get("pool_available", 0)
        return {
            "size": size,
            "idle": idle,
            "in_use": size - idle,
            "waiting": stats.get("requests_waiting", 0),
            "max": self.max_size,
        }

    def grouped_writer(self, key: Hashable) -> AbstractAsyncContextManager[Writer]:
        return self.groups.writer(key) if self.group_commit else self.writer()

    @contextlib.asynccontextmanager
    async def _member(self, outer: Writer) -> AsyncIterator[Writer]:
        """One member of a group commit: a savepoint of the shared transaction. Its queued
        statements are sent before the savepoint is released, so its errors are its own."""
        assert isinstance(outer, PGWriter)
        pipeline = await outer._begin()
        conn = outer._conn
        try:
            async with conn.transaction():
                writer = PGWriter(conn, pipeline, self._ahead, queue=False)
                yield writer
                await pipeline.sync()
        except _CLIENT_ERRORS as exc:
            raise classify(exc, "write") from exc

    @property
    def identity(self) -> str:
        return f"postgresql:{self.url}:{self.schema or ''}"

    def invalidation_feed(self, origin: str) -> InvalidationFeed | None:
        return NotifyFeed(self.url, self.identity, origin, self._notify)

    async def _notify(self, channel: str, payload: str) -> int:
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT pg_notify(%s, %s),"
                " (SELECT count(*) FROM pg_stat_activity WHERE application_name = %s)",
                (channel, payload, channel),
            )
            row = await cursor.fetchone()
        return int(row[1]) if row is not None else 0

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(5), self._connection() as conn:
                await conn.execute("SELECT 1")
        except (psycopg.Error, StorageError, TimeoutError):
            return False
        return True

    @contextlib.asynccontextmanager
    async def reader(self) -> AsyncIterator[Reader]:
        self._require_pool()
        reader = PGReader(self)  # borrows its connection with its first statement
        try:
            yield reader
            if reader.pool is not None:
                self._used[reader._conn] = time.monotonic()
        except _CLIENT_ERRORS as exc:
            if broken(exc):
                self.distrust()
            raise classify(exc, "read") from exc
        finally:
            if reader.pool is not None and not reader.returned:
                await reader.pool.putconn(reader._conn)

    async def _analyze(self, conn: psycopg.AsyncConnection[Row]) -> None:
        """Fresh statistics after a bulk load: without them the planner keeps the row counts of
        the table's last analysis (none on a new database) and may pick a scan of a whole
        collection over an index probe. Statistics only steer plans: a failure is ignored."""
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL statement_timeout = 0")
                await conn.execute("ANALYZE objects, grants, field_values, compound_values")
        except psycopg.Error as exc:
            if broken(exc, conn):
                self.distrust()

    @contextlib.asynccontextmanager
    async def writer(self) -> AsyncIterator[Writer]:
        writer: PGWriter | None = None
        try:
            # the connection is lent by the first statement that needs one (none for an
            # optimistic put into a parent the caller read earlier)
            async with contextlib.AsyncExitStack() as lent:
                # the pipeline and the transaction are entered here once begun (PGWriter._begin)
                async with contextlib.AsyncExitStack() as stack:
                    writer = PGWriter(
                        lambda: lent.enter_async_context(self._connection()), stack, self._ahead
                    )
                    try:
                        yield writer
                    except BaseException:
                        if writer.slot is not None:
                            writer.slot.withdraw()
                        raise
                    if writer.slot is not None:
                        # ready as soon as the block ended: the batch may commit while this
                        # transaction (reads only, if one began) ends
                        writer.slot.finish()
                self.statistics.wrote()
                conn = writer.lent
                if conn is not None:
                    self._used[conn] = time.monotonic()
                    self._bulk_rows += writer.bulk_rows
                    if self._bulk_rows >= ANALYZE_EVERY_ROWS:
                        self._bulk_rows = 0
                        await self._analyze(conn)
            if writer.slot is not None:
                await asyncio.shield(writer.slot.done)
        except _CLIENT_ERRORS as exc:
            # A write is never retried here: whether a failed COMMIT took effect is unknown, and
            # the client was told nothing. The 503 it gets says "retry".
            if broken(exc):
                self.distrust()
            raise classify(exc, "write") from exc
        if writer.dropped:
            await purge_dropped(self, writer.dropped)
