"""Indexed conditions and sorts use the field_values primary key on both engines (EXPLAIN)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest

from kinbase.query.ast import Exists, In, Query, Range, Regex, SortKey
from kinbase.query.mongo import parse_filter
from kinbase.query.sql import CompileContext, Sql, compile_find
from kinbase.types import Document
from tests.query.qharness import PARENT, Backends, PgDatabase, contexts, index_defs, sqlite_database

# Each test process has its own PostgreSQL schema, so these may run in parallel.
pytestmark = pytest.mark.postgres

SLOTS = {("category",): 0, ("price",): 1, ("name",): 2, ("owner", "id"): 3}


def catalogue(n: int) -> list[Document]:
    rng = random.Random(7)
    return [
        {
            "category": f"c{rng.randrange(200):03d}",
            "price": round(rng.random() * 1000, 2),
            "name": "".join(rng.choice("abcdefgh") for _ in range(6)),
            "owner": {"id": f"u{rng.randrange(500)}"},
            "tags": [f"t{rng.randrange(20)}" for _ in range(2)],
        }
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def loaded() -> Iterator[tuple[Backends, CompileContext, CompileContext]]:
    docs = catalogue(4000)
    lite = sqlite_database()
    pg = PgDatabase()
    backends = Backends(lite, pg)
    backends.load(docs, SLOTS)
    lite.execute("ANALYZE")
    pg.analyze()
    ctx_lite, ctx_pg = contexts(index_defs(docs, SLOTS))
    yield backends, ctx_lite, ctx_pg
    lite.close()
    pg.close()


def sqlite_plan(backends: Backends, query: Query, ctx: CompileContext) -> str:
    sql = backends.statement("sqlite", query, ctx)
    return "\n".join(row[3] for row in backends.lite.execute("EXPLAIN QUERY PLAN " + sql.text, sql.params))


def pg_plan(backends: Backends, query: Query, ctx: CompileContext) -> str:
    sql = backends.statement("postgresql", query, ctx)
    return "\n".join(row[0] for row in backends.pg.execute("EXPLAIN " + sql.text, sql.params))


INDEXED = [
    ("eq", Query(parse_filter({"category": "c042"})), "t=? AND n=? AND s=?"),
    ("nested eq", Query(parse_filter({"owner.id": "u42"})), "t=? AND n=? AND s=?"),
    ("in", Query(In(("category",), ("c001", "c002", "c003"))), "t=? AND n=? AND s=?"),
    ("range", Query(Range(("price",), "gte", 990)), "t=? AND n>?"),
    ("string range", Query(Range(("name",), "lt", "aab")), "t=? AND n=? AND s<?"),
    ("regex prefix", Query(Regex(("name",), "^abc", "")), "s>? AND s<?"),
    ("null", Query(parse_filter({"category": None})), "t=? AND n=? AND s=?"),
    ("exists", Query(Exists(("category",), True)), "t>?"),
    ("or", Query(parse_filter({"$or": [{"category": "c001"}, {"owner.id": "u1"}]})), "t=? AND n=? AND s=?"),
]


@pytest.mark.parametrize(("title", "query", "search"), INDEXED, ids=[c[0] for c in INDEXED])
def test_sqlite_searches_field_values(
    loaded: tuple[Backends, CompileContext, CompileContext], title: str, query: Query, search: str
) -> None:
    backends, ctx, _ = loaded
    plan = sqlite_plan(backends, query, ctx)
    assert "SEARCH fv USING PRIMARY KEY (parent_id=? AND slot=? AND " in plan, plan
    assert search in plan, plan
    assert "SCAN o" not in plan, plan


@pytest.mark.parametrize(("title", "query", "search"), INDEXED, ids=[c[0] for c in INDEXED])
def test_postgres_scans_field_values_index(
    loaded: tuple[Backends, CompileContext, CompileContext], title: str, query: Query, search: str
) -> None:
    backends, _, ctx = loaded
    # Whether a plan starts from the index or from objects depends on the statistics; with
    # sequential scans off, the field_values probe must be an index search.
    backends.pg.execute("SET enable_seqscan = off")
    try:
        plan = pg_plan(backends, query, ctx)
    finally:
        backends.pg.execute("RESET enable_seqscan")
    assert "Index Only Scan using field_values_pkey on field_values fv" in plan or (
        "Bitmap Index Scan on field_values_pkey" in plan and "Bitmap Heap Scan on field_values fv" in plan
    ), plan
    assert search.replace("?", "").split(" AND ")[0] in plan.replace(" ", ""), plan


def test_sort_walks_the_index(loaded: tuple[Backends, CompileContext, CompileContext]) -> None:
    backends, ctx_lite, ctx_pg = loaded
    query = Query(Range(("price",), "gte", 100), (SortKey(("price",)),), limit=20)
    plan = sqlite_plan(backends, query, ctx_lite)
    assert "SEARCH fs USING PRIMARY KEY (parent_id=? AND slot=? AND t=? AND n>?)" in plan, plan
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan.split("CORRELATED")[0], plan
    plan = pg_plan(backends, query, ctx_pg)
    assert "Index Only Scan using field_values_pkey on field_values fs" in plan, plan
    assert "Limit" in plan.splitlines()[0], plan
    descending = Query(None, (SortKey(("name",), True),), limit=5)
    assert "SEARCH fs USING PRIMARY KEY" in sqlite_plan(backends, descending, ctx_lite)
    assert "Index Only Scan Backward using field_values_pkey on field_values fs" in pg_plan(
        backends, descending, ctx_pg
    )


def test_indexed_results_match(loaded: tuple[Backends, CompileContext, CompileContext]) -> None:
    backends, ctx_lite, ctx_pg = loaded
    plain_lite, plain_pg = contexts()
    for _, query, _ in INDEXED:
        expected = backends.run_sqlite(query, plain_lite)
        assert backends.run_sqlite(query, ctx_lite) == expected
        assert backends.run_pg(query, ctx_pg) == expected
        assert backends.run_pg(query, plain_pg) == expected


def test_postgres_limited_unindexed_read_walks_the_stamp_index(
    loaded: tuple[Backends, CompileContext, CompileContext],
) -> None:
    """PostgreSQL guesses that 0.5 % of the rows match a condition on a document path; the
    compiler keeps that guess from turning a limited read in stamp order into a whole-parent sort."""
    backends, _, _ = loaded
    _, ctx_pg = contexts(stamp_path=("last_modified",))
    query = Query(parse_filter({"tags": "t3"}), (SortKey(("last_modified",), True),), limit=50)
    plan = pg_plan(backends, query, ctx_pg)
    assert "Index Scan Backward using objects_parent_stamp" in plan, plan
    assert "Seq Scan" not in plan and "Bitmap Heap Scan" not in plan, plan
    plain_lite, _ = contexts(stamp_path=("last_modified",))
    assert backends.run_pg(query, ctx_pg) == backends.run_sqlite(query, plain_lite)


def test_postgres_top_n_sort_renders_only_the_kept_rows(
    loaded: tuple[Backends, CompileContext, CompileContext],
) -> None:
    """An order no index gives, with a limit: PostgreSQL sorts the rows with their keys and
    renders the select list (``data::text``) for the kept rows only, not for every sorted row."""
    backends, _, _ = loaded
    plain_lite, plain_pg = contexts()
    query = Query(
        parse_filter({"tags": "t3"}), (SortKey(("price",), True), SortKey(("name",))), skip=3, limit=20
    )
    where = Sql("o.parent_id = %s AND NOT o.deleted", [PARENT])
    sql = compile_find(query, plain_pg, select="o.oid, o.data::text", where=where)
    plan = [row[0] for row in backends.pg.execute("EXPLAIN VERBOSE " + sql.text, sql.params)]
    sort = next(i for i, line in enumerate(plan) if line.lstrip().startswith("->  Sort"))
    assert "(o.data)::text" in plan[1], plan[:2]  # the output of the top node
    assert "data" not in plan[sort + 1], plan[sort + 1]  # the sort holds oids and keys only
    rows = backends.pg.execute(sql.text, sql.params).fetchall()
    assert [oid - 1 for oid, _ in rows] == backends.run_sqlite(query, plain_lite)
    assert all(json.loads(text)["tags"] for _, text in rows) and len(rows) == 20


@pytest.mark.parametrize("quick_sort", [False, True], ids=["exact keys", "quick keys"])
def test_sqlite_top_n_sort_renders_only_the_kept_rows(
    loaded: tuple[Backends, CompileContext, CompileContext], quick_sort: bool
) -> None:
    """SQLite also sorts each row's oid and keys and computes the select list for the kept rows
    only (not the skipped ones either): a function in the select list is called once per returned
    row, not once per sorted one, and the rows come in the reference order."""
    backends, _, _ = loaded
    plain_lite, _ = contexts(quick_sort=quick_sort)
    calls: list[int] = []

    def counted(oid: int) -> int:
        calls.append(oid)
        return oid

    backends.lite.create_function("counted", 1, counted)
    query = Query(
        parse_filter({"tags": "t3"}), (SortKey(("price",), True), SortKey(("name",))), skip=3, limit=20
    )
    where = Sql("o.parent_id = ? AND NOT o.deleted", [PARENT])
    sql = compile_find(query, plain_lite, select="counted(o.oid), json(o.data)", where=where)
    assert ("kb_quick_refuse" in sql.text) == quick_sort
    rows = backends.lite.execute(sql.text, sql.params).fetchall()
    assert [oid - 1 for oid, _ in rows] == backends.run_sqlite(query, plain_lite)
    assert len(rows) == 20 and all("t3" in json.loads(text)["tags"] for _, text in rows)
    assert sorted(calls) == sorted(oid for oid, _ in rows)


def test_postgres_top_n_sort_reads_a_top_level_key_once(
    loaded: tuple[Backends, CompileContext, CompileContext],
) -> None:
    """The three parts of a top-level sort key (rank, number, text) test one value read from the
    document once per row, not one read of ``data -> 'price'`` per part."""
    backends, _, _ = loaded
    plain_lite, plain_pg = contexts()
    query = Query(None, (SortKey(("price",), True), SortKey(("owner", "id"))), limit=30)
    where = Sql("o.parent_id = %s AND NOT o.deleted", [PARENT])
    sql = compile_find(query, plain_pg, select="o.oid", where=where)
    plan = "\n".join(row[0] for row in backends.pg.execute("EXPLAIN VERBOSE " + sql.text, sql.params))
    assert plan.count("-> 'price'") == 1, plan
    assert backends.run_pg(query, plain_pg) == backends.run_sqlite(query, plain_lite)
