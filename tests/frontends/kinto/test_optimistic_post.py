"""Kinto POST of a record is optimistic (Writer.optimistic): on a wrong stamp prediction the
transaction runs again, locking first, and the client sees one 201 and one record (history off:
with it on, the entry is a second put and the POST locks first). Both engines,
with PostgreSQL's group commit off (the server's default: the queued locked parts) and on."""

from __future__ import annotations

from typing import Any

import pytest

from kinbase.storage.base import StorageBackend
from kinbase.storage.postgresql import PostgreSQLStorage
from tests.support.optimistic import group_commit, stale_predictions

from .conftest import Kinto

pytestmark = pytest.mark.anyio

__all__ = ["group_commit"]  # the fixture, used by name


async def test_a_wrong_prediction_is_run_again_and_answered_once(
    make_kinto: Any, storage: StorageBackend, group_commit: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    kinto: Kinto = await make_kinto(history=False)  # with the history on, a POST locks first
    await kinto.tree("alice")
    first = await kinto.post("/buckets/b/collections/c/records", "alice", json={"data": {"n": 1}})
    assert first.status_code == 201, first.text
    predictions = stale_predictions(monkeypatch)
    r = await kinto.post("/buckets/b/collections/c/records", "alice", json={"data": {"n": 2}})
    monkeypatch.undo()
    assert r.status_code == 201, r.text
    record = r.json()["data"]
    assert record["last_modified"] > first.json()["data"]["last_modified"]
    if isinstance(storage, PostgreSQLStorage):
        assert len(predictions) == 1  # the optimistic attempt; the second one locked first
    listing = await kinto.get("/buckets/b/collections/c/records", "alice")
    assert sorted(d["n"] for d in listing.json()["data"]) == [1, 2]
    got = await kinto.get(f"/buckets/b/collections/c/records/{record['id']}", "alice")
    assert got.json()["data"] == record
    assert got.headers["ETag"] == f'"{record["last_modified"]}"'
