"""A Kinvey create with a generated id starts from the collection cached by the worker where the
engine checks the collection's row in the put's own statement (``Writer.puts_ahead``,
PostgreSQL): no lookup, no connection of the writer's own. A stale collection (removed, recreated
or its settings changed by another worker) fails that statement or the policy check, and the
create runs again from the collection as it is now."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.entities import APPDATA, EntityService
from kinbase.core.kinvey.errors import KinveyError
from kinbase.query.ast import Query
from kinbase.storage.base import AppRecord, StorageBackend
from kinbase.storage.postgresql import PostgreSQLStorage

pytestmark = pytest.mark.anyio


async def _stored(service: EntityService, app: AppRecord) -> list[dict[str, Any]]:
    found = await service.find(app, Caller.master(), "things", Query(), api_version=6)
    return [orjson.loads(text) for text in found.texts]


async def _set_level(storage: StorageBackend, app: AppRecord, level: str) -> None:
    async with storage.writer() as w:
        parent = await w.get_parent(app.id, APPDATA, "things")
        assert parent is not None
        await w.update_parent_settings(parent, {**parent.settings, "permissions": {"level": level}})


async def test_a_create_borrows_no_connection_for_a_cached_collection(
    storage: StorageBackend, app: AppRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = EntityService(storage)
    master = Caller.master()
    first = await service.create(app, master, "things", {"n": 0})
    loans: list[int] = []
    if isinstance(storage, PostgreSQLStorage):
        monkeypatch.setattr(storage, "group_commit", False)  # the server's default
        loan = storage._loan

        async def counted() -> Any:
            loans.append(1)
            return await loan()

        monkeypatch.setattr(storage, "_loan", counted)
    created = [await service.create(app, master, "things", {"n": n}) for n in range(1, 4)]
    monkeypatch.undo()
    assert loans == []  # PostgreSQL: the batch's connection only (not a loan of a writer)
    stamps = [first.stamp] + [c.stamp for c in created]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    stored = await _stored(service, app)
    assert sorted(d["n"] for d in stored) == [0, 1, 2, 3]
    assert all(d["_acl"] == {"creator": app.key} for d in stored)
    async with storage.reader() as r:
        parent = await r.get_parent(app.id, APPDATA, "things")
        assert parent is not None and parent.stamp == stamps[-1] and parent.live == 4
        # the grants written by the put's statement: as those of the create that read the collection
        grants = []
        for entity in (first, *created):
            found = await r.get_child(app.id, APPDATA, "things", entity.id)
            assert found is not None and found.stamp == entity.stamp
            grants.append(await r.get_grants(found.oid))
    assert grants[0] and grants == [grants[0]] * 4


async def test_a_stale_cached_collection_is_read_again(storage: StorageBackend, app: AppRecord) -> None:
    service = EntityService(storage)
    other = EntityService(storage)  # another worker
    master, anyone = Caller.master(), Caller.app()
    await service.create(app, anyone, "things", {"n": 0})
    # removed and recreated by the other worker: the create goes to the new collection
    await other.remove_collection(app, "things")
    await other.create(app, master, "things", {"_id": "b0", "n": 1})
    await service.create(app, anyone, "things", {"n": 2})
    assert sorted(d["n"] for d in await _stored(other, app)) == [1, 2]
    # made read-only by the other worker: the cached (shared) settings do not let a user in
    await service.create(app, anyone, "things", {"n": 3})
    await _set_level(storage, app, "readonly")
    with pytest.raises(KinveyError) as refused:
        await service.create(app, anyone, "things", {"n": 4})
    assert refused.value.name == "InsufficientCredentials"
    await service.create(app, master, "things", {"n": 5})  # caches the read-only collection
    # shared again: the cached read-only settings do not keep a user out
    await _set_level(storage, app, "shared")
    await service.create(app, anyone, "things", {"n": 6})
    assert sorted(d["n"] for d in await _stored(other, app)) == [1, 2, 3, 5, 6]
