"""A Kinvey list starts from the collection cached by the worker (one statement instead of two):
its statement checks that the collection's row is still the one cached, and reads it again when
it is not (removed, recreated by another worker, settings changed). The request start is the
stamp of the data read."""

from __future__ import annotations

import orjson
import pytest

from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.entities import APPDATA, EntityService
from kinbase.query.ast import Query, SortKey
from kinbase.storage.base import AppRecord, StorageBackend

pytestmark = pytest.mark.anyio

BY_N = Query(sort=(SortKey(("n",), descending=True),), limit=10)


async def _ids(service: EntityService, app: AppRecord) -> tuple[list[str], int]:
    found = await service.find(app, Caller.master(), "things", BY_N, api_version=6)
    return [orjson.loads(text)["_id"] for text in found.texts], found.start


async def test_a_cached_collection_is_checked_by_the_page(storage: StorageBackend, app: AppRecord) -> None:
    service = EntityService(storage)
    other = EntityService(storage)  # another worker
    master = Caller.master()
    assert (await _ids(service, app))[0] == []
    for n in range(3):
        await service.create(app, master, "things", {"_id": f"a{n}", "n": n, "note": "rs \x1e us \x1f"})
    ids, start = await _ids(service, app)
    assert ids == ["a2", "a1", "a0"]
    # a write by another worker: the page and its start are those of the data read
    await other.create(app, master, "things", {"_id": "a3", "n": 3})
    ids, later = await _ids(service, app)
    assert ids == ["a3", "a2", "a1", "a0"]
    async with storage.reader() as r:
        parent = await r.get_parent(app.id, APPDATA, "things")
    assert parent is not None and later == parent.stamp > start
    # removed and recreated by the other worker: a new row, read again
    await other.remove_collection(app, "things")
    assert (await _ids(service, app))[0] == []
    await other.create(app, master, "things", {"_id": "b0", "n": 0})
    assert (await _ids(service, app))[0] == ["b0"]
    await other.remove_collection(app, "things")
    await other.create(app, master, "things", {"_id": "c0", "n": 0})
    assert (await _ids(service, app))[0] == ["c0"]
    # its settings changed (a new version): read again
    async with storage.writer() as w:
        parent = await w.get_parent(app.id, APPDATA, "things")
        assert parent is not None
        await w.update_parent_settings(parent, {**parent.settings, "note": "x"})
    assert (await _ids(service, app))[0] == ["c0"]
    assert service._parents[(app.id, "things")].settings.get("note") == "x"
