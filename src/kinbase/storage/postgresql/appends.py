"""Optimistic puts on PostgreSQL: their locked part, appended to a collection by one transaction
per batch.

A writer that may run again (:attr:`kinbase.storage.base.Writer.optimistic`) and puts a new object
predicts its stamp instead of locking the parent first (:meth:`Ahead.claim`): above the parent's
stamp as read, and above every stamp this process claimed on it, so claims are distinct and in
the order they were made. The put's statements (the parent's check and stamp,
``kinbase_advance_parent``, with the insert and the grants in one statement, then the index
entries) are not sent on the writer's connection: they wait in the parent's queue (a
:class:`Slot`, reserved with the claim, so the queue is in stamp order). When the writer's
block ends the slot is ready; a task of the parent takes the ready slots at the head of the
queue and runs them in one transaction, on one connection, in one round trip: the parent's row
lock is held for no round trip to the client,
and one commit serves every writer of the batch, in one round trip (:meth:`Ahead._run`).

- **Acknowledged after the commit.** A writer's block exits only when its batch committed.
- **A wrong prediction writes nothing.** Another process (or a writer of this one that locked
  the parent first) may have moved the parent on: ``kinbase_advance_parent`` fails, the batch rolls
  back, and every member gets :class:`~kinbase.storage.exceptions.StampConflict` (any other
  failure of a batch too): each runs its transaction again, locking first.
- **A writer that fails or leaves withdraws its slot**; one that needs an answer after its put
  (a read, a statement whose result it waits for) sends its statements on its own connection
  instead (:meth:`Slot.withdraw`), as a plain optimistic put.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg

from kinbase.storage.exceptions import StampConflict, StorageError
from kinbase.storage.postgresql.errors import broken
from kinbase.storage.stamps import now_ms

__all__ = ["MAX_BATCH", "Ahead", "Slot", "merge"]

log = logging.getLogger(__name__)

MAX_BATCH = 64
"""Most slots committed by one transaction."""

_MAX_STAMPS = 10_000
"""Parents whose last claimed stamp a process remembers."""

Statement = tuple[str, Sequence[Any], bool]
"""SQL, parameters, and whether the parameters are a sequence of rows (executemany)."""

Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]


_MERGEABLE = (
    "WITH o AS (INSERT INTO objects ",
    "INSERT INTO field_values ",
    "INSERT INTO compound_values ",
)
"""The statements of a new object's optimistic put
(:meth:`~kinbase.storage.sql.objects.ObjectWriter._put_ahead`)."""


def merge(batch: Sequence[Slot]) -> list[tuple[str, list[Sequence[Any]]]] | None:
    """The statements of ``batch`` as one ``executemany`` per statement, in the order each first
    appears, or None when a member queued a statement other than a new object's own (the
    parent's check and stamp with the insert of the object and its grants,
    :attr:`~kinbase.storage.sql.statements.Dialect.put_ahead`, then its index entries).

    Those commute across members: each ``kinbase_advance_parent`` still runs in stamp order (the
    members are), every other statement inserts rows of its own member's new object only, after
    that object's insert (the put's statement comes first in every member). psycopg then sends a
    statement's parameters row by row without a cursor and a result per statement: less of the
    process per member."""
    groups: dict[tuple[str, bool], list[Sequence[Any]]] = {}
    for slot in batch:
        for sql, params, many in slot.statements:
            if not sql.startswith(_MERGEABLE):
                return None
            rows = groups.setdefault((sql, many), [])
            if many:
                rows.extend(params)
            else:
                rows.append(params)
    return [(sql, rows) for (sql, _), rows in groups.items()]


class Slot:
    """One writer's place in its parent's queue: its statements, and whether they are ready."""

    __slots__ = ("done", "ready", "stamp", "statements")

    def __init__(self, stamp: int, loop: asyncio.AbstractEventLoop) -> None:
        self.stamp = stamp
        self.statements: list[Statement] = []
        self.ready: asyncio.Future[bool] = loop.create_future()
        """True: committed with the batch; False: withdrawn."""
        self.done: asyncio.Future[None] = loop.create_future()

    def finish(self) -> None:
        if not self.ready.done():
            self.ready.set_result(True)

    def withdraw(self) -> None:
        if not self.ready.done():
            self.ready.set_result(False)


class Ahead:
    """A process's optimistic puts: the last stamp claimed on each parent and the queues of
    slots by parent.

    Args:
        connect: lends a pooled connection (autocommit) for one batch.
    """

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._stamps: dict[int, int] = {}
        self._queues: dict[int, deque[Slot]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0
        """Transactions run (for tests and measurements)."""

    def saw(self, parent_id: int, stamp: int) -> None:
        """A stamp the parent was given (so later claims go above it)."""
        if stamp > self._stamps.get(parent_id, -1):
            if len(self._stamps) >= _MAX_STAMPS:
                self._stamps.clear()
            self._stamps[parent_id] = stamp

    def predict(self, parent_id: int, parent_stamp: int) -> int:
        """``max(now, the parent's stamp + 1)``, above every stamp claimed on it here."""
        stamp = max(now_ms(), parent_stamp + 1, self._stamps.get(parent_id, -1) + 1)
        self.saw(parent_id, stamp)
        return stamp

    def claim(self, parent_id: int, parent_stamp: int) -> Slot:
        """Predict a stamp and reserve its slot in the parent's queue (in stamp order)."""
        loop = asyncio.get_running_loop()
        slot = Slot(self.predict(parent_id, parent_stamp), loop)
        queue = self._queues.get(parent_id)
        if queue is None:
            queue = self._queues[parent_id] = deque()
            task = loop.create_task(self._drain(parent_id, queue), name="kinbase-appends")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queue.append(slot)
        return slot

    async def _drain(self, parent_id: int, queue: deque[Slot]) -> None:
        try:
            while queue:
                if not await asyncio.shield(queue[0].ready):
                    queue.popleft()
                    continue
                batch: list[Slot] = []
                while queue and len(batch) < MAX_BATCH and queue[0].ready.done():
                    slot = queue.popleft()
                    if slot.ready.result():
                        batch.append(slot)
                await self._commit(batch)
        finally:
            if self._queues.get(parent_id) is queue:
                del self._queues[parent_id]
            for slot in queue:  # only if this task was cancelled
                if not slot.done.done():
                    slot.done.set_exception(StampConflict("The write was interrupted; retry."))

    @staticmethod
    async def _run(conn: psycopg.AsyncConnection[Any], batch: list[Slot]) -> None:
        """The batch's transaction in one round trip: its one statement alone, in autocommit,
        else ``BEGIN``, the statements and ``COMMIT`` sent as plain statements in one
        pipeline, answered after its closing Sync (psycopg's
        ``transaction()`` synchronises after ``BEGIN`` and after ``COMMIT``: three round trips).
        A statement that fails makes the server skip the rest up to the Sync and leaves the
        transaction aborted: it is rolled back here, which also makes psycopg forget the
        statements it prepared in the skipped part."""
        alone = batch[0].statements if len(batch) == 1 else ()
        if len(alone) == 1 and not alone[0][2]:
            # One statement (a lone put without index entries): in autocommit it is its own
            # transaction, committed (synchronously) when it returns, and undone if it fails:
            # no BEGIN, no COMMIT, no pipeline.
            await conn.execute(alone[0][0], alone[0][1])
            return
        merged = merge(batch) if len(batch) > 1 else None
        try:
            async with conn.pipeline():
                await conn.execute("BEGIN")
                if merged is not None:
                    async with conn.cursor() as cur:
                        for sql, rows in merged:
                            await cur.executemany(sql, rows)
                else:
                    for slot in batch:
                        for sql, params, many in slot.statements:
                            if many:
                                async with conn.cursor() as cur:
                                    await cur.executemany(sql, params)
                            else:
                                await conn.execute(sql, params)
                await conn.execute("COMMIT")
        except BaseException:
            try:
                await conn.rollback()
            except psycopg.Error:
                await conn.close()  # the pool replaces it
            raise

    async def _commit(self, batch: list[Slot]) -> None:
        self.batches += 1
        failure: BaseException | None = None
        unknown = False
        committed = False
        try:
            async with self._connect() as conn:
                await self._run(conn, batch)
            committed = True
        except (psycopg.Error, UnicodeEncodeError) as exc:
            # A statement failed: nothing was committed, every member runs again on its own,
            # locking first, and meets its own error there. The connection failed: whether the
            # COMMIT took effect is unknown, and nothing is run again (a 503 says "retry").
            log.debug("an optimistic batch of %d failed: %r", len(batch), exc)
            failure = exc
            unknown = broken(exc)
        finally:
            for slot in batch:
                if slot.done.done():
                    continue
                if committed:
                    slot.done.set_result(None)
                    continue
                error: StorageError = (
                    StorageError("The database failed to write; retry later.", original=failure)
                    if unknown
                    else StampConflict("Another writer came first; retry.", original=failure)
                )
                slot.done.set_exception(error)
                slot.done.exception()  # retrieved: a member that left does not warn
