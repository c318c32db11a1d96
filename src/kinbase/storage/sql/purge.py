"""Purging detached parents (dropped collections) in bounded transactions.

``Writer.delete_parent`` only renames the parent out of its app's namespace; its rows are deleted
here after the commit, :data:`PURGE_CHUNK` objects per transaction, yielding to the event loop
between transactions, so other writers and readers go on while a collection of any size is
dropped. A process that stops midway leaves a detached parent that no read can reach; the next
start of any worker purges it (:func:`purge_leftovers`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from kinbase.errors import BaaSError
from kinbase.storage.base import StorageBackend
from kinbase.storage.sql.parents import ParentWriter
from kinbase.storage.sql.reader import SqlReader

__all__ = ["PURGE_CHUNK", "purge_dropped", "purge_leftovers"]

PURGE_CHUNK = 1000


async def purge_dropped(storage: StorageBackend, parent_ids: Iterable[int]) -> None:
    """Delete the rows of detached parents, a chunk per transaction."""
    for parent_id in parent_ids:
        while True:
            async with storage.writer() as writer:
                assert isinstance(writer, ParentWriter)
                deleted = await writer.purge_chunk(parent_id, PURGE_CHUNK)
            if deleted == 0:
                break
            await asyncio.sleep(0)


async def purge_leftovers(storage: StorageBackend) -> None:
    """Finish the purges a stopped process left (called at start; best effort: a failure is left
    to the next start, the detached rows are unreachable meanwhile)."""
    try:
        async with storage.reader() as reader:
            assert isinstance(reader, SqlReader)
            dropped = await reader.dropped_parents()
        await purge_dropped(storage, dropped)
    except BaaSError:
        return
