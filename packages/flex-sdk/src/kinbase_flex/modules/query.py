"""``modules.Query``: build the MongoDB-style queries the backend accepts.

::

    query = modules.Query()
    query.greaterThanOrEqualTo("rate", 25).lessThanOrEqualTo("rate", 50)
    query.equalTo("last_name", "Doe").or_().equalTo("last_name", "Roe")
    query.limit = 20
    query.ascending("last_name")
    query.toQueryString()   # {"query": '{"rate":{"$gte":25,"$lte":50}}', "limit": "20", "sort": ...}

``and``, ``or`` and ``nor`` are Python keywords: the joins are ``and_()``, ``or_()`` and ``nor()``.
The precedence rules are the reference's: AND before NOR before OR.
"""

from __future__ import annotations

import math
import re
from typing import Any, Self

from kinbase_flex._jsutil import dumps
from kinbase_flex.errors import QueryError

__all__ = ["Query"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_float(value: Any) -> Any:
    if isinstance(value, str):
        match = re.match(r"^\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)", value)
        return float(match.group(0)) if match else math.nan
    return value


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _pair(coord: Any, name: str) -> list[float]:
    if isinstance(coord, list | tuple) and len(coord) >= 2:
        pair = [_parse_float(coord[0]), _parse_float(coord[1])]
        if all(_is_number(v) and not math.isnan(v) for v in pair):
            return [float(pair[0]), float(pair[1])]
    raise QueryError(f"{name} must be a [number, number]")


class Query:
    """A query: a ``filter``, ``sort``, ``fields``, ``limit`` and ``skip``."""

    def __init__(self, options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        merged: dict[str, Any] = {"fields": [], "filter": {}, "sort": {}, "limit": None, "skip": 0}
        merged.update(options or {})
        merged.update(kwargs)
        self._parent: Query | None = None
        self._fields: list[str] = []
        self._sort: dict[str, int] = {}
        self._limit: float | int | None = None
        self._skip: float | int = 0
        self.filter: dict[str, Any] = merged["filter"]
        self.fields = merged["fields"]
        self.sort = merged["sort"]
        self.limit = merged["limit"]
        self.skip = merged["skip"]

    # -- modifiers ----------------------------------------------------------------------------

    @property
    def fields(self) -> list[str]:
        """The fields to return (``_id`` and ``_acl`` always come back)."""
        return self._fields

    @fields.setter
    def fields(self, fields: Any) -> None:
        fields = [] if fields is None else fields
        if not isinstance(fields, list | tuple):
            raise QueryError("fields must be an Array")
        if self._parent is not None:
            self._parent.fields = fields
        else:
            self._fields = list(fields)

    @property
    def sort(self) -> dict[str, int]:
        return self._sort

    @sort.setter
    def sort(self, sort: Any) -> None:
        if sort and not isinstance(sort, dict):
            raise QueryError("sort must an Object")
        if self._parent is not None:
            self._parent.sort = sort
        else:
            self._sort = sort or {}

    @property
    def limit(self) -> float | int | None:
        return self._limit

    @limit.setter
    def limit(self, limit: Any) -> None:
        value = _parse_float(limit)
        if value and not _is_number(value):
            raise QueryError("limit must be a number")
        value = _json_number(value)
        if self._parent is not None:
            self._parent.limit = value
        else:
            self._limit = value

    @property
    def skip(self) -> float | int:
        return self._skip

    @skip.setter
    def skip(self, skip: Any) -> None:
        value = _parse_float(0 if skip is None else skip)
        if not _is_number(value):
            raise QueryError("skip must be a number")
        value = _json_number(value)
        if self._parent is not None:
            self._parent.skip = value
        else:
            self._skip = value

    def ascending(self, field: str) -> Self:
        if self._parent is not None:
            self._parent.ascending(field)
        else:
            self._sort[field] = 1
        return self

    def descending(self, field: str) -> Self:
        if self._parent is not None:
            self._parent.descending(field)
        else:
            self._sort[field] = -1
        return self

    # -- operators ----------------------------------------------------------------------------

    def addFilter(self, field: str, condition: Any, values: Any = None, *, has_values: bool = True) -> Self:
        """Set ``filter[field][condition] = values`` (or ``filter[field] = condition`` for equality)."""
        if not isinstance(self.filter.get(field), dict):
            self.filter[field] = {}
        if condition and has_values:
            self.filter[field][condition] = values
        else:
            self.filter[field] = condition
        return self

    def equalTo(self, field: str, value: Any) -> Self:
        return self.addFilter(field, value, has_values=False)

    def notEqualTo(self, field: str, value: Any) -> Self:
        return self.addFilter(field, "$ne", value)

    def _comparison(self, operator: str, field: str, value: Any) -> Self:
        if not (_is_number(value) or isinstance(value, str)):
            raise QueryError("You must supply a number or string.")
        return self.addFilter(field, operator, value)

    def greaterThan(self, field: str, value: Any) -> Self:
        return self._comparison("$gt", field, value)

    def greaterThanOrEqualTo(self, field: str, value: Any) -> Self:
        return self._comparison("$gte", field, value)

    def lessThan(self, field: str, value: Any) -> Self:
        return self._comparison("$lt", field, value)

    def lessThanOrEqualTo(self, field: str, value: Any) -> Self:
        return self._comparison("$lte", field, value)

    def exists(self, field: str, flag: Any = True) -> Self:
        return self.addFilter(field, "$exists", bool(flag))

    def mod(self, field: str, divisor: Any, remainder: Any = 0) -> Self:
        if not _is_number(divisor):
            raise QueryError("divisor must be a number")
        if not _is_number(remainder):
            raise QueryError("remainder must be a number")
        return self.addFilter(field, "$mod", [divisor, remainder])

    def matches(
        self, field: str, reg_exp: str | re.Pattern[str], options: dict[str, Any] | None = None
    ) -> Self:
        """An anchored (``^...``), case-sensitive regular expression.

        ``options``: ``multiline`` (``m``), ``extended`` (``x``), ``dotMatchesAll`` (``s``);
        ``ignoreCase`` is refused, as by the backend.
        """
        opts = {_CAMEL.get(k, k): v for k, v in (options or {}).items()}
        if isinstance(reg_exp, re.Pattern):
            source, flags = reg_exp.pattern, reg_exp.flags
        else:
            source, flags = str(reg_exp), 0
        if (flags & re.IGNORECASE or opts.get("ignoreCase")) and opts.get("ignoreCase") is not False:
            raise QueryError("ignoreCase is not supported.")
        if not source.startswith("^"):
            raise QueryError(
                "regExp must have `^` at the beginning of the expression to make it an anchored expression."
            )
        letters = []
        if (flags & re.MULTILINE or opts.get("multiline")) and opts.get("multiline") is not False:
            letters.append("m")
        if opts.get("extended"):
            letters.append("x")
        if opts.get("dotMatchesAll"):
            letters.append("s")
        self.addFilter(field, "$regex", source)
        if letters:
            self.addFilter(field, "$options", "".join(letters))
        return self

    def contains(self, field: str, values: Any) -> Self:
        """The field (or an element of it) is one of ``values`` (``$in``)."""
        return self.addFilter(field, "$in", list(values) if isinstance(values, list | tuple) else [values])

    def containsAll(self, field: str, values: Any) -> Self:
        return self.addFilter(field, "$all", list(values) if isinstance(values, list | tuple) else [values])

    def notContainedIn(self, field: str, values: Any) -> Self:
        return self.addFilter(field, "$nin", list(values) if isinstance(values, list | tuple) else [values])

    def size(self, field: str, size: Any) -> Self:
        value = _parse_float(size)
        if not _is_number(value):
            raise QueryError("size must be a number")
        return self.addFilter(field, "$size", _json_number(value))

    def near(self, field: str, coord: Any, max_distance: Any = None) -> Self:
        """Within ``max_distance`` miles of ``[longitude, latitude]`` (``$nearSphere``, ``$maxDistance``)."""
        if not isinstance(coord, list | tuple) or len(coord) < 2 or not all(_is_number(c) for c in coord[:2]):
            raise QueryError("coord must be a [number, number]")
        self.addFilter(field, "$nearSphere", [coord[0], coord[1]])
        if max_distance:
            self.addFilter(field, "$maxDistance", max_distance)
        return self

    def withinBox(self, field: str, bottom_left_coord: Any, upper_right_coord: Any) -> Self:
        """Inside the box ``[[lng, lat] bottom left, [lng, lat] upper right]`` (``$geoWithin.$box``)."""
        box = [_pair(bottom_left_coord, "bottomLeftCoord"), _pair(upper_right_coord, "upperRightCoord")]
        return self.addFilter(field, "$geoWithin", {"$box": box})

    def withinPolygon(self, field: str, coords: Any) -> Self:
        """Inside the polygon of ``coords`` (``$geoWithin.$polygon``); at most 3 points, as in Node."""
        if not isinstance(coords, list | tuple) or len(coords) == 0 or len(coords) > 3:
            raise QueryError("coords must be [[number, number]]")
        polygon = [_pair(coord, "coords argument") for coord in coords]
        return self.addFilter(field, "$geoWithin", {"$polygon": polygon})

    # -- joins --------------------------------------------------------------------------------

    def and_(self, *queries: Any) -> Query:
        """AND this query with ``queries``; with none, return a new query joined by AND to chain on."""
        return self._join("$and", queries)

    def nor(self, *queries: Any) -> Query:
        if self._parent is not None and "$and" in self._parent.filter:
            return self._parent.nor(*queries)
        return self._join("$nor", queries)

    def or_(self, *queries: Any) -> Query:
        if self._parent is not None:
            return self._parent.or_(*queries)
        return self._join("$or", queries)

    def _join(self, operator: str, queries: tuple[Any, ...]) -> Query:
        mapped: list[dict[str, Any]] = []
        for query in queries:
            if isinstance(query, Query):
                mapped.append(query.toJSON()["filter"])
            elif isinstance(query, dict):
                # An options object ({"filter": ...}) as in the Node SDK, or else a bare filter.
                options = query if _OPTION_KEYS & query.keys() else {"filter": query}
                mapped.append(Query(options).toJSON()["filter"])
            else:
                raise QueryError("query argument must be of type: Kinvey.Query[] or Object[].")
        that: Query = self
        if not mapped:
            that = Query()
            mapped = [that.filter]
            that._parent = self
        current = dict(self.filter)
        self.filter.clear()
        self.filter[operator] = [current, *mapped]
        return that

    # -- output -------------------------------------------------------------------------------

    def toPlainObject(self) -> dict[str, Any]:
        if self._parent is not None:
            return self._parent.toPlainObject()
        return {
            "fields": self._fields,
            "filter": self.filter,
            "sort": self._sort,
            "skip": self._skip,
            "limit": self._limit,
        }

    def toJSON(self) -> dict[str, Any]:
        return self.toPlainObject()

    def toQueryString(self) -> dict[str, str]:
        """The Kinvey query parameters: ``query``, ``fields``, ``limit``, ``skip``, ``sort`` (as strings)."""
        root = self._parent.toPlainObject() if self._parent is not None else self.toPlainObject()
        params: dict[str, Any] = {}
        if root["filter"]:
            params["query"] = root["filter"]
        if root["fields"]:
            params["fields"] = ",".join(root["fields"])
        if root["limit"]:
            params["limit"] = root["limit"]
        if root["skip"] > 0:
            params["skip"] = root["skip"]
        if root["sort"]:
            params["sort"] = root["sort"]
        return {k: v if isinstance(v, str) else dumps(v).decode() for k, v in params.items()}

    def __str__(self) -> str:
        return dumps(self.toQueryString()).decode()

    toString = __str__
    to_json = toJSON
    to_plain_object = toPlainObject
    to_query_string = toQueryString
    add_filter = addFilter
    equal_to = equalTo
    not_equal_to = notEqualTo
    greater_than = greaterThan
    greater_than_or_equal_to = greaterThanOrEqualTo
    less_than = lessThan
    less_than_or_equal_to = lessThanOrEqualTo
    contains_all = containsAll
    not_contained_in = notContainedIn
    within_box = withinBox
    within_polygon = withinPolygon


_OPTION_KEYS = {"filter", "fields", "sort", "limit", "skip"}
_CAMEL = {"ignore_case": "ignoreCase", "dot_matches_all": "dotMatchesAll"}
