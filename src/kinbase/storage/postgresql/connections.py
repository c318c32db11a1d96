"""What one borrowed PostgreSQL connection does for a request: :class:`PGReader` (autocommit
reads, run again on a fresh connection when theirs died) and :class:`PGWriter` (one transaction
in pipeline mode, begun with the first statement that needs it), and the engine's SQL
:data:`DIALECT`. The pool, the checks before a loan and the group commit are the engine's
(:class:`~kinbase.storage.postgresql.PostgreSQLStorage`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import AsyncPipeline
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from kinbase.storage.base import ParentRecord
from kinbase.storage.postgresql.appends import Ahead, Slot
from kinbase.storage.postgresql.bulk import PGBulkWriter
from kinbase.storage.postgresql.errors import broken
from kinbase.storage.postgresql.generic import GENERIC_MODE
from kinbase.storage.postgresql.pool import PoolKind
from kinbase.storage.sql import Dialect, Row, SqlReader
from kinbase.types import Stamp

if TYPE_CHECKING:
    from kinbase.storage.postgresql import PostgreSQLStorage

__all__ = ["DIALECT", "READ_RETRIES", "PGReader", "PGWriter"]

READ_RETRIES = 2
"""How many times a read statement is run again after its connection was found dead."""

DIALECT = Dialect(
    name="postgresql",
    placeholder="%s",
    json_param="%s::jsonb",
    text_cast="::text",
    for_update="FOR UPDATE",
    next_oid="nextval(pg_get_serial_sequence('objects', 'oid'))",
    put_ahead=(
        "WITH o AS (INSERT INTO objects (oid, parent_id, id, stamp, created, creator, deleted, data) "
        "SELECT COALESCE(a.oid, nextval(pg_get_serial_sequence('objects', 'oid'))), "
        "a.parent_id, a.id, a.stamp, a.stamp, a.creator, false, a.data "
        "FROM (VALUES (%s::bigint, %s::bigint, %s::text, %s::bigint, %s::text, %s::jsonb, %s::bigint)) "
        "AS a (oid, parent_id, id, stamp, creator, data, version), "
        "LATERAL kinbase_advance_parent(a.parent_id, a.version, a.stamp, 1) RETURNING oid) "
        "INSERT INTO grants (oid, perm, principal) "
        "SELECT o.oid, g.perm, g.principal FROM o, unnest(%s::text[], %s::text[]) AS g (perm, principal)"
    ),
)


def _point_cursor(conn: psycopg.AsyncConnection[Row]) -> psycopg.AsyncCursor[Row]:
    """The connection's cursor for point reads, made with its first one and kept (a cursor per
    statement, as ``AsyncConnection.execute`` makes, costs ~8 µs of CPU). A connection serves
    one reader at a time, whose statements run one after another; the cursor holds one row."""
    cur: psycopg.AsyncCursor[Row] | None = getattr(conn, "_kinbase_point", None)
    if cur is None or cur.closed:
        cur = conn.cursor()
        conn._kinbase_point = cur  # type: ignore[attr-defined]
    return cur


class _PGOps:
    dialect = DIALECT

    def __init__(self, conn: psycopg.AsyncConnection[Row]) -> None:
        self._conn = conn

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        cur = await self._conn.execute(sql, params)
        return await cur.fetchone()

    async def _all(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        long: bool = False,
        custom_plan: bool = False,
        walk: bool = False,
    ) -> list[Row]:
        # custom_plan: never prepared, so PostgreSQL plans each execution with its values.
        cur = await self._conn.execute(sql, params, prepare=False if custom_plan else None)
        return await cur.fetchall()


class PGReader(_PGOps, SqlReader):
    """Reads in autocommit mode: each statement stands alone, so one that failed because its
    connection was gone (terminated by the server, a restart, the network) is run again on a
    fresh connection, checked just before. A connection can pass the check and die an instant
    later (a backend handles ``pg_terminate_backend`` asynchronously), so a read gets up to
    :data:`READ_RETRIES` such retries; past them the caller gets its 503.

    The connection is borrowed by the first statement, from the pool that suits it: an index
    walk (``walk``) whose generic plan was checked to be the walk
    (:class:`~kinbase.storage.postgresql.generic.GenericPlans`) takes one of the *generic* pool,
    where it is prepared and keeps that plan; another compiled find (``custom_plan``: lists,
    counts, ``_group``, Kinto pages) takes one of the *planned* pool, whose prepared statements
    are planned with each execution's values (``plan_cache_mode = force_custom_plan``): the
    parse is saved without a generic plan chosen from average selectivities. Any other first
    statement (a point read) takes one of the main pool, whose prepared statements keep their
    generic plans. Later statements of the reader use the connection it has: there, a compiled
    find that may not run on a generic plan is not prepared (the main pool plans an unprepared
    statement with its values), and on the generic pool it is run under ``force_custom_plan``."""

    def __init__(self, storage: PostgreSQLStorage) -> None:
        self._storage = storage
        self._retries = READ_RETRIES
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]] | None = None
        """The pool of the connection this reader holds (None until its first statement)."""
        self.returned = False
        """The connection went back to the pool (no good one was found to retry on)."""

    async def _take(self, kind: PoolKind) -> psycopg.AsyncConnection[Row]:
        if self.pool is None:
            self.pool = self._storage._require_pool(kind)
            self._conn = await self._storage._loan(self.pool)
        return self._conn

    async def _retry_conn(self, exc: psycopg.Error) -> psycopg.AsyncConnection[Row]:
        """A connection to run the failed statement again on, checked now (the others of the
        pool may have died at the same moment), whatever its last use."""
        if self._retries <= 0 or not broken(exc, self._conn) or self.pool is None:
            raise exc
        self._retries -= 1
        self._storage.distrust()
        self.returned = True
        await self.pool.putconn(self._conn)  # the pool drops a broken connection
        try:
            self._conn = await self._storage._loan(self.pool)
        except PoolTimeout:
            raise exc from None
        self.returned = False
        return self._conn

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        conn = await self._take("main")
        while True:
            try:
                cur = _point_cursor(conn)
                await cur.execute(sql, params)
                return await cur.fetchone()
            except psycopg.Error as exc:
                conn = await self._retry_conn(exc)

    async def _all(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        long: bool = False,
        custom_plan: bool = False,
        walk: bool = False,
    ) -> list[Row]:
        storage = self._storage
        generic = walk and storage.generic_plans.allowed(sql, params)
        conn = await self._take("generic" if generic else "planned" if custom_plan else "main")
        # the connection's pool, not the statement, may differ from the first statement's
        prepare: bool | None = None
        switch = False  # run under force_custom_plan on a generic connection
        if custom_plan and self.pool is storage._generic:
            prepare, switch = (True, False) if generic else (False, True)
        elif custom_plan and self.pool is not storage._planned:
            prepare = False  # the main pool: planned with its values all the same
        while True:
            try:
                if switch:
                    return await self._custom_on_generic(conn, sql, params)
                cur = await conn.execute(sql, params, prepare=prepare)
                return await cur.fetchall()
            except psycopg.Error as exc:
                conn = await self._retry_conn(exc)

    @staticmethod
    async def _custom_on_generic(
        conn: psycopg.AsyncConnection[Row], sql: str, params: Sequence[Any]
    ) -> list[Row]:
        """A compiled find planned with its values on a connection of the generic pool (a later
        statement of a reader whose first was a generic walk): rare, so two more round trips."""
        await conn.execute("SET plan_cache_mode = force_custom_plan")
        try:
            cur = await conn.execute(sql, params, prepare=False)
            return await cur.fetchall()
        finally:
            await conn.execute(f"SET plan_cache_mode = {GENERIC_MODE}")


class PGWriter(_PGOps, PGBulkWriter):
    """A transaction in pipeline mode: statements whose answer is not needed (``_send``) travel
    with the next one that needs an answer, or with the commit. A put costs two round trips while
    it holds the parent's lock: the lock with the object read and an oid reservation, then the
    writes with the commit.

    The transaction (and the pipeline) begins with the first statement that is not a
    :meth:`_one_before` read: a writer that only looks its parent up and queues an optimistic put
    (:mod:`.appends`) opens none, and costs its connection one round trip (no ``BEGIN``, no
    ``COMMIT``, no pipeline synchronisation). The connection itself may be lent when the first
    statement needs it (``conn`` a callable): a writer that queues an optimistic put into a
    parent it did not read (:attr:`~kinbase.storage.base.Writer.puts_ahead`) borrows none."""

    puts_ahead = True

    def __init__(
        self,
        conn: psycopg.AsyncConnection[Row] | Callable[[], Awaitable[psycopg.AsyncConnection[Row]]],
        pipeline: AsyncPipeline | contextlib.AsyncExitStack,
        ahead: Ahead,
        *,
        queue: bool = True,
    ) -> None:
        self._lend: Callable[[], Awaitable[psycopg.AsyncConnection[Row]]] | None = None
        if isinstance(conn, psycopg.AsyncConnection):
            _PGOps.__init__(self, conn)
        else:
            self._lend = conn
        PGBulkWriter.__init__(self)
        self._pipeline: AsyncPipeline | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        if isinstance(pipeline, AsyncPipeline):
            self._pipeline = pipeline
        else:
            self._stack = pipeline
            """Where the pipeline and the transaction are entered when the first statement needs them."""
        self._ahead = ahead
        self._queue = queue
        self.slot: Slot | None = None
        """The queued locked part of an optimistic put (:mod:`.appends`), until the block ends."""

    @property
    def lent(self) -> psycopg.AsyncConnection[Row] | None:
        """The connection, if one was lent to this writer yet."""
        return None if self._lend is not None else self._conn

    async def _connect(self) -> None:
        """Borrow the connection, if not yet (a lazy writer's first statement)."""
        if self._lend is not None:
            self._conn = await self._lend()
            self._lend = None

    async def _begin(self) -> AsyncPipeline:
        """The transaction's pipeline, the pipeline and the transaction entered if not yet."""
        if self._pipeline is None:
            assert self._stack is not None
            await self._connect()
            self._pipeline = await self._stack.enter_async_context(self._conn.pipeline())
            await self._stack.enter_async_context(self._conn.transaction())
        return self._pipeline

    async def _one_before(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        if self._pipeline is not None or self.slot is not None:
            return await self._one(sql, params)
        await self._connect()
        cur = _point_cursor(self._conn)
        await cur.execute(sql, params)  # autocommit: one statement, one round trip
        return await cur.fetchone()

    async def _claim_stamp(self, parent: ParentRecord) -> Stamp:
        await self._unqueue()
        if not self._queue or self._wrote:
            return self._ahead.predict(parent.id, parent.stamp)
        self.slot = self._ahead.claim(parent.id, parent.stamp)
        return self.slot.stamp

    def _saw_stamp(self, parent_id: int, stamp: Stamp) -> None:
        self._ahead.saw(parent_id, stamp)

    async def _unqueue(self) -> None:
        """Send the queued statements on this connection (an answer is needed after them)."""
        slot, self.slot = self.slot, None
        if slot is None:
            return
        slot.withdraw()
        await self._begin()
        for sql, params, many in slot.statements:
            if many:
                await self._run_many(sql, params)
            else:
                await self._send(sql, params)

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        await self._unqueue()
        await self._begin()
        return await super()._one(sql, params)

    async def _all(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        long: bool = False,
        custom_plan: bool = False,
        walk: bool = False,
    ) -> list[Row]:
        await self._unqueue()
        await self._begin()
        return await super()._all(sql, params, custom_plan=custom_plan)

    async def _run(self, sql: str, params: Sequence[Any] = (), *, long: bool = False) -> int:
        await self._unqueue()
        pipeline = await self._begin()
        self._wrote = True
        cur = await self._conn.execute(sql, params)
        await pipeline.sync()
        return cur.rowcount

    async def _send(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self.slot is not None:
            self.slot.statements.append((sql, params, False))
            return
        await self._begin()
        self._wrote = True
        await self._conn.execute(sql, params)

    async def _one_each(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[Row | None]:
        await self._unqueue()
        pipeline = await self._begin()
        cursors = [await self._conn.execute(sql, params) for sql, params in statements]
        await pipeline.sync()
        return [await cur.fetchone() for cur in cursors]

    async def _run_many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        if self.slot is not None:
            self.slot.statements.append((sql, list(params), True))
            return
        await self._begin()
        self._wrote = True
        async with self._conn.cursor() as cur:
            await cur.executemany(sql, params)
