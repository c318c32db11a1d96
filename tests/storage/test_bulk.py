"""The bulk path (``put_many``, what ``kinbase import`` runs) leaves the same rows as one ``put``
per object: documents, stamps, grants, field and compound index entries; on SQLite and PostgreSQL
(where it sends each kind of row as arrays in one statement)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from kinbase.query.ast import Eq, Query, SortKey
from kinbase.storage.base import (
    AclFilter,
    AppRecord,
    Builder,
    FindOptions,
    NewVersion,
    ParentRecord,
    StorageBackend,
    WriteContext,
)

pytestmark = pytest.mark.anyio

KIND = "test.collection"


def _builder(doc: dict[str, Any], creator: str | None, grants: list[tuple[str, str]] | None) -> Builder:
    def build(ctx: WriteContext) -> NewVersion:
        return NewVersion(data={**doc, "_created": ctx.created}, creator=creator, grants=grants)

    return build


def _items(round_: int) -> list[tuple[str, dict[str, Any], str | None, list[tuple[str, str]] | None]]:
    """Objects with int and float values, arrays, missing fields, unicode ids and texts, objects
    with and without a creator and grants (``None`` keeps the current grants)."""
    out: list[tuple[str, dict[str, Any], str | None, list[tuple[str, str]] | None]] = []
    for i in range(40):
        doc: dict[str, Any] = {"status": ["todo", "done", "wait"][i % 3], "n": i * 1.5 if i % 2 else i}
        if i % 7 == 0:
            doc["n"] = [i, -i, "x"]
        if i % 11 == 0:
            del doc["status"]
        doc["t"] = f'élan "{i}" {{}} \\ \'{round_}'
        grants = None if round_ and i % 4 == 0 else [("read", f"user:{i % 5}"), ("write", f"user:{i % 5}")]
        out.append((f"é{i:03d}", doc, None if i % 6 == 0 else f"user:{i % 5}", grants))
    return out


async def _setup(storage: StorageBackend, app: AppRecord, name: str) -> ParentRecord:
    async with storage.writer() as w:
        parent = await w.ensure_parent(app.id, KIND, name)
        parent = await w.create_index(parent, ("n",))
        return await w.create_index(parent, ("n",), (("status",),))


async def _load(storage: StorageBackend, app: AppRecord, name: str, *, bulk: bool) -> None:
    for round_ in (0, 1):
        items = _items(round_)
        if round_:
            items = items[::-1][:30]
        async with storage.writer() as w:
            parent = await w.get_parent(app.id, KIND, name)
            assert parent is not None
            builders = [(oid, _builder(doc, creator, grants)) for oid, doc, creator, grants in items]
            if bulk:
                results = await w.put_many(parent, builders)
                assert [r.object.id for r in results] == [oid for oid, *_ in items]
            else:
                for object_id, build in builders:
                    await w.put(parent, object_id, build)
        if not round_:
            async with storage.writer() as w:  # a tombstone that the second round revives
                parent = await w.get_parent(app.id, KIND, name)
                assert parent is not None
                await w.delete(parent, "é039")


async def _state(storage: StorageBackend, app: AppRecord, name: str) -> dict[str, Any]:
    async with storage.reader() as r:
        parent = await r.get_parent(app.id, KIND, name)
        assert parent is not None
        objects = await r.find(parent, Query(sort=(SortKey(("_id",), 1),)))
        grants = {o.id: await r.get_grants(o.oid) for o in objects}
        by_oid = {o.oid: o.id for o in objects}
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for table, columns in (
            ("field_values", "slot, t, n, s, oid"),
            ("compound_values", "slot, g, t, n, s, oid"),
        ):
            found = await r._all(  # type: ignore[attr-defined]
                r.dialect(f"SELECT {columns} FROM {table} WHERE parent_id = ?"),  # type: ignore[attr-defined]
                (parent.id,),
            )
            rows[table] = sorted((*row[:-1], by_oid[row[-1]]) for row in found)
        queries = [
            Query(filter=Eq(("status",), "todo"), sort=(SortKey(("n",), -1),), limit=5),
            Query(sort=(SortKey(("n",), 1),)),
            Query(filter=Eq(("n",), 4.5)),
        ]
        acl = FindOptions(acl=AclFilter(("read",), ("user:2",)))
        answers = [[o.id for o in await r.find(parent, q)] for q in queries]
        answers.append([o.id for o in await r.find(parent, queries[0], acl)])
        return {
            "docs": {
                o.id: {k: v for k, v in orjson.loads(o.data).items() if k != "_created"} for o in objects
            },
            "creators": {o.id: o.creator for o in objects},
            "revived": (await r.get_object(parent, "é039")) is not None,
            "grants": grants,
            "live": parent.live,
            "multikey": [i.multikey for i in parent.indexes],
            "rows": rows,
            "answers": answers,
        }


async def test_put_many_leaves_what_puts_leave(storage: StorageBackend, app: AppRecord) -> None:
    await _setup(storage, app, "one_by_one")
    await _setup(storage, app, "bulk")
    await _load(storage, app, "one_by_one", bulk=False)
    await _load(storage, app, "bulk", bulk=True)
    expected = await _state(storage, app, "one_by_one")
    got = await _state(storage, app, "bulk")
    assert got == expected
    assert got["live"] == 40 and got["revived"]
    assert got["multikey"] == [True, True]
    assert got["grants"]["é004"] == [("read", "user:4"), ("write", "user:4")]  # kept (None)
    assert got["grants"]["é005"] == [("read", "user:0"), ("write", "user:0")]
    assert got["answers"][3] and all(("read", "user:2") in got["grants"][i] for i in got["answers"][3])


async def test_put_many_again_replaces(storage: StorageBackend, app: AppRecord) -> None:
    """Importing the same batch twice: the same objects, new stamps, no duplicate rows."""
    parent = await _setup(storage, app, "again")
    items = [(oid, _builder(doc, creator, grants)) for oid, doc, creator, grants in _items(0)]
    async with storage.writer() as w:
        first = await w.put_many(parent, items)
    before = await _state(storage, app, "again")
    async with storage.writer() as w:
        parent = await w.get_parent(app.id, KIND, "again")
        assert parent is not None
        second = await w.put_many(parent, items)
    assert all(r.created for r in first) and not any(r.created for r in second)
    assert [r.object.oid for r in second] == [r.object.oid for r in first]
    assert min(r.object.stamp for r in second) > max(r.object.stamp for r in first)
    assert await _state(storage, app, "again") == before
