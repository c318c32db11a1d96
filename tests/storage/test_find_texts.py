"""``Reader.find_texts``: the JSON texts of a page rendered by the database, on both engines,
byte for byte what rendering the rows of ``find`` in Python gives (stored text; a tombstone as
orjson writes it, whatever characters its id holds); ``Reader.find_joined``: the same texts,
joined by the database in their order (with a separator no stored text holds, to split again)."""

from __future__ import annotations

import secrets
from typing import Any

import orjson
import pytest

from kinbase.query.ast import Eq, Query, SortKey
from kinbase.storage.base import (
    RECORD_SEPARATOR,
    AclFilter,
    AppRecord,
    FindOptions,
    StorageBackend,
    StoredObject,
    SystemColumns,
)
from kinbase.storage.testing import put_doc

pytestmark = pytest.mark.anyio

KINTO = SystemColumns(id=("id",), stamp=("last_modified",))
IDS = ["plain", 'quote"back\\slash', "nl\ntab\tcr\r\x01\x1f\x7f", "é/ü€😀", "a\u2028b"]


def rendered(obj: StoredObject) -> str:
    if obj.deleted:
        return orjson.dumps({"deleted": True, "id": obj.id, "last_modified": obj.stamp}).decode()
    return obj.data


async def test_texts_are_the_rows_of_find(storage: StorageBackend, app: AppRecord) -> None:
    async with storage.writer() as w:
        parent = await w.ensure_parent(app.id, "test.collection", "texts")
    first = None
    for i, object_id in enumerate(IDS):
        doc: dict[str, Any] = {
            "id": object_id,
            "n": i,
            "s": "todo" if i % 2 else "done",
            "u": "é\n\"'\x1e",
            "\x1e": 1,
        }
        stamp = (await put_doc(storage, parent, object_id, doc, grants=[("read", "user:a")])).object.stamp
        first = first or stamp
    async with storage.writer() as w:
        for object_id in IDS[1::2]:
            assert await w.delete(parent, object_id) is not None
    assert first is not None
    cases: list[tuple[Query, FindOptions]] = [
        (Query(), FindOptions(columns=KINTO)),
        (
            Query(sort=(SortKey(("last_modified",), descending=True),)),
            FindOptions(include_deleted=True, columns=KINTO),
        ),
        (Query(limit=2), FindOptions(include_deleted=True, since=first - 1, columns=KINTO)),
        (Query(filter=Eq(("s",), "done")), FindOptions(columns=KINTO)),
        (Query(), FindOptions(acl=AclFilter(("read",), ("user:a",)), include_deleted=True, columns=KINTO)),
        (Query(), FindOptions(acl=AclFilter(("read",), ("user:b",)), columns=KINTO)),
        (
            Query(sort=(SortKey(("n",), descending=True),), limit=3),
            FindOptions(columns=SystemColumns(id=("_id",))),
        ),
    ]
    async with storage.reader() as r:
        stamp = (await r.get_parent(app.id, "test.collection", "texts")).stamp  # type: ignore[union-attr]
        assert stamp > parent.stamp  # `parent` was read before the writes: the page reads its stamp
        for query, options in cases:
            objects = await r.find(parent, query, options)
            texts = await r.find_texts(parent, query, options)
            assert texts == [rendered(o) for o in objects], (query, options)
            assert await r.find_joined(parent, query, options) == (len(texts), ",".join(texts), stamp, None)
            count, joined, _, _ = await r.find_joined(parent, query, options, separator=RECORD_SEPARATOR)
            assert (joined.split(RECORD_SEPARATOR) if count else []) == texts
        everything = await r.find_texts(parent, Query(), FindOptions(include_deleted=True, columns=KINTO))
    tombstones = [orjson.loads(t) for t in everything if '"deleted":true' in t]
    assert [t["id"] for t in tombstones] == IDS[1::2]
    assert all(list(t) == ["deleted", "id", "last_modified"] for t in tombstones)


async def test_tombstones_need_one_segment_columns(storage: StorageBackend, app: AppRecord) -> None:
    """A tombstone is rendered with the names of the id and stamp columns: listing tombstones
    needs one-segment names; live objects alone are their stored texts, whatever the columns."""
    async with storage.writer() as w:
        parent = await w.ensure_parent(app.id, "test.collection", "texts")
    await put_doc(storage, parent, "a", {"id": "a", "n": 1})
    async with storage.reader() as r:
        for columns in (
            SystemColumns(),
            SystemColumns(id=("id",), stamp=("a", "b")),
            SystemColumns(id=("x'",), stamp=("s",)),
        ):
            with pytest.raises(ValueError):
                await r.find_texts(parent, Query(), FindOptions(include_deleted=True, columns=columns))
            with pytest.raises(ValueError):
                await r.find_joined(parent, Query(), FindOptions(include_deleted=True, columns=columns))
            live = FindOptions(columns=columns)
            stored = [orjson.loads(o.data) for o in await r.find(parent, Query(), live)]
            assert [doc["n"] for doc in stored] == [1]
            assert [orjson.loads(t) for t in await r.find_texts(parent, Query(), live)] == stored
            count, joined, _, _ = await r.find_joined(parent, Query(), live)
            assert (count, orjson.loads(f"[{joined}]")) == (1, stored)


async def test_joined_says_when_the_parent_is_not_the_one_read(
    storage: StorageBackend, app: AppRecord
) -> None:
    """``find_joined`` returns no stamp once the parent's row is not the record passed (its
    settings changed, or it was deleted): a caller holding a cached parent then reads it again."""
    async with storage.writer() as w:
        parent = await w.ensure_parent(app.id, "test.collection", "joined")
    await put_doc(storage, parent, "a", {"id": "a"})
    options = FindOptions(columns=KINTO)
    async with storage.reader() as r:
        assert (await r.find_joined(parent, Query(), options))[2] is not None
    async with storage.writer() as w:
        changed = await w.update_parent_settings(parent, {"x": 1})
    async with storage.reader() as r:
        assert (await r.find_joined(parent, Query(), options))[2] is None
        assert (await r.find_joined(changed, Query(), options))[2] is not None
    async with storage.writer() as w:
        await w.delete_parent(changed)
    async with storage.reader() as r:
        assert (await r.find_joined(changed, Query(), options))[2] is None


async def test_count_by_counts_what_find_returns_per_key(storage: StorageBackend, app: AppRecord) -> None:
    """``count_by``: groups in the order of their first object, a missing or null value as
    ``"null"``, a key through an array never reading a position, the query's filter, window and
    ACL applied (``_group``'s count is this, see tests/frontends/kinvey)."""
    async with storage.writer() as w:
        parent = await w.ensure_parent(app.id, "test.collection", "counted")
    docs = [
        {"k": "b", "o": {"p": 1}},
        {"k": "a", "o": [{"p": 1}]},
        {"k": "b", "o": None},
        {"o": {"p": 1}},
        {"k": None},
    ]
    for i, doc in enumerate(docs):
        await put_doc(storage, parent, f"d{i}", doc, grants=[("read", "user:a")] if i != 2 else [])
    async with storage.reader() as r:
        assert await r.count_by(parent, [("k",)], Query()) == [(('"b"',), 2), (('"a"',), 1), (("null",), 2)]
        assert await r.count_by(parent, [("o", "p"), ("k",)], Query()) == [
            (("1", '"b"'), 1),
            (("null", '"a"'), 1),
            (("null", '"b"'), 1),
            (("1", "null"), 1),
            (("null", "null"), 1),
        ]
        assert await r.count_by(parent, [("o", "0", "p")], Query()) == [(("null",), 5)]
        assert await r.count_by(parent, [], Query(filter=Eq(("k",), "b"))) == [((), 2)]
        assert await r.count_by(parent, [], Query(filter=Eq(("k",), "z"))) == []
        assert await r.count_by(parent, [("k",)], Query(limit=2)) == [(('"b"',), 1), (('"a"',), 1)]
        readable = FindOptions(acl=AclFilter(principals=("user:a",), perms=("read",)))
        assert await r.count_by(parent, [("k",)], Query(), readable) == [
            (('"b"',), 1),
            (('"a"',), 1),
            (("null",), 2),
        ]


async def test_joined_reads_the_watched_parent_in_its_statement(
    storage: StorageBackend, app: AppRecord
) -> None:
    """``find_joined(..., watch=...)`` also returns the stamp of the parent it watches, as of the
    page's own snapshot (None when there is no such parent)."""
    async with storage.writer() as w:
        parent = await w.ensure_parent(app.id, "test.collection", "watching")
    await put_doc(storage, parent, "a", {"id": "a"})
    options = FindOptions(columns=KINTO)
    watch = (app.id, "test.meta", "watched")
    async with storage.reader() as r:
        assert (await r.find_joined(parent, Query(), options, watch=watch))[3] is None
    async with storage.writer() as w:
        watched = await w.ensure_parent(app.id, "test.meta", "watched")
    async with storage.reader() as r:
        count, text, stamp, seen = await r.find_joined(parent, Query(), options, watch=watch)
        assert (count, seen) == (1, watched.stamp)
        assert (count, text, stamp, None) == await r.find_joined(parent, Query(), options)
    await put_doc(storage, watched, "v", {"id": "v"})
    async with storage.reader() as r:
        current = await r.get_parent(app.id, "test.meta", "watched")
        assert current is not None and current.stamp > watched.stamp
        assert (await r.find_joined(parent, Query(), options, watch=watch))[3] == current.stamp


def _compiled_find(text: str) -> bool:
    """A statement of ``compile_find`` (its engine conditions in parentheses), not a fixed one of
    the same table such as an online index build's batch (``... WHERE o.parent_id = $1 ... ORDER
    BY o.stamp, o.oid``), which a test sharing the storage may have prepared on a main-pool
    connection."""
    return "FROM objects o" in text and "WHERE (o.parent_id = " in text and "ORDER BY" in text


async def test_postgresql_plans_a_find_with_its_values_every_time(postgresql_storage: StorageBackend) -> None:
    """A compiled find is planned with its values on every execution (a generic plan from average
    selectivities once made indexed lists 20x slower). A reader whose first statement is a find
    borrows a connection of the planned pool (``plan_cache_mode = force_custom_plan``): the find
    is prepared (parsed once) and never runs a generic plan. A reader that began with a point read
    holds a main-pool connection, where the find is not prepared and other statements keep their
    generic plans."""
    storage = postgresql_storage
    async with storage.writer() as w:
        app = await w.create_app("kid_" + secrets.token_hex(8), "Test app", "s", "m", {})
        parent = await w.ensure_parent(app.id, "test.collection", "planned")
    await put_doc(storage, parent, "a", {"n": 1})
    statements = "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"

    async with storage.reader() as r:
        for _ in range(8):
            assert len(await r.find(parent, Query(filter=Eq(("n",), 1), limit=5))) == 1
            assert (await r.find_joined(parent, Query(limit=5)))[0] == 1
        prepared = await r._all(statements)  # type: ignore[attr-defined]
        mode = await r._one("SHOW plan_cache_mode")  # type: ignore[attr-defined]
    assert mode == ("force_custom_plan",)
    finds = [row for row in prepared if _compiled_find(row[0])]
    # never a generic plan, whichever test prepared a find on this pooled connection; this
    # test's two finds ran 8 times each, prepared from psycopg's 5th execution on
    assert all(generic == 0 for _, generic, _ in finds), finds
    assert sum(custom >= 3 for _, _, custom in finds) >= 2, finds

    async with storage.reader() as r:
        for _ in range(8):
            assert await r.get_parent(app.id, "test.collection", "planned") is not None
            assert len(await r.find(parent, Query(filter=Eq(("n",), 1), limit=5))) == 1
        prepared = await r._all(statements)  # type: ignore[attr-defined]
        mode = await r._one("SHOW plan_cache_mode")  # type: ignore[attr-defined]
    assert mode == ("auto",)
    texts = [row[0] for row in prepared]
    assert any("FROM parents p" in text for text in texts), texts
    assert [text for text in texts if _compiled_find(text)] == []
