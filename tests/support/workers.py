"""A second "worker": another storage engine instance over the same database, so that a test can
check what one process sees of another's changes (separate connections, separate caches)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from kinbase.storage.base import StorageBackend
from kinbase.storage.postgresql import PostgreSQLStorage
from kinbase.storage.sqlite import SQLiteStorage

__all__ = ["other_worker_storage"]


@contextlib.asynccontextmanager
async def other_worker_storage(storage: StorageBackend) -> AsyncIterator[StorageBackend]:
    """A started engine over the database of ``storage`` (stopped on exit)."""
    twin: StorageBackend
    if isinstance(storage, SQLiteStorage):
        twin = SQLiteStorage(storage.path)
    elif isinstance(storage, PostgreSQLStorage):
        twin = PostgreSQLStorage(storage.url, min_size=1, max_size=4, schema=storage.schema)
    else:  # pragma: no cover - every engine is listed above
        raise TypeError(type(storage).__name__)
    await twin.start()
    try:
        yield twin
    finally:
        await twin.stop()
