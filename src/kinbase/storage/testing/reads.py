"""The storage contract's reads: windows, filters and sorts, the ACL filter, skips, deletes by
query and field indexes (mixed into :class:`~kinbase.storage.testing.StorageContract`)."""

from __future__ import annotations

import pytest

from kinbase.query.ast import ElemMatch, Eq, Query, Range, SortKey
from kinbase.storage.base import AclFilter, AppRecord, FindOptions, StorageBackend, SystemColumns
from kinbase.storage.testing.helpers import ids, new_parent, put_doc

__all__ = ["ReadContract"]


@pytest.mark.anyio
class ReadContract:
    """Reads every storage engine must answer alike."""

    async def test_find_window_and_since_before(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await new_parent(storage, app)
        stamps = [(await put_doc(storage, parent, f"e{i}", {"i": i})).object.stamp for i in range(6)]
        async with storage.reader() as r:
            assert ids(await r.find(parent, Query())) == [f"e{i}" for i in range(6)]
            assert ids(await r.find(parent, Query(skip=2, limit=3))) == ["e2", "e3", "e4"]
            assert ids(await r.find(parent, Query(limit=0))) == []
            assert ids(await r.find(parent, Query(skip=10))) == []
            window = FindOptions(since=stamps[1], before=stamps[4])
            assert ids(await r.find(parent, Query(), window)) == ["e2", "e3"]
            assert await r.count(parent, Query(), window) == 2
            assert await r.count(parent, Query()) == 6

    async def test_filters_sort_and_system_columns(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await new_parent(storage, app)
        for i, name in enumerate(["cy", "ab", "bz", "ab"]):
            await put_doc(storage, parent, f"id{i}", {"_id": f"id{i}", "name": name, "n": i})
        cols = FindOptions(columns=SystemColumns(id=("_id",)))
        async with storage.reader() as r:
            q = Query(filter=Eq(("name",), "ab"))
            assert ids(await r.find(parent, q)) == ["id1", "id3"]
            assert await r.count(parent, q) == 2
            by_name = Query(sort=(SortKey(("name",)), SortKey(("n",), descending=True)))
            assert ids(await r.find(parent, by_name)) == ["id3", "id1", "id2", "id0"]
            assert ids(await r.find(parent, Query(filter=Eq(("_id",), "id2")), cols)) == ["id2"]
            assert ids(await r.find(parent, Query(filter=Range(("n",), "gte", 2)))) == ["id2", "id3"]

    async def test_acl_filter(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await new_parent(storage, app)
        await put_doc(storage, parent, "mine", {}, grants=[("read", "user:1"), ("write", "user:1")])
        await put_doc(storage, parent, "shared", {}, grants=[("read", "group:g"), ("write", "user:2")])
        await put_doc(storage, parent, "public", {}, grants=[("read", "system.Authenticated")])
        await put_doc(storage, parent, "nobody", {})
        async with storage.reader() as r:

            async def visible(*principals: str, perms: tuple[str, ...] = ("read", "write")) -> list[str]:
                options = FindOptions(acl=AclFilter(perms, principals))
                found = ids(await r.find(parent, Query(), options))
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
        parent = await new_parent(storage, app)
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
                    assert ids(await r.find(parent, query, options)) == want, (query, options)

    async def test_grants_kept_when_builder_gives_none(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await new_parent(storage, app)
        first = (await put_doc(storage, parent, "a", {}, grants=[("read", "user:1")])).object
        await put_doc(storage, parent, "a", {"v": 2})
        async with storage.reader() as r:
            assert await r.get_grants(first.oid) == [("read", "user:1")]

    async def test_delete_matching_and_purge(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await new_parent(storage, app)
        for i in range(5):
            await put_doc(storage, parent, f"e{i}", {"even": i % 2 == 0})
        async with storage.writer() as w:
            removed = await w.delete_matching(parent, Query(filter=Eq(("even",), True)))
        assert sorted(t.id for t, _ in removed) == ["e0", "e2", "e4"]
        assert len({t.stamp for t, _ in removed}) == 3
        async with storage.reader() as r:
            assert ids(await r.find(parent, Query())) == ["e1", "e3"]
            assert len(await r.find(parent, Query(), FindOptions(include_deleted=True))) == 5
        cutoff = max(t.stamp for t, _ in removed)
        async with storage.writer() as w:
            assert await w.purge_tombstones(parent, before=cutoff) == 2
            assert await w.purge_tombstones(parent) == 1
        async with storage.reader() as r:
            assert len(await r.find(parent, Query(), FindOptions(include_deleted=True))) == 2

    async def test_field_index_lifecycle(self, storage: StorageBackend, app: AppRecord) -> None:
        parent = await new_parent(storage, app)
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
            assert ids(await r.find(fresh, Query(filter=Range(("price",), "gt", 60)))) == ["b", "c"]
            assert ids(await r.find(fresh, Query(filter=Eq(("price",), 5)))) == []
        async with storage.writer() as w:
            dropped = await w.drop_index(fresh, ("price",))
        assert [i.path for i in dropped.indexes] == [("tags",)]
