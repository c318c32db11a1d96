"""SQLite stores documents and settings as JSONB (``kinbase.storage.sqlite.driver``, migration
0003) and reads them back as the JSON text orjson wrote; a database of the earlier JSON-text
format is converted at start and answers the same, sort order of mixed types included."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from kinbase.query.ast import Eq, Query, SortKey
from kinbase.storage.base import ParentRecord
from kinbase.storage.sqlite import SQLiteStorage
from kinbase.storage.sqlite.driver import sqlite
from kinbase.storage.testing import put_doc

pytestmark = pytest.mark.anyio

DOCS: dict[str, dict[str, Any]] = {
    "int": {"n": 3, "s": "a"},
    "real": {"n": 2.5, "s": "b"},
    "big": {"n": 9007199254740993, "s": "a"},
    "text": {"n": 'x\u00e9"\\\n', "s": "b"},
    "true": {"n": True, "s": "a"},
    "false": {"n": False, "s": "b"},
    "null": {"n": None, "s": "a"},
    "missing": {"s": "b"},
    "empty": {"n": [], "s": "a"},
    "array": {"n": [1, "y", None], "s": "b"},
    "nested": {"n": [[2]], "s": "a"},
    "object": {"n": {"k": 1.50}, "s": "b"},
    "min": {"n": -1.7976931348623157e308, "s": "a"},
}
QUERIES = [
    Query(sort=(SortKey(("n",)),)),
    Query(sort=(SortKey(("n",), descending=True),)),
    Query(filter=Eq(("s",), "a"), sort=(SortKey(("n",), descending=True),), limit=4),
    Query(filter=Eq(("n",), "y")),
]


async def _answers(storage: SQLiteStorage, parent: ParentRecord) -> list[Any]:
    async with storage.reader() as r:
        answers: list[Any] = [[o.id for o in await r.find(parent, q)] for q in QUERIES]
        answers.append({o.id: o.data for o in await r.find(parent, Query())})
        answers.append(await r.get_app_by_id(parent.app_id))
    return answers


def _types(path: Path) -> set[tuple[str, str]]:
    with contextlib.closing(sqlite.connect(path)) as conn:
        return {
            *conn.execute("SELECT 'objects', typeof(data) FROM objects"),
            *conn.execute("SELECT 'apps', typeof(settings) FROM apps"),
            *conn.execute("SELECT 'parents', typeof(settings) FROM parents"),
        }


async def test_jsonb_stored_text_read_and_text_databases_converted(tmp_path: Path) -> None:
    path = tmp_path / "kinbase.db"
    storage = SQLiteStorage(path)
    await storage.start()
    try:
        async with storage.writer() as w:
            app = await w.create_app("kid_jsonb", "jsonb", "s" * 16, "m" * 16, {"a": [1, "é"]})
            parent = await w.ensure_parent(app.id, "test.jsonb", "things")
        for object_id, doc in DOCS.items():
            await put_doc(storage, parent, object_id, doc)
        before = await _answers(storage, parent)
    finally:
        await storage.stop()
    assert _types(path) == {("objects", "blob"), ("apps", "blob"), ("parents", "blob")}
    texts = before[len(QUERIES)]
    stored = {k: orjson.loads(v) for k, v in texts.items()}
    assert {
        k: {f: x for f, x in v.items() if f not in ("_stamp", "_created")} for k, v in stored.items()
    } == DOCS
    assert all(v == orjson.dumps(orjson.loads(v)).decode() for v in texts.values())  # orjson's own text
    # JSON text (the format before migration 0003), then a start that converts it
    with contextlib.closing(sqlite.connect(path)) as conn:
        conn.execute("UPDATE objects SET data = json(data)")
        conn.execute("UPDATE apps SET settings = json(settings)")
        conn.execute("UPDATE parents SET settings = json(settings)")
        conn.execute("DELETE FROM schema_migrations WHERE version = 3")
        conn.commit()
    assert _types(path) == {("objects", "text"), ("apps", "text"), ("parents", "text")}
    storage = SQLiteStorage(path)
    await storage.start()
    try:
        assert await _answers(storage, parent) == before
    finally:
        await storage.stop()
    assert _types(path) == {("objects", "blob"), ("apps", "blob"), ("parents", "blob")}
