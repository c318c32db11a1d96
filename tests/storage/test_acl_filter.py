"""The ACL filter of lists and counts (issue 20): the caller's own objects pass on the creator
column, others on their grant rows; the same objects whatever the plan, on both engines. On SQLite
each row's grants are one seek by oid (the primary key), never a probe of ``grants_principal`` per
permission and principal."""

from __future__ import annotations

import re
import secrets

import pytest

from kinbase.query.ast import Query, Range, SortKey
from kinbase.storage.base import AclFilter, AppRecord, FindOptions, ParentRecord, StorageBackend
from kinbase.storage.sql.reader import SqlReader
from kinbase.storage.testing import put_doc

pytestmark = pytest.mark.anyio


async def _own_and_granted(storage: StorageBackend, app: AppRecord) -> ParentRecord:
    async with storage.writer() as w:
        parent = await w.ensure_parent(app.id, "test.acl", "things")
    await put_doc(storage, parent, "own", {"n": 1}, creator="1", grants=[("write", "user:1")])
    await put_doc(storage, parent, "own-no-grant", {"n": 2}, creator="1")
    await put_doc(storage, parent, "granted", {"n": 3}, creator="2", grants=[("read", "user:1")])
    await put_doc(storage, parent, "group", {"n": 4}, creator="2", grants=[("write", "group:g")])
    await put_doc(storage, parent, "other", {"n": 5}, creator="2", grants=[("write", "user:2")])
    return parent


@pytest.mark.parametrize(
    ("creator", "expected"),
    [("1", ["group", "granted", "own-no-grant", "own"]), (None, ["group", "granted", "own"])],
)
async def test_creator_column_and_grants(
    storage: StorageBackend, app: AppRecord, creator: str | None, expected: list[str]
) -> None:
    parent = await _own_and_granted(storage, app)
    options = FindOptions(acl=AclFilter(("read", "write"), ("group:g", "user:1"), creator=creator))
    by_n = Query(sort=(SortKey(("n",), descending=True),), limit=10)
    async with storage.reader() as r:
        assert [o.id for o in await r.find(parent, by_n, options)] == expected
        assert await r.count(parent, Query(), options) == len(expected)
        ranged = Query(filter=Range(("n",), "gte", 2))
        assert [o.id for o in await r.find(parent, ranged, options)] == [
            i for i in ("own-no-grant", "granted", "group") if i in expected
        ]
        # another caller: the creator column of someone else's objects gives nothing
        theirs = FindOptions(acl=AclFilter(("read", "write"), ("user:3",), creator="3"))
        assert await r.find(parent, by_n, theirs) == []


async def test_sqlite_seeks_grants_by_oid(sqlite_storage: StorageBackend) -> None:
    async with sqlite_storage.writer() as w:
        app = await w.create_app("kid_" + secrets.token_hex(8), "acl", "s" * 16, "m" * 16, {})
    parent = await _own_and_granted(sqlite_storage, app)
    for creator in ("1", None):
        options = FindOptions(acl=AclFilter(("read", "write"), ("group:g", "user:1"), creator=creator))
        query = Query(sort=(SortKey(("n",), descending=True),), limit=10)
        async with sqlite_storage.reader() as r:
            assert isinstance(r, SqlReader)
            sql = r._compile(query, parent, options, select="o.oid")
            plan = "\n".join(
                str(row[3]) for row in await r._all("EXPLAIN QUERY PLAN " + sql.text, sql.params)
            )
        assert re.search(r"SEARCH g (EXISTS )?USING PRIMARY KEY \(oid=\?\)", plan), plan  # 3.51: EXISTS
        assert "grants_principal" not in plan, plan
