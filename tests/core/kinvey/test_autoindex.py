"""Automatic indexes (issue 20): query shapes recorded per collection; a recurring slow shape gets
its index (built online, reported by ``CollectionService.indexes``), only where ``auto_index`` is
on and no index serves it; an automatic index no query used for the idle period is dropped.
"Slow" is a threshold the tests set to 0 or to an hour: nothing here is timed."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.autoindex import AUTO_INDEXES, FLUSH_SECONDS, AutoIndexer, Shape, shape_of
from kinbase.core.kinvey.entities import APPDATA
from kinbase.core.services import Core
from kinbase.query.ast import Query, SortKey
from kinbase.query.mongo import parse_filter
from kinbase.storage.base import AppRecord, NewVersion, ParentRecord, StorageBackend

pytestmark = pytest.mark.anyio

TODO_BY_N = Query(parse_filter({"status": "todo"}), (SortKey(("n",), True),), limit=5)


class Clocks:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = 1_700_000_000_000

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += int(seconds * 1000)


def test_shapes() -> None:
    assert shape_of(TODO_BY_N) == Shape((("status",),), ("n",), None)
    assert shape_of(TODO_BY_N).index() == (("status",), ("n",))
    wide = Query(parse_filter({"b": 1, "a": {"$in": [1, 2]}, "n": {"$gt": 3}, "x": {"$exists": True}}))
    assert shape_of(wide).index() == (("a",), ("b",), ("n",))
    assert shape_of(Query(None, (SortKey(("n",)),))).index() == (("n",),)
    assert shape_of(Query(parse_filter({"_id": "x", "_kmd.lmt": {"$gt": "a"}}))).index() is None
    assert shape_of(Query(parse_filter({"tags": {"$all": ["a"]}}))).index() is None
    assert shape_of(Query(parse_filter({"status": "a", "n": 1}), (SortKey(("n",)),))).index() == (
        ("status",),
        ("n",),
    )


async def _collection(storage: StorageBackend, app: AppRecord, name: str = "items") -> ParentRecord:
    async with storage.writer() as w:
        parent = await w.ensure_parent(app.id, APPDATA, name)
        await w.put_many(
            parent,
            [
                (
                    f"e{i:03d}",
                    lambda ctx, i=i: NewVersion(
                        {"_id": f"e{i:03d}", "status": ["todo", "done"][i % 2], "n": i}
                    ),
                )
                for i in range(120)
            ],
        )
        return await w.ensure_parent(app.id, APPDATA, name)


def _indexer(core: Core, clocks: Clocks, **kw: Any) -> AutoIndexer:
    options: dict[str, Any] = {"min_queries": 3, "slow_seconds": 0.0, "idle_seconds": 3600.0, **kw}
    indexer = AutoIndexer(core.storage, clock=lambda: clocks.mono, wall_ms=lambda: clocks.wall, **options)
    core.kinvey.entities.observer = indexer.observe
    return indexer


async def _list(core: Core, app: AppRecord, query: Query, name: str = "items") -> list[int]:
    found = await core.kinvey.entities.find(app, Caller.master(), name, query, api_version=5)
    return [orjson.loads(t)["n"] for t in found.texts]


async def test_a_recurring_slow_shape_gets_its_index(core: Core, app: AppRecord) -> None:
    clocks = Clocks()
    indexer = _indexer(core, clocks)
    await _collection(core.storage, app)
    await core.kinvey.collections.configure(app, "items", auto_index=True)
    for _ in range(2):
        assert await _list(core, app, TODO_BY_N) == [118, 116, 114, 112, 110]
    await indexer.settle()
    assert await core.kinvey.collections.indexes(app, "items") == []  # seen twice: not yet
    assert await _list(core, app, TODO_BY_N) == [118, 116, 114, 112, 110]
    await indexer.settle()
    [index] = await core.kinvey.collections.indexes(app, "items")
    assert index["fields"] == ["status", "n"] and index["origin"] == "automatic"
    assert index["state"] == "ready" and not index["multikey"]
    described = await core.kinvey.collections.describe(app, "items")
    assert described["indexes"] == [] and [a["fields"] for a in described["autoIndexes"]] == [["status", "n"]]
    async with core.storage.reader() as r:
        parent = await r.get_parent(app.id, APPDATA, "items")
    assert parent is not None and [i.fields for i in parent.ready_indexes] == [(("status",), ("n",))]
    # The same answers through the index; counts are shapes too.
    assert await _list(core, app, TODO_BY_N) == [118, 116, 114, 112, 110]
    total = await core.kinvey.entities.count(
        app, Caller.master(), "items", Query(parse_filter({"status": "done"}))
    )
    assert total.count == 60
    await indexer.settle()


async def test_no_index_when_off_fast_or_already_served(core: Core, app: AppRecord) -> None:
    clocks = Clocks()
    indexer = _indexer(core, clocks)
    await _collection(core.storage, app, "off")
    await core.kinvey.collections.configure(app, "off", auto_index=False)
    await _collection(core.storage, app, "served")
    await core.kinvey.collections.configure(app, "served", auto_index=True, indexes=[["status", "n"]])
    for _ in range(5):
        await _list(core, app, TODO_BY_N, "off")
        await _list(core, app, TODO_BY_N, "served")
    await indexer.settle()
    assert await core.kinvey.collections.indexes(app, "off") == []
    assert [(i["fields"], i["origin"]) for i in await core.kinvey.collections.indexes(app, "served")] == [
        (["status", "n"], "declared")
    ]
    fast = _indexer(core, clocks, slow_seconds=3600.0)
    await _collection(core.storage, app, "fast")
    await core.kinvey.collections.configure(app, "fast", auto_index=True)
    for _ in range(5):
        await _list(core, app, TODO_BY_N, "fast")
    await fast.settle()
    assert await core.kinvey.collections.indexes(app, "fast") == []


async def test_new_apps_index_automatically(core: Core) -> None:
    clocks = Clocks()
    indexer = _indexer(core, clocks)
    app = await core.apps.create("Auto")
    assert app.settings.get("auto_index") is True
    await _collection(core.storage, app)
    for _ in range(3):
        await _list(core, app, TODO_BY_N)
    await indexer.settle()
    assert [i["fields"] for i in await core.kinvey.collections.indexes(app, "items")] == [["status", "n"]]


async def test_an_idle_automatic_index_is_dropped_a_used_one_kept(core: Core, app: AppRecord) -> None:
    clocks = Clocks()
    indexer = _indexer(core, clocks)
    await _collection(core.storage, app)
    await core.kinvey.collections.configure(app, "items", auto_index=True)
    by_n = Query(None, (SortKey(("n",)),), limit=3)
    for query in (TODO_BY_N, by_n):
        for _ in range(3):
            await _list(core, app, query)
        await indexer.settle()
    assert sorted(i["fields"] for i in await core.kinvey.collections.indexes(app, "items")) == [
        ["n"],
        ["status", "n"],
    ]
    # 50 minutes on, only the sort by n is used; the flush writes its use.
    clocks.advance(3000)
    assert await _list(core, app, by_n) == [0, 1, 2]
    await indexer.settle()
    # 20 more minutes: (status, n) was last used 70 minutes ago (idle period 60), n 20 minutes ago.
    clocks.advance(max(1200, FLUSH_SECONDS))
    assert await _list(core, app, by_n) == [0, 1, 2]
    await indexer.settle()
    indexes = await core.kinvey.collections.indexes(app, "items")
    assert [i["fields"] for i in indexes] == [["n"]]
    async with core.storage.reader() as r:
        parent = await r.get_parent(app.id, APPDATA, "items")
    assert parent is not None and [a["fields"] for a in parent.settings[AUTO_INDEXES]] == [[["n"]]]
    assert [i.fields for i in parent.indexes] == [(("n",),)]
    # The dropped shape comes back: it is indexed again after three more reads.
    for _ in range(3):
        assert await _list(core, app, TODO_BY_N) == [118, 116, 114, 112, 110]
    await indexer.settle()
    assert sorted(i["fields"] for i in await core.kinvey.collections.indexes(app, "items")) == [
        ["n"],
        ["status", "n"],
    ]
