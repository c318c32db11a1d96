"""Geo conditions and distances in SQL: the formulas of :mod:`kinbase.query.geo`, operation by
operation, with every constant bound as a parameter."""

from __future__ import annotations

from collections.abc import Callable

from kinbase.query import geo
from kinbase.query.ast import GeoBox, GeoCenter, GeoCenterSphere, GeoNear, GeoPolygon
from kinbase.query.sql.base import Cond, Sql, and_, case, fmt, join, render
from kinbase.query.sql.dialect import JsonDialect, Val

__all__ = ["GeoWriter"]

_NUMBER = frozenset({"number"})


class GeoWriter:
    """Writes point tests, shape tests and distance measures for one dialect."""

    def __init__(self, dialect: JsonDialect) -> None:
        self.d = dialect

    def point_test(self, c: Val, test: Callable[[Sql, Sql], Cond]) -> Cond:
        """``c`` is a point [lng, lat] for which ``test(x, y)`` holds."""
        d = self.d
        if c.column is not None:
            return False
        xv, yv = d.index(c, 0), d.index(c, 1)
        shape = and_(d.is_array(c), d.kind_in(xv, _NUMBER), d.kind_in(yv, _NUMBER), d.missing(d.index(c, 2)))
        x, y = d.float_(xv), d.float_(yv)
        bounds = fmt("({} BETWEEN -180 AND 180 AND {} BETWEEN -90 AND 90)", x, y)
        return case(shape, and_(bounds, test(x, y)), False)

    def snap(self, e: Sql) -> Sql:
        """``e``, or 0 when its magnitude is below :data:`geo.SNAP` (as :func:`geo.snap`)."""
        ph = self.d.placeholder
        return Sql(
            f"(CASE WHEN abs({e.text}) < {ph} THEN {ph} ELSE {e.text} END)",
            [*e.params, geo.SNAP, 0.0, *e.params],
        )

    def num(self, value: float) -> Sql:
        return Sql(self.d.placeholder, [float(value)])

    def planar_d2(self, x: Sql, y: Sql, cx: float, cy: float) -> Sql:
        dx = self.snap(fmt("({} - {})", x, self.num(cx)))
        dy = self.snap(fmt("({} - {})", y, self.num(cy)))
        return fmt("({} * {} + {} * {})", dx, dx, dy, dy)

    def sphere_hav(self, x: Sql, y: Sql, center: tuple[float, float]) -> Sql:
        c_lng, c_lat, c_cos = geo.sphere_center(center)
        lat = fmt("({} * {})", self.snap(y), self.num(geo.DEGREE))
        s_lat = self.snap(fmt("sin(({} - {}) * {})", lat, self.num(c_lat), self.num(0.5)))
        s_lng = self.snap(
            fmt(
                "sin(({} * {} - {}) * {})", self.snap(x), self.num(geo.DEGREE), self.num(c_lng), self.num(0.5)
            )
        )
        c = self.snap(fmt("({} * {})", self.num(c_cos), self.snap(fmt("cos({})", lat))))
        return fmt("({} * {} + {} * ({} * {}))", s_lat, s_lat, c, s_lng, s_lng)

    def within(self, shape: GeoBox | GeoPolygon | GeoCenter | GeoCenterSphere) -> Callable[[Sql, Sql], Cond]:
        if isinstance(shape, GeoBox):
            (x1, y1), (x2, y2) = geo.box_bounds(shape)
            return lambda x, y: fmt(
                "({} BETWEEN {} AND {} AND {} BETWEEN {} AND {})",
                x,
                self.num(x1),
                self.num(x2),
                y,
                self.num(y1),
                self.num(y2),
            )
        if isinstance(shape, GeoPolygon):
            edges = geo.polygon_edges(shape)

            def polygon(x: Sql, y: Sql) -> Cond:
                if not edges:
                    return False
                crossings = []
                for e in edges:
                    t = fmt("({} / {})", self.snap(fmt("({} - {})", y, self.num(e.yi))), self.num(e.dy))
                    test = and_(
                        fmt("(({} < {}) <> ({} < {}))", y, self.num(e.yi), y, self.num(e.yj)),
                        fmt("{} < ({} + {} * {})", x, self.num(e.xi), self.num(e.dx), t),
                    )
                    crossings.append(self.d.bool_int(test))
                total = join(" + ", crossings, "(", ")")
                return fmt("{} = 1", self.d.modulo(total, Sql("2")))

            return polygon
        if isinstance(shape, GeoCenter):
            center, radius = shape.center, shape.radius
            return lambda x, y: fmt("{} <= {}", self.planar_d2(x, y, *center), self.num(radius * radius))
        sphere = shape
        limit = geo.haversine_limit(sphere.radius)
        if limit is None:
            return lambda x, y: True
        return lambda x, y: fmt("{} <= {}", self.sphere_hav(x, y, sphere.center), self.num(limit))

    def near_measure(self, node: GeoNear) -> Callable[[Sql, Sql], Sql]:
        if node.spherical:
            return lambda x, y: self.sphere_hav(x, y, node.point)
        return lambda x, y: self.planar_d2(x, y, node.point[0], node.point[1])

    def near_within(self, node: GeoNear) -> Callable[[Sql, Sql], Cond]:
        limit = geo.near_limit(node)
        if limit is None:
            return lambda x, y: True
        measure = self.near_measure(node)
        bound = limit
        return lambda x, y: fmt("{} <= {}", measure(x, y), self.num(bound))

    def point_value(self, c: Val, value: Callable[[Sql, Sql], Sql]) -> Sql:
        """``value(x, y)`` when ``c`` is a point, else NULL."""
        d = self.d
        xv, yv = d.index(c, 0), d.index(c, 1)
        shape = and_(d.is_array(c), d.kind_in(xv, _NUMBER), d.kind_in(yv, _NUMBER), d.missing(d.index(c, 2)))
        x, y = d.float_(xv), d.float_(yv)
        bounds = fmt("({} BETWEEN -180 AND 180 AND {} BETWEEN -90 AND 90)", x, y)
        guard = render(shape)
        return fmt("CASE WHEN {} THEN CASE WHEN {} THEN {} END END", guard, bounds, value(x, y))
