"""Index walks on generic plans (storage/postgresql/generic.py): a compiled find that an index walk
answers (``Sql.walk``) runs prepared on the generic pool once the generic plan of its text was
checked to be that walk; before the check, and when the generic plan is anything else, it is
planned with its values on the planned pool, and the answers are the same either way."""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from kinbase.query.ast import IndexDef, Query, SortKey
from kinbase.query.mongo import parse_filter
from kinbase.query.sql import CompileContext, Sql, compile_find
from kinbase.storage.base import AclFilter, FindOptions, NewVersion, ParentRecord
from kinbase.storage.indexing import build_index
from kinbase.storage.postgresql import PostgreSQLStorage, generic
from kinbase.storage.postgresql.generic import is_walk, numbered
from kinbase.storage.sql.reader import SqlReader
from tests.support.databases import private_postgresql

pytestmark = pytest.mark.anyio

KIND = "test.collection"
OWNER = AclFilter(("read",), ("u1",))
WALK = Query(None, (SortKey(("n",), True),), limit=20)
COMPOUND_WALK = Query(parse_filter({"status": "todo"}), (SortKey(("n",), True),), limit=20)


class _NoIndexScans(PostgreSQLStorage):
    """Its generic pool plans without index scans: every generic plan of a walk is a bitmap scan
    and a sort, as a generic plan chosen from a few-row average would be."""

    async def _configure_generic(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await super()._configure_generic(conn)
        await conn.execute("SET enable_indexscan = off")
        await conn.execute("SET enable_indexonlyscan = off")


async def _storage(cls: type[PostgreSQLStorage]) -> AsyncIterator[PostgreSQLStorage]:
    async with private_postgresql("generic", cls) as storage:
        storage.statistics.delay = 3600
        yield storage


@pytest.fixture
async def storage() -> AsyncIterator[PostgreSQLStorage]:
    async for storage in _storage(PostgreSQLStorage):
        yield storage


@pytest.fixture
async def no_index_scans() -> AsyncIterator[PostgreSQLStorage]:
    async for storage in _storage(_NoIndexScans):
        yield storage


def _version(i: int, ctx: object) -> NewVersion:
    creator = "u1" if i % 3 else "u2"  # a third belongs to someone else
    return NewVersion(
        {"status": ["todo", "done"][i % 2], "n": i}, creator=creator, grants=[("read", creator)]
    )


async def _collection(storage: PostgreSQLStorage, name: str, count: int) -> ParentRecord:
    async with storage.writer() as w:
        app = await w.create_app("kid_" + secrets.token_hex(8), "Test app", "s", "m", {})
        parent = await w.ensure_parent(app.id, KIND, name)
        await w.put_many(parent, [(f"d{i:05d}", functools.partial(_version, i)) for i in range(count)])
    assert await build_index(storage, app.id, KIND, name, ("n",))
    assert await build_index(storage, app.id, KIND, name, ("n",), prefix=(("status",),))
    async with storage.reader() as r:
        fresh = await r.get_parent(app.id, KIND, name)
    assert fresh is not None
    return fresh


def _expected(count: int, query: Query) -> list[str]:
    ids = [i for i in range(count) if i % 3 and (query.filter is None or i % 2 == 0)]
    assert query.limit is not None
    return [f"d{i:05d}" for i in sorted(ids, reverse=True)[: query.limit]]


def _requests(storage: PostgreSQLStorage) -> int:
    assert storage._generic is not None
    return int(storage._generic.get_stats().get("requests_num", 0))


def _text(r: SqlReader, parent: ParentRecord, query: Query) -> str:
    return r._compile(query, parent, FindOptions(acl=OWNER), select=r.dialect(_COLUMNS)).text


_COLUMNS = "o.oid, o.id, o.stamp, o.created, o.creator, o.deleted, o.data::text"


# -- the flag -----------------------------------------------------------------------------------
def _walk_flag(query: Query, **context: Any) -> bool:
    ctx = CompileContext(
        "postgresql",
        1,
        indexes={("n",): IndexDef(("n",), 1)},
        compounds=(IndexDef(("n",), 2, prefix=(("status",),)),),
        id_path=("_id",),
        stamp_path=("last_modified",),
        **context,
    )
    return compile_find(query, ctx, select="o.oid", where=Sql("o.parent_id = %s", [1])).walk


def test_the_walk_flag_marks_an_index_walk_with_a_limit_only() -> None:
    assert _walk_flag(WALK)
    assert _walk_flag(COMPOUND_WALK)
    assert not _walk_flag(Query(None, (SortKey(("n",), True),)))  # no limit: the whole range
    assert not _walk_flag(Query(None, (SortKey(("other",), True),), limit=20))  # a top-N sort
    assert not _walk_flag(Query(parse_filter({"n": 5}), limit=20))  # a probe, no order
    assert not _walk_flag(Query(None, (SortKey(("last_modified",), True),), limit=20))  # a column
    assert not _walk_flag(Query(None, (SortKey(("n",), True),), limit=20), index_sort=False)


# -- the check ----------------------------------------------------------------------------------
def test_numbered_placeholders() -> None:
    assert numbered("a = %s AND b LIKE 'x%%' AND c IN (%s, %s)") == "a = $1 AND b LIKE 'x%' AND c IN ($2, $3)"


async def test_an_index_walk_runs_on_its_checked_generic_plan(storage: PostgreSQLStorage) -> None:
    parent = await _collection(storage, "items", 600)
    plans = storage.generic_plans
    for query in (WALK, COMPOUND_WALK):
        async with storage.reader() as r:
            assert isinstance(r, SqlReader)
            text = _text(r, parent, query)
        before = _requests(storage)
        async with storage.reader() as r:
            first = [o.id for o in await r.find(parent, query, FindOptions(acl=OWNER))]
        assert plans.verdict(text) in (None, True)  # the first run schedules the check (running now)
        await plans.wait()
        assert plans.verdict(text) is True
        assert _requests(storage) == before + 1  # the check's connection
        for _ in range(3):
            async with storage.reader() as r:
                again = [o.id for o in await r.find(parent, query, FindOptions(acl=OWNER))]
            assert first == again == _expected(600, query)
        assert _requests(storage) == before + 1 + 3  # every later find on the generic pool
        for _ in range(2):  # another statement text (its select list): checked on its own
            async with storage.reader() as r:
                texts = await r.find_texts(parent, query, FindOptions(acl=OWNER))
            await plans.wait()
            assert [json.loads(t)["n"] for t in texts] == [int(i[1:]) for i in first]
        async with storage.reader() as r:
            await r.find(parent, query, FindOptions(acl=OWNER))
            # the reader holds the generic connection: its statement is there, generic only
            row = await r._one(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = %s",
                (numbered(text),),  # as psycopg sent it
            )
        assert row is not None and row[0] >= 1 and row[1] == 0, row


async def test_a_generic_plan_that_is_not_the_walk_is_not_used(no_index_scans: PostgreSQLStorage) -> None:
    storage = no_index_scans
    parent = await _collection(storage, "items", 600)
    async with storage.reader() as r:
        assert isinstance(r, SqlReader)
        text = _text(r, parent, WALK)
        first = [o.id for o in await r.find(parent, WALK, FindOptions(acl=OWNER))]
    await storage.generic_plans.wait()
    assert storage.generic_plans.verdict(text) is False
    checked = _requests(storage)
    for _ in range(3):
        async with storage.reader() as r:
            assert [o.id for o in await r.find(parent, WALK, FindOptions(acl=OWNER))] == first
    assert first == _expected(600, WALK)
    assert _requests(storage) == checked  # planned with its values, on the planned pool


async def test_a_verdict_is_checked_again_when_stale(
    storage: PostgreSQLStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = await _collection(storage, "items", 100)
    async with storage.reader() as r:
        await r.find(parent, WALK, FindOptions(acl=OWNER))
    await storage.generic_plans.wait()
    checks = storage.generic_plans.checks
    async with storage.reader() as r:
        await r.find(parent, WALK, FindOptions(acl=OWNER))
    await storage.generic_plans.wait()
    assert storage.generic_plans.checks == checks  # fresh: not checked again
    monkeypatch.setattr(generic, "CHECK_SECONDS", 0.0)
    async with storage.reader() as r:
        found = [o.id for o in await r.find(parent, WALK, FindOptions(acl=OWNER))]
    await storage.generic_plans.wait()
    assert storage.generic_plans.checks == checks + 1
    assert found == _expected(100, WALK)


async def test_a_failed_check_is_a_verdict_against(storage: PostgreSQLStorage) -> None:
    plans = storage.generic_plans
    assert plans.allowed("SELECT o.oid FROM no_such_table o WHERE o.parent_id = %s", [1]) is False
    await plans.wait()
    assert plans.verdict("SELECT o.oid FROM no_such_table o WHERE o.parent_id = %s") is False


async def test_a_later_find_of_a_reader_on_the_generic_pool_is_planned_with_its_values(
    storage: PostgreSQLStorage,
) -> None:
    parent = await _collection(storage, "items", 300)
    async with storage.reader() as r:
        await r.find(parent, WALK, FindOptions(acl=OWNER))
    await storage.generic_plans.wait()
    unindexed = Query(parse_filter({"status": "done"}), (SortKey(("status",), False), SortKey(("n",), False)))
    async with storage.reader() as r:
        assert isinstance(r, SqlReader)
        walked = [o.id for o in await r.find(parent, WALK, FindOptions(acl=OWNER))]
        assert r.pool is storage._generic  # type: ignore[attr-defined]
        later = [o.id for o in await r.find(parent, unindexed, FindOptions(acl=OWNER))]
        mode = await r._one("SHOW plan_cache_mode")
    assert walked == _expected(300, WALK)
    assert later == [f"d{i:05d}" for i in range(300) if i % 3 and i % 2]
    assert mode is not None and mode[0] == "force_generic_plan"  # set back after the find


async def test_the_checked_plan_serves_collections_of_any_size(storage: PostgreSQLStorage) -> None:
    """One statement text for every collection (the parent is a value): the generic plan checked
    on a small one walks a large one in order, and stops at the limit."""
    small = await _collection(storage, "small", 40)
    large = await _collection(storage, "large", 3000)
    async with storage.reader() as r:
        await r.find(small, COMPOUND_WALK, FindOptions(acl=OWNER))
    await storage.generic_plans.wait()
    for parent, count in ((large, 3000), (small, 40), (large, 3000)):
        async with storage.reader() as r:
            found = [o.id for o in await r.find(parent, COMPOUND_WALK, FindOptions(acl=OWNER))]
        assert found == _expected(count, COMPOUND_WALK)
    async with storage.reader() as r:
        assert isinstance(r, SqlReader)
        sql = r._compile(COMPOUND_WALK, large, FindOptions(acl=OWNER), select=r.dialect(_COLUMNS))
    assert storage.generic_plans.verdict(sql.text) is True
    assert is_walk(await storage.generic_plans._explain(sql.text, tuple(sql.params)))
