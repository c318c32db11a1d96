"""Geo operators: SQLite, PostgreSQL and the evaluator agree on membership and on the order by
distance. Generated points stay away from shape boundaries and from distance ties, so the
comparison does not hinge on the last bit of a double."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kinbase.query import evaluate, geo
from kinbase.query.ast import (
    And,
    Eq,
    GeoBox,
    GeoCenter,
    GeoCenterSphere,
    GeoNear,
    GeoPolygon,
    GeoWithin,
    Node,
    Query,
)
from kinbase.query.mongo import EARTH_RADIUS_MILES, parse_filter
from kinbase.types import Document
from tests.query.qharness import Backends, contexts

# Each test process has its own PostgreSQL schema, so these may run in parallel.
pytestmark = pytest.mark.postgres

MARGIN = 1e-7

lng = st.floats(-180, 180)
lat = st.floats(-90, 90)
points = st.tuples(lng, lat)
noise = st.sampled_from(["x", 5, None, [1], [1, 2, 3], [True, 1], {"a": [1, 2]}, [200, 0], [0, 95], []])


@st.composite
def located(draw: st.DrawFn) -> list[Document]:
    docs: list[Document] = []
    for _ in range(draw(st.integers(3, 14))):
        kind = draw(st.integers(0, 5))
        if kind <= 2:
            x, y = draw(points)
            loc: object = [x, y]
        elif kind == 3:
            loc = [list(draw(points)) for _ in range(draw(st.integers(1, 3)))]
        elif kind == 4:
            loc = draw(noise)
        else:
            loc = {"p": list(draw(points))}
        doc: Document = {"tag": draw(st.sampled_from(["a", "b"]))}
        if draw(st.integers(0, 6)):
            doc["loc"] = loc  # type: ignore[assignment]
        docs.append(doc)
    return docs


def candidate_points(doc: Document) -> list[tuple[float, float]]:
    out = []
    for c in evaluate.candidates(evaluate.walk(doc, ("loc",))):
        if geo.is_point(c):
            assert isinstance(c, list)
            out.append((float(c[0]), float(c[1])))  # type: ignore[arg-type]
    return out


def near_boundary(shape: object, x: float, y: float) -> bool:
    if isinstance(shape, GeoBox):
        (x1, y1), (x2, y2) = geo.box_bounds(shape)
        return min(abs(x - x1), abs(x - x2), abs(y - y1), abs(y - y2)) < MARGIN
    if isinstance(shape, GeoCenter):
        d = math.sqrt(geo.planar_d2(x, y, *shape.center))
        return abs(d - shape.radius) < MARGIN
    if isinstance(shape, GeoCenterSphere):
        limit = geo.haversine_limit(shape.radius)
        if limit is None:
            return False
        c = geo.sphere_center(shape.center)
        return abs(geo.sphere_hav(x, y, *c) - limit) < MARGIN
    if isinstance(shape, GeoPolygon):
        for e in geo.polygon_edges(shape):
            if min(abs(y - e.yi), abs(y - e.yj)) < MARGIN:
                return True
            if (y < e.yi) != (y < e.yj) and abs(x - (e.xi + e.dx * ((y - e.yi) / e.dy))) < MARGIN:
                return True
        return any(abs(y - vy) < MARGIN for _, vy in shape.vertices)
    if isinstance(shape, GeoNear):
        limit = geo.near_limit(shape)
        return limit is not None and abs(geo.near_measure(shape, x, y) - limit) < MARGIN
    return False


shapes = st.one_of(
    st.builds(GeoBox, points, points),
    st.builds(GeoPolygon, st.lists(points, min_size=3, max_size=6).map(tuple)),
    st.builds(GeoCenter, points, st.floats(0, 150)),
    st.builds(GeoCenterSphere, points, st.floats(0, 4)),
)
nears = st.one_of(
    st.builds(GeoNear, st.just(("loc",)), points, st.one_of(st.none(), st.floats(0, 200)), st.just(False)),
    st.builds(GeoNear, st.just(("loc",)), points, st.one_of(st.none(), st.floats(0, 3.5)), st.just(True)),
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(docs=located(), shape=shapes, near=nears, tag=st.sampled_from(["a", "b"]), window=st.integers(0, 3))
def test_geo_agrees(
    backends: Backends, docs: list[Document], shape: GeoBox, near: GeoNear, tag: str, window: int
) -> None:
    for doc in docs:
        for x, y in candidate_points(doc):
            assume(not near_boundary(shape, x, y))
            assume(not near_boundary(near, x, y))
    distances = sorted(
        min(geo.near_measure(near, x, y) for x, y in pts) for pts in map(candidate_points, docs) if pts
    )
    assume(all(b - a > MARGIN for a, b in itertools.pairwise(distances)))
    backends.load(docs)
    lite, pg = contexts()
    filters: list[Node] = [
        GeoWithin(("loc",), shape),
        And((Eq(("tag",), tag), GeoWithin(("loc",), shape))),
        near,
        And((near, Eq(("tag",), tag))),
    ]
    for node in filters:
        for query in (Query(node), Query(node, skip=window, limit=2)):
            expected = evaluate.find(query, docs)
            assert backends.run_sqlite(query, lite) == expected, ("sqlite", query)
            assert backends.run_pg(query, pg) == expected, ("postgresql", query)
            assert backends.run_sqlite(query, lite, tree_budget=0) == expected, ("sqlite chain", query)


def test_geo_examples(backends: Backends) -> None:
    docs: list[Document] = [
        {"loc": [0, 0]},
        {"loc": [10, 10]},
        {"loc": [[50, 50], [1, 1]]},
        {"loc": "nowhere"},
        {"loc": [200, 0]},
        {},
        {"loc": [5.5, 4.5]},
    ]
    backends.load(docs)
    lite, pg = contexts()
    box = GeoWithin(("loc",), GeoBox((-1, -1), (6, 6)))
    triangle = GeoWithin(("loc",), GeoPolygon(((-5, -5), (20, -5), (-5, 20))))
    near = GeoNear(("loc",), (0.9, 0.9), None, False)
    cases: list[tuple[Node, list[int]]] = [
        (box, [0, 2, 6]),
        (triangle, [0, 2, 6]),
        (GeoWithin(("loc",), GeoCenter((0, 0), 2)), [0, 2]),
        (near, [2, 0, 6, 1]),
        (GeoNear(("loc",), (0, 0), 0.3, True), [0, 2, 6, 1]),
        (GeoNear(("loc",), (0, 0), 0.2, True), [0, 2, 6]),
        (GeoNear(("loc",), (0, 0), 0.1, True), [0, 2]),
    ]
    for node, expected in cases:
        query = Query(node)
        assert evaluate.find(query, docs) == expected, node
        assert backends.run_sqlite(query, lite) == expected, node
        assert backends.run_pg(query, pg) == expected, node


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=located(), center=points, miles=st.floats(0, 3.5 * EARTH_RADIUS_MILES))
def test_near_sphere_in_miles_agrees(
    backends: Backends, docs: list[Document], center: tuple[float, float], miles: float
) -> None:
    """Kinvey's ``$maxDistance`` in miles: the parser scales it once, so the evaluator and both
    compilers read the same bound in radians."""
    node = parse_filter(
        {"loc": {"$nearSphere": list(center), "$maxDistance": miles}}, sphere_radius=EARTH_RADIUS_MILES
    )
    assert isinstance(node, GeoNear)
    for doc in docs:
        for x, y in candidate_points(doc):
            assume(not near_boundary(node, x, y))
    distances = sorted(
        min(geo.near_measure(node, x, y) for x, y in pts) for pts in map(candidate_points, docs) if pts
    )
    assume(all(b - a > MARGIN for a, b in itertools.pairwise(distances)))
    backends.load(docs)
    lite, pg = contexts()
    query = Query(node)
    expected = evaluate.find(query, docs)
    assert backends.run_sqlite(query, lite) == expected
    assert backends.run_pg(query, pg) == expected


def test_near_sphere_in_miles_example(backends: Backends) -> None:
    """The DevCenter's Cambridge listings: two are within a mile of the point, the third 1.3 miles away."""
    docs: list[Document] = [
        {"loc": [-71.056416, 42.351018]},
        {"loc": [-71.085438, 42.362688]},
        {"loc": [-71.083934, 42.362474]},
        {"loc": "elsewhere"},
    ]
    backends.load(docs)
    lite, pg = contexts()
    for miles, expected in ((1, [2, 1]), (2, [2, 1, 0]), (0.05, [2])):
        node = parse_filter(
            {"loc": {"$nearSphere": [-71.0837, 42.3623], "$maxDistance": miles}},
            sphere_radius=EARTH_RADIUS_MILES,
        )
        query = Query(node)
        assert evaluate.find(query, docs) == expected, miles
        assert backends.run_sqlite(query, lite) == expected, miles
        assert backends.run_pg(query, pg) == expected, miles
