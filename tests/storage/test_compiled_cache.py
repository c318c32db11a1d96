"""Statements compiled once per query shape (``SqlReader._compiled``): a statement taken from the
cache binds this read's own values (the parent, the caller's principals), and queries that Python
holds equal but MongoDB does not (``1``, ``1.0``, ``true``) are never confused."""

from __future__ import annotations

import pytest

from kinbase.query.ast import Eq, Query, SortKey
from kinbase.storage.base import AclFilter, AppRecord, FindOptions, StorageBackend
from kinbase.storage.sql import reader as reader_module
from kinbase.storage.testing import put_doc

pytestmark = pytest.mark.anyio


async def test_a_cached_statement_binds_each_readers_values(storage: StorageBackend, app: AppRecord) -> None:
    async with storage.writer() as w:
        first = await w.ensure_parent(app.id, "test.compiled", "first")
        second = await w.ensure_parent(app.id, "test.compiled", "second")
    for parent in (first, second):
        for n, creator in enumerate(("1", "2", "1")):
            await put_doc(storage, parent, f"{parent.name}-{n}", {"n": n}, creator=creator)
    by_n = Query(sort=(SortKey(("n",), descending=True),), limit=10)
    reader_module._COMPILED.clear()
    async with storage.reader() as r:
        for parent in (first, second, first):
            for creator, expected in (("1", [2, 0]), ("2", [1]), ("3", [])):
                options = FindOptions(acl=AclFilter(("read",), (f"user:{creator}",), creator=creator))
                found = await r.find(parent, by_n, options)
                assert [o.id for o in found] == [f"{parent.name}-{n}" for n in expected]
                assert await r.find_texts(parent, by_n, options) == [o.data for o in found]
    # one statement per parent and select list, whoever reads: the callers' values are bound
    assert len(reader_module._COMPILED) == 4


async def test_values_equal_in_python_are_different_queries(storage: StorageBackend, app: AppRecord) -> None:
    async with storage.writer() as w:
        parent = await w.ensure_parent(app.id, "test.compiled", "types")
    for object_id, value in (("int", 1), ("float", 1.5), ("true", True)):
        await put_doc(storage, parent, object_id, {"v": value})
    async with storage.reader() as r:
        for value, expected in (
            (1, ["int"]),
            (True, ["true"]),
            (1.0, ["int"]),
            (True, ["true"]),
            (1, ["int"]),
        ):
            found = await r.find(parent, Query(filter=Eq(("v",), value)))
            assert [o.id for o in found] == expected, value
        # a value Python cannot hash is a query as any other
        assert await r.find(parent, Query(filter=Eq(("v",), [1, 2]))) == []
