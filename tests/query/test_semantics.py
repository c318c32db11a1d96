"""The documented semantics (docs/query-language.md), case by case, in the evaluator and in both
databases."""

from __future__ import annotations

from typing import Any

import pytest

from kinbase.query import evaluate
from kinbase.query.ast import (
    MISSING,
    All,
    ElemMatch,
    Eq,
    Exists,
    In,
    KintoCompare,
    KintoContains,
    KintoHas,
    KintoLike,
    Mod,
    Node,
    Not,
    Query,
    Range,
    Regex,
    Size,
    SortKey,
    TypeIs,
)
from kinbase.query.mongo import parse_filter
from kinbase.types import Document
from tests.query.qharness import Backends, contexts, index_defs

# Each test process has its own PostgreSQL schema, so these may run in parallel.
pytestmark = pytest.mark.postgres

DOCS: list[Document] = [
    {"a": 1},  # 0
    {"a": 1.0},  # 1
    {"a": True},  # 2
    {"a": None},  # 3
    {},  # 4
    {"a": [1, 2, [3]]},  # 5
    {"a": []},  # 6
    {"a": "1"},  # 7
    {"a": {"b": 1}},  # 8
    {"a": [{"b": 1}, {"b": [2, 3]}, {"c": 1}, 5]},  # 9
    {"a": [[{"b": 7}]]},  # 10
    {"a": {"b": None}},  # 11
    {"a": 2**53 + 1},  # 12
    {"a": "é😀"},  # 13
    {"a": -7.5},  # 14
]


def w(node: Node) -> Query:
    return Query(node)


A = ("a",)
AB = ("a", "b")

CASES: list[tuple[str, Node, list[int]]] = [
    ("numbers equal across int and float", Eq(A, 1), [0, 1, 5]),
    ("booleans are not numbers", Eq(A, True), [2]),
    ("a string is not a number", Eq(A, "1"), [7]),
    ("null matches null and missing", Eq(A, None), [3, 4]),
    (
        "null on a nested path counts every MISSING terminal",
        Eq(AB, None),
        [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14],
    ),
    ("array candidates include the elements", Eq(A, 2), [5]),
    ("a whole array is a candidate", Eq(A, [1, 2, [3]]), [5]),
    ("nested arrays are candidates as values", Eq(A, [3]), [5]),
    ("but not flattened", Eq(A, 3), []),
    ("objects compare by content", Eq(A, {"b": 1}), [8, 9]),
    ("walk into arrays of objects", Eq(AB, 1), [8, 9]),
    ("elements of a reached array", Eq(AB, 3), [9]),
    ("no walk through nested arrays", Eq(AB, 7), []),
    ("positional segment", Eq(("a", "1", "b"), 2), [9]),
    ("positional then nested array", Eq(("a", "0", "0", "b"), 7), [10]),
    ("numbers are doubles", Eq(A, 2**53), [12]),
    ("$ne matches missing", Not(Eq(A, 1)), [2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14]),
    ("$in", In(A, ("1", None)), [3, 4, 7]),
    ("range is type-bracketed", Range(A, "gte", 1), [0, 1, 5, 9, 12]),
    ("string range", Range(A, "gt", "1"), [13]),
    ("boolean range", Range(A, "gte", False), [2]),
    ("$exists false", Exists(A, False), [4]),
    ("$exists through arrays", Exists(("a", "c"), True), [9]),
    ("$exists true on a null", Exists(AB, True), [8, 9, 11]),
    ("$type int by value", TypeIs(A, frozenset({"int"})), [0, 1, 5, 9]),
    ("$type double", TypeIs(A, frozenset({"double"})), [14]),
    ("$type long", TypeIs(A, frozenset({"long"})), [12]),
    ("$type array", TypeIs(A, frozenset({"array"})), [5, 6, 9, 10]),
    ("$type null is not missing", TypeIs(A, frozenset({"null"})), [3]),
    ("$size", Size(A, 0), [6]),
    ("$all", All(A, (1, 2)), [5]),
    ("$all of nothing", All(A, ()), []),
    ("$elemMatch on objects", ElemMatch(A, Eq(("c",), 1)), [9]),
    ("$elemMatch on values", ElemMatch(A, Range((), "gt", 1), True), [5, 9]),
    ("$mod truncates", Mod(A, 2, -1), [14]),
    ("$regex on strings only", Regex(A, "^1", ""), [7]),
    ("$regex unicode", Regex(A, "😀$", ""), [13]),
    ("kinto eq has no array expansion", KintoCompare(A, "eq", 1), [0, 1]),
    ("kinto not_ matches missing", KintoCompare(A, "not", 1), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]),
    ("kinto gt_ matches missing and higher types", KintoCompare(A, "gt", 1), [2, 4, 5, 6, 8, 9, 10, 11, 12]),
    ("kinto lt_ never matches missing", KintoCompare(A, "lt", 1), [3, 7, 13, 14]),
    ("kinto like_", KintoLike(A, "*😀"), [13]),
    ("kinto has_", KintoHas(AB, True), [8, 11]),
    ("kinto contains_", KintoContains(A, (1, 2)), [5]),
    ("kinto contains_any_", KintoContains(A, (2, 5), any_=True), [5, 9]),
]


@pytest.mark.parametrize(("title", "node", "expected"), CASES, ids=[c[0] for c in CASES])
def test_semantics(backends: Backends, title: str, node: Node, expected: list[int]) -> None:
    assert evaluate.find(Query(node), DOCS) == expected
    backends.load(DOCS, {A: 0, AB: 1})
    for indexes in ({}, index_defs(DOCS, {A: 0, AB: 1})):
        lite, pg = contexts(indexes)
        assert backends.run_sqlite(Query(node), lite) == expected
        assert backends.run_pg(Query(node), pg) == expected


SORTS: list[tuple[str, tuple[SortKey, ...], list[int]]] = [
    (
        "mongo ascending: empty array < null/missing < numbers < strings < objects < arrays < booleans",
        (SortKey(A),),
        [6, 3, 4, 14, 0, 1, 5, 9, 12, 7, 13, 8, 11, 10, 2],
    ),
    (
        "mongo descending uses the greatest candidate; ties keep oid descending",
        (SortKey(A, True),),
        [2, 10, 5, 11, 9, 8, 13, 7, 12, 1, 0, 14, 4, 3, 6],
    ),
    (
        "kinto: null < string < number < boolean < array < object < missing",
        (SortKey(A, False, "kinto"),),
        [3, 7, 13, 14, 0, 1, 12, 2, 5, 6, 9, 10, 8, 11, 4],
    ),
]


@pytest.mark.parametrize(("title", "keys", "expected"), SORTS, ids=[s[0] for s in SORTS])
def test_sorts(backends: Backends, title: str, keys: tuple[SortKey, ...], expected: list[int]) -> None:
    assert evaluate.find(Query(sort=keys), DOCS) == expected
    backends.load(DOCS)
    lite, pg = contexts()
    assert backends.run_sqlite(Query(sort=keys), lite) == expected
    assert backends.run_pg(Query(sort=keys), pg) == expected


# Every window of every sort of DOCS, with a second key, through a top-N sort (SQLite: the quick
# keys of top-level fields, checked against the exact ones: sqlite.quick_sort_key).
WINDOWS = [(0, 1), (0, 3), (2, 4), (5, 5), (0, 20), (14, 3)]


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
def test_top_n_windows(backends: Backends, descending: bool) -> None:
    backends.load(DOCS)
    lite, pg = contexts(quick_sort=True)
    for skip, limit in WINDOWS:
        for keys in ((SortKey(A, descending),), (SortKey(("b",)), SortKey(A, descending))):
            query = Query(sort=keys, skip=skip, limit=limit)
            expected = evaluate.find(query, DOCS)
            assert backends.run_sqlite(query, lite) == expected, (skip, limit, keys)
            assert backends.run_pg(query, pg) == expected, (skip, limit, keys)


TIES = [
    {"n": 2**53 + 1},  # 0: as doubles, 0 to 2 are one value, 2**53
    {"n": 2**53},  # 1
    {"n": 2.0**53},  # 2
    {"n": 5},  # 3
    {"n": -(2.0**53)},  # 4
    {"n": -(2**53) - 1},  # 5: as a double, -2**53
    {"n": "s"},  # 6
    {},  # 7
]


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
def test_top_n_numbers_equal_as_doubles_tie(backends: Backends, descending: bool) -> None:
    """Numbers of 2**53 and more that are one double tie (the insertion order breaks the tie),
    in a window too: the quick key, which keeps an integer exact, orders them otherwise, and the
    statement falls back to the exact key when a kept row holds such a number."""
    backends.load(TIES)
    lite, pg = contexts(quick_sort=True)
    for skip, limit in [(0, 2), (1, 2), (0, 9), (3, 3)]:
        query = Query(sort=(SortKey(("n",), descending),), skip=skip, limit=limit)
        expected = evaluate.find(query, TIES)
        refusals = backends.refusals
        assert backends.run_sqlite(query, lite) == expected, (skip, limit)
        assert backends.refusals == refusals + 1  # every window holds a number past 2**53
        assert backends.run_pg(query, pg) == expected, (skip, limit)
    # a window of small numbers and strings only is answered by the quick keys
    small = Query(In(("n",), (5, "s")), sort=(SortKey(("n",), descending),), limit=3)
    refusals = backends.refusals
    assert backends.run_sqlite(small, lite) == evaluate.find(small, TIES)
    assert backends.refusals == refusals
    # the quick key alone would order them by their exact values
    order = "DESC" if descending else "ASC"
    quick = [
        r[0] - 1
        for r in backends.lite.execute(
            "SELECT oid FROM objects ORDER BY jsonb_extract(data, '$.n') " + order + ", oid " + order
        )
    ]
    assert quick[:3] != evaluate.find(Query(sort=(SortKey(("n",), descending),), limit=3), TIES)


STRINGS: list[Document] = [
    {"s": "a"},  # 0
    {"s": ["b", "a"]},  # 1
    {"s": [["a"]]},  # 2: an element that is an array holding "a" is not "a"
    {"s": {"k": "a"}},  # 3: nor is an object with a member "a"
    {"s": "[1]"},  # 4: a string that reads as JSON
    {"s": [[1]]},  # 5
    {"s": ["[1]"]},  # 6
    {"s": 1},  # 7
    {"s": None},  # 8
    {},  # 9
    {"s": {"k": "[1]"}},  # 10
]
STRING_CASES = [
    ("string", parse_filter({"s": "a"}), [0, 1]),
    ("string that reads as JSON", parse_filter({"s": "[1]"}), [4, 6]),
    ("$in of strings", parse_filter({"s": {"$in": ["a", "[1]"]}}), [0, 1, 4, 6]),
    ("$ne of a string matches the rest", parse_filter({"s": {"$ne": "a"}}), [2, 3, 4, 5, 6, 7, 8, 9, 10]),
    ("$nin of strings", parse_filter({"s": {"$nin": ["a", "[1]"]}}), [2, 3, 5, 7, 8, 9, 10]),
]


@pytest.mark.parametrize(("title", "node", "expected"), STRING_CASES, ids=[c[0] for c in STRING_CASES])
def test_string_equality(backends: Backends, title: str, node: Node, expected: list[int]) -> None:
    """Equality to strings: to a string, or to an array element that is one, never to an
    object member, a nested array or a number."""
    assert evaluate.find(Query(node), STRINGS) == expected
    backends.load(STRINGS)
    lite, pg = contexts()
    assert backends.run_sqlite(Query(node), lite) == expected
    assert backends.run_pg(Query(node), pg) == expected


def test_walk_and_candidates() -> None:
    doc: dict[str, Any] = {"a": [{"b": 1}, 2, [], {"b": [3]}]}
    assert evaluate.walk(doc, ("a", "b")) == [1, MISSING, MISSING, [3]]
    assert evaluate.walk(doc, ("a", "3", "b")) == [MISSING, MISSING, MISSING, MISSING, [3]]
    assert evaluate.walk({"a": []}, ("a", "b")) == [MISSING]
    assert evaluate.candidates(evaluate.walk(doc, ("a", "b"))) == [1, [3], 3]


def test_parsed_examples() -> None:
    docs: list[Document] = [{"_geoloc": [1, 1], "n": 1}, {"_geoloc": [50, 50], "n": 2}]
    near = parse_filter({"_geoloc": {"$nearSphere": [0, 0], "$maxDistance": 0.1}})
    assert evaluate.find(Query(near), docs) == [0]
    box = parse_filter({"_geoloc": {"$within": {"$box": [[0, 0], [60, 60]]}}, "n": {"$gt": 1}})
    assert evaluate.find(Query(box), docs) == [1]


SCALARS: list[Document] = [{"p": 50}, {"p": 100}, {"p": 100.5}, {"p": 101}, {"p": "100"}, {}, {"p": None}]
WITH_ARRAY: list[Document] = [*SCALARS, {"p": [50, 150]}, {"p": [100.5]}]
P = ("p",)


@pytest.mark.parametrize(
    ("docs", "expected"),
    [(SCALARS, [1, 2]), (WITH_ARRAY, [1, 2, 7, 8])],
    ids=["single-valued index: one probe", "multikey index: each bound may hold on another element"],
)
def test_ranges_on_one_indexed_path(backends: Backends, docs: list[Document], expected: list[int]) -> None:
    node = parse_filter({"p": {"$gte": 100, "$lt": 101}, "q": {"$exists": False}})
    assert evaluate.find(Query(node), docs) == expected
    backends.load(docs, {P: 0})
    indexes = index_defs(docs, {P: 0})
    assert indexes[P].multikey is (docs is WITH_ARRAY)
    lite, pg = contexts(indexes)
    assert backends.run_sqlite(Query(node), lite) == expected
    assert backends.run_pg(Query(node), pg) == expected
    merged = backends.statement("sqlite", Query(node), lite)
    assert (merged.text.count("FROM field_values") == 1) is (docs is SCALARS)
