"""The storage contract: one pytest suite every engine must pass.

Bind it to an engine by subclassing :class:`StorageContract` in a test module that provides a
``storage`` fixture (a started :class:`~kinbase.storage.base.StorageBackend`) and an ``app``
fixture (a fresh :class:`~kinbase.storage.base.AppRecord` per test), with the anyio pytest plugin.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from typing import Any

import orjson
import pytest

from kinbase.errors import AlreadyExists, BaaSError, PreconditionFailed
from kinbase.query.ast import ElemMatch, Eq, Query, Range, SortKey
from kinbase.storage.base import (
    AclFilter,
    AppRecord,
    FindOptions,
    NewVersion,
    ParentRecord,
    StorageBackend,
    StoredObject,
    SystemColumns,
    WriteContext,
)
from kinbase.storage.stamps import now_ms

__all__ = ["StorageContract", "put_doc"]


def _builder(doc: dict[str, Any], creator: str | None = None, grants: list[tuple[str, str]] | None = None):  # type: ignore[no-untyped-def]
    def build(ctx: WriteContext) -> NewVersion:
        return NewVersion(
            data={**doc, "_stamp": ctx.stamp, "_created": ctx.created}, creator=creator, grants=grants
        )

    return build


async def put_doc(
    storage: StorageBackend,
    parent: ParentRecord,
    object_id: str,
    doc: dict[str, Any],
    *,
    creator: str | None = None,
    grants: list[tuple[str, str]] | None = None,
) -> Any:
    """Store one document in its own transaction; returns the PutResult."""
    async with storage.writer() as w:
        return await w.put(parent, object_id, _builder(doc, creator, grants))


async def _parent(storage: StorageBackend, app: AppRecord, name: str = "things") -> ParentRecord:
    async with storage.writer() as w:
        return await w.ensure_parent(app.id, "test.collection", name)


def _ids(objects: list[Any]) -> list[str]:
    return [o.id for o in objects]


def _same(a: StoredObject | None, b: StoredObject | None) -> bool:
    """Equal objects; the JSON text may be formatted differently by the engine."""
    if a is None or b is None:
        return a is b
    return dataclasses.replace(a, data="") == dataclasses.replace(b, data="") and orjson.loads(
        a.data
    ) == orjson.loads(b.data)


@pytest.mark.anyio
class StorageContract:
    """Behaviour every storage engine must have."""

    # -- apps ----------------------------------------------------------------------------
    async def test_app_lifecycle(self, storage: StorageBackend) -> None:
        key = "kid_" + secrets.token_hex(6)
        async with storage.writer() as w:
            app = await w.create_app(key, "Demo", "s3cret", "m4ster", {"default_api_version": 3})
        assert app.key == key and app.name == "Demo" and app.settings == {"default_api_version": 3}
        async with storage.reader() as r:
            assert await r.get_app(key) == app
            assert await r.get_app_by_id(app.id) == app
            assert key in [a.key for a in await r.list_apps()]
        async with storage.writer() as w:
            updated = await w.update_app(app.id, name="Renamed", settings={"x": 1})
        assert (
            updated.name == "Renamed" and updated.settings == {"x": 1} and updated.version == app.version + 1
        )
        with pytest.raises(AlreadyExists):
            async with storage.writer() as w:
                await w.create_app(key, "Again", "a", "b", {})
        async with storage.writer() as w:
            assert await w.delete_app(app.id) is True
            assert await w.delete_app(app.id) is False
        async with storage.reader() as r:
            assert await r.get_app(key) is None

    async def test_put_new_skips_the_lookup(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        async with storage.writer() as w:
            result = await w.put(parent, "fresh", _builder({"n": 1}), new=True)
        assert result.created and result.previous is None
        async with storage.reader() as r:
            found = await r.get_object(parent, "fresh")
        assert found is not None and orjson.loads(found.data)["n"] == 1
        with pytest.raises(BaaSError):
            async with storage.writer() as w:
                await w.put(parent, "fresh", _builder({"n": 2}), new=True)

    async def test_meta(self, storage: StorageBackend) -> None:
        key = "k" + secrets.token_hex(4)
        async with storage.writer() as w:
            await w.set_meta(key, "one")
            await w.set_meta(key, "two")
        async with storage.reader() as r:
            assert await r.get_meta(key) == "two"
            assert await r.get_meta(key + "x") is None
        # read_meta (the invalidation feed's per-request read) sees the latest commit at once
        assert await storage.read_meta(key) == "two"
        assert await storage.read_meta(key + "x") is None
        async with storage.writer() as w:
            await w.set_meta(key, "three")
        assert await storage.read_meta(key) == "three"

    async def test_apps_are_isolated(self, storage: StorageBackend, app: AppRecord) -> None:
        async with storage.writer() as w:
            other = await w.create_app("kid_" + secrets.token_hex(6), "Other", "a", "b", {})
        mine = await _parent(storage, app)
        theirs = await _parent(storage, other)
        assert mine.id != theirs.id
        await put_doc(storage, mine, "a", {"v": 1})
        async with storage.reader() as r:
            assert await r.get_object(theirs, "a") is None
            assert await r.find(theirs, Query()) == []
        async with storage.writer() as w:
            await w.delete_app(other.id)
        async with storage.reader() as r:
            assert await r.get_object(mine, "a") is not None
            assert await r.get_parent(other.id, "test.collection", "things") is None

    # -- parents -------------------------------------------------------------------------
    async def test_parents(self, storage: StorageBackend, app: AppRecord) -> None:
        async with storage.reader() as r:
            assert await r.get_parent(app.id, "test.collection", "a/x") is None
        async with storage.writer() as w:
            first = await w.ensure_parent(app.id, "test.collection", "a/x")
            again = await w.ensure_parent(app.id, "test.collection", "a/x")
            await w.ensure_parent(app.id, "test.collection", "a/y")
            await w.ensure_parent(app.id, "test.collection", "b/z")
            await w.ensure_parent(app.id, "other.kind", "a/w")
        assert first.id == again.id and first.stamp > 0 and first.live == 0
        async with storage.reader() as r:
            names = [p.name for p in await r.list_parents(app.id, "test.collection", "a/")]
            assert names == ["a/x", "a/y"]
            assert len(await r.list_parents(app.id, "test.collection")) == 3
        async with storage.writer() as w:
            updated = await w.update_parent_settings(first, {"deltaset": {"enabled": True}, "indexes": ["x"]})
        assert updated.settings == {"deltaset": {"enabled": True}}
        async with storage.reader() as r:
            fetched = await r.get_parent(app.id, "test.collection", "a/x")
        assert fetched is not None and fetched.settings == {"deltaset": {"enabled": True}}

    async def test_delete_parent_removes_everything(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        await put_doc(storage, parent, "a", {"v": 1}, grants=[("read", "user:1")])
        await put_doc(storage, parent, "b", {"v": 2})
        async with storage.writer() as w:
            await w.delete(parent, "b")
            assert await w.delete_parent(parent) == 1
        async with storage.reader() as r:
            assert await r.get_parent(app.id, "test.collection", "things") is None
        recreated = await _parent(storage, app)
        assert recreated.id != parent.id
        async with storage.reader() as r:
            assert await r.find(recreated, Query(), FindOptions(include_deleted=True)) == []

    # -- objects -------------------------------------------------------------------------
    async def test_put_create_replace_and_get(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        created = await put_doc(storage, parent, "e1", {"name": "Ann"}, creator="user:1")
        assert created.created is True and created.previous is None
        obj = created.object
        assert orjson.loads(obj.data) == {"name": "Ann", "_stamp": obj.stamp, "_created": obj.stamp}
        assert obj.creator == "user:1" and obj.created == obj.stamp and not obj.deleted
        replaced = await put_doc(storage, parent, "e1", {"name": "Bob"}, creator="user:2")
        assert replaced.created is False and _same(replaced.previous, obj)
        assert replaced.object.stamp > obj.stamp
        assert replaced.object.created == obj.created and replaced.object.creator == "user:1"
        async with storage.reader() as r:
            fetched = await r.get_object(parent, "e1")
            assert fetched is not None and orjson.loads(fetched.data)["name"] == "Bob"
            assert _same(fetched, replaced.object)
            assert await r.get_object(parent, "missing") is None
            fresh = await r.get_parent(app.id, "test.collection", "things")
        assert fresh is not None and fresh.stamp == replaced.object.stamp and fresh.live == 1

    async def test_get_child(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        await put_doc(storage, parent, "a", {"v": 1})
        await put_doc(storage, parent, "gone", {"v": 2})
        async with storage.writer() as w:
            other = await w.create_app("kid_" + secrets.token_hex(6), "Other", "a", "b", {})
            await w.delete(parent, "gone")
        kind, name = "test.collection", "things"
        async with storage.reader() as r:
            assert _same(await r.get_child(app.id, kind, name, "a"), await r.get_object(parent, "a"))
            assert await r.get_child(app.id, kind, name, "missing") is None
            assert await r.get_child(app.id, kind, "no-such-parent", "a") is None
            assert await r.get_child(app.id, "other.kind", name, "a") is None
            assert await r.get_child(other.id, kind, name, "a") is None
            assert await r.get_child(app.id, kind, name, "gone") is None
            tombstone = await r.get_child(app.id, kind, name, "gone", include_deleted=True)
            assert tombstone is not None and tombstone.deleted
            assert _same(tombstone, await r.get_object(parent, "gone", include_deleted=True))
        async with storage.writer() as w:  # a writer sees its own writes
            await w.put(parent, "b", _builder({"v": 3}))
            found = await w.get_child(app.id, kind, name, "b")
            assert found is not None and orjson.loads(found.data)["v"] == 3

    async def test_put_many(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        await put_doc(storage, parent, "old", {"v": 0}, grants=[("read", "user:0")])
        await put_doc(storage, parent, "gone", {"v": 0})
        async with storage.writer() as w:
            await w.delete(parent, "gone")
            indexed = await w.create_index(parent, ("v",))
        items = [(f"n{i}", _builder({"v": i}, "user:1", [("read", f"user:{i}")])) for i in range(1, 4)]
        items += [("old", _builder({"v": 10})), ("gone", _builder({"v": 11}, "user:2"))]
        async with storage.writer() as w:
            results = await w.put_many(indexed, items)
            with pytest.raises(BaaSError):
                await w.put_many(indexed, [("x", _builder({})), ("x", _builder({}))])
        assert [r.object.id for r in results] == ["n1", "n2", "n3", "old", "gone"]
        assert [r.created for r in results] == [True, True, True, False, True]
        stamps = [r.object.stamp for r in results]
        assert stamps == sorted(stamps) and len(set(stamps)) == 5
        async with storage.reader() as r:
            fresh = await r.get_parent(app.id, "test.collection", "things")
            assert fresh is not None and fresh.live == 5 and fresh.stamp == stamps[-1]
            assert _ids(await r.find(fresh, Query(filter=Range(("v",), "gte", 10)))) == ["old", "gone"]
            n2 = await r.get_object(fresh, "n2")
            assert n2 is not None and await r.get_grants(n2.oid) == [("read", "user:2")]
            old = await r.get_object(fresh, "old")
            assert old is not None and await r.get_grants(old.oid) == [("read", "user:0")]
            assert old.created == results[3].previous.created  # type: ignore[union-attr]

    async def test_builder_error_writes_nothing(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        await put_doc(storage, parent, "e1", {"v": 1})

        def refuse(ctx: WriteContext) -> NewVersion:
            raise PreconditionFailed(details={"current": ctx.current.id if ctx.current else None})

        with pytest.raises(PreconditionFailed) as info:
            async with storage.writer() as w:
                await w.put(parent, "e2", _builder({"v": 2}))
                await w.put(parent, "e1", refuse)
        assert info.value.details == {"current": "e1"}
        async with storage.reader() as r:
            assert await r.get_object(parent, "e2") is None
            assert orjson.loads((await r.get_object(parent, "e1")).data)["v"] == 1  # type: ignore[union-attr]

    async def test_stamps_strictly_increase_under_concurrency(
        self, storage: StorageBackend, app: AppRecord
    ) -> None:
        parent = await _parent(storage, app)
        results = await asyncio.gather(*(put_doc(storage, parent, f"e{i}", {"i": i}) for i in range(40)))
        stamps = sorted(r.object.stamp for r in results)
        assert len(set(stamps)) == 40
        async with storage.reader() as r:
            fresh = await r.get_parent(app.id, "test.collection", "things")
            listed = await r.find(parent, Query(sort=(SortKey(("_stamp",)),)))
        assert fresh is not None and fresh.stamp == stamps[-1] and fresh.live == 40
        assert [o.stamp for o in listed] == stamps

    async def test_a_writer_that_waited_sees_the_previous_commit(
        self, storage: StorageBackend, app: AppRecord
    ) -> None:
        """A read-modify-write that queued behind another writer of the same parent is given the
        object as that writer committed it (no lost update, no duplicate insert)."""
        parent = await _parent(storage, app)
        await put_doc(storage, parent, "counter", {"n": 0})
        seen: list[int | None] = []

        def increment(ctx: WriteContext) -> NewVersion:
            n = orjson.loads(ctx.current.data)["n"] if ctx.current is not None else 0
            seen.append(n)
            return NewVersion(data={"n": n + 1})

        async def second() -> None:
            async with storage.writer() as w:
                await w.put(parent, "counter", increment)
                await w.put(parent, "late", increment)

        async with storage.writer() as w:
            await w.put(parent, "counter", increment)
            await w.put(parent, "late", increment)
            task = asyncio.create_task(second())
            await asyncio.sleep(0.2)  # let the second writer queue on the parent (not timed)
        await task
        assert seen == [0, 0, 1, 1]
        async with storage.reader() as r:
            counter = await r.get_object(parent, "counter")
            late = await r.get_object(parent, "late")
        assert counter is not None and orjson.loads(counter.data)["n"] == 2
        assert late is not None and orjson.loads(late.data)["n"] == 2

    async def test_requested_stamps(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        future = now_ms() + 60_000
        async with storage.writer() as w:
            a = (await w.put(parent, "a", _builder({}), requested_stamp=future)).object
            b = (await w.put(parent, "b", _builder({}), requested_stamp=future)).object
            c = (await w.put(parent, "c", _builder({}), requested_stamp=1000)).object
            a2 = (await w.put(parent, "a", _builder({}), requested_stamp=future - 5)).object
        assert a.stamp == future and b.stamp == future + 1 and c.stamp == 1000
        assert a2.stamp == future + 2  # not newer than the object's own stamp: ignored
        async with storage.reader() as r:
            fresh = await r.get_parent(app.id, "test.collection", "things")
        assert fresh is not None and fresh.stamp == future + 2

    async def test_delete_leaves_a_tombstone(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        first = (await put_doc(storage, parent, "a", {"v": 1}, grants=[("read", "user:9")])).object
        await put_doc(storage, parent, "b", {"v": 2})
        seen: list[Any] = []
        async with storage.writer() as w:
            result = await w.delete(parent, "a", check=seen.append)
            assert await w.delete(parent, "nope") is None
        assert result is not None
        tombstone, deleted = result
        assert len(seen) == 1 and _same(seen[0], first) and _same(deleted, first)
        assert tombstone.deleted and tombstone.id == "a" and tombstone.stamp > first.stamp
        assert tombstone.data == "{}"
        async with storage.reader() as r:
            assert await r.get_object(parent, "a") is None
            again = await r.get_object(parent, "a", include_deleted=True)
            assert again is not None and again.deleted and again.stamp == tombstone.stamp
            assert await r.get_grants(first.oid) == []
            assert _ids(await r.find(parent, Query())) == ["b"]
            changes = await r.find(
                parent,
                Query(sort=(SortKey(("_stamp",)),)),
                FindOptions(
                    include_deleted=True, since=first.stamp, columns=SystemColumns(stamp=("_stamp",))
                ),
            )
            assert [(o.id, o.deleted) for o in changes] == [("b", False), ("a", True)]
            assert await r.count(parent, Query()) == 1
        resurrected = (await put_doc(storage, parent, "a", {"v": 3})).object
        assert resurrected.created == resurrected.stamp and resurrected.oid == first.oid

    async def test_check_can_refuse_a_delete(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        await put_doc(storage, parent, "a", {"v": 1})

        def refuse(current: Any) -> None:
            raise PreconditionFailed()

        with pytest.raises(PreconditionFailed):
            async with storage.writer() as w:
                await w.delete(parent, "a", check=refuse)
        async with storage.reader() as r:
            assert await r.get_object(parent, "a") is not None

    async def test_find_window_and_since_before(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        stamps = [(await put_doc(storage, parent, f"e{i}", {"i": i})).object.stamp for i in range(6)]
        async with storage.reader() as r:
            assert _ids(await r.find(parent, Query())) == [f"e{i}" for i in range(6)]
            assert _ids(await r.find(parent, Query(skip=2, limit=3))) == ["e2", "e3", "e4"]
            assert _ids(await r.find(parent, Query(limit=0))) == []
            assert _ids(await r.find(parent, Query(skip=10))) == []
            window = FindOptions(since=stamps[1], before=stamps[4])
            assert _ids(await r.find(parent, Query(), window)) == ["e2", "e3"]
            assert await r.count(parent, Query(), window) == 2
            assert await r.count(parent, Query()) == 6

    async def test_filters_sort_and_system_columns(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        for i, name in enumerate(["cy", "ab", "bz", "ab"]):
            await put_doc(storage, parent, f"id{i}", {"_id": f"id{i}", "name": name, "n": i})
        cols = FindOptions(columns=SystemColumns(id=("_id",)))
        async with storage.reader() as r:
            q = Query(filter=Eq(("name",), "ab"))
            assert _ids(await r.find(parent, q)) == ["id1", "id3"]
            assert await r.count(parent, q) == 2
            by_name = Query(sort=(SortKey(("name",)), SortKey(("n",), descending=True)))
            assert _ids(await r.find(parent, by_name)) == ["id3", "id1", "id2", "id0"]
            assert _ids(await r.find(parent, Query(filter=Eq(("_id",), "id2")), cols)) == ["id2"]
            assert _ids(await r.find(parent, Query(filter=Range(("n",), "gte", 2)))) == ["id2", "id3"]

    async def test_acl_filter(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        await put_doc(storage, parent, "mine", {}, grants=[("read", "user:1"), ("write", "user:1")])
        await put_doc(storage, parent, "shared", {}, grants=[("read", "group:g"), ("write", "user:2")])
        await put_doc(storage, parent, "public", {}, grants=[("read", "system.Authenticated")])
        await put_doc(storage, parent, "nobody", {})
        async with storage.reader() as r:

            async def visible(*principals: str, perms: tuple[str, ...] = ("read", "write")) -> list[str]:
                options = FindOptions(acl=AclFilter(perms, principals))
                found = _ids(await r.find(parent, Query(), options))
                assert await r.count(parent, Query(), options) == len(found)
                return found

            assert await visible("user:1", "system.Authenticated") == ["mine", "public"]
            assert await visible("user:2", "group:g") == ["shared"]
            assert await visible("user:2", perms=("write",)) == ["shared"]
            assert await visible() == []
            obj = await r.get_object(parent, "shared")
            assert obj is not None
            assert await r.get_grants(obj.oid) == [("read", "group:g"), ("write", "user:2")]
            granted = await r.find_granted(app.id, ["test.collection"], ["user:1", "group:g"])
            assert sorted((o.id, sorted(perms)) for _, o, perms in granted) == [
                ("mine", ["read", "write"]),
                ("shared", ["read"]),
            ]
        async with storage.writer() as w:
            await w.set_grants(obj.oid, [("read", "user:3")])
        async with storage.reader() as r:
            assert await r.get_grants(obj.oid) == [("read", "user:3")]

    async def test_skip_counts_objects_not_matches(self, storage: StorageBackend, app: AppRecord) -> None:
        """A skip passes over objects, however many grant rows or array elements of one match
        (SQLite 3.51 ran such an ``EXISTS`` as a join whose OFFSET counted its rows)."""
        parent = await _parent(storage, app)
        both = [("read", "user:1"), ("write", "user:1"), ("read", "system.Authenticated")]
        for i in range(6):
            tags = ["x", "x", "y"] if i % 2 == 0 else ["x"]
            await put_doc(storage, parent, f"e{i}", {"tags": tags}, grants=both if i % 2 == 0 else both[:1])
        acl = FindOptions(acl=AclFilter(("read", "write"), ("system.Authenticated", "user:1")))
        tagged = Eq(("tags",), "x")
        by_tag = ElemMatch(("tags",), Eq((), "x"), on_value=True)
        async with storage.reader() as r:
            for query_filter, options in ((None, acl), (tagged, FindOptions()), (by_tag, acl)):
                for skip, limit in ((1, None), (2, 2), (5, 10), (3, 1)):
                    query = Query(filter=query_filter, skip=skip, limit=limit)
                    want = [f"e{i}" for i in range(6)][skip : None if limit is None else skip + limit]
                    assert _ids(await r.find(parent, query, options)) == want, (query, options)

    async def test_grants_kept_when_builder_gives_none(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        first = (await put_doc(storage, parent, "a", {}, grants=[("read", "user:1")])).object
        await put_doc(storage, parent, "a", {"v": 2})
        async with storage.reader() as r:
            assert await r.get_grants(first.oid) == [("read", "user:1")]

    async def test_delete_matching_and_purge(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        for i in range(5):
            await put_doc(storage, parent, f"e{i}", {"even": i % 2 == 0})
        async with storage.writer() as w:
            removed = await w.delete_matching(parent, Query(filter=Eq(("even",), True)))
        assert sorted(t.id for t, _ in removed) == ["e0", "e2", "e4"]
        assert len({t.stamp for t, _ in removed}) == 3
        async with storage.reader() as r:
            assert _ids(await r.find(parent, Query())) == ["e1", "e3"]
            assert len(await r.find(parent, Query(), FindOptions(include_deleted=True))) == 5
        cutoff = max(t.stamp for t, _ in removed)
        async with storage.writer() as w:
            assert await w.purge_tombstones(parent, before=cutoff) == 2
            assert await w.purge_tombstones(parent) == 1
        async with storage.reader() as r:
            assert len(await r.find(parent, Query(), FindOptions(include_deleted=True))) == 2

    async def test_field_index_lifecycle(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)
        await put_doc(storage, parent, "a", {"price": 5, "tags": ["x"]})
        await put_doc(storage, parent, "b", {"price": 50})
        async with storage.writer() as w:
            indexed = await w.create_index(parent, ("price",))
            indexed = await w.create_index(indexed, ("tags",))
            assert await w.create_index(indexed, ("price",)) == indexed
        assert [(i.path, i.multikey) for i in indexed.indexes] == [(("price",), False), (("tags",), True)]
        await put_doc(storage, parent, "c", {"price": [7, 70]})
        await put_doc(storage, parent, "b", {"price": 500})
        async with storage.writer() as w:
            await w.delete(parent, "a")
        async with storage.reader() as r:
            fresh = await r.get_parent(app.id, "test.collection", "things")
            assert fresh is not None
            assert [(i.path, i.multikey) for i in fresh.indexes] == [(("price",), True), (("tags",), True)]
            assert _ids(await r.find(fresh, Query(filter=Range(("price",), "gt", 60)))) == ["b", "c"]
            assert _ids(await r.find(fresh, Query(filter=Eq(("price",), 5)))) == []
        async with storage.writer() as w:
            dropped = await w.drop_index(fresh, ("price",))
        assert [i.path for i in dropped.indexes] == [("tags",)]

    async def test_rollback_on_any_exception(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await _parent(storage, app)

        class Boom(Exception):
            pass

        with pytest.raises(Boom):
            async with storage.writer() as w:
                await w.put(parent, "x", _builder({}))
                raise Boom
        async with storage.reader() as r:
            assert await r.get_object(parent, "x") is None
            fresh = await r.get_parent(app.id, "test.collection", "things")
        assert fresh is not None and fresh.live == 0

    async def test_errors_are_baas_errors(self, storage: StorageBackend) -> None:
        assert issubclass(AlreadyExists, BaaSError)
        assert await storage.ping() is True
