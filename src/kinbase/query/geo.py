"""Geometry for the geo operators, written so that Python, SQLite and PostgreSQL compute the
very same IEEE doubles.

Every formula here is mirrored operation by operation in the SQL compilers (same operands, same
order, constants precomputed in Python and bound). Tiny intermediate values are *snapped* to 0
(:func:`snap`): PostgreSQL raises an error when a float multiplication or division underflows,
and snapping every factor keeps all products far above the smallest double.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from kinbase.query.ast import And, GeoBox, GeoCenter, GeoCenterSphere, GeoNear, GeoPolygon, Node
from kinbase.query.values import is_number

__all__ = [
    "DEGREE",
    "SNAP",
    "Edge",
    "box_bounds",
    "crosses",
    "find_geo_near",
    "haversine_limit",
    "in_box",
    "in_center",
    "in_polygon",
    "is_point",
    "near_limit",
    "near_measure",
    "planar_d2",
    "polygon_edges",
    "snap",
    "sphere_center",
    "sphere_hav",
    "within_sphere",
]

SNAP: Final = 1e-100
"""Magnitudes below this are treated as 0 in every intermediate of the geo formulas."""

DEGREE: Final = math.pi / 180.0
"""Radians per degree (multiplied, never divided, in every engine)."""


def snap(x: float) -> float:
    return 0.0 if abs(x) < SNAP else x


def is_point(value: object) -> bool:
    """``[longitude, latitude]``: exactly two numbers, ``-180 <= lng <= 180``, ``-90 <= lat <= 90``."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and is_number(value[0])
        and is_number(value[1])
        and -180 <= value[0] <= 180
        and -90 <= value[1] <= 90
    )


def planar_d2(x: float, y: float, cx: float, cy: float) -> float:
    """Squared plane distance."""
    dx = snap(x - cx)
    dy = snap(y - cy)
    return dx * dx + dy * dy


def sphere_hav(lng: float, lat: float, c_lng_rad: float, c_lat_rad: float, c_cos: float) -> float:
    """The haversine of the great-circle angle between a point (degrees) and a centre given in
    radians with ``c_cos = snap(cos(c_lat_rad))``. Monotonic in the angle, so comparing and
    ordering by it is comparing and ordering by distance."""
    lat_rad = snap(lat) * DEGREE
    s_lat = snap(math.sin((lat_rad - c_lat_rad) * 0.5))
    s_lng = snap(math.sin((snap(lng) * DEGREE - c_lng_rad) * 0.5))
    c = snap(c_cos * snap(math.cos(lat_rad)))
    return s_lat * s_lat + c * (s_lng * s_lng)


def sphere_center(center: tuple[float, float]) -> tuple[float, float, float]:
    """(lng in radians, lat in radians, snapped cosine of lat) for :func:`sphere_hav`."""
    lat_rad = snap(center[1]) * DEGREE
    return snap(center[0]) * DEGREE, lat_rad, snap(math.cos(lat_rad))


def haversine_limit(radius: float) -> float | None:
    """The haversine bound for an angle ``radius`` (radians), or None when every point is within
    it (radius of at least pi)."""
    if radius >= math.pi:
        return None
    s = math.sin(radius * 0.5)
    return s * s


def in_box(x: float, y: float, box: GeoBox) -> bool:
    (x1, y1), (x2, y2) = box_bounds(box)
    return x1 <= x <= x2 and y1 <= y <= y2


def box_bounds(box: GeoBox) -> tuple[tuple[float, float], tuple[float, float]]:
    """The corners reordered so that the first is the lowest on both axes."""
    (ax, ay), (bx, by) = box.low, box.high
    return (min(ax, bx), min(ay, by)), (max(ax, bx), max(ay, by))


@dataclass(frozen=True, slots=True)
class Edge:
    """A non-horizontal polygon edge, precomputed: from (xi, yi) to (xi + dx, yj), ``dy = yj - yi``."""

    xi: float
    yi: float
    yj: float
    dx: float
    dy: float


def polygon_edges(polygon: GeoPolygon) -> tuple[Edge, ...]:
    vertices = polygon.vertices
    edges: list[Edge] = []
    for k, (xi, yi) in enumerate(vertices):
        xj, yj = vertices[(k + 1) % len(vertices)]
        if yi != yj:
            edges.append(
                Edge(float(xi), float(yi), float(yj), snap(float(xj) - float(xi)), float(yj) - float(yi))
            )
    return tuple(edges)


def crosses(x: float, y: float, e: Edge) -> bool:
    """Whether the ray from (x, y) towards +x crosses edge ``e`` (even-odd rule)."""
    return (y < e.yi) != (y < e.yj) and x < e.xi + e.dx * (snap(y - e.yi) / e.dy)


def in_polygon(x: float, y: float, edges: tuple[Edge, ...]) -> bool:
    inside = False
    for e in edges:
        if crosses(x, y, e):
            inside = not inside
    return inside


def in_center(x: float, y: float, shape: GeoCenter) -> bool:
    return planar_d2(x, y, shape.center[0], shape.center[1]) <= shape.radius * shape.radius


def find_geo_near(node: Node | None) -> GeoNear | None:
    """The ``GeoNear`` that orders a query: the filter itself or a direct child of a top-level
    ``And`` (the first one)."""
    if isinstance(node, GeoNear):
        return node
    if isinstance(node, And):
        for child in node.children:
            if isinstance(child, GeoNear):
                return child
    return None


def near_limit(node: GeoNear) -> float | None:
    """The bound the distance measure of ``node`` must not exceed (None: no bound)."""
    if node.max_distance is None:
        return None
    if node.spherical:
        return haversine_limit(node.max_distance)
    return node.max_distance * node.max_distance


def near_measure(node: GeoNear, x: float, y: float) -> float:
    """The distance measure of a point from ``node.point``: squared plane distance, or haversine."""
    if node.spherical:
        c_lng, c_lat, c_cos = sphere_center(node.point)
        return sphere_hav(x, y, c_lng, c_lat, c_cos)
    return planar_d2(x, y, node.point[0], node.point[1])


def within_sphere(x: float, y: float, shape: GeoCenterSphere) -> bool:
    limit = haversine_limit(shape.radius)
    if limit is None:
        return True
    c_lng, c_lat, c_cos = sphere_center(shape.center)
    return sphere_hav(x, y, c_lng, c_lat, c_cos) <= limit
