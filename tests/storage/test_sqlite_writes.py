"""SQLite's write transaction holds the database's one write lock from ``BEGIN IMMEDIATE``: a
parent read by ``ensure_parent`` in it is already locked, and the put that follows does not read
it again (``ParentWriter.reads_locked``); stamps and counts stay those of a fresh read."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from kinbase.storage.base import NewVersion, WriteContext
from kinbase.storage.sqlite import SQLiteStorage

pytestmark = pytest.mark.anyio


def _build(doc: dict[str, Any]) -> Any:
    def build(ctx: WriteContext) -> NewVersion:
        return NewVersion(doc, creator="u1", grants=[("write", "user:u1")])

    return build


async def test_a_put_after_ensure_parent_reads_the_parent_once(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "kinbase.db", group_commit=True)
    await storage.start()
    try:
        async with storage.writer() as w:
            app = await w.create_app("k" + secrets.token_hex(4), "a", "s", "m", {})
            await w.ensure_parent(app.id, "test.kind", "things")
        reads: list[str] = []
        conn = storage._write_conn
        assert conn is not None
        conn.set_trace_callback(lambda sql: reads.append(sql) if "FROM parents" in sql else None)
        for round_ in range(2):
            async with storage.grouped_writer(("things",)) as w:
                parent = await w.ensure_parent(app.id, "test.kind", "things")
                first = await w.put(parent, f"a{round_}", _build({"n": 1}))
                again = await w.ensure_parent(app.id, "test.kind", "things")
                second = await w.put(again, f"b{round_}", _build({"n": 2}))
            assert first.object.stamp < second.object.stamp
        conn.set_trace_callback(None)
        assert len(reads) == 2  # one per transaction
        async with storage.reader() as r:
            stored = await r.get_parent(app.id, "test.kind", "things")
            assert stored is not None
            assert stored.live == 4 and stored.stamp == second.object.stamp
            got = await r.get_object(stored, "b1")
            assert got is not None and got.oid > first.object.oid
            assert await r.get_grants(got.oid) == [("write", "user:u1")]
    finally:
        await storage.stop()
