"""Build a field index on a live parent without stopping its writers.

:meth:`Writer.create_index` fills an index in one transaction, holding the parent's lock (and on
SQLite the database's write lock) for the whole scan: fine for a small parent, a stall for a large
one. :func:`build_index` declares the index (writes maintain it from then on), fills it in short
transactions of ``batch`` objects each, then lets reads use it. Writers wait at most one batch.
A build that stops half-way (a crash) leaves an index that writes maintain and reads do not use;
building it again resumes it (filling is idempotent).
"""

from __future__ import annotations

import asyncio

from kinbase.storage.base import StorageBackend
from kinbase.types import Path, Stamp

__all__ = ["build_index"]


async def build_index(
    storage: StorageBackend,
    app_id: int,
    kind: str,
    name: str,
    path: Path,
    *,
    batch: int = 500,
    prefix: tuple[Path, ...] = (),
) -> bool:
    """Declare, fill and enable the index on ``path`` of the parent ``(app_id, kind, name)``
    (the compound index on ``(*prefix, path)`` with a ``prefix``).

    Returns False if the parent does not exist (nothing to index), True once the index is ready.
    """
    async with storage.writer() as writer:
        parent = await writer.get_parent(app_id, kind, name)
        if parent is None:
            return False
        if any(i.path == path and i.prefix == prefix for i in parent.ready_indexes):
            return True
        await writer.begin_index(parent, path, prefix)
    after: tuple[Stamp, int] | None = None
    while True:
        await asyncio.sleep(0)  # let other requests in between batches (SQLite runs on the loop)
        async with storage.writer() as writer:
            parent = await writer.get_parent(app_id, kind, name)
            if parent is None:
                return False
            after = await writer.fill_index(parent, path, after, batch, prefix)
            if after is None:
                await writer.finish_index(parent, path, prefix)
                return True
