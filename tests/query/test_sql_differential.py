"""SQLite, PostgreSQL and the reference evaluator must return the same ids in the same order,
with and without field indexes, with the system columns, and with both path-walk shapes."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinbase.query import evaluate
from kinbase.query.ast import Query
from kinbase.query.sql.depth import MAX_DEPTH, TREE_BUDGET, statement_depth
from kinbase.types import Document, Path
from tests.query.qharness import Backends, contexts, index_defs
from tests.query.qstrategies import (
    derived_filters,
    documents,
    kinto_filters,
    kinto_sorts,
    queries,
    small_text,
    top_paths,
)

pytestmark = [
    pytest.mark.postgres,
    # Documents carry 300-character strings on purpose (the index prefix); their reprs are long.
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]

# KINBASE_QUERY_EXAMPLES multiplies the number of examples for a longer hunt.
SCALE = float(os.environ.get("KINBASE_QUERY_EXAMPLES", "1"))


def examples(n: int) -> settings:
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def check_all(
    backends: Backends,
    docs: Sequence[Document],
    query_list: Sequence[Query],
    id_path: Path | None = None,
    stamp_path: Path | None = None,
) -> None:
    """Load ``docs`` (with index rows for every path the queries use) and compare every query
    under four compilations (inline walks, CTE chains, field indexes; on SQLite also quick sort
    keys) and as a count."""
    used: set[Path] = set()
    for q in query_list:
        used |= top_paths(q.filter)
        used |= {k.path for k in q.sort}
    slots = {path: n for n, path in enumerate(sorted(used))}
    backends.load(docs, slots, ids=[str(d["_id"]) for d in docs], stamps=[int(d["lm"]) for d in docs])  # type: ignore[arg-type]
    plain = contexts(id_path=id_path, stamp_path=stamp_path)
    indexed = contexts(index_defs(docs, slots), id_path=id_path, stamp_path=stamp_path)
    quick = contexts(id_path=id_path, stamp_path=stamp_path, quick_sort=True)
    variants = [
        ("inline", plain, TREE_BUDGET),
        ("chain", plain, 0),
        ("indexed", indexed, TREE_BUDGET),
        ("quick", quick, TREE_BUDGET),
    ]
    expected: list[list[int]] = []
    pg_statements = []
    labels: list[tuple[str, Query]] = []
    for q in query_list:
        want = evaluate.find(q, docs)
        for label, (lite, pg), budget in variants:
            if q.filter is not None and statement_depth(q.filter, budget) > MAX_DEPTH:
                continue  # refused as too complex (tests/query/test_sql_depth.py)
            assert backends.run_sqlite(q, lite, tree_budget=budget) == want, ("sqlite", label, q)
            if label == "quick":
                continue  # a SQLite compilation: PostgreSQL's is the inline one
            pg_statements.append(backends.statement("postgresql", q, pg, budget))
            expected.append([oid + 1 for oid in want])
            labels.append((label, q))
        if q.filter is not None and statement_depth(q.filter) > MAX_DEPTH:
            continue
        count = len(evaluate.find(Query(q.filter), docs))
        statement = backends.statement("sqlite", q, plain[0], count=True)
        assert backends.lite.execute(statement.text, statement.params).fetchall() == [(count,)], (
            "sqlite count",
            q,
        )
        pg_statements.append(backends.statement("postgresql", q, plain[1], count=True))
        expected.append([count])
        labels.append(("count", q))
    for got, want, (variant, q) in zip(backends.run_pg_many(pg_statements), expected, labels, strict=True):
        assert got == want, ("postgresql", variant, q)


@st.composite
def datasets(draw: st.DrawFn) -> list[Document]:
    docs = draw(st.lists(documents, min_size=4, max_size=16))
    ids = draw(st.lists(small_text.filter(bool), min_size=len(docs), max_size=len(docs), unique=True))
    stamps = draw(st.lists(st.integers(0, 2**40), min_size=len(docs), max_size=len(docs), unique=True))
    return [{**d, "_id": i, "lm": s} for d, i, s in zip(docs, ids, stamps, strict=True)]


@examples(120)
@given(docs=datasets(), query_list=st.lists(queries(), min_size=1, max_size=5), data=st.data())
def test_mongo_queries_agree(
    backends: Backends, docs: list[Document], query_list: list[Query], data: st.DataObject
) -> None:
    derived = data.draw(st.lists(queries(derived_filters(docs)), min_size=1, max_size=4))
    query_list = query_list + derived
    check_all(backends, docs, query_list)


@examples(60)
@given(docs=datasets(), query_list=st.lists(queries(), min_size=1, max_size=4), data=st.data())
def test_system_columns_agree(
    backends: Backends, docs: list[Document], query_list: list[Query], data: st.DataObject
) -> None:
    from tests.query.qstrategies import field_nodes, relative_filters

    on_columns = st.lists(
        queries(field_nodes(st.sampled_from([("_id",), ("lm",)]), relative_filters)), min_size=1, max_size=4
    )
    query_list = query_list + data.draw(on_columns)
    check_all(backends, docs, query_list, id_path=("_id",), stamp_path=("lm",))


@examples(70)
@given(
    docs=datasets(),
    query_list=st.lists(queries(kinto_filters).map(lambda q: q), min_size=1, max_size=6),
    sorts=st.lists(kinto_sorts, min_size=6, max_size=6),
)
def test_kinto_queries_agree(
    backends: Backends,
    docs: list[Document],
    query_list: list[Query],
    sorts: list[tuple],  # type: ignore[type-arg]
) -> None:
    query_list = [Query(q.filter, sorts[i], q.skip, q.limit) for i, q in enumerate(query_list)]
    check_all(backends, docs, query_list, id_path=("_id",), stamp_path=("lm",))
