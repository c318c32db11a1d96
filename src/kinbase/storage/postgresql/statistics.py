"""Fresh planner statistics without relying on autovacuum.

PostgreSQL plans a find from its statistics of the tables, and every collection lives in the
same ``objects`` table: the planner's idea of how many rows a collection holds is what the last
``ANALYZE`` saw. A collection that grew since (10,000 Kinto records written into a new bucket)
is planned as if it held a few rows: a Kinto page of 50 sorted by ``last_modified`` then sorts
the whole collection (a bitmap scan and a sort, ~45 ms) instead of reading 50 entries of the
``(parent_id, stamp)`` index. Autovacuum would analyze the table eventually: after a minute at
best, after 10 % of the table changed, and not at all where it is off (as on the benchmark
machine).

So each worker that wrote checks, :data:`CHECK_DELAY` seconds after its first write since the
last check, which of its tables changed by more than :data:`MIN_CHANGED` rows and
:data:`CHANGED_FRACTION` of their live rows since their last analysis
(``pg_stat_user_tables.n_mod_since_analyze``, counted by PostgreSQL for every process), and
analyzes those; one worker at a time (an advisory lock; the others skip). Statistics only steer
plans: a failure is logged and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import psycopg

from kinbase.storage.exceptions import StorageError
from kinbase.storage.sql import Row

__all__ = ["CHANGED_FRACTION", "CHECK_DELAY", "MIN_CHANGED", "TABLES", "Statistics"]

log = logging.getLogger(__name__)

CHECK_DELAY = 10.0
"""Seconds between a write and the check it schedules (writes meanwhile share the check)."""

MIN_CHANGED = 500
CHANGED_FRACTION = 0.05
"""A table is analyzed once more than ``max(MIN_CHANGED, CHANGED_FRACTION * live rows)`` of its
rows were inserted, updated or deleted since its last analysis (autovacuum's defaults: 50 and
10 %; a lower fraction so that a new collection growing in a large table is seen sooner)."""

TABLES = ("objects", "grants", "field_values", "compound_values")

_LOCK = int.from_bytes(hashlib.sha256(b"kinbase-analyze").digest()[:8], "big", signed=True)

_STALE = (
    "SELECT relname FROM pg_stat_user_tables "
    "WHERE schemaname = current_schema() AND relname = ANY(%s) "
    "AND n_mod_since_analyze > greatest(%s, %s * n_live_tup) ORDER BY relname"
)

Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Row]]]


class Statistics:
    """The statistics check of one worker's engine: :meth:`wrote` after each committed write."""

    def __init__(self, connect: Connect, delay: float = CHECK_DELAY) -> None:
        self._connect = connect
        self.delay = delay
        self._task: asyncio.Task[list[str]] | None = None

    def wrote(self) -> None:
        """A write committed: check the tables in :attr:`delay` seconds, unless a check is
        already waiting (it will see this write's changes too)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._later(), name="kinbase-statistics")

    async def _later(self) -> list[str]:
        await asyncio.sleep(self.delay)
        return await self.refresh()

    async def refresh(self) -> list[str]:
        """Analyze the tables that changed enough; returns their names (none if another worker
        holds the lock or the check failed)."""
        try:
            async with self._connect() as conn:
                cur = await conn.execute(_STALE, (list(TABLES), MIN_CHANGED, CHANGED_FRACTION))
                stale = [str(row[0]) for row in await cur.fetchall()]
                if not stale:
                    return []
                async with conn.transaction():
                    cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_LOCK,))
                    locked = await cur.fetchone()
                    if locked is None or not locked[0]:
                        return []
                    await conn.execute("SET LOCAL statement_timeout = 0")
                    await conn.execute("ANALYZE " + ", ".join(stale))  # names from TABLES only
                return stale
        except (psycopg.Error, StorageError, OSError) as exc:  # statistics only steer plans
            log.warning("could not refresh the planner's statistics (%s)", exc)
            return []

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
