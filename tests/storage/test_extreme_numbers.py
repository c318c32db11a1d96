"""Numbers at extreme exponents stored and found through each engine's own write and read paths
(SQLite reads their JSON text a few units in the last place off: docs/query-language.md §10):
the ids found are those the reference evaluator finds in the stored documents, with and without a
field index."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest

from kinbase.query import evaluate
from kinbase.query.ast import Query
from kinbase.query.mongo import parse_filter
from kinbase.storage.base import AppRecord, StorageBackend
from kinbase.storage.testing import put_doc

pytestmark = pytest.mark.anyio

FOUND = 1.831448483423857e-279
VALUES = [
    FOUND,
    math.nextafter(FOUND, 0),
    1e-300,
    math.nextafter(1e-300, 0),
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    1.5528310582015238e253,
    0.5,
]


async def test_extreme_numbers_are_found_as_the_evaluator_finds_them(
    storage: StorageBackend, app: AppRecord
) -> None:
    async with storage.writer() as w:
        parent = await w.ensure_parent(app.id, "test.collection", "numbers")
    for i, value in enumerate(VALUES):
        await put_doc(storage, parent, f"n{i}", {"x": value, "y": [value, 1]})
    await put_doc(storage, parent, "text", {"x": "1e-300", "y": "1e-300"})
    async with storage.reader() as r:
        docs = {o.id: orjson.loads(o.data) for o in await r.find(parent, Query())}
    filters: list[dict[str, Any]] = []
    for value in VALUES:
        for path in ("x", "y"):
            filters += [{path: {op: value}} for op in ("$gte", "$gt", "$lte", "$lt", "$eq", "$ne")]
            filters += [{path: {"$in": [value, 2]}}, {path: {"$nin": [value]}}]
    for indexed in (False, True):
        if indexed:
            async with storage.writer() as w:
                parent = await w.create_index(parent, ("x",))
                parent = await w.create_index(parent, ("y",))
        async with storage.reader() as r:
            for f in filters:
                query = Query(parse_filter(f))
                want = sorted(i for i, doc in docs.items() if evaluate.matches(query.filter, doc))
                found = sorted(o.id for o in await r.find(parent, query))
                assert found == want, (f, indexed)
                assert await r.count(parent, query) == len(want), (f, indexed)
