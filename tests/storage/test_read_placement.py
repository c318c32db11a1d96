"""Where SQLite runs a read (issue 20): a read that no index bounds runs on an executor thread,
an index probe (field or compound index, the id, an index walk in sort order up to the limit)
runs on the event loop; a tiny collection is scanned on the loop. The threads are recorded
(deterministic), nothing is timed. The ``indexed`` flag itself is checked on both dialects."""

from __future__ import annotations

import secrets
import threading
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from kinbase.query.ast import IndexDef, Query, SortKey
from kinbase.query.mongo import parse_filter
from kinbase.query.sql import CompileContext, Sql, compile_find
from kinbase.storage.base import AclFilter, FindOptions, NewVersion, StorageBackend, SystemColumns
from kinbase.storage.indexing import build_index
from kinbase.storage.postgresql import PostgreSQLStorage
from kinbase.storage.sql.reader import SCAN_ON_LOOP_ROWS, SqlReader
from kinbase.storage.sqlite import SQLiteStorage
from tests.conftest import POSTGRES_URL
from tests.support.databases import private_postgresql

pytestmark = pytest.mark.anyio

KIND = "test.placement"


def _record(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The threads on which SQLite statements ran off the loop (``_budgeted``: reads on a thread)."""
    seen: list[int] = []
    budgeted = SQLiteStorage._budgeted

    def recorded(self: SQLiteStorage, *args: Any, **kwargs: Any) -> Any:
        seen.append(threading.get_ident())
        return budgeted(self, *args, **kwargs)

    monkeypatch.setattr(SQLiteStorage, "_budgeted", recorded)
    return seen


async def test_sqlite_runs_scans_on_a_thread_and_probes_on_the_loop(
    sqlite_storage: StorageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = sqlite_storage
    async with storage.writer() as w:
        app = await w.create_app("kid_" + secrets.token_hex(8), "placement", "s" * 16, "m" * 16, {})
        parent = await w.ensure_parent(app.id, KIND, "items")
        await w.put_many(
            parent,
            [
                (
                    f"d{i:04d}",
                    lambda ctx, i=i: NewVersion({"status": ["todo", "done"][i % 2], "n": i, "k": i % 7}),
                )
                for i in range(600)
            ],
        )
        parent = await w.create_index(parent, ("k",))
        parent = await w.create_index(parent, ("n",), prefix=(("status",),))
        tiny = await w.ensure_parent(app.id, KIND, "tiny")
        await w.put_many(tiny, [(f"t{i}", lambda ctx, i=i: NewVersion({"n": i})) for i in range(10)])
        tiny = await w.ensure_parent(app.id, KIND, "tiny")
    loop = threading.get_ident()
    seen = _record(monkeypatch)

    async def run(target: Any, query: Query, since: int | None = None) -> int:
        async with storage.reader() as r:
            options = FindOptions(columns=SystemColumns(id=("_id",)), since=since)
            return len(await r.find(target, query, options))

    scans = {
        "unindexed filter": Query(parse_filter({"n": {"$gt": 590}})),
        "unindexed sort": Query(None, (SortKey(("n",), True),), limit=5),
        "negated probe": Query(parse_filter({"k": {"$ne": 3}})),
        "or with an unindexed branch": Query(parse_filter({"$or": [{"k": 3}, {"n": 4}]})),
    }
    for title, query in scans.items():
        seen.clear()
        assert await run(parent, query) > 0, title
        assert seen and loop not in seen, title

    probes = {
        "field index": Query(parse_filter({"k": 3})),
        "compound, filter + sort + limit": Query(
            parse_filter({"status": "todo"}), (SortKey(("n",), True),), 50
        ),
        "compound probe": Query(parse_filter({"status": "done", "n": {"$lt": 100}})),
        "by id": Query(parse_filter({"_id": "d0007"})),
        "or of probes": Query(parse_filter({"$or": [{"k": 3}, {"k": 4}]})),
        "tiny collection scan": Query(parse_filter({"n": {"$gt": 5}})),
        "changes since a stamp": Query(parse_filter({"n": {"$gt": 5}})),
    }
    for title, query in probes.items():
        seen.clear()
        target = tiny if title.startswith("tiny") else parent
        since = parent.stamp - 1 if title.startswith("changes") else None  # (the last write)
        assert await run(target, query, since) > 0, title
        assert seen == [], title
    assert tiny.live <= SCAN_ON_LOOP_ROWS < parent.live


def _flag(query: Query, dialect: str, **kw: Any) -> bool:
    ctx = CompileContext(dialect, 1, **kw)  # type: ignore[arg-type]
    ph = "?" if dialect == "sqlite" else "%s"
    sql: Sql = compile_find(query, ctx, select="o.oid", where=Sql(f"o.parent_id = {ph}", [1]))
    return sql.indexed


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_indexed_flag(dialect: str) -> None:
    k = IndexDef(("k",), 1)
    compound = IndexDef(("n",), 2, prefix=(("status",),))
    kw: dict[str, Any] = {"indexes": {("k",): k}, "compounds": (compound,), "id_path": ("_id",)}
    desc = (SortKey(("n",), True),)
    assert _flag(Query(parse_filter({"k": 1})), dialect, **kw)
    assert _flag(Query(parse_filter({"k": 1, "x": 2})), dialect, **kw)
    assert _flag(Query(parse_filter({"status": "a"}), desc, limit=10), dialect, **kw)
    assert _flag(Query(parse_filter({"_id": "a"})), dialect, **kw)
    assert _flag(Query(None, (SortKey(("k",)),), limit=10), dialect, **kw)
    assert not _flag(Query(None, (SortKey(("k",)),)), dialect, **kw)  # the whole index, no limit
    assert not _flag(Query(parse_filter({"x": 1})), dialect, **kw)
    assert not _flag(Query(parse_filter({"k": {"$not": {"$eq": 1}}})), dialect, **kw)
    assert not _flag(Query(parse_filter({"$nor": [{"k": 1}]})), dialect, **kw)
    assert not _flag(Query(parse_filter({"$or": [{"k": 1}, {"x": 1}]})), dialect, **kw)
    assert _flag(Query(parse_filter({"$or": [{"k": 1}, {"k": 2}]})), dialect, **kw)
    assert not _flag(Query(), dialect, **kw)


@pytest.fixture
async def private_pg() -> AsyncIterator[PostgreSQLStorage]:
    """A schema of its own: the plan depends on the tables' statistics, which the rows other tests
    leave in the shared schema move (one run in CI chose a merge join over the whole
    ``compound_values`` of the shared schema)."""
    async with private_postgresql("placement") as storage:
        yield storage


async def test_postgresql_walks_a_fresh_compound_index_first(private_pg: PostgreSQLStorage) -> None:
    """Statistics are refreshed when an index becomes ready: with none (a fresh table) PostgreSQL
    drove an owner's filter + sort from the grants and probed the index range once per object
    (seconds for 10,000 objects); with them the walk of the index is the outer loop and stops at
    the limit."""
    storage = private_pg
    async with storage.writer() as w:
        app = await w.create_app("kid_" + secrets.token_hex(8), "plan", "s" * 16, "m" * 16, {})
        parent = await w.ensure_parent(app.id, KIND, "owned")
    assert isinstance(storage, PostgreSQLStorage)
    async with await psycopg.AsyncConnection.connect(POSTGRES_URL, autocommit=True) as conn:
        # statistics taken before the load (as the benchmark's import did): stale afterwards
        await conn.execute(f'SET search_path TO "{storage.schema}"')
        await conn.execute("ANALYZE objects, grants, compound_values")
    async with storage.writer() as w:
        await w.put_many(
            parent,
            [
                (
                    f"d{i:04d}",
                    lambda ctx, i=i: NewVersion(
                        {"status": ["todo", "done"][i % 2], "n": i}, creator="u1", grants=[("read", "u1")]
                    ),
                )
                for i in range(10000)
            ],
        )
    assert await build_index(storage, app.id, KIND, "owned", ("n",), prefix=(("status",),))
    query = Query(parse_filter({"status": "todo"}), (SortKey(("n",), True),), limit=50)
    options = FindOptions(acl=AclFilter(("read",), ("u1",)))
    async with storage.reader() as r:
        fresh = await r.get_parent(app.id, KIND, "owned")
        assert fresh is not None
        assert isinstance(r, SqlReader)
        sql = r._compile(query, fresh, options, select="o.oid")
        plan = "\n".join(row[0] for row in await r._all("EXPLAIN " + sql.text, sql.params))
        found = await r.find(fresh, query, options)
    assert [int(o.id[1:]) for o in found][:3] == [9998, 9996, 9994]
    scans = [line.strip() for line in plan.splitlines() if "Scan" in line]
    assert "compound_values fs" in scans[0], plan
    assert plan.splitlines()[0].startswith("Limit"), plan


async def test_a_driver_error_inside_a_sqlite_reader_is_a_storage_error(
    sqlite_storage: StorageBackend,
) -> None:
    """What a reader's scope turns a driver error into, and that it does not swallow others."""
    from kinbase.storage.exceptions import StorageError
    from kinbase.storage.sqlite.driver import sqlite as sqlite3

    with pytest.raises(StorageError) as caught:
        async with sqlite_storage.reader():
            raise sqlite3.OperationalError("disk I/O error")
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    with pytest.raises(KeyError):
        async with sqlite_storage.reader():
            raise KeyError("x")
    async with sqlite_storage.reader() as reader:
        assert await reader.get_app("kid_none") is None
