"""SQLite's change-stamp index holds each document's JSON text (migration 0004,
``objects_parent_stamp_doc``): a Kinto page in stamp order (``_since`` syncs, the default
``-last_modified``), tombstones and the caller's own objects included, is one walk of it that
reads nothing from the table; a database from before the migration gets the index at start and
answers the same."""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import Any

import pytest

from kinbase.query.ast import Query, SortKey
from kinbase.storage.base import AclFilter, FindOptions, ParentRecord, SystemColumns
from kinbase.storage.sql.reader import SqlReader
from kinbase.storage.sqlite import SQLiteStorage
from kinbase.storage.sqlite.driver import sqlite
from kinbase.storage.testing import put_doc

pytestmark = pytest.mark.anyio

KINTO = SystemColumns(id=("id",), stamp=("last_modified",))
NEWEST_FIRST = Query(sort=(SortKey(("last_modified",), descending=True),), limit=10_001)


async def _seeded(storage: SQLiteStorage) -> tuple[ParentRecord, int]:
    async with storage.writer() as w:
        app = await w.create_app("kid_" + secrets.token_hex(8), "stamps", "s" * 16, "m" * 16, {})
        parent = await w.ensure_parent(app.id, "kinto.records", "b/c")
    first = (await put_doc(storage, parent, "r0", {"id": "r0", "n": 0}, creator="account:a")).object.stamp
    for i in range(1, 6):
        await put_doc(storage, parent, f"r{i}", {"id": f"r{i}", "n": i, "s": 'é,"]}'}, creator="account:a")
    async with storage.writer() as w:
        assert await w.delete(parent, "r2") is not None
    return parent, first


def _indexes(path: Path) -> set[str]:
    with contextlib.closing(sqlite.connect(path)) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


async def test_a_page_in_stamp_order_reads_only_the_index(tmp_path: Path) -> None:
    storage = SQLiteStorage(tmp_path / "kinbase.db")
    await storage.start()
    try:
        parent, first = await _seeded(storage)
        acl = AclFilter(("read",), ("account:a",), creator="account:a")
        statements: list[tuple[str, Any]] = []
        async with storage.reader() as r:
            assert isinstance(r, SqlReader)
            run = r._all

            async def recording(sql: str, params: Any = (), **kwargs: Any) -> Any:
                statements.append((sql, params))
                return await run(sql, params, **kwargs)

            r._all = recording  # type: ignore[method-assign]
            for options in (
                FindOptions(include_deleted=True, since=first, columns=KINTO),
                FindOptions(include_deleted=True, since=first, acl=acl, columns=KINTO),
                FindOptions(columns=KINTO),
            ):
                count, joined, _, _ = await r.find_joined(parent, NEWEST_FIRST, options)
                assert count == 5
                tombstone_first = joined.startswith('{"deleted":true,"id":"r2","last_modified":')
                assert tombstone_first == options.include_deleted
                await r.find_texts(parent, NEWEST_FIRST, options)
            r._all = run  # type: ignore[method-assign]
            for sql, params in statements:
                plan = "\n".join(str(row[3]) for row in await r._all("EXPLAIN QUERY PLAN " + sql, params))
                assert "SEARCH o USING COVERING INDEX objects_parent_stamp_doc" in plan, (sql, plan)
    finally:
        await storage.stop()


async def test_a_database_from_before_the_index_gets_it_at_start(tmp_path: Path) -> None:
    path = tmp_path / "kinbase.db"
    storage = SQLiteStorage(path)
    await storage.start()
    options = FindOptions(include_deleted=True, columns=KINTO)
    try:
        parent, first = await _seeded(storage)
        async with storage.reader() as r:
            before = await r.find_joined(parent, NEWEST_FIRST, options)
            since = await r.find_joined(parent, NEWEST_FIRST, FindOptions(since=first, columns=KINTO))
    finally:
        await storage.stop()
    assert before[0] == 6 and since[0] == 4
    with contextlib.closing(sqlite.connect(path)) as conn:  # the schema of migration 0001
        conn.execute("DROP INDEX objects_parent_stamp_doc")
        conn.execute("CREATE INDEX objects_parent_stamp ON objects (parent_id, stamp)")
        conn.execute("DELETE FROM schema_migrations WHERE version = 4")
        conn.commit()
    assert "objects_parent_stamp_doc" not in _indexes(path)
    storage = SQLiteStorage(path)
    await storage.start()
    try:
        async with storage.reader() as r:
            assert await r.find_joined(parent, NEWEST_FIRST, options) == before
            assert await r.find_joined(parent, NEWEST_FIRST, FindOptions(since=first, columns=KINTO)) == since
    finally:
        await storage.stop()
    found = _indexes(path)
    assert "objects_parent_stamp_doc" in found and "objects_parent_stamp" not in found
    with contextlib.closing(sqlite.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
