"""Numbers at extreme exponents, which SQLite's own conversion of a JSON number text reads up to a
few units in the last place off (not monotonic: ``1e-300`` and the double just below it read back
as each other): every comparison must still match exactly what the reference evaluator matches,
on SQLite and PostgreSQL, with inline walks, CTE chains and field indexes (docs/query-language.md
§10). Deterministic; the differential test met the first of these values at random."""

from __future__ import annotations

import math
import random
import struct
from typing import Any

import orjson
import pytest

from kinbase.query import evaluate
from kinbase.query.ast import Node, Query
from kinbase.query.kinto import parse_filters
from kinbase.query.mongo import parse_filter
from kinbase.query.sql.depth import TREE_BUDGET
from kinbase.query.sql.sqlite import BAND_ULPS, PLAIN_MAX, PLAIN_MIN
from kinbase.types import Document
from tests.query.qharness import Backends, contexts, index_defs

pytestmark = pytest.mark.postgres

FOUND = 1.831448483423857e-279
"""Met by the differential test: SQLite reads it one unit in the last place lower."""

VALUES: list[float] = [
    FOUND,
    math.nextafter(FOUND, 0),  # what SQLite reads FOUND as; read exactly itself
    math.nextafter(FOUND, 1),
    -FOUND,
    1e-300,  # SQLite reads 1e-300 and the double below it as each other
    math.nextafter(1e-300, 0),
    3.065338623312891e-179,  # these two read as the same double
    3.0653386233128906e-179,
    1.5528310582015238e253,  # and these two
    1.5528310582015235e253,
    1e300,
    5e-324,
    1e-323,
    2.2250738585072014e-308,
    2.225073858507201e-308,
    1.7976931348623157e308,
    math.nextafter(1.7976931348623157e308, 0),
    -1.7976931348623157e308,
]

X = ("x",)


def _documents() -> list[Document]:
    docs: list[Document] = [{"x": v} for v in VALUES]
    docs += [
        {"x": 0},
        {"x": -0.0},
        {"x": 1},
        {"x": True},
        {"x": False},
        {"x": None},
        {},
        {"x": "1e-300"},
        {"x": [FOUND, 2]},
        {"x": [math.nextafter(1e-300, 0)]},
        {"x": {"y": 1e-300}},
        # Within arrays the path is built from the element's ``fullkey`` (an expression, not a
        # parameter): the differential test met a missing parenthesis there.
        {"x": [{"y": FOUND}, {"y": [1e300]}]},
        {"x": [[{"y": 1e-300}]]},
    ]
    return docs


DOCS = _documents()


def _mongo_filters(value: float) -> list[dict[str, Any]]:
    ops = ("$gte", "$gt", "$lte", "$lt", "$eq", "$ne")
    return [
        *({"x": {op: value}} for op in ops),
        {"x": {"$in": [value, 1]}},
        {"x": {"$nin": [value]}},
        {"x": {"$elemMatch": {"$gte": value, "$lte": value}}},
        {"x.y": {"$lte": value}},
        {"x.y": {"$gte": value}},
        {"x.y": value},
    ]


def _kinto_filters(value: float) -> list[dict[str, str]]:
    text = repr(value)
    ops = ("eq", "not", "gt", "min", "lt", "max", "in", "exclude")
    return [{f"{op}_x": text} for op in ops]


def _nodes() -> list[Node]:
    nodes: list[Node] = []
    for value in VALUES:
        nodes += [parse_filter(f) for f in _mongo_filters(value)]
        nodes += [n for n in (parse_filters(f) for f in _kinto_filters(value)) if n is not None]
    return nodes


@pytest.mark.parametrize("variant", ["inline", "chain", "indexed"])
def test_extreme_numbers_match_the_evaluator(backends: Backends, variant: str) -> None:
    backends.load(DOCS, {X: 0})
    lite, pg = contexts(index_defs(DOCS, {X: 0}) if variant == "indexed" else {})
    budget = 0 if variant == "chain" else TREE_BUDGET
    statements = []
    expected: list[list[int]] = []
    for node in _nodes():
        query = Query(node)
        want = evaluate.find(query, DOCS)
        assert backends.run_sqlite(query, lite, tree_budget=budget) == want, ("sqlite", node)
        statements.append(backends.statement("postgresql", query, pg, budget))
        expected.append([oid + 1 for oid in want])
    got = backends.run_pg_many(statements)
    for node, rows, want in zip(_nodes(), got, expected, strict=True):
        assert rows == want, ("postgresql", node)


def _bits(x: float) -> int:
    return int(struct.unpack("<q", struct.pack("<d", x))[0])


def _misread(backends: Backends, values: list[float]) -> list[tuple[float, int]]:
    """The values SQLite reads from their JSON text as another double, with the distance in units
    in the last place (all positive)."""
    texts = orjson.dumps([orjson.dumps(v).decode() for v in values]).decode()
    rows = backends.lite.execute("SELECT CAST(value AS REAL) FROM json_each(?)", [texts]).fetchall()
    return [(v, abs(_bits(r) - _bits(v))) for v, (r,) in zip(values, rows, strict=True) if r != v]


def _random_doubles(rng: random.Random, exponents: range, n: int) -> list[float]:
    """``n`` random positive doubles whose biased exponent field is in ``exponents``."""
    out = []
    for _ in range(n):
        bits = (rng.choice(exponents) << 52) | rng.getrandbits(52)
        out.append(float(struct.unpack("<d", struct.pack("<Q", bits or 1))[0]))
    return out


def test_the_band_and_the_plain_range_hold_for_this_sqlite(backends: Backends) -> None:
    """What ``number_test`` relies on, measured on the SQLite the tests run (a new SQLite may read
    numbers otherwise): within the plain range every number is read exactly; beyond it no number
    is read farther than :data:`BAND_ULPS` from its double. And the cases above are worth keeping
    only while SQLite misreads some of them."""
    rng = random.Random(20261207)
    assert [v for v, _ in _misread(backends, VALUES)]
    low, high = math.frexp(PLAIN_MIN)[1] + 1022 - 4, math.frexp(PLAIN_MAX)[1] + 1022 + 4
    assert _misread(backends, _random_doubles(rng, range(low, high + 1), 20000)) == []
    extreme = _random_doubles(rng, range(low), 10000) + _random_doubles(rng, range(high, 2047), 10000)
    misread = _misread(backends, extreme)
    assert misread  # else this test measures nothing
    assert max(d for _, d in misread) <= BAND_ULPS // 2
