"""Shared by the tests of optimistic writes (``storage/postgresql/appends.py``) through the Kinto
and Kinvey front-ends: PostgreSQL's group commit switched off and on, and a stamp prediction forced
to be wrong."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kinbase.storage.base import StorageBackend
from kinbase.storage.postgresql import PostgreSQLStorage
from kinbase.storage.postgresql.appends import Ahead

__all__ = ["group_commit", "stale_predictions"]


@pytest.fixture(params=[False, True], ids=["group-off", "group-on"])
def group_commit(request: pytest.FixtureRequest, storage: StorageBackend) -> Iterator[bool]:
    """PostgreSQL's group commit off (the server's default: the queued locked parts) and on."""
    if not isinstance(storage, PostgreSQLStorage):
        yield False
        return
    before = storage.group_commit
    storage.group_commit = request.param
    yield request.param
    storage.group_commit = before


def stale_predictions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make every stamp prediction wrong until ``monkeypatch.undo()``; the list collects the
    predictions that were made (one per optimistic attempt)."""
    predictions: list[int] = []
    predict = Ahead.predict

    def stale(self: Ahead, parent_id: int, parent_stamp: int) -> int:
        predictions.append(predict(self, parent_id, parent_stamp))
        return parent_stamp  # not above the parent's stamp: kinbase_advance_parent refuses it

    monkeypatch.setattr(Ahead, "predict", stale)
    return predictions
