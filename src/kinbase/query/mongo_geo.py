"""The geo operators of MongoDB-style queries (``$near``, ``$nearSphere`` + ``$maxDistance``,
``$geoWithin``/``$within`` with ``$box``, ``$polygon``, ``$center``, ``$centerSphere``) to the AST.

Points are legacy pairs ``[longitude, latitude]``; GeoJSON is refused. :class:`GeoParsing` is the
part of the Kinvey parser (:mod:`kinbase.query.mongo`) that reads these operands.
"""

from __future__ import annotations

import math
from typing import Any, Final

from kinbase.errors import InvalidQuery
from kinbase.query.ast import GeoBox, GeoCenter, GeoCenterSphere, GeoNear, GeoPolygon, GeoWithin, Node
from kinbase.query.values import is_number
from kinbase.types import Path

__all__ = ["EARTH_RADIUS_MILES", "MAX_POLYGON", "GeoParsing"]

MAX_POLYGON: Final = 1000

EARTH_RADIUS_MILES: Final = 3958.8
"""The mean radius of the Earth in miles: Kinvey's ``$maxDistance`` (``Query.near``) is in miles."""


class GeoParsing:
    """Geo operands. ``sphere_radius`` (None: radians) is the unit of ``$nearSphere``'s
    ``$maxDistance``; ``near_seen`` enforces one ``$near``/``$nearSphere`` per query."""

    sphere_radius: float | None
    near_seen: bool

    @staticmethod
    def point(value: Any, what: str) -> tuple[float, float]:
        if (
            isinstance(value, list)
            and len(value) == 2
            and all(is_number(v) and math.isfinite(v) for v in value)
            and -180 <= value[0] <= 180
            and -90 <= value[1] <= 90
        ):
            return float(value[0]), float(value[1])
        raise InvalidQuery(
            f"Invalid {what}: expected a point [longitude, latitude] within [-180, 180] x [-90, 90]."
        )

    @staticmethod
    def distance(value: Any, what: str) -> float:
        if is_number(value) and math.isfinite(value) and value >= 0:
            return float(value)
        raise InvalidQuery(f"Invalid {what}: expected a non-negative number.")

    def near(self, path: Path, name: str, op: str, arg: Any, max_distance: Any, conjunctive: bool) -> Node:
        if isinstance(arg, dict):
            raise InvalidQuery(
                f"Invalid {op} for {name!r}: GeoJSON points are not supported, use [lng, lat]."
            )
        if not conjunctive or not path:
            raise InvalidQuery(
                f"Invalid {op} for {name!r}: it cannot be used inside $or, $nor, $not or $elemMatch."
            )
        if self.near_seen:
            raise InvalidQuery(f"Invalid {op} for {name!r}: only one $near or $nearSphere per query.")
        self.near_seen = True
        limit = None if max_distance is None else self.distance(max_distance, f"$maxDistance for {name!r}")
        if limit is not None and op == "$nearSphere" and self.sphere_radius is not None:
            limit = limit / self.sphere_radius
        return GeoNear(path, self.point(arg, f"{op} for {name!r}"), limit, op == "$nearSphere")

    def within(self, path: Path, name: str, op: str, arg: Any) -> Node:
        if not isinstance(arg, dict) or len(arg) != 1:
            raise InvalidQuery(
                f"Invalid {op} for {name!r}: expected one of $box, $polygon, $center, $centerSphere."
            )
        ((shape_op, shape),) = arg.items()
        where = f"{op}.{shape_op} for {name!r}"
        if shape_op == "$box":
            if not isinstance(shape, list) or len(shape) != 2:
                raise InvalidQuery(f"Invalid {where}: expected [[lng, lat], [lng, lat]].")
            return GeoWithin(path, GeoBox(self.point(shape[0], where), self.point(shape[1], where)))
        if shape_op == "$polygon":
            if not isinstance(shape, list) or not 3 <= len(shape) <= MAX_POLYGON:
                raise InvalidQuery(f"Invalid {where}: expected 3 to {MAX_POLYGON} points.")
            return GeoWithin(path, GeoPolygon(tuple(self.point(p, where) for p in shape)))
        if shape_op in ("$center", "$centerSphere"):
            if not isinstance(shape, list) or len(shape) != 2:
                raise InvalidQuery(f"Invalid {where}: expected [[lng, lat], radius].")
            center = self.point(shape[0], where)
            radius = self.distance(shape[1], where)
            if shape_op == "$center":
                return GeoWithin(path, GeoCenter(center, radius))
            return GeoWithin(path, GeoCenterSphere(center, radius))
        if shape_op == "$geometry":
            raise InvalidQuery(f"Invalid {op} for {name!r}: GeoJSON geometries are not supported.")
        raise InvalidQuery(f"Invalid {op} for {name!r}: unknown shape {shape_op}.")
