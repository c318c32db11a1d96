"""Optimistic puts (Writer.optimistic), on SQLite and on PostgreSQL.

On PostgreSQL a new object's stamp is predicted and the parent locked only with the commit: the
locked parts of concurrent writers of one collection are queued and committed by one transaction
per batch (kinbase.storage.postgresql.appends). Every writer is acknowledged with its own stamp,
stamps stay distinct and the parent's count exact; a wrong prediction (another process moved the
parent on, or its settings changed) fails the transaction with StampConflict and writes nothing;
a writer that fails after its put withdraws it without holding the others up; a read after the
put sees the object. SQLite ignores the flag (its writers are serial anyway).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable

import pytest

from kinbase.errors import BaaSError
from kinbase.query.ast import And, Eq, Query
from kinbase.storage.base import AppRecord, Builder, NewVersion, StorageBackend, WriteContext
from kinbase.storage.exceptions import StampConflict
from kinbase.storage.postgresql import PostgreSQLStorage
from kinbase.storage.postgresql.appends import Slot, merge
from tests.conftest import POSTGRES_URL
from tests.support.optimistic import stale_predictions

pytestmark = pytest.mark.anyio

KIND, NAME = "test.optimistic", "c"


@pytest.fixture
async def app(storage: StorageBackend) -> AppRecord:
    async with storage.writer() as writer:
        return await writer.create_app(f"kid_o{time.monotonic_ns()}", "optimistic", "s1", "s2", {})


@pytest.fixture
async def pg(postgresql_storage: StorageBackend) -> PostgreSQLStorage:
    """PostgreSQL only (SQLite's writers of several processes take its single write lock)."""
    assert isinstance(postgresql_storage, PostgreSQLStorage)
    return postgresql_storage


@pytest.fixture
async def pg_app(pg: PostgreSQLStorage) -> AppRecord:
    async with pg.writer() as writer:
        return await writer.create_app(f"kid_o{time.monotonic_ns()}", "optimistic", "s1", "s2", {})


@pytest.fixture
async def other_process(pg: PostgreSQLStorage) -> AsyncIterator[PostgreSQLStorage]:
    """A second engine on the same database: another process's writers."""
    other = PostgreSQLStorage(POSTGRES_URL, min_size=1, max_size=2, schema=pg.schema)
    await other.start()
    yield other
    await other.stop()


def _build(object_id: str) -> Builder:
    def build(ctx: WriteContext) -> NewVersion:
        return NewVersion(
            data={"id": object_id, "last_modified": ctx.stamp}, creator="u", grants=[("read", "u")]
        )

    return build


async def _write(storage: StorageBackend, app: AppRecord, object_id: str, *, optimistic: bool = True) -> int:
    async with storage.writer() as writer:
        writer.optimistic = optimistic
        parent = await writer.ensure_parent(app.id, KIND, NAME)
        result = await writer.put(parent, object_id, _build(object_id), new=True)
        return result.object.stamp


async def _stored(storage: StorageBackend, app: AppRecord) -> tuple[dict[str, int], int, int]:
    """The objects' stamps by id, the parent's stamp and its live count."""
    async with storage.reader() as reader:
        parent = await reader.get_parent(app.id, KIND, NAME)
        assert parent is not None
        objects = await reader.find(parent, Query())
        return {o.id: o.stamp for o in objects}, parent.stamp, parent.live


def _batches(storage: StorageBackend) -> int:
    return storage._ahead.batches if isinstance(storage, PostgreSQLStorage) else 0


async def test_concurrent_optimistic_writers_each_get_their_own_stamp(
    storage: StorageBackend, app: AppRecord
) -> None:
    await _write(storage, app, "first", optimistic=False)
    before = _batches(storage)
    stamps = await asyncio.gather(*(_write(storage, app, f"o{i}") for i in range(40)))
    stored, parent_stamp, live = await _stored(storage, app)
    assert {f"o{i}": s for i, s in enumerate(stamps)} == {k: v for k, v in stored.items() if k != "first"}
    assert len(set(stamps)) == 40
    assert parent_stamp == max(stored.values())
    assert live == 41
    if isinstance(storage, PostgreSQLStorage):
        assert 1 <= _batches(storage) - before < 40  # locked parts shared transactions


async def test_the_stored_document_carries_the_stamp_it_was_built_with(
    storage: StorageBackend, app: AppRecord
) -> None:
    stamp = await _write(storage, app, "one")
    async with storage.reader() as reader:
        found = await reader.get_child(app.id, KIND, NAME, "one")
    assert found is not None and found.stamp == stamp
    assert f'"last_modified": {stamp}' in found.data or f'"last_modified":{stamp}' in found.data


async def test_another_process_that_moved_the_parent_on_makes_it_fail_and_write_nothing(
    pg: PostgreSQLStorage, other_process: PostgreSQLStorage, pg_app: AppRecord
) -> None:
    await _write(pg, pg_app, "first", optimistic=False)
    _, stamp_before, _ = await _stored(pg, pg_app)
    with pytest.raises(StampConflict):
        async with pg.writer() as writer:
            writer.optimistic = True
            parent = await writer.ensure_parent(pg_app.id, KIND, NAME)
            # another process writes with a stamp far ahead after this writer read the parent
            async with other_process.writer() as other:
                theirs = await other.ensure_parent(pg_app.id, KIND, NAME)
                await other.put(theirs, "theirs", _build("theirs"), requested_stamp=stamp_before + 10**6)
            await writer.put(parent, "mine", _build("mine"), new=True)
    stored, parent_stamp, live = await _stored(pg, pg_app)
    assert sorted(stored) == ["first", "theirs"]
    assert parent_stamp == stamp_before + 10**6
    assert live == 2
    # run again, locking first: stored after theirs
    assert await _write(pg, pg_app, "mine", optimistic=False) > stamp_before + 10**6


async def test_a_settings_change_since_the_read_makes_it_fail(
    pg: PostgreSQLStorage, other_process: PostgreSQLStorage, pg_app: AppRecord
) -> None:
    await _write(pg, pg_app, "first", optimistic=False)
    with pytest.raises(StampConflict):
        async with pg.writer() as writer:
            writer.optimistic = True
            parent = await writer.ensure_parent(pg_app.id, KIND, NAME)
            async with other_process.writer() as other:
                theirs = await other.ensure_parent(pg_app.id, KIND, NAME)
                await other.update_parent_settings(theirs, {"note": "changed"})
            await writer.put(parent, "mine", _build("mine"), new=True)
    stored, _, _ = await _stored(pg, pg_app)
    assert sorted(stored) == ["first"]


async def test_a_writer_failing_after_its_put_holds_no_one_up(
    storage: StorageBackend, app: AppRecord
) -> None:
    async def failing() -> None:
        async with storage.writer() as writer:
            writer.optimistic = True
            parent = await writer.ensure_parent(app.id, KIND, NAME)
            await writer.put(parent, "refused", _build("refused"), new=True)
            await asyncio.sleep(0.05)  # the writers after it queue behind its slot
            raise BaaSError("refused after the put")

    await _write(storage, app, "first", optimistic=False)
    jobs: list[Awaitable[object]] = [_write(storage, app, f"ok{i}") for i in range(10)]
    jobs.insert(2, failing())
    results = await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), timeout=30)
    assert [type(r) for r in results if isinstance(r, BaseException)] == [BaaSError]
    stored, _, live = await _stored(storage, app)
    assert sorted(stored) == sorted(["first", *(f"ok{i}" for i in range(10))])
    assert live == 11


async def test_a_read_after_the_put_sees_the_object(storage: StorageBackend, app: AppRecord) -> None:
    async with storage.writer() as writer:
        writer.optimistic = True
        parent = await writer.ensure_parent(app.id, KIND, NAME)
        result = await writer.put(parent, "seen", _build("seen"), new=True)
        found = await writer.get_object(parent, "seen")
        assert found is not None and found.stamp == result.object.stamp
        second = await writer.put(parent, "next", _build("next"), new=True)
        assert second.object.stamp > result.object.stamp
    stored, parent_stamp, live = await _stored(storage, app)
    assert stored == {"seen": result.object.stamp, "next": second.object.stamp}
    assert parent_stamp == second.object.stamp and live == 2


async def test_a_failed_batch_leaves_its_connection_usable(
    pg: PostgreSQLStorage, pg_app: AppRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose prediction is wrong fails at its first statement; the server skips the rest,
    among them statements psycopg prepares on their fifth run: the rollback makes it forget
    them, or the next statement on the connection names a prepared statement that does not
    exist. One connection, so the batches and the writers share it."""
    single = PostgreSQLStorage(POSTGRES_URL, min_size=1, max_size=1, schema=pg.schema)
    await single.start()
    try:
        await _write(single, pg_app, "first", optimistic=False)
        predictions = stale_predictions(monkeypatch)
        for i in range(12):
            with pytest.raises(StampConflict):
                await _write(single, pg_app, f"s{i}")
            await _write(single, pg_app, f"s{i}", optimistic=False)  # as the services run it again
        assert len(predictions) == 12
        monkeypatch.undo()
        for i in range(6):
            await _write(single, pg_app, f"o{i}")
        stored, parent_stamp, live = await _stored(single, pg_app)
        assert sorted(stored) == sorted(
            ["first", *(f"s{i}" for i in range(12)), *(f"o{i}" for i in range(6))]
        )
        assert parent_stamp == max(stored.values()) and live == 19
    finally:
        await single.stop()


async def test_concurrent_writers_of_an_indexed_collection_write_their_entries(
    storage: StorageBackend, app: AppRecord
) -> None:
    """A batch of members' puts runs as one executemany per statement (appends.merge): every
    member's index entries are written (a query through the indexes finds every object)."""
    async with storage.writer() as writer:
        parent = await writer.ensure_parent(app.id, KIND, NAME)
        parent = await writer.create_index(parent, ("n",))
        await writer.create_index(parent, ("n",), (("status",),))

    async def put(i: int) -> None:
        def build(ctx: WriteContext) -> NewVersion:
            doc = {"id": f"o{i}", "n": i % 3, "status": "todo" if i % 2 else "done"}
            return NewVersion(data=doc, creator="u", grants=[("read", "u"), ("write", f"g{i}")])

        async with storage.writer() as writer:
            writer.optimistic = True
            parent = await writer.ensure_parent(app.id, KIND, NAME)
            await writer.put(parent, f"o{i}", build, new=True)

    await put(-1)  # the first write of the collection (n 2)
    await asyncio.gather(*(put(i) for i in range(30)))
    async with storage.reader() as reader:
        found = await reader.get_parent(app.id, KIND, NAME)
        assert found is not None and found.live == 31
        by_n = await reader.find(found, Query(filter=Eq(("n",), 1)))
        both = await reader.find(found, Query(filter=And((Eq(("status",), "todo"), Eq(("n",), 0)))))
    assert sorted(o.id for o in by_n) == sorted(f"o{i}" for i in range(30) if i % 3 == 1)
    assert sorted(o.id for o in both) == sorted(f"o{i}" for i in range(30) if i % 3 == 0 and i % 2)


def test_a_batch_with_another_statement_is_not_merged() -> None:
    loop = asyncio.new_event_loop()
    try:
        first, second = Slot(1, loop), Slot(2, loop)
    finally:
        loop.close()
    put = "WITH o AS (INSERT INTO objects (oid) SELECT %s) INSERT INTO grants SELECT %s"
    entries = "INSERT INTO field_values (oid) VALUES (%s)"
    first.statements = [(put, (10, 1), False), (entries, [(10,), (10,)], True)]
    second.statements = [(put, (11, 2), False)]
    assert merge([first, second]) == [(put, [(10, 1), (11, 2)]), (entries, [(10,), (10,)])]
    second.statements.append(("UPDATE parents SET settings = %s WHERE id = %s", ("{}", 1), False))
    assert merge([first, second]) is None


async def test_optimistic_puts_store_their_grants_alone_and_together(
    storage: StorageBackend, app: AppRecord
) -> None:
    """The locked part of an optimistic put writes the object and its grants in one statement
    (Dialect.put_ahead): alone and in a batch, each object gets its own grants, none when it has none."""

    def grants_of(i: int) -> list[tuple[str, str]]:
        return [("write", f"user:u{i}"), *([("read", "system.Authenticated")] if i % 2 else [])][: i % 3]

    async def put(i: int) -> None:
        def build(ctx: WriteContext) -> NewVersion:
            return NewVersion(data={"id": f"g{i}"}, creator=f"u{i}", grants=grants_of(i))

        async with storage.writer() as writer:
            writer.optimistic = True
            parent = await writer.ensure_parent(app.id, KIND, NAME)
            await writer.put(parent, f"g{i}", build, new=True)

    await put(-3)  # creates the collection
    await put(1)  # alone
    await asyncio.gather(*(put(i) for i in range(2, 26)))
    async with storage.reader() as reader:
        parent = await reader.get_parent(app.id, KIND, NAME)
        assert parent is not None and parent.live == 26
        for i in [1, *range(2, 26)]:
            found = await reader.get_object(parent, f"g{i}")
            assert found is not None and found.creator == f"u{i}"
            assert await reader.get_grants(found.oid) == sorted(grants_of(i)), i
