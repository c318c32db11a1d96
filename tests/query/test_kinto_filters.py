"""Kinto querystring filters, ``_sort``, and keyset pagination built from KintoCompare."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinbase.errors import InvalidQuery
from kinbase.query import evaluate
from kinbase.query.ast import (
    MISSING,
    And,
    Const,
    KintoCompare,
    KintoContains,
    KintoHas,
    KintoLike,
    Node,
    Or,
    Query,
    SortKey,
)
from kinbase.query.kinto import keyset_after, parse_filters, parse_sort
from kinbase.types import Document
from tests.query.qharness import Backends, contexts
from tests.query.qstrategies import documents, kinto_keys

A = ("a",)


@pytest.mark.parametrize(
    ("params", "node"),
    [
        ({}, None),
        ({"_since": "1", "_limit": "3", "_foo": "x"}, None),
        ({"a": "2"}, KintoCompare(A, "eq", 2)),
        ({"a": "x"}, KintoCompare(A, "eq", "x")),
        ({"a": '"2"'}, KintoCompare(A, "eq", "2")),
        ({"a": "null"}, KintoCompare(A, "eq", None)),
        ({"a": "true"}, KintoCompare(A, "eq", True)),
        ({"a.b": "1"}, KintoCompare(("a", "b"), "eq", 1)),
        ({"eq_a": "1"}, KintoCompare(A, "eq", 1)),
        ({"not_a": "1"}, KintoCompare(A, "not", 1)),
        ({"lt_a": "1"}, KintoCompare(A, "lt", 1)),
        ({"gt_a": "1.5"}, KintoCompare(A, "gt", 1.5)),
        ({"min_a": "b"}, KintoCompare(A, "min", "b")),
        ({"max_a": "[1]"}, KintoCompare(A, "max", [1])),
        ({"in_a": "1,x,null"}, KintoCompare(A, "in", [1, "x", None])),
        ({"in_a": "[1, 2]"}, KintoCompare(A, "in", [1, 2])),
        ({"exclude_a": "1"}, KintoCompare(A, "exclude", [1])),
        ({"like_a": "ab*"}, KintoLike(A, "ab*")),
        ({"has_a": "true"}, KintoHas(A, True)),
        ({"has_a": "0"}, KintoHas(A, False)),
        ({"contains_a": '["x", 1]'}, KintoContains(A, ("x", 1))),
        ({"contains_a": "x"}, KintoContains(A, ("x",))),
        ({"contains_any_a": "[1, 2]"}, KintoContains(A, (1, 2), any_=True)),
        ({"in_id": "1,b"}, KintoCompare(("id",), "in", ["1", "b"])),
        ({"id": "12"}, KintoCompare(("id",), "eq", "12")),
        ({"gt_last_modified": '"123"'}, KintoCompare(("last_modified",), "gt", 123)),
        ({"in_last_modified": "1,2"}, KintoCompare(("last_modified",), "in", [1, 2])),
        ({"a": "1", "b": "2"}, And((KintoCompare(A, "eq", 1), KintoCompare(("b",), "eq", 2)))),
        ({"foo_a": "1"}, KintoCompare(("foo_a",), "eq", 1)),
    ],
)
def test_filters(params: dict[str, str], node: Node | None) -> None:
    assert parse_filters(params) == node


def test_repeated_parameters() -> None:
    assert parse_filters([("gt_a", "1"), ("gt_a", "2")]) == And(
        (KintoCompare(A, "gt", 1), KintoCompare(A, "gt", 2))
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"a\x00": "1"}, "NUL characters are not allowed"),
        ({"a": "x\x00"}, "NUL characters are not allowed"),
        ({"gt_last_modified": "-1"}, "expected a non-negative integer"),
        ({"last_modified": "abc"}, "expected a non-negative integer"),
        ({"in_last_modified": "1,x"}, "expected a non-negative integer"),
        ({"gt_last_modified": "5000"}, "too far in the future"),
        ({"in_id": "[1, 2]"}, "ids are strings"),
        ({"contains_id": "x"}, "not available on 'id'"),
        ({"contains_any_last_modified": "1"}, "not available on 'last_modified'"),
        ({"has_a": "maybe"}, "expected true or false"),
        ({"a": "[9007199254740992]"}, "must be below 2**53"),
        ({"in_a": "[[1e300]]"}, "must be below 2**53"),
        ({"a..b": "1"}, "bad field name"),
    ],
)
def test_filters_refused(params: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        parse_filters(params, max_stamp=4000)
    assert message in info.value.message


def test_sort() -> None:
    assert parse_sort("a,-b.c") == (SortKey(A, False, "kinto"), SortKey(("b", "c"), True, "kinto"))
    assert parse_sort("") == ()
    with pytest.raises(InvalidQuery, match="appears twice"):
        parse_sort("a,-a")


def test_keyset_shape() -> None:
    keys = (SortKey(A, False, "kinto"), SortKey(("b",), True, "kinto"))
    assert keyset_after(keys, (1, "x")) == Or(
        (
            KintoCompare(A, "gt", 1),
            And((KintoCompare(A, "min", 1), KintoCompare(A, "max", 1), KintoCompare(("b",), "lt", "x"))),
        )
    )
    assert keyset_after(keys[:1], (MISSING,)) == Const(False)
    assert keyset_after(keys[1:], (MISSING,)) == KintoHas(("b",), True)
    with pytest.raises(ValueError, match="one value per Kinto sort key"):
        keyset_after((SortKey(A),), (1,))


@pytest.mark.postgres
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    docs=st.lists(documents, min_size=1, max_size=10),
    sort=st.lists(kinto_keys, min_size=1, max_size=2, unique_by=lambda k: k.path).map(tuple),
    page=st.integers(1, 3),
)
def test_keyset_pagination_walks_the_sorted_list(
    backends: Backends, docs: list[Document], sort: tuple[SortKey, ...], page: int
) -> None:
    """Paging with keyset_after on (sort keys..., stamp) returns the sorted listing, page by page,
    in the evaluator and in both databases."""
    docs = [{**d, "lm": 10 * i} for i, d in enumerate(docs)]
    keys = (*sort, SortKey(("lm",), True, "kinto"))
    backends.load(docs, stamps=[10 * i for i in range(len(docs))])
    lite, pg = contexts(stamp_path=("lm",))
    full = evaluate.find(Query(sort=keys), docs)
    assert backends.run_sqlite(Query(sort=keys), lite) == full
    assert backends.run_pg(Query(sort=keys), pg) == full
    seen: list[int] = []
    position: Node | None = None
    while True:
        query = Query(position, keys, limit=page)
        got = evaluate.find(query, docs)
        assert backends.run_sqlite(query, lite) == got
        assert backends.run_pg(query, pg) == got
        if not got:
            break
        seen += got
        last = docs[got[-1]]
        position = keyset_after(keys, [evaluate.kinto_value(last, k.path) for k in keys])
    assert seen == full
