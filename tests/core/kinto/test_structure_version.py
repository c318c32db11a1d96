"""The Kinto structure version behind SQLite's commit marker: read again only after a commit (of
any process), and always inside a write transaction, whose own bump moves no marker."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from kinbase.core.kinto.principals import Membership
from kinbase.core.kinto.store import KintoStore
from kinbase.storage.base import AppRecord
from kinbase.storage.sqlite import SQLiteStorage

pytestmark = pytest.mark.anyio


class Counted(KintoStore):
    def __init__(self, storage: SQLiteStorage) -> None:
        super().__init__(storage)
        self.reads = 0

    async def parent(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return await super().parent(*args, **kwargs)


async def _app(storage: SQLiteStorage) -> AppRecord:
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
