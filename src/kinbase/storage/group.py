"""Group commit: writers of one collection that queue up share one transaction.

Writers of one parent serialise anyway (SQLite's single writer, PostgreSQL's row lock on the
parent), and each pays a whole transaction: its begin, its lock, its commit (PostgreSQL: a round
trip and a WAL flush). A grouped writer (:meth:`StorageBackend.grouped_writer`) instead joins the
**batch** of its key while one is open: a task of the batch holds one transaction and runs the
members one after another, each in a savepoint of its own with its own writer (so nothing a member
read or locked leaks into the next one's view), then commits once.

- **Each member its own result.** A member's block runs in its own task, as with an ordinary
  writer; an exception in it rolls back its savepoint only and reaches that member's caller. The
  others carry on.
- **Acknowledged after the commit, never before.** A member's block is done when its savepoint is
  released, but its ``async with`` exits only when the batch's ``COMMIT`` returned; if the commit
  fails, every member of the batch gets the error (a 503 "retry"), none is acknowledged.
  Commits stay synchronous: no write is ever acknowledged before it is durable.
- **No waiting for company.** A batch commits as soon as no member is queued: a lone writer pays
  only a hand-over between two tasks; under load the writers that queued while a transaction was
  busy form the next batch. At most :data:`MAX_MEMBERS` members share a transaction, so other
  processes' writers are not held off for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import AbstractAsyncContextManager

from kinbase.errors import BaaSError
from kinbase.storage.base import Writer
from kinbase.storage.exceptions import StorageError

__all__ = ["MAX_MEMBERS", "WriteGroups"]

log = logging.getLogger(__name__)

MAX_MEMBERS = 64
"""Most writers sharing one transaction."""

Outer = Callable[[], AbstractAsyncContextManager[Writer]]
Member = Callable[[Writer], AbstractAsyncContextManager[Writer]]


class _Batch:
    __slots__ = ("committed", "dropped", "members", "open", "turns")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.turns: deque[tuple[asyncio.Future[Writer], asyncio.Future[None]]] = deque()
        self.committed: asyncio.Future[None] = loop.create_future()
        self.open = True
        self.members = 0
        self.dropped: list[int] = []


class WriteGroups:
    """The open batches of one engine, by key.

    Args:
        outer: the engine's ordinary transaction (begin, commit or roll back).
        member: runs one member in a savepoint of the outer transaction and yields its writer; on
            an exception it rolls the savepoint back and re-raises.
        purge: purges the parents the members detached (after the commit).
    """

    def __init__(
        self,
        outer: Outer,
        member: Member,
        purge: Callable[[list[int]], Awaitable[None]] | None = None,
        *,
        max_members: int = MAX_MEMBERS,
    ) -> None:
        self._outer = outer
        self._member = member
        self._purge = purge
        self._max = max_members
        self._batches: dict[Hashable, _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0
        """Transactions committed or failed (for tests and measurements)."""

    @contextlib.asynccontextmanager
    async def writer(self, key: Hashable) -> AsyncIterator[Writer]:
        loop = asyncio.get_running_loop()
        batch = self._batches.get(key)
        if batch is None or not batch.open or batch.members >= self._max:
            batch = _Batch(loop)
            self._batches[key] = batch
            task = loop.create_task(self._run(key, batch), name="kinbase-group-commit")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        turn: asyncio.Future[Writer] = loop.create_future()
        done: asyncio.Future[None] = loop.create_future()
        batch.turns.append((turn, done))
        batch.members += 1
        try:
            shared = await turn
            async with self._member(shared) as writer:
                yield writer
                dropped: list[int] = getattr(writer, "dropped", [])
                batch.dropped.extend(dropped)
        finally:
            if not done.done():
                done.set_result(None)
        await asyncio.shield(batch.committed)

    async def _run(self, key: Hashable, batch: _Batch) -> None:
        try:
            async with self._outer() as shared:
                while batch.turns:
                    turn, done = batch.turns.popleft()
                    if turn.cancelled():
                        continue
                    turn.set_result(shared)
                    await done
                batch.open = False
                if self._batches.get(key) is batch:
                    del self._batches[key]
        except BaseException as exc:
            batch.open = False
            if self._batches.get(key) is batch:
                del self._batches[key]
            error = exc if isinstance(exc, BaaSError) else StorageError("The write failed; retry later.")
            for turn, _ in batch.turns:
                if not turn.done():
                    turn.set_exception(error)
            batch.committed.set_exception(error)
            batch.committed.exception()  # retrieved: members that left early do not warn
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self.batches += 1
        batch.committed.set_result(None)
        if batch.dropped and self._purge is not None:
            await self._purge(batch.dropped)
