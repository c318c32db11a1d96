"""Large writes as a series of bounded transactions.

A transaction that touches hundreds of thousands of objects holds the write lock (SQLite: the
whole database; PostgreSQL: the parent's row) and, on SQLite, the event loop for as long as it
runs: a 600,000-entity multi-insert once kept every reader waiting 31 s. The helpers here split
such writes into transactions of a bounded number of objects, yielding to the event loop in
between, so readers and other writers go on. What a client sees when one fails midway is stated by
each caller (the deletions and insertions already committed stay; each is a normal change, with
its own stamp, in the collection's history).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from kinbase.query.ast import Query
from kinbase.storage.base import FindOptions, ParentRecord, StorageBackend

__all__ = ["DELETE_CHUNK", "delete_matching_in_chunks"]

DELETE_CHUNK = 200
"""Objects tombstoned per transaction by :func:`delete_matching_in_chunks`."""


async def delete_matching_in_chunks(
    storage: StorageBackend,
    app_id: int,
    kind: str,
    name: str,
    query: Query,
    options: FindOptions | None = None,
    *,
    check: Callable[[ParentRecord], None] | None = None,
    chunk: int = DELETE_CHUNK,
) -> int:
    """Tombstone every live object of the parent ``(app_id, kind, name)`` that ``query`` (its
    filter and order) selects, ``chunk`` per transaction; returns how many. ``check`` is called
    with the parent in each transaction and may raise to stop (nothing more is deleted).

    A query with a window (``skip`` or ``limit``) is applied in one transaction: its window is
    only defined over one snapshot. If a transaction fails, the chunks before it stay deleted
    and the error propagates; running the same deletion again deletes the rest.
    """
    windowed = query.skip > 0 or query.limit is not None
    step = Query(filter=query.filter, sort=query.sort, fields=query.fields, limit=None if windowed else chunk)
    if windowed:
        step = query
    total = 0
    while True:
        async with storage.writer() as writer:
            parent = await writer.get_parent(app_id, kind, name)
            if parent is None:
                return total
            if check is not None:
                check(parent)
            deleted = len(await writer.delete_matching(parent, step, options))
        total += deleted
        if windowed or deleted < chunk:
            return total
        await asyncio.sleep(0)
