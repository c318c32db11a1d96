"""The SQLite write connection's page cache stays small: every page a write changes is copied into
it and stays after the commit, so with the readers' 64-MiB cache a worker's heap grew with the
database (docs/performance.md, "Server memory over a 30-minute mixed run")."""

from __future__ import annotations

import ctypes
import secrets
from pathlib import Path
from typing import Any

import pytest

from kinbase.storage.base import NewVersion, WriteContext
from kinbase.storage.sqlite import SQLiteStorage
from kinbase.storage.sqlite import files as sqlite_module

pytestmark = pytest.mark.anyio


def _sqlite_memory_used() -> int | None:
    """Bytes allocated by the SQLite library kinbase runs on (the bundled one), or None."""
    try:
        from pysqlite3 import _sqlite3  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # pragma: no cover - Python's own sqlite3
        return None
    used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    used.restype = ctypes.c_int64
    return int(used())


def _build(doc: dict[str, Any]) -> Any:
    def build(ctx: WriteContext) -> NewVersion:
        return NewVersion(doc, creator="u1", grants=[])

    return build


async def test_the_write_connection_has_a_small_cache_and_spills_late(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "kinbase.db")
    await storage.start()
    try:
        write, read = storage._write_conn, storage._read_conn
        assert write is not None and read is not None
        assert write.execute("PRAGMA cache_size").fetchone()[0] == -sqlite_module.WRITE_CACHE_KIB
        # spilling stays on (a multiple of 256 would read as "off"), at the old cache's size
        assert write.execute("PRAGMA cache_spill").fetchone()[0] == sqlite_module.WRITE_SPILL_PAGES
        assert read.execute("PRAGMA cache_size").fetchone()[0] == -sqlite_module.READ_CACHE_KIB
    finally:
        await storage.stop()


async def test_sqlite_memory_stays_bounded_while_the_database_grows(tmp_path: Path) -> None:
    before = _sqlite_memory_used()
    if before is None:  # pragma: no cover - Python's own sqlite3
        pytest.skip("sqlite3_memory_used needs the bundled SQLite (pysqlite3)")
    storage = SQLiteStorage(tmp_path / "kinbase.db", group_commit=True)
    await storage.start()
    try:
        async with storage.writer() as w:
            app = await w.create_app("k" + secrets.token_hex(4), "a", "s", "m", {})
            await w.ensure_parent(app.id, "test.kind", "things")
        pad = "x" * 4000
        for batch in range(50):  # 5,000 documents of 4 KB: the database grows by ~47 MB
            async with storage.grouped_writer(("things",)) as w:
                parent = await w.ensure_parent(app.id, "test.kind", "things")
                for i in range(100):
                    await w.put(parent, f"d{batch}-{i}", _build({"n": i, "pad": pad + str(i)}))
            async with storage.reader() as r:
                stored = await r.get_parent(app.id, "test.kind", "things")
                assert stored is not None
                await r.get_object(stored, f"d{batch}-0")
        size = sum(p.stat().st_size for p in tmp_path.iterdir())
        grown = (_sqlite_memory_used() or 0) - before
        assert size > 30 * 2**20
        # with a 64-MiB write cache it held every new page: +45 MiB here
        assert grown < 20 * 2**20, (grown, size)
    finally:
        await storage.stop()
