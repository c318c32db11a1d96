"""Top-N sorts through the storage engines: SQLite orders by quick sort keys
(``CompileContext.quick_sort``) and, when a kept row holds a number its quick key cannot be
trusted with, runs the query again with the exact keys; every reader method that runs a query
gives the reference evaluator's rows on both engines, on the loop and on a thread."""

from __future__ import annotations

import secrets
from typing import Any

import orjson
import pytest

from kinbase.query import evaluate
from kinbase.query.ast import Query, SortKey
from kinbase.query.mongo import parse_filter
from kinbase.query.sql import quick as quick_module
from kinbase.storage import sqlite as sqlite_module
from kinbase.storage.base import FindOptions, NewVersion, ParentRecord, StorageBackend, SystemColumns
from kinbase.storage.sql.reader import SCAN_ON_LOOP_ROWS
from kinbase.storage.sqlite import SQLiteStorage

pytestmark = pytest.mark.anyio

KIND = "test.quick"
COLUMNS = FindOptions(columns=SystemColumns(id=("_id",)))


def _documents(size: int) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for i in range(size):
        value: Any = (i * 7919) % 1000  # numbers below 2**53, many ties
        if i % 97 == 0:
            value = ["text", True, None, {"o": 1}, [], [3, 9], 0, 1, 2.5][i // 97 % 9]
        docs.append({"_id": f"d{i:04d}", "n": value, "g": i % 3})
    # numbers that are one double (2**53) but three integers, written in an order that their
    # exact values would reverse
    docs += [{"_id": f"big{k}", "n": v, "g": 2} for k, v in enumerate([2**53 + 1, 2**53, 2.0**53])]
    return docs


@pytest.fixture(params=[SCAN_ON_LOOP_ROWS // 4, SCAN_ON_LOOP_ROWS * 3], ids=["on the loop", "on a thread"])
async def loaded(
    storage: StorageBackend, request: pytest.FixtureRequest
) -> tuple[ParentRecord, list[dict[str, Any]]]:
    docs = _documents(request.param)
    async with storage.writer() as w:
        app = await w.create_app("kid_" + secrets.token_hex(8), "quick", "s" * 16, "m" * 16, {})
        parent = await w.ensure_parent(app.id, KIND, "items")
        await w.put_many(parent, [(d["_id"], lambda ctx, d=d: NewVersion(d)) for d in docs])
        parent = await w.ensure_parent(app.id, KIND, "items")
    return parent, docs


def _refusals(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each SQLite ``quick_sort_refused`` check that found a refused row."""
    seen: list[bool] = []
    original = quick_module.quick_sort_refused

    def counted() -> bool:
        refused = original()
        if refused:
            seen.append(True)
        return refused

    monkeypatch.setattr(sqlite_module, "quick_sort_refused", counted)
    return seen


N, G, ID = ("n",), ("g",), ("_id",)
QUERIES = [
    ("largest", Query(None, (SortKey(N, True),), limit=5), True),
    ("largest after a skip", Query(None, (SortKey(N, True),), skip=2, limit=3), True),
    ("smallest", Query(None, (SortKey(N),), limit=20), False),
    ("filtered, two keys", Query(parse_filter({"g": 1}), (SortKey(N), SortKey(ID)), limit=30), False),
    ("second key top-level", Query(None, (SortKey(G, True), SortKey(N, True)), limit=8), True),
]


@pytest.mark.parametrize(("title", "query", "refused"), QUERIES, ids=[q[0] for q in QUERIES])
async def test_every_reader_method_gives_the_reference_order(
    storage: StorageBackend,
    loaded: tuple[ParentRecord, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    title: str,
    query: Query,
    refused: bool,
) -> None:
    parent, docs = loaded
    want = [docs[i]["_id"] for i in evaluate.find(query, docs)]
    seen = _refusals(monkeypatch)
    async with storage.reader() as r:
        found = [orjson.loads(o.data)["_id"] for o in await r.find(parent, query, COLUMNS)]
        texts = [orjson.loads(t)["_id"] for t in await r.find_texts(parent, query, COLUMNS)]
        count, joined, _, _ = await r.find_joined(parent, query, COLUMNS)
        grouped = await r.count_by(parent, [("g",)], query, COLUMNS)
    assert found == want
    assert texts == want
    assert count == len(want) and [d["_id"] for d in orjson.loads("[" + joined + "]")] == want
    assert sum(n for _, n in grouped) == len(want)
    if isinstance(storage, SQLiteStorage):
        # the windows holding the numbers past 2**53 were refused once per reader method
        assert len(seen) == (4 if refused else 0), seen
