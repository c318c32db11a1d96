"""Kinvey POST of an entity with a generated id is optimistic (Writer.optimistic): on a wrong
stamp prediction the transaction runs again, locking first, and the client sees one 201 and one
entity. Both engines, with PostgreSQL's group commit off (the server's default) and on."""

from __future__ import annotations

import asyncio

import pytest

from kinbase.storage.base import StorageBackend
from kinbase.storage.postgresql import PostgreSQLStorage
from tests.support.optimistic import group_commit, stale_predictions

from .conftest import Kinvey

pytestmark = pytest.mark.anyio

__all__ = ["group_commit"]  # the fixture, used by name


async def test_a_wrong_prediction_is_run_again_and_answered_once(
    kv: Kinvey, storage: StorageBackend, group_commit: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await kv.user()
    first = await kv.post("/appdata/{k}/books", alice, json={"n": 1})
    assert first.status_code == 201, first.text
    predictions = stale_predictions(monkeypatch)
    r = await kv.post("/appdata/{k}/books", alice, json={"n": 2})
    monkeypatch.undo()
    assert r.status_code == 201, r.text
    book = r.json()
    assert book["_kmd"]["lmt"] >= first.json()["_kmd"]["lmt"] and book["_acl"] == {"creator": alice.id}
    if isinstance(storage, PostgreSQLStorage):
        assert len(predictions) == 1  # the optimistic attempt; the second one locked first
    listing = await kv.get("/appdata/{k}/books", alice)
    assert sorted(d["n"] for d in listing.json()) == [1, 2]
    got = await kv.get(f"/appdata/{{k}}/books/{book['_id']}", alice)
    assert got.json() == book


async def test_concurrent_creates_are_all_stored(kv: Kinvey, group_commit: bool) -> None:
    alice = await kv.user()
    answers = await asyncio.gather(*(kv.post("/appdata/{k}/many", alice, json={"n": i}) for i in range(24)))
    assert [a.status_code for a in answers] == [201] * 24
    listing = await kv.get("/appdata/{k}/many", alice)
    assert sorted(d["n"] for d in listing.json()) == list(range(24))
