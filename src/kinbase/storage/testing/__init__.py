"""The storage contract: one pytest suite every engine must pass.

Bind it to an engine by subclassing :class:`StorageContract` in a test module that provides a
``storage`` fixture (a started :class:`~kinbase.storage.base.StorageBackend`) and an ``app``
fixture (a fresh :class:`~kinbase.storage.base.AppRecord` per test), with the anyio pytest plugin.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import orjson
import pytest

from kinbase.errors import AlreadyExists, BaaSError, PreconditionFailed
from kinbase.query.ast import Query, Range, SortKey
from kinbase.storage.base import (
    AppRecord,
    FindOptions,
    NewVersion,
    StorageBackend,
    SystemColumns,
    WriteContext,
)
from kinbase.storage.stamps import now_ms
from kinbase.storage.testing.helpers import builder, ids, new_parent, put_doc, same
from kinbase.storage.testing.reads import ReadContract

__all__ = ["StorageContract", "put_doc"]


@pytest.mark.anyio
class StorageContract(ReadContract):
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
        parent = await new_parent(storage, app)
        async with storage.writer() as w:
            result = await w.put(parent, "fresh", builder({"n": 1}), new=True)
        assert result.created and result.previous is None
        async with storage.reader() as r:
            found = await r.get_object(parent, "fresh")
        assert found is not None and orjson.loads(found.data)["n"] == 1
        with pytest.raises(BaaSError):
            async with storage.writer() as w:
                await w.put(parent, "fresh", builder({"n": 2}), new=True)

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
        mine = await new_parent(storage, app)
        theirs = await new_parent(storage, other)
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
        parent = await new_parent(storage, app)
        await put_doc(storage, parent, "a", {"v": 1}, grants=[("read", "user:1")])
        await put_doc(storage, parent, "b", {"v": 2})
        async with storage.writer() as w:
            await w.delete(parent, "b")
            assert await w.delete_parent(parent) == 1
        async with storage.reader() as r:
            assert await r.get_parent(app.id, "test.collection", "things") is None
        recreated = await new_parent(storage, app)
        assert recreated.id != parent.id
        async with storage.reader() as r:
            assert await r.find(recreated, Query(), FindOptions(include_deleted=True)) == []

    # -- objects -------------------------------------------------------------------------
    async def test_put_create_replace_and_get(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await new_parent(storage, app)
        created = await put_doc(storage, parent, "e1", {"name": "Ann"}, creator="user:1")
        assert created.created is True and created.previous is None
        obj = created.object
        assert orjson.loads(obj.data) == {"name": "Ann", "_stamp": obj.stamp, "_created": obj.stamp}
        assert obj.creator == "user:1" and obj.created == obj.stamp and not obj.deleted
        replaced = await put_doc(storage, parent, "e1", {"name": "Bob"}, creator="user:2")
        assert replaced.created is False and same(replaced.previous, obj)
        assert replaced.object.stamp > obj.stamp
        assert replaced.object.created == obj.created and replaced.object.creator == "user:1"
        async with storage.reader() as r:
            fetched = await r.get_object(parent, "e1")
            assert fetched is not None and orjson.loads(fetched.data)["name"] == "Bob"
            assert same(fetched, replaced.object)
            assert await r.get_object(parent, "missing") is None
            fresh = await r.get_parent(app.id, "test.collection", "things")
        assert fresh is not None and fresh.stamp == replaced.object.stamp and fresh.live == 1

    async def test_get_child(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await new_parent(storage, app)
        await put_doc(storage, parent, "a", {"v": 1})
        await put_doc(storage, parent, "gone", {"v": 2})
        async with storage.writer() as w:
            other = await w.create_app("kid_" + secrets.token_hex(6), "Other", "a", "b", {})
            await w.delete(parent, "gone")
        kind, name = "test.collection", "things"
        async with storage.reader() as r:
            assert same(await r.get_child(app.id, kind, name, "a"), await r.get_object(parent, "a"))
            assert await r.get_child(app.id, kind, name, "missing") is None
            assert await r.get_child(app.id, kind, "no-such-parent", "a") is None
            assert await r.get_child(app.id, "other.kind", name, "a") is None
            assert await r.get_child(other.id, kind, name, "a") is None
            assert await r.get_child(app.id, kind, name, "gone") is None
            tombstone = await r.get_child(app.id, kind, name, "gone", include_deleted=True)
            assert tombstone is not None and tombstone.deleted
            assert same(tombstone, await r.get_object(parent, "gone", include_deleted=True))
        async with storage.writer() as w:  # a writer sees its own writes
            await w.put(parent, "b", builder({"v": 3}))
            found = await w.get_child(app.id, kind, name, "b")
            assert found is not None and orjson.loads(found.data)["v"] == 3

    async def test_put_many(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await new_parent(storage, app)
        await put_doc(storage, parent, "old", {"v": 0}, grants=[("read", "user:0")])
        await put_doc(storage, parent, "gone", {"v": 0})
        async with storage.writer() as w:
            await w.delete(parent, "gone")
            indexed = await w.create_index(parent, ("v",))
        items = [(f"n{i}", builder({"v": i}, "user:1", [("read", f"user:{i}")])) for i in range(1, 4)]
        items += [("old", builder({"v": 10})), ("gone", builder({"v": 11}, "user:2"))]
        async with storage.writer() as w:
            results = await w.put_many(indexed, items)
            with pytest.raises(BaaSError):
                await w.put_many(indexed, [("x", builder({})), ("x", builder({}))])
        assert [r.object.id for r in results] == ["n1", "n2", "n3", "old", "gone"]
        assert [r.created for r in results] == [True, True, True, False, True]
        stamps = [r.object.stamp for r in results]
        assert stamps == sorted(stamps) and len(set(stamps)) == 5
        async with storage.reader() as r:
            fresh = await r.get_parent(app.id, "test.collection", "things")
            assert fresh is not None and fresh.live == 5 and fresh.stamp == stamps[-1]
            assert ids(await r.find(fresh, Query(filter=Range(("v",), "gte", 10)))) == ["old", "gone"]
            n2 = await r.get_object(fresh, "n2")
            assert n2 is not None and await r.get_grants(n2.oid) == [("read", "user:2")]
            old = await r.get_object(fresh, "old")
            assert old is not None and await r.get_grants(old.oid) == [("read", "user:0")]
            assert old.created == results[3].previous.created  # type: ignore[union-attr]

    async def test_builder_error_writes_nothing(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await new_parent(storage, app)
        await put_doc(storage, parent, "e1", {"v": 1})

        def refuse(ctx: WriteContext) -> NewVersion:
            raise PreconditionFailed(details={"current": ctx.current.id if ctx.current else None})

        with pytest.raises(PreconditionFailed) as info:
            async with storage.writer() as w:
                await w.put(parent, "e2", builder({"v": 2}))
                await w.put(parent, "e1", refuse)
        assert info.value.details == {"current": "e1"}
        async with storage.reader() as r:
            assert await r.get_object(parent, "e2") is None
            assert orjson.loads((await r.get_object(parent, "e1")).data)["v"] == 1  # type: ignore[union-attr]

    async def test_stamps_strictly_increase_under_concurrency(
        self, storage: StorageBackend, app: AppRecord
    ) -> None:
        parent = await new_parent(storage, app)
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
        parent = await new_parent(storage, app)
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

    async def test_a_read_for_update_holds_off_other_writers(
        self, storage: StorageBackend, app: AppRecord
    ) -> None:
        """A version computed outside the builder from get_object_for_update is not overwritten
        by, and does not overwrite, a writer that read the object at the same time."""
        parent = await new_parent(storage, app)
        await put_doc(storage, parent, "counter", {"n": 0})

        async def bump(i: int) -> None:
            async with storage.writer() as w:
                current = await w.get_object_for_update(parent, "counter")
                assert current is not None
                n = orjson.loads(current.data)["n"] + 1
                await asyncio.sleep(0.005 * (i % 3))  # the caller's own awaits (not timed)
                await w.put(parent, "counter", lambda ctx: NewVersion(data={"n": n}))

        await asyncio.gather(*(bump(i) for i in range(12)))
        async with storage.reader() as r:
            counter = await r.get_object(parent, "counter")
        assert counter is not None and orjson.loads(counter.data)["n"] == 12
        async with storage.writer() as w:
            assert await w.get_object_for_update(parent, "missing") is None
            await w.delete(parent, "counter")
            assert await w.get_object_for_update(parent, "counter") is None
            tombstone = await w.get_object_for_update(parent, "counter", include_deleted=True)
            assert tombstone is not None and tombstone.deleted

    async def test_requested_stamps(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await new_parent(storage, app)
        future = now_ms() + 60_000
        async with storage.writer() as w:
            a = (await w.put(parent, "a", builder({}), requested_stamp=future)).object
            b = (await w.put(parent, "b", builder({}), requested_stamp=future)).object
            c = (await w.put(parent, "c", builder({}), requested_stamp=1000)).object
            a2 = (await w.put(parent, "a", builder({}), requested_stamp=future - 5)).object
        assert a.stamp == future and b.stamp == future + 1 and c.stamp == 1000
        assert a2.stamp == future + 2  # not newer than the object's own stamp: ignored
        async with storage.reader() as r:
            fresh = await r.get_parent(app.id, "test.collection", "things")
        assert fresh is not None and fresh.stamp == future + 2

    async def test_delete_leaves_a_tombstone(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await new_parent(storage, app)
        first = (await put_doc(storage, parent, "a", {"v": 1}, grants=[("read", "user:9")])).object
        await put_doc(storage, parent, "b", {"v": 2})
        seen: list[Any] = []
        async with storage.writer() as w:
            result = await w.delete(parent, "a", check=seen.append)
            assert await w.delete(parent, "nope") is None
        assert result is not None
        tombstone, deleted = result
        assert len(seen) == 1 and same(seen[0], first) and same(deleted, first)
        assert tombstone.deleted and tombstone.id == "a" and tombstone.stamp > first.stamp
        assert tombstone.data == "{}"
        async with storage.reader() as r:
            assert await r.get_object(parent, "a") is None
            again = await r.get_object(parent, "a", include_deleted=True)
            assert again is not None and again.deleted and again.stamp == tombstone.stamp
            assert await r.get_grants(first.oid) == []
            assert ids(await r.find(parent, Query())) == ["b"]
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
        parent = await new_parent(storage, app)
        await put_doc(storage, parent, "a", {"v": 1})

        def refuse(current: Any) -> None:
            raise PreconditionFailed()

        with pytest.raises(PreconditionFailed):
            async with storage.writer() as w:
                await w.delete(parent, "a", check=refuse)
        async with storage.reader() as r:
            assert await r.get_object(parent, "a") is not None

    async def test_rollback_on_any_exception(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await new_parent(storage, app)

        class Boom(Exception):
            pass

        with pytest.raises(Boom):
            async with storage.writer() as w:
                await w.put(parent, "x", builder({}))
                raise Boom
        async with storage.reader() as r:
            assert await r.get_object(parent, "x") is None
            fresh = await r.get_parent(app.id, "test.collection", "things")
        assert fresh is not None and fresh.live == 0

    async def test_errors_are_baas_errors(self, storage: StorageBackend) -> None:
        assert issubclass(AlreadyExists, BaaSError)
        assert await storage.ping() is True
