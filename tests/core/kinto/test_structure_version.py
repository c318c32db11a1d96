"""The Kinto structure version behind SQLite's commit marker: read again only after a commit (of
any process), and always inside a write transaction, whose own bump moves no marker. On
PostgreSQL, behind the invalidation feed: read again only after a structure change was heard,
never trusted while the feed is down or when a change was heard during the read."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kinbase.core.kinto.context import after_commit, transaction
from kinbase.core.kinto.principals import STRUCTURE_TOPIC, Membership
from kinbase.core.kinto.store import KintoStore
from kinbase.core.services import Core
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, StorageBackend
from kinbase.storage.sqlite import SQLiteStorage

pytestmark = pytest.mark.anyio


class Counted(KintoStore):
    def __init__(self, storage: SQLiteStorage) -> None:
        super().__init__(storage)
        self.reads = 0

    async def parent(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return await super().parent(*args, **kwargs)


async def _app(storage: StorageBackend) -> AppRecord:
    async with storage.writer() as w:
        return await w.create_app("kid_" + secrets.token_hex(6), "structure", "s" * 16, "m" * 16, {})


async def test_the_version_is_read_again_only_after_a_commit(
    sqlite_pair: tuple[SQLiteStorage, SQLiteStorage],
) -> None:
    first, second = sqlite_pair
    app = await _app(first)
    one, two = Membership(KintoStore(first)), Counted(second)
    membership = Membership(two)

    async def version() -> int:
        async with second.reader() as reader:
            return await membership.version(reader, app.id)

    assert await version() == 0
    assert two.reads == 1
    assert await version() == 0 and await version() == 0
    assert two.reads == 1  # nothing committed since: no statement
    async with first.writer() as w:  # the other worker changes the structure
        await one.changed(w, app.id)
    bumped = await version()
    assert bumped > 0 and two.reads == 2  # seen at once
    assert membership.last_seen(app.id) == bumped
    async with first.writer() as w:  # any commit makes it read again, to the same answer
        await w.set_meta("unrelated", "x")
    assert await version() == bumped and two.reads == 3
    assert await version() == bumped and two.reads == 3


async def test_a_transaction_reads_its_own_bump(sqlite_pair: tuple[SQLiteStorage, SQLiteStorage]) -> None:
    first, _ = sqlite_pair
    app = await _app(first)
    store = Counted(first)
    membership = Membership(store)
    async with first.reader() as reader:
        before = await membership.version(reader, app.id)
    async with first.writer() as w:
        await membership.changed(w, app.id)
        inside = await membership.version(w, app.id)  # uncommitted: the marker has not moved
        assert inside > before
    async with first.reader() as reader:
        assert await membership.version(reader, app.id) == inside


async def test_without_a_marker_every_call_reads(
    sqlite_pair: tuple[SQLiteStorage, SQLiteStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = sqlite_pair
    app = await _app(first)
    monkeypatch.setattr(first, "commit_marker", lambda: None)
    store = Counted(first)
    membership = Membership(store)
    for _ in range(3):
        async with first.reader() as reader:
            await membership.version(reader, app.id)
    assert store.reads == 3


@pytest.fixture
async def pg_cores(
    settings: Settings, postgresql_storage: StorageBackend
) -> AsyncIterator[tuple[Core, Core]]:
    """Two workers' cores on one PostgreSQL database, each listening on the feed (NOTIFY)."""
    cores = (Core(settings, postgresql_storage), Core(settings, postgresql_storage))
    for core in cores:
        await core.invalidations.start()
    yield cores
    for core in cores:
        await core.invalidations.stop()


def _count_reads(core: Core) -> list[int]:
    """Counts the structure version's reads (``KintoStore.parent``) of ``core``."""
    store = core.kinto.store
    reads = [0]
    parent = store.parent

    async def counted(*args: Any, **kwargs: Any) -> Any:
        reads[0] += 1
        return await parent(*args, **kwargs)

    store.parent = counted  # type: ignore[method-assign]
    return reads


async def _version(core: Core, app: AppRecord) -> int:
    async with core.storage.reader() as reader:
        return await core.kinto.membership.version(reader, app.id)


async def _change(core: Core, app: AppRecord) -> None:
    async with transaction(core.storage) as w:
        await core.kinto.membership.changed(w, app.id)


async def test_over_the_feed_the_version_is_read_again_only_after_a_change_is_heard(
    pg_cores: tuple[Core, Core],
) -> None:
    one, two = pg_cores
    app = await _app(one.storage)
    reads = _count_reads(two)
    assert await _version(two, app) == 0 and reads[0] == 1
    assert await _version(two, app) == 0 and await _version(two, app) == 0
    assert reads[0] == 1  # trusted: no statement
    await _change(one, app)  # the other worker; published once committed, heard before it returns
    bumped = await _version(two, app)
    assert bumped > 0 and reads[0] == 2  # seen at once
    assert await _version(two, app) == bumped and reads[0] == 2
    await _change(two, app)  # its own change: dropped here at once
    assert await _version(two, app) > bumped and reads[0] == 3
    other = await _app(one.storage)  # another app's version is its own
    assert await _version(two, other) == 0 and reads[0] == 4


async def test_a_version_read_while_a_change_is_heard_is_not_trusted(pg_cores: tuple[Core, Core]) -> None:
    _, two = pg_cores
    app = await _app(two.storage)
    reads = _count_reads(two)
    parent = two.kinto.store.parent

    async def heard_meanwhile(*args: Any, **kwargs: Any) -> Any:
        found = await parent(*args, **kwargs)
        two.invalidations._deliver(STRUCTURE_TOPIC, str(app.id))  # arrives before the answer is kept
        return found

    two.kinto.store.parent = heard_meanwhile  # type: ignore[method-assign]
    await _version(two, app)
    two.kinto.store.parent = parent  # type: ignore[method-assign]
    await _version(two, app)
    await _version(two, app)
    assert reads[0] == 2  # the first answer was not kept; the second was


async def test_without_the_feed_every_call_reads(pg_cores: tuple[Core, Core]) -> None:
    _, two = pg_cores
    app = await _app(two.storage)
    reads = _count_reads(two)
    await _version(two, app)
    await two.invalidations.stop()  # a lost feed: nothing heard, nothing trusted
    await _version(two, app)
    await _version(two, app)
    assert reads[0] == 3
    await two.invalidations.start()
    for _ in range(500):  # subscribed again (its first start's event is already set)
        if two.invalidations.connected:
            break
        await asyncio.sleep(0.01)
    await _version(two, app)
    await _version(two, app)
    assert reads[0] == 4


async def test_actions_run_after_the_commit_only(storage: StorageBackend) -> None:
    ran: list[str] = []

    async def record() -> None:
        ran.append("ran")

    with pytest.raises(RuntimeError):
        after_commit("record", record)  # no transaction to follow
    async with transaction(storage):
        after_commit("record", record)
        assert ran == []
    assert ran == ["ran"]
    with pytest.raises(ValueError):
        async with transaction(storage) as w:
            await w.set_meta("after-commit-test", "x")
            after_commit("record", record)
            raise ValueError
    assert ran == ["ran"]  # rolled back: not run
    with pytest.raises(RuntimeError):
        after_commit("record", record)  # the transaction is over


async def test_an_action_runs_once_per_key_and_transaction(storage: StorageBackend) -> None:
    ran: list[str] = []

    def action(name: str) -> Any:
        async def run() -> None:
            ran.append(name)

        return run

    async with transaction(storage):
        for name in ("first", "again", "again"):
            after_commit("structure", action(name))  # a batch bumping one app's version thrice
        after_commit("other", action("other"))
    assert ran == ["first", "other"]
