"""SQLite's parser has a small fixed stack: the compiler's depth estimate must bound what it writes,
so that a query it accepts always parses, and one it refuses gets InvalidQuery."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinbase.errors import InvalidQuery
from kinbase.query.ast import And, ElemMatch, Eq, Node, Not, Or, Query
from kinbase.query.sql import CompileContext, Sql, compile_find
from kinbase.query.sql.depth import MAX_DEPTH, statement_depth
from kinbase.storage.sqlite.driver import sqlite as sqlite3
from tests.query.qharness import PARENT, sqlite_database
from tests.query.qstrategies import field_nodes, logic, paths, relative_filters

WHERE = f"o.parent_id = {PARENT}"


def headroom(conn: sqlite3.Connection, statement: Sql) -> int:
    """How many more parentheses the statement's condition can be wrapped in before SQLite's
    parser overflows (about 93 for a trivial condition)."""
    lo, hi = 0, 120
    while lo < hi:
        k = (lo + hi + 1) // 2
        text = statement.text.replace(f"WHERE ({WHERE})", "WHERE " + "(" * k + f"({WHERE})", 1)
        text = text.replace(" ORDER BY", ")" * k + " ORDER BY", 1)
        try:
            conn.execute(text, statement.params).fetchall()
            lo = k
        except sqlite3.OperationalError as exc:
            assert "stack" in str(exc), exc
            hi = k - 1
    return lo


@pytest.fixture(scope="module")
def conn() -> sqlite3.Connection:
    return sqlite_database()


deep_nodes: st.SearchStrategy[Node] = st.recursive(
    field_nodes(paths, relative_filters),
    lambda inner: st.one_of(
        logic(inner),
        st.builds(lambda p, c: ElemMatch(p, c, False), st.sampled_from([("a",), ("a", "b")]), inner),
        st.builds(Not, inner),
    ),
    max_leaves=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(node=deep_nodes, budget=st.sampled_from([4, 0]))
def test_estimate_bounds_sqlite_nesting(conn: sqlite3.Connection, node: Node, budget: int) -> None:
    estimate = statement_depth(node, budget)
    ctx = CompileContext("sqlite", PARENT)
    if estimate > MAX_DEPTH:
        with pytest.raises(InvalidQuery, match="too complex"):
            compile_find(Query(node), ctx, select="o.oid", where=Sql(WHERE), tree_budget=budget)
        return
    statement = compile_find(Query(node), ctx, select="o.oid", where=Sql(WHERE), tree_budget=budget)
    used = 93 - headroom(conn, statement)
    assert used <= estimate, (used, estimate, node)


def test_typical_queries_are_far_from_the_limit() -> None:
    a, ab = ("a",), ("a", "b")
    typical: list[Node] = [
        Eq(a, 1),
        And((Eq(a, 1), Or((Eq(ab, 2), Not(Eq(("c",), 3)))))),
        ElemMatch(a, And((Eq(("b",), 1), Eq(("c",), 2)))),
        Eq(("a", "b", "c", "d", "e"), None),
    ]
    for node in typical:
        assert statement_depth(node) < 60, node


def test_deep_nesting_is_refused() -> None:
    node: Node = Eq(("a",), 1)
    for _ in range(8):
        node = ElemMatch(("a",), node)
    with pytest.raises(InvalidQuery, match="too complex"):
        compile_find(Query(node), CompileContext("postgresql", 1), select="o.oid", where=Sql("TRUE"))
