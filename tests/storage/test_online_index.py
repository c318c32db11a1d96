"""Field indexes built online: declared, filled in short transactions while writers go on, then
used by reads; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random

import pytest

from kinbase.errors import NotFound
from kinbase.query.ast import Eq, Query, Range
from kinbase.storage.base import AppRecord, StorageBackend
from kinbase.storage.indexing import build_index
from kinbase.storage.testing import put_doc

pytestmark = pytest.mark.anyio

KIND = "test.collection"


async def _ids(storage: StorageBackend, app: AppRecord, query: Query) -> list[str]:
    async with storage.reader() as r:
        parent = await r.get_parent(app.id, KIND, "things")
        assert parent is not None
        return sorted(o.id for o in await r.find(parent, query))


async def test_a_building_index_is_maintained_but_not_read(storage: StorageBackend, app: AppRecord) -> None:
    async with storage.writer() as w:
        parent = await w.ensure_parent(app.id, KIND, "things")
    for i in range(6):
        await put_doc(storage, parent, f"o{i}", {"price": i})
    async with storage.writer() as w:
        declared = await w.begin_index(parent, ("price",))
        assert await w.begin_index(declared, ("price",)) == declared  # idempotent
    assert [i.path for i in declared.indexes] == [("price",)]
    assert declared.ready_indexes == ()
    # Written during the build: maintained by the writes themselves.
    await put_doc(storage, parent, "o1", {"price": 100})
    await put_doc(storage, parent, "new", {"price": 3})
    async with storage.writer() as w:
        await w.delete(parent, "o2")
    # Reads ignore the half-filled index: still right.
    assert await _ids(storage, app, Query(filter=Eq(("price",), 3))) == ["new", "o3"]
    after = None
    batches = 0
    while True:
        async with storage.writer() as w:
            fresh = await w.get_parent(app.id, KIND, "things")
            assert fresh is not None
            after = await w.fill_index(fresh, ("price",), after, 2)
            if after is None:
                ready = await w.finish_index(fresh, ("price",))
                break
        batches += 1
    assert batches == 3  # 6 live objects, 2 per batch
    assert [i.path for i in ready.ready_indexes] == [("price",)]
    assert await _ids(storage, app, Query(filter=Eq(("price",), 3))) == ["new", "o3"]
    assert await _ids(storage, app, Query(filter=Range(("price",), "gt", 4))) == ["o1", "o5"]
    assert await _ids(storage, app, Query(filter=Eq(("price",), 2))) == []


async def test_fill_without_declared_index_is_refused(storage: StorageBackend, app: AppRecord) -> None:
    async with storage.writer() as w:
        parent = await w.ensure_parent(app.id, KIND, "things")
        with pytest.raises(NotFound):
            await w.fill_index(parent, ("nope",), None, 10)


async def test_build_index_while_writers_write(storage: StorageBackend, app: AppRecord) -> None:
    """Writers keep writing during a build in batches of 7; the ready index gives exactly what the
    documents say."""
    async with storage.writer() as w:
        parent = await w.ensure_parent(app.id, KIND, "things")
    rng = random.Random(7)
    truth: dict[str, int] = {}
    for i in range(120):
        truth[f"o{i}"] = rng.randrange(10)
        await put_doc(storage, parent, f"o{i}", {"n": truth[f"o{i}"]})
    stop = asyncio.Event()
    writes = 0

    async def writer() -> None:
        nonlocal writes
        while not stop.is_set():
            key = f"o{rng.randrange(160)}"
            if rng.random() < 0.2 and key in truth:
                async with storage.writer() as w:
                    await w.delete(parent, key)
                del truth[key]
            else:
                truth[key] = rng.randrange(10)
                await put_doc(storage, parent, key, {"n": truth[key], "pad": writes})
            writes += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    try:
        assert await build_index(storage, app.id, KIND, "things", ("n",), batch=7)
    finally:
        stop.set()
        await task
    assert writes > 0
    async with storage.reader() as r:
        fresh = await r.get_parent(app.id, KIND, "things")
    assert fresh is not None and [i.path for i in fresh.ready_indexes] == [("n",)]
    for value in range(10):
        expected = sorted(k for k, v in truth.items() if v == value)
        assert await _ids(storage, app, Query(filter=Eq(("n",), value))) == expected
    assert await build_index(storage, app.id, KIND, "things", ("n",))  # already ready
    assert not await build_index(storage, app.id, KIND, "missing", ("n",))
