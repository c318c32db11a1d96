"""The Kinvey (MongoDB-style) parser: every operator, every refusal and its message."""

from __future__ import annotations

from typing import Any

import pytest

from kinbase.errors import InvalidQuery
from kinbase.query.ast import (
    All,
    And,
    Const,
    ElemMatch,
    Eq,
    Exists,
    GeoBox,
    GeoCenter,
    GeoCenterSphere,
    GeoNear,
    GeoPolygon,
    GeoWithin,
    In,
    Mod,
    Node,
    Nor,
    Not,
    Or,
    Query,
    Range,
    Regex,
    Size,
    SortKey,
    TypeIs,
)
from kinbase.query.mongo import EARTH_RADIUS_MILES, parse_fields, parse_filter, parse_query, parse_sort

A = ("a",)

ACCEPTED: list[tuple[Any, Node]] = [
    ({}, Const(True)),
    ({"a": 1}, Eq(A, 1)),
    ({"a.b.0": "x"}, Eq(("a", "b", "0"), "x")),
    ({"a": None}, Eq(A, None)),
    ({"a": {"b": 1}}, Eq(A, {"b": 1})),
    ({"a": [1, {"c": None}]}, Eq(A, [1, {"c": None}])),
    ({"a": {}}, Eq(A, {})),
    ({"k é😀 x": 1}, Eq(("k é😀 x",), 1)),
    ({"a": {"$eq": {"$x": 1}}}, Eq(A, {"$x": 1})),
    ({"a": {"$ne": 1}}, Not(Eq(A, 1))),
    ({"a": {"$gt": 1}}, Range(A, "gt", 1)),
    ({"a": {"$gte": "x"}}, Range(A, "gte", "x")),
    ({"a": {"$lt": False}}, Range(A, "lt", False)),
    ({"a": {"$lte": 2.5}}, Range(A, "lte", 2.5)),
    ({"a": {"$gte": None}}, Eq(A, None)),
    ({"a": {"$lte": None}}, Eq(A, None)),
    ({"a": {"$gt": None}}, Const(False)),
    ({"a": {"$gt": 1, "$lt": 5}}, And((Range(A, "gt", 1), Range(A, "lt", 5)))),
    ({"a": {"$in": [1, "x", None, [2]]}}, In(A, (1, "x", None, [2]))),
    ({"a": {"$in": []}}, In(A, ())),
    ({"a": {"$nin": [1]}}, Not(In(A, (1,)))),
    ({"a": {"$exists": True}}, Exists(A, True)),
    ({"a": {"$exists": 0}}, Exists(A, False)),
    ({"a": {"$type": "string"}}, TypeIs(A, frozenset({"string"}))),
    ({"a": {"$type": [16, "double", 2.0]}}, TypeIs(A, frozenset({"int", "double", "string"}))),
    ({"a": {"$type": "number"}}, TypeIs(A, frozenset({"number"}))),
    ({"a": {"$regex": "^ab"}}, Regex(A, "^ab", "")),
    ({"a": {"$regex": "^ab", "$options": "si"}}, Regex(A, "^ab", "is")),
    ({"a": {"$not": {"$gt": 3}}}, Not(Range(A, "gt", 3))),
    ({"a": {"$not": {"$regex": "^x", "$options": "i"}}}, Not(Regex(A, "^x", "i"))),
    ({"a": {"$all": [1, 2]}}, All(A, (1, 2))),
    ({"a": {"$all": []}}, All(A, ())),
    (
        {"a": {"$all": [{"$elemMatch": {"b": 1}}, {"$elemMatch": {"$gt": 2}}]}},
        And((ElemMatch(A, Eq(("b",), 1)), ElemMatch(A, Range((), "gt", 2), True))),
    ),
    ({"a": {"$size": 2}}, Size(A, 2)),
    ({"a": {"$size": 0.0}}, Size(A, 0)),
    (
        {"a": {"$elemMatch": {"b": 1, "c": {"$gt": 0}}}},
        ElemMatch(A, And((Eq(("b",), 1), Range(("c",), "gt", 0)))),
    ),
    (
        {"a": {"$elemMatch": {"$gte": 1, "$lt": 5}}},
        ElemMatch(A, And((Range((), "gte", 1), Range((), "lt", 5))), True),
    ),
    ({"a": {"$elemMatch": {"$or": [{"b": 1}]}}}, ElemMatch(A, Or((Eq(("b",), 1),)))),
    ({"a": {"$mod": [4, -1]}}, Mod(A, 4, -1)),
    ({"a": {"$mod": [2.0, 0]}}, Mod(A, 2, 0)),
    ({"$and": [{"a": 1}, {"b": 2}]}, And((Eq(A, 1), Eq(("b",), 2)))),
    ({"$or": [{"a": 1}, {"b": 2}]}, Or((Eq(A, 1), Eq(("b",), 2)))),
    ({"$nor": [{"a": 1}]}, Nor((Eq(A, 1),))),
    ({"a": 1, "$or": [{"b": 1}], "c": 2}, And((Eq(A, 1), Or((Eq(("b",), 1),)), Eq(("c",), 2)))),
    ({"loc": {"$nearSphere": [1, 2], "$maxDistance": 0.5}}, GeoNear(("loc",), (1.0, 2.0), 0.5, True)),
    ({"loc": {"$near": [1, 2]}}, GeoNear(("loc",), (1.0, 2.0), None, False)),
    ({"$and": [{"loc": {"$near": [1, 2]}}]}, GeoNear(("loc",), (1.0, 2.0), None, False)),
    ({"loc": {"$within": {"$box": [[0, 0], [1, 1]]}}}, GeoWithin(("loc",), GeoBox((0.0, 0.0), (1.0, 1.0)))),
    (
        {"loc": {"$geoWithin": {"$polygon": [[0, 0], [1, 0], [0, 1]]}}},
        GeoWithin(("loc",), GeoPolygon(((0.0, 0.0), (1.0, 0.0), (0.0, 1.0)))),
    ),
    ({"loc": {"$geoWithin": {"$center": [[0, 0], 2]}}}, GeoWithin(("loc",), GeoCenter((0.0, 0.0), 2.0))),
    (
        {"loc": {"$geoWithin": {"$centerSphere": [[0, 0], 0.1]}}},
        GeoWithin(("loc",), GeoCenterSphere((0.0, 0.0), 0.1)),
    ),
]


@pytest.mark.parametrize(("query", "node"), ACCEPTED, ids=[str(q) for q, _ in ACCEPTED])
def test_accepted(query: Any, node: Node) -> None:
    assert parse_filter(query) == node


REFUSED: list[tuple[Any, str]] = [
    ([1], "expected a JSON object"),
    ({"$where": "this.a == 1"}, "The $where operator is not supported."),
    ({"$text": {"$search": "x"}}, "The $text operator is not supported."),
    ({"$query": {}}, "The $query operator is not supported."),
    ({"$expr": {}}, "The $expr operator is not supported."),
    ({"$foo": 1}, "Unknown top-level operator $foo."),
    ({"$not": {"a": 1}}, "$not must be applied to a field"),
    ({"a": {"$where": "x"}}, "The $where operator is not supported."),
    ({"a": {"$foo": 1}}, "Unknown operator $foo for 'a'."),
    ({"a": {"$gt": 1, "b": 2}}, "cannot mix operators and field names"),
    ({"a..b": 1}, "empty path segment"),
    ({".a": 1}, "empty path segment"),
    ({"a.": 1}, "empty path segment"),
    ({"": 1}, "non-empty"),
    ({"a.$b": 1}, "cannot start with '$'"),
    ({'a"b': 1}, "quotes, backslashes and control characters"),
    ({"a\\b": 1}, "quotes, backslashes and control characters"),
    ({"a\x00b": 1}, "quotes, backslashes and control characters"),
    ({"a\nb": 1}, "quotes, backslashes and control characters"),
    ({".".join(["a"] * 40): 1}, "more than 32 segments"),
    ({"a": "x\x00"}, "strings cannot contain NUL"),
    ({"a": 2**64}, "out of the 64-bit range"),
    ({"a": [2**53]}, "numbers inside arrays must be below 2**53"),
    ({"a": {"$in": [{"b": -(2**60)}]}}, "numbers inside objects must be below 2**53"),
    ({"a": {"$gt": [1]}}, "Invalid $gt for 'a'"),
    ({"a": {"$lt": {"b": 1}}}, "Invalid $lt for 'a'"),
    ({"a": {"$in": 1}}, "Invalid $in for 'a': expected an array"),
    ({"a": {"$nin": "x"}}, "Invalid $nin for 'a': expected an array"),
    ({"a": {"$in": list(range(10001))}}, "more than 10000 values"),
    ({"a": {"$exists": "yes"}}, "Invalid $exists for 'a'"),
    ({"a": {"$type": "decimal"}}, "unsupported type"),
    ({"a": {"$type": 19}}, "unsupported type"),
    ({"a": {"$type": []}}, "no type given"),
    ({"a": {"$type": True}}, "unsupported type"),
    ({"a": {"$regex": 5}}, "the pattern must be a string"),
    ({"a": {"$regex": "abc"}}, "must be anchored with '^'"),
    ({"a": {"$regex": "^a|b"}}, "must be anchored with '^'"),
    ({"a": {"$regex": "^a", "$options": "g"}}, "only the flags i, m, s and x"),
    ({"a": {"$regex": "^a", "$options": 1}}, "expected a string of flags"),
    ({"a": {"$options": "i"}}, "$options needs $regex"),
    ({"a": {"$regex": "^(a"}}, "missing ')'"),
    ({"a": {"$regex": "^a)"}}, "unbalanced ')'"),
    ({"a": {"$regex": "^a**"}}, "multiple repeat"),
    ({"a": {"$regex": "^(?=a)"}}, "only (...) and (?:...) groups"),
    ({"a": {"$regex": "^(?i)a"}}, "only (...) and (?:...) groups"),
    ({"a": {"$regex": "^\\1"}}, "unsupported escape"),
    ({"a": {"$regex": "^\\p{L}"}}, "unsupported escape"),
    ({"a": {"$regex": "^[a"}}, "unterminated character class"),
    ({"a": {"$regex": "^[z-a]"}}, "bad character range"),
    ({"a": {"$regex": "^[\\W]"}}, "negated class escapes"),
    ({"a": {"$regex": "^a{2,1}"}}, "min repeat greater than max repeat"),
    ({"a": {"$regex": "^a{256}"}}, "repetition count above 255"),
    ({"a": {"$regex": "^a*+"}}, "possessive"),
    ({"a": {"$regex": "*a"}}, "nothing to repeat"),
    ({"a": {"$regex": "^\\x0"}}, "expected 2 hex digits"),
    ({"a": {"$regex": "^\\x00"}}, "NUL is not allowed"),
    ({"a": {"$regex": "^\\ud800"}}, "lone surrogates"),
    ({"a": {"$regex": "^a\\"}}, "trailing backslash"),
    ({"a": {"$regex": "^" + "a" * 1000}}, "longer than 1000 characters"),
    ({"a": {"$not": 5}}, "Invalid $not for 'a'"),
    ({"a": {"$not": {}}}, "Invalid $not for 'a'"),
    ({"a": {"$not": {"b": 1}}}, "it takes operators, not field names"),
    ({"a": {"$all": 1}}, "Invalid $all for 'a'"),
    ({"a": {"$all": [{"$elemMatch": {"b": 1}, "c": 1}]}}, "$elemMatch entries take no other keys"),
    ({"a": {"$size": -1}}, "it cannot be negative"),
    ({"a": {"$size": 1.5}}, "Invalid $size for 'a'"),
    ({"a": {"$size": "1"}}, "Invalid $size for 'a'"),
    ({"a": {"$elemMatch": 1}}, "Invalid $elemMatch for 'a'"),
    ({"a": {"$mod": [0, 1]}}, "the divisor cannot be 0"),
    ({"a": {"$mod": [2]}}, "expected [divisor, remainder]"),
    ({"a": {"$mod": [2.5, 1]}}, "Invalid $mod divisor for 'a'"),
    ({"a": {"$mod": [2, True]}}, "Invalid $mod remainder for 'a'"),
    ({"$and": []}, "Invalid $and"),
    ({"$or": {}}, "Invalid $or"),
    ({"$nor": [1]}, "expected a JSON object"),
    ({"loc": {"$maxDistance": 1}}, "$maxDistance needs $near or $nearSphere"),
    ({"loc": {"$near": [1, 2], "$maxDistance": -1}}, "Invalid $maxDistance for 'loc'"),
    ({"loc": {"$near": [500, 2]}}, "within [-180, 180] x [-90, 90]"),
    ({"loc": {"$near": [1, 2, 3]}}, "expected a point"),
    ({"loc": {"$near": {"$geometry": {"type": "Point"}}}}, "GeoJSON points are not supported"),
    ({"$or": [{"loc": {"$near": [1, 2]}}]}, "cannot be used inside $or"),
    ({"loc": {"$not": {"$near": [1, 2]}}}, "cannot be used inside $or, $nor, $not"),
    ({"a": {"$near": [1, 2]}, "b": {"$nearSphere": [1, 2]}}, "only one $near or $nearSphere per query"),
    ({"loc": {"$within": {"$box": [[0, 0]]}}}, "expected [[lng, lat], [lng, lat]]"),
    ({"loc": {"$within": {"$polygon": [[0, 0], [1, 1]]}}}, "expected 3 to 1000 points"),
    ({"loc": {"$within": {"$center": [[0, 0]]}}}, "expected [[lng, lat], radius]"),
    ({"loc": {"$within": {"$centerSphere": [[0, 0], -1]}}}, "expected a non-negative number"),
    ({"loc": {"$within": {"$geometry": {}}}}, "GeoJSON geometries are not supported"),
    ({"loc": {"$within": {"$circle": 1}}}, "unknown shape $circle"),
    ({"loc": {"$within": {"$box": [[0, 0], [1, 1]], "$center": [[0, 0], 1]}}}, "expected one of $box"),
]


@pytest.mark.parametrize(("query", "message"), REFUSED, ids=[str(q)[:60] for q, _ in REFUSED])
def test_refused(query: Any, message: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        parse_filter(query)
    assert message in info.value.message


def test_nesting_limit() -> None:
    deep: dict[str, Any] = {"a": 1}
    for _ in range(120):
        deep = {"$and": [deep]}
    with pytest.raises(InvalidQuery, match="nested deeper than 100"):
        parse_filter(deep)
    elem: dict[str, Any] = {"a": 1}
    for _ in range(120):
        elem = {"a": {"$elemMatch": elem}}
    with pytest.raises(InvalidQuery, match="nested deeper than 100"):
        parse_filter(elem)
    value: Any = 1
    for _ in range(120):
        value = [value]
    with pytest.raises(InvalidQuery, match="nested too deeply"):
        parse_filter({"a": value})


def test_near_sphere_distance_in_miles() -> None:
    """With a sphere radius (Kinvey: miles) only the ``$maxDistance`` of ``$nearSphere`` is scaled."""
    miles = {"sphere_radius": EARTH_RADIUS_MILES}
    near = parse_filter({"_geoloc": {"$nearSphere": [1, 2], "$maxDistance": 10}}, **miles)
    assert near == GeoNear(("_geoloc",), (1.0, 2.0), 10 / EARTH_RADIUS_MILES, True)
    assert parse_filter({"_geoloc": {"$nearSphere": [1, 2]}}, **miles) == GeoNear(
        ("_geoloc",), (1.0, 2.0), None, True
    )
    planar = parse_filter({"_geoloc": {"$near": [1, 2], "$maxDistance": 10}}, **miles)
    assert planar == GeoNear(("_geoloc",), (1.0, 2.0), 10.0, False)
    sphere = parse_filter({"_geoloc": {"$geoWithin": {"$centerSphere": [[1, 2], 0.5]}}}, **miles)
    assert sphere == GeoWithin(("_geoloc",), GeoCenterSphere((1.0, 2.0), 0.5))
    query = parse_query({"query": '{"_geoloc": {"$nearSphere": [1, 2], "$maxDistance": 1}}'}, **miles)
    assert query.filter == GeoNear(("_geoloc",), (1.0, 2.0), 1 / EARTH_RADIUS_MILES, True)


def test_unanchored_regex_allowed_when_asked() -> None:
    assert parse_filter({"a": {"$regex": "b"}}, require_anchor=False) == Regex(A, "b", "")


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("age", (SortKey(("age",)),)),
        ("-age", (SortKey(("age",), True),)),
        ("a, -b.c", (SortKey(A), SortKey(("b", "c"), True))),
        ('{"age": 1, "name": -1}', (SortKey(("age",)), SortKey(("name",), True))),
        ({"age": -1}, (SortKey(("age",), True),)),
        ({"age": "desc"}, (SortKey(("age",), True),)),
        ("", ()),
    ],
)
def test_sort(text: Any, keys: tuple[SortKey, ...]) -> None:
    assert parse_sort(text) == keys


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"age": 2}', "Invalid sort direction for 'age'"),
        ('{"age": true}', "Invalid sort direction for 'age'"),
        ('{"age": 1', "not valid JSON"),
        ("a,a", "'a' appears twice"),
        ("a..b", "empty path segment"),
        ('{"$a": 1}', "cannot start with '$'"),
    ],
)
def test_sort_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        parse_sort(text)
    assert message in info.value.message


def test_fields() -> None:
    assert parse_fields("a, b.c,,") == (A, ("b", "c"))
    with pytest.raises(InvalidQuery, match="empty path segment"):
        parse_fields("a..b")


def test_query() -> None:
    q = parse_query(
        {"query": '{"a": {"$gt": 1}}', "sort": '{"a": -1}', "limit": "10", "skip": "5", "fields": "a"}
    )
    assert q == Query(Range(A, "gt", 1), (SortKey(A, True),), skip=5, limit=10, fields=(A,))
    assert parse_query({}) == Query()
    assert parse_query({"query": "{}", "limit": '"3"'}) == Query(limit=3)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"query": "{"}, "Invalid query: not valid JSON"),
        ({"query": "[]"}, "expected a JSON object"),
        ({"limit": "-1"}, "Invalid limit: expected a non-negative integer"),
        ({"limit": "1.5"}, "Invalid limit"),
        ({"skip": "x"}, "Invalid skip"),
        ({"skip": "99999999999999999999"}, "Invalid skip: too large"),
    ],
)
def test_query_refused(params: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        parse_query(params)
    assert message in info.value.message
