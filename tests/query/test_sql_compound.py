"""Compound indexes: same results as no index on both engines, and the plans walk
``compound_values`` (EXPLAIN): a filter pinned on the leading field and a sort on the last one
is one index walk that stops at the limit."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from kinbase.query.ast import IndexDef, Query, SortKey
from kinbase.query.mongo import parse_filter
from kinbase.query.sql import CompileContext
from kinbase.query.sql.compound import compound_entries, compound_multikey, group_key
from kinbase.query.values import R_STRING
from kinbase.types import Document
from tests.query.qharness import PARENT, Backends, PgDatabase, contexts, sqlite_database

pytestmark = pytest.mark.postgres

STATUS_N = IndexDef(("n",), 10, prefix=(("status",),))
OWNER_STATUS_N = IndexDef(("n",), 11, prefix=(("owner", "id"), ("status",)))
STATUSES = ["todo", "doing", "done", "archived"]


def items(count: int) -> list[Document]:
    rng = random.Random(3)
    docs: list[Document] = []
    for i in range(count):
        doc: Document = {"status": STATUSES[i % 4], "n": rng.randrange(1000), "owner": {"id": f"u{i % 3}"}}
        if i % 97 == 0:
            doc["n"] = "text"  # another type: sorts after the numbers
        if i % 89 == 0:
            del doc["n"]  # missing: sorts first, like null
        if i % 83 == 0:
            doc["status"] = None
        docs.append(doc)
    return docs


def load(backends: Backends, docs: list[Document], indexes: list[IndexDef]) -> None:
    backends.load(docs)
    rows = [
        (PARENT, index.slot, *row, i + 1)
        for index in indexes
        for i, doc in enumerate(docs)
        for row in compound_entries(doc, index)
    ]
    backends.lite.executemany("INSERT INTO compound_values VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    with (
        backends.pg.cursor() as cur,
        cur.copy("COPY compound_values (parent_id, slot, g, t, n, s, oid) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


@pytest.fixture(scope="module")
def loaded() -> Iterator[tuple[Backends, CompileContext, CompileContext]]:
    lite = sqlite_database()
    pg = PgDatabase()
    backends = Backends(lite, pg)
    load(backends, items(6000), [STATUS_N, OWNER_STATUS_N])
    lite.execute("ANALYZE")
    pg.analyze()
    lite_ctx, pg_ctx = contexts()
    kw = {"compounds": (STATUS_N, OWNER_STATUS_N)}
    yield (
        backends,
        CompileContext("sqlite", PARENT, **kw),  # type: ignore[arg-type]
        CompileContext("postgresql", PARENT, **kw),  # type: ignore[arg-type]
    )
    del lite_ctx, pg_ctx
    lite.close()
    pg.close()


def sqlite_plan(backends: Backends, query: Query, ctx: CompileContext) -> str:
    sql = backends.statement("sqlite", query, ctx)
    return "\n".join(row[3] for row in backends.lite.execute("EXPLAIN QUERY PLAN " + sql.text, sql.params))


def pg_plan(backends: Backends, query: Query, ctx: CompileContext) -> str:
    sql = backends.statement("postgresql", query, ctx)
    return "\n".join(row[0] for row in backends.pg.execute("EXPLAIN " + sql.text, sql.params))


DESC_N = (SortKey(("n",), True),)
QUERIES = [
    ("filter + sort desc + limit", Query(parse_filter({"status": "todo"}), DESC_N, limit=50)),
    ("filter + sort asc", Query(parse_filter({"status": "done"}), (SortKey(("n",)),), limit=40, skip=5)),
    ("filter + range + sort", Query(parse_filter({"status": "todo", "n": {"$gte": 500}}), DESC_N, limit=30)),
    ("null pin", Query(parse_filter({"status": None}), DESC_N, limit=20)),
    ("in pin + sort", Query(parse_filter({"status": {"$in": ["todo", "done"]}}), DESC_N, limit=25)),
    ("filter only", Query(parse_filter({"status": "doing"}))),
    ("filter + range, no sort", Query(parse_filter({"status": "doing", "n": {"$lt": 100}}))),
    ("two leading fields", Query(parse_filter({"owner.id": "u1", "status": "todo"}), DESC_N, limit=10)),
    (
        "sort by the last field + other condition",
        Query(parse_filter({"status": "todo", "owner.id": "u2"}), DESC_N, limit=15),
    ),
    ("unpinned: not used", Query(parse_filter({"n": {"$gt": 10}}), DESC_N, limit=5)),
    (
        "secondary sort",
        Query(parse_filter({"status": "todo"}), (SortKey(("n",), True), SortKey(("owner", "id"))), limit=50),
    ),
]


@pytest.mark.parametrize(("title", "query"), QUERIES, ids=[q[0] for q in QUERIES])
def test_results_match_no_index(
    loaded: tuple[Backends, CompileContext, CompileContext], title: str, query: Query
) -> None:
    backends, ctx_lite, ctx_pg = loaded
    plain_lite, plain_pg = contexts()
    expected = backends.run_sqlite(query, plain_lite)
    assert expected, title
    assert backends.run_sqlite(query, ctx_lite) == expected
    assert backends.run_pg(query, ctx_pg) == expected
    assert backends.run_pg(query, plain_pg) == expected
    assert backends.count(query, ctx_lite, ctx_pg) == backends.count(query, plain_lite, plain_pg)


def test_filter_and_sort_are_one_walk(loaded: tuple[Backends, CompileContext, CompileContext]) -> None:
    backends, ctx_lite, ctx_pg = loaded
    query = Query(parse_filter({"status": "todo"}), DESC_N, limit=50)
    plan = sqlite_plan(backends, query, ctx_lite)
    assert "SEARCH fs USING PRIMARY KEY (parent_id=? AND slot=? AND g=? AND t<?)" in plan, plan
    # (the tie-breaker on strings cut at the prefix length is a correlated subquery of its own)
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan.split("CORRELATED")[0], plan
    plan = pg_plan(backends, query, ctx_pg)
    assert "Limit" in plan.splitlines()[0], plan
    assert "Index Only Scan Backward using compound_values_pkey on compound_values fs" in plan, plan
    above = plan.split("Index Only Scan")[0]
    # Only the tie-breakers are sorted, incrementally, inside runs of equal index keys.
    assert above.count("Sort (") == above.count("Incremental Sort ("), plan
    assert "Sort" not in above or "Presorted Key: fs.t, fs.n, fs.s" in above, plan


def test_filter_only_probes_the_compound_index(
    loaded: tuple[Backends, CompileContext, CompileContext],
) -> None:
    backends, ctx_lite, ctx_pg = loaded
    query = Query(parse_filter({"status": "doing", "n": {"$lt": 100}}))
    plan = sqlite_plan(backends, query, ctx_lite)
    assert "SEARCH cv USING PRIMARY KEY (parent_id=? AND slot=? AND g=? AND t=? AND n<?)" in plan, plan
    backends.pg.execute("SET enable_seqscan = off")
    try:
        plan = pg_plan(backends, query, ctx_pg)
    finally:
        backends.pg.execute("RESET enable_seqscan")
    assert "compound_values_pkey on compound_values cv" in plan, plan


def test_entries() -> None:
    doc: Document = {"status": ["a", "b"], "n": 3}
    rows = compound_entries(doc, STATUS_N)
    assert len(rows) == 2 and {r[1:] for r in rows} == {(2, 3.0, "")}
    assert {r[0] for r in rows} == {group_key([(R_STRING, 0.0, "a")]), group_key([(R_STRING, 0.0, "b")])}
    assert compound_multikey(doc, STATUS_N)
    assert not compound_multikey({"status": "a", "n": 1}, STATUS_N)
    assert compound_multikey({"status": "a", "n": [1]}, STATUS_N)


def test_multikey_index_does_not_drive_the_sort() -> None:
    lite = sqlite_database()
    pg = PgDatabase()
    try:
        backends = Backends(lite, pg)
        docs: list[Document] = [
            {"status": ["todo", "done"] if i % 2 else "todo", "n": i % 7} for i in range(60)
        ]
        multikey = IndexDef(("n",), 10, True, (("status",),))
        load(backends, docs, [multikey])
        kw = {"compounds": (multikey,)}
        lite_ctx = CompileContext("sqlite", PARENT, **kw)  # type: ignore[arg-type]
        pg_ctx = CompileContext("postgresql", PARENT, **kw)  # type: ignore[arg-type]
        plain_lite, _ = contexts()
        for query in (
            Query(parse_filter({"status": "todo"}), DESC_N, limit=50),
            Query(parse_filter({"status": {"$in": ["todo", "done"]}, "n": {"$gt": 2}})),
        ):
            expected = backends.run_sqlite(query, plain_lite)
            assert expected
            assert backends.run_sqlite(query, lite_ctx) == expected
            assert backends.run_pg(query, pg_ctx) == expected
            assert "JOIN compound_values fs" not in backends.statement("sqlite", query, lite_ctx).text
    finally:
        lite.close()
        pg.close()
