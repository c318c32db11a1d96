"""Issue 16 item 5 on both engines: large writes (multi-insert, delete by query, dropping a
collection, import) run as bounded transactions, so readers and writers go on meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kinbase.core.kinvey import entities as entities_module
from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.entities import APPDATA
from kinbase.core.kinvey.transfer import import_batch
from kinbase.core.services import Core
from kinbase.query.ast import Query
from kinbase.query.mongo import parse_filter
from kinbase.storage import chunks
from kinbase.storage.base import AppRecord, StorageBackend
from kinbase.storage.exceptions import StorageError
from kinbase.storage.sql.purge import purge_leftovers
from tests.reliability.test_storage_budget import _twin

pytestmark = pytest.mark.anyio

MASTER = Caller.master()


async def _while_reading(
    core: Core, app: AppRecord, work: Awaitable[Any], progress: Callable[[], int] = lambda: 0
) -> tuple[Any, list[int]]:
    """Run ``work`` while another task reads one entity by id again and again; returns the
    work's result and, for each read that completed before the work ended, ``progress()`` then
    (e.g. how many write transactions the work had opened)."""
    await core.kinvey.entities.create(app, MASTER, "probe", {"_id": "p1", "v": 1})
    seen: list[int] = []
    done = asyncio.Event()

    async def reader() -> None:
        while not done.is_set():
            assert await core.kinvey.entities.get(app, MASTER, "probe", "p1")
            if not done.is_set():
                seen.append(progress())
            await asyncio.sleep(0)

    task = asyncio.create_task(reader())
    try:
        result = await work
    finally:
        done.set()
        await task
    return result, seen


def _assert_reads_went_on(seen: list[int], *, chunks: bool = True) -> None:
    """Reads by id completed while the work ran (a write holding the event loop for its whole
    run would let none through), and with ``chunks`` between its transactions: at more than one
    count of transactions opened. No timing: the machine is shared with other test processes."""
    assert len(seen) >= 2, seen
    if chunks:
        assert len(set(seen)) >= 2, seen


@contextlib.asynccontextmanager
async def _counting_writers(
    storage: StorageBackend, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[list[int]]:
    opened: list[int] = []
    original = storage.writer

    def writer() -> Any:
        opened.append(1)
        return original()

    monkeypatch.setattr(storage, "writer", writer)
    yield opened
    monkeypatch.setattr(storage, "writer", original)


async def test_a_large_multi_insert_is_chunked_and_readers_go_on(
    core: Core, app: AppRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = [{"n": n, "text": "x" * 200} for n in range(3000)]
    async with _counting_writers(core.storage, monkeypatch) as opened:
        (stored, errors), seen = await _while_reading(
            core, app, core.kinvey.entities.insert_many(app, MASTER, "big", bodies), lambda: len(opened)
        )
    assert errors == [] and len(stored) == 3000 and all(text is not None for text in stored)
    assert len(opened) >= 3000 // entities_module.INSERT_CHUNK
    assert (await core.kinvey.entities.count(app, MASTER, "big", Query())).count == 3000
    _assert_reads_went_on(seen)


async def test_a_multi_insert_failing_midway_reports_what_was_stored(
    core: Core, app: AppRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(entities_module, "INSERT_CHUNK", 10)
    original = core.storage.writer
    opened = 0

    def writer() -> Any:
        nonlocal opened
        opened += 1
        if opened == 3:  # the third chunk's transaction fails
            raise StorageError("The database failed to write; retry later.")
        return original()

    monkeypatch.setattr(core.storage, "writer", writer)
    stored, errors = await core.kinvey.entities.insert_many(
        app, MASTER, "half", [{"n": n} for n in range(35)]
    )
    monkeypatch.setattr(core.storage, "writer", original)
    assert [text is not None for text in stored] == [True] * 20 + [False] * 15
    assert [index for index, _ in errors] == list(range(20, 35))
    assert {error.name for _, error in errors} == {"KinveyInternalErrorRetry"}
    assert (await core.kinvey.entities.count(app, MASTER, "half", Query())).count == 20


async def test_a_large_delete_by_query_is_chunked(
    core: Core, app: AppRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    await core.kinvey.entities.insert_many(
        app, MASTER, "del", [{"n": n, "even": n % 2 == 0} for n in range(2400)]
    )
    query = Query(filter=parse_filter({"even": True}))
    async with _counting_writers(core.storage, monkeypatch) as opened:
        deleted, seen = await _while_reading(
            core, app, core.kinvey.entities.delete_where(app, MASTER, "del", query), lambda: len(opened)
        )
    assert deleted == 1200
    assert len(opened) >= 1200 // chunks.DELETE_CHUNK
    assert (await core.kinvey.entities.count(app, MASTER, "del", Query())).count == 1200
    _assert_reads_went_on(seen)
    # A window is applied in one transaction, exactly.
    windowed = Query(filter=parse_filter({"even": False}), limit=7)
    assert await core.kinvey.entities.delete_where(app, MASTER, "del", windowed) == 7
    assert (await core.kinvey.entities.count(app, MASTER, "del", Query())).count == 1193


async def _rows_of(storage: StorageBackend, parent_id: int) -> tuple[int, int, int]:
    async with storage.reader() as reader:
        counts = []
        for sql in (
            "SELECT count(*) FROM objects WHERE parent_id = ?",
            "SELECT count(*) FROM grants g JOIN objects o ON o.oid = g.oid WHERE o.parent_id = ?",
            "SELECT count(*) FROM field_values WHERE parent_id = ?",
        ):
            rows = await reader._all(reader.dialect(sql), (parent_id,))  # type: ignore[attr-defined]
            counts.append(int(rows[0][0]))
    return counts[0], counts[1], counts[2]


async def _filled_collection(core: Core, app: AppRecord, name: str, count: int) -> int:
    user = Caller("user", (await core.kinvey.user_caller(app, "someone")).principals)
    await core.kinvey.entities.insert_many(
        app, user, name, [{"n": n, "_acl": {"r": ["x"]}} for n in range(count)]
    )
    async with core.storage.writer() as writer:
        parent = await writer.ensure_parent(app.id, APPDATA, name)
        await writer.create_index(parent, ("n",))
    return parent.id


async def test_dropping_a_large_collection_is_chunked_and_complete(core: Core, app: AppRecord) -> None:
    parent_id = await _filled_collection(core, app, "drop", 2500)
    before = await _rows_of(core.storage, parent_id)
    assert before[0] == 2500 and before[1] > 0 and before[2] == 2500
    _, seen = await _while_reading(core, app, core.kinvey.entities.remove_collection(app, "drop"))
    assert await _rows_of(core.storage, parent_id) == (0, 0, 0)
    _assert_reads_went_on(seen, chunks=False)
    async with core.storage.reader() as reader:
        assert await reader.get_parent(app.id, APPDATA, "drop") is None


async def test_a_drop_interrupted_before_its_purge_finishes_at_the_next_start(
    core: Core, app: AppRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent_id = await _filled_collection(core, app, "orphan", 300)
    from kinbase.storage import postgresql, sqlite

    async def no_purge(storage: Any, ids: Any) -> None:
        return None

    monkeypatch.setattr(sqlite, "purge_dropped", no_purge)
    monkeypatch.setattr(postgresql, "purge_dropped", no_purge)
    await core.kinvey.entities.remove_collection(app, "orphan")
    assert (await _rows_of(core.storage, parent_id))[0] == 300, "detached, not purged (a crash)"
    async with core.storage.reader() as reader:
        assert await reader.get_parent(app.id, APPDATA, "orphan") is None
    monkeypatch.undo()
    twin = _twin(core.storage)
    await twin.start()  # another worker starting finishes the purge
    await twin.stop()
    assert await _rows_of(core.storage, parent_id) == (0, 0, 0)
    await purge_leftovers(core.storage)  # idempotent


async def test_an_import_is_chunked(core: Core, app: AppRecord, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"_id": f"i{n}", "n": n} for n in range(2500)]
    async with _counting_writers(core.storage, monkeypatch) as opened:
        assert await import_batch(core.storage, app, "imported", rows) == 2500
    assert len(opened) == 3
    assert (await core.kinvey.entities.count(app, MASTER, "imported", Query())).count == 2500
