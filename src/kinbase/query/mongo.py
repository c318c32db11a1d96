"""Kinvey's MongoDB-style queries (``?query=``, ``sort``, ``fields``, ``limit``, ``skip``) to the AST.

Every refusal is an :class:`~kinbase.errors.InvalidQuery` whose message names the operator or
the field at fault.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import orjson

from kinbase.errors import InvalidQuery
from kinbase.numerals import uint
from kinbase.query.ast import (
    All,
    Const,
    ElemMatch,
    Eq,
    Exists,
    In,
    Mod,
    Node,
    Nor,
    Not,
    Or,
    Query,
    Range,
    RangeOp,
    Regex,
    Size,
    SortKey,
    TypeIs,
    simplify_and,
)
from kinbase.query.mongo_geo import EARTH_RADIUS_MILES, GeoParsing
from kinbase.query.paths import parse_path
from kinbase.query.regex import translate
from kinbase.query.values import INT64_MAX, INT64_MIN, is_number, unsafe_nested_number
from kinbase.types import JSONValue, Path

__all__ = [
    "EARTH_RADIUS_MILES",
    "MAX_CLAUSES",
    "MAX_DEPTH",
    "parse_fields",
    "parse_filter",
    "parse_query",
    "parse_sort",
]

MAX_DEPTH: Final = 100
"""Deepest accepted nesting of logical operators, ``$not`` and ``$elemMatch`` (and of operand
values)."""

MAX_LIST: Final = 10_000
"""Most values in one ``$in``, ``$nin`` or ``$all``."""

MAX_CLAUSES: Final = 500
"""Most conditions in one filter (each field condition and each operator counts one). SQLite
refuses an expression nested 1,000 deep, which a ``$and`` of ~990 conditions reaches; 500 leaves
room for the access filter and nesting. Lists of values belong in ``$in`` (up to :data:`MAX_LIST`)."""


_TYPE_NAMES: Final = {
    "double": "double",
    "string": "string",
    "object": "object",
    "array": "array",
    "bool": "bool",
    "null": "null",
    "int": "int",
    "long": "long",
    "number": "number",
    1: "double",
    2: "string",
    3: "object",
    4: "array",
    8: "bool",
    10: "null",
    16: "int",
    18: "long",
}

_REFUSED: Final = frozenset(
    {"$where", "$text", "$query", "$expr", "$jsonSchema", "$function", "$accumulator"}
)

_RANGE_OPS: Final[dict[str, RangeOp]] = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}


def _integral(value: Any, what: str) -> int:
    if is_number(value) and (isinstance(value, int) or value.is_integer()):
        result = int(value)
        if INT64_MIN <= result <= INT64_MAX:
            return result
    raise InvalidQuery(f"Invalid {what}: expected an integer, got {_show(value)}.")


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode() if _dumpable(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _dumpable(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


class _Parser(GeoParsing):
    def __init__(self, require_anchor: bool, sphere_radius: float | None) -> None:
        self.require_anchor = require_anchor
        self.sphere_radius = sphere_radius
        self.near_seen = False
        self.clauses = 0

    def clause(self, count: int = 1) -> None:
        """Count conditions; refuse past :data:`MAX_CLAUSES`."""
        self.clauses += count
        if self.clauses > MAX_CLAUSES:
            raise InvalidQuery(f"Invalid query: more than {MAX_CLAUSES} conditions.")

    # -- values --------------------------------------------------------------------------

    def value(self, value: Any, where: str, depth: int = 0) -> JSONValue:
        """A literal operand, checked to be storable and comparable in every engine."""
        if depth > MAX_DEPTH:
            raise InvalidQuery(f"Invalid value for {where}: nested too deeply.")
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                raise InvalidQuery(f"Invalid value for {where}: integer {value} is out of the 64-bit range.")
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidQuery(f"Invalid value for {where}: numbers must be finite.")
            return value
        if isinstance(value, str):
            if "\x00" in value:
                raise InvalidQuery(f"Invalid value for {where}: strings cannot contain NUL.")
            return value
        if isinstance(value, list | tuple):
            if depth == 0 and unsafe_nested_number(list(value)):
                raise InvalidQuery(
                    f"Invalid value for {where}: numbers inside arrays must be below 2**53 in magnitude."
                )
            return [self.value(v, where, depth + 1) for v in value]
        if isinstance(value, dict):
            if depth == 0 and unsafe_nested_number(value):
                raise InvalidQuery(
                    f"Invalid value for {where}: numbers inside objects must be below 2**53 in magnitude."
                )
            out: dict[str, JSONValue] = {}
            for k, v in value.items():
                if not isinstance(k, str) or "\x00" in k:
                    raise InvalidQuery(f"Invalid value for {where}: bad object key.")
                out[k] = self.value(v, where, depth + 1)
            return out
        raise InvalidQuery(f"Invalid value for {where}: {type(value).__name__} is not JSON.")

    def values(self, value: Any, op: str, field: str) -> tuple[JSONValue, ...]:
        if not isinstance(value, list):
            raise InvalidQuery(f"Invalid {op} for {field!r}: expected an array, got {_show(value)}.")
        if len(value) > MAX_LIST:
            raise InvalidQuery(f"Invalid {op} for {field!r}: more than {MAX_LIST} values.")
        return tuple(self.value(v, f"{op} of {field!r}") for v in value)

    # -- filters -------------------------------------------------------------------------

    def filter(self, obj: Any, depth: int, conjunctive: bool) -> Node:
        if not isinstance(obj, dict):
            raise InvalidQuery(f"Invalid query: expected a JSON object, got {_show(obj)}.")
        if depth > MAX_DEPTH:
            raise InvalidQuery(f"Invalid query: nested deeper than {MAX_DEPTH} levels.")
        children: list[Node] = []
        for key, value in obj.items():
            if not isinstance(key, str):
                raise InvalidQuery("Invalid query: keys must be strings.")
            if key.startswith("$"):
                children.append(self.logical(key, value, depth, conjunctive))
            else:
                children.append(self.field(parse_path(key), key, value, depth, conjunctive))
        return simplify_and(children)

    def logical(self, op: str, value: Any, depth: int, conjunctive: bool) -> Node:
        if op not in ("$and", "$or", "$nor"):
            if op in _REFUSED:
                raise InvalidQuery(f"The {op} operator is not supported.")
            if op == "$not":
                raise InvalidQuery("Invalid query: $not must be applied to a field, not the whole query.")
            raise InvalidQuery(f"Unknown top-level operator {op}.")
        if not isinstance(value, list) or not value:
            raise InvalidQuery(f"Invalid {op}: expected a non-empty array of queries.")
        children = [self.filter(v, depth + 1, conjunctive and op == "$and") for v in value]
        if op == "$and":
            return simplify_and(children)
        if op == "$or":
            return Or(tuple(children))
        return Nor(tuple(children))

    def field(self, path: Path, name: str, value: Any, depth: int, conjunctive: bool) -> Node:
        if isinstance(value, dict) and any(isinstance(k, str) and k.startswith("$") for k in value):
            if not all(isinstance(k, str) and k.startswith("$") for k in value):
                raise InvalidQuery(f"Invalid query for {name!r}: cannot mix operators and field names.")
            return self.operators(path, name, value, depth, conjunctive)
        self.clause()
        return Eq(path, self.value(value, repr(name)))

    def operators(self, path: Path, name: str, ops: dict[str, Any], depth: int, conjunctive: bool) -> Node:
        if depth > MAX_DEPTH:
            raise InvalidQuery(f"Invalid query for {name!r}: nested deeper than {MAX_DEPTH} levels.")
        self.clause(len(ops))
        children: list[Node] = []
        if "$options" in ops and "$regex" not in ops:
            raise InvalidQuery(f"Invalid query for {name!r}: $options needs $regex.")
        if "$maxDistance" in ops and "$near" not in ops and "$nearSphere" not in ops:
            raise InvalidQuery(f"Invalid query for {name!r}: $maxDistance needs $near or $nearSphere.")
        for op, arg in ops.items():
            if op == "$eq":
                children.append(Eq(path, self.value(arg, f"$eq of {name!r}")))
            elif op == "$ne":
                children.append(Not(Eq(path, self.value(arg, f"$ne of {name!r}"))))
            elif op in _RANGE_OPS:
                children.append(self.range(path, name, op, arg))
            elif op == "$in":
                children.append(In(path, self.values(arg, op, name)))
            elif op == "$nin":
                children.append(Not(In(path, self.values(arg, op, name))))
            elif op == "$exists":
                if isinstance(arg, bool):
                    children.append(Exists(path, arg))
                elif is_number(arg):
                    children.append(Exists(path, arg != 0))
                else:
                    raise InvalidQuery(f"Invalid $exists for {name!r}: expected true or false.")
            elif op == "$type":
                children.append(TypeIs(path, self.types(arg, name)))
            elif op == "$regex":
                children.append(self.regex(path, name, arg, ops.get("$options", "")))
            elif op in ("$options", "$maxDistance"):
                continue
            elif op == "$not":
                if not isinstance(arg, dict) or not arg:
                    raise InvalidQuery(f"Invalid $not for {name!r}: expected an operator object or a $regex.")
                if not all(isinstance(k, str) and k.startswith("$") for k in arg):
                    raise InvalidQuery(f"Invalid $not for {name!r}: it takes operators, not field names.")
                children.append(Not(self.operators(path, name, arg, depth + 1, False)))
            elif op == "$all":
                children.append(self.all(path, name, arg, depth))
            elif op == "$size":
                size = _integral(arg, f"$size for {name!r}")
                if size < 0:
                    raise InvalidQuery(f"Invalid $size for {name!r}: it cannot be negative.")
                children.append(Size(path, size))
            elif op == "$elemMatch":
                children.append(self.elem_match(path, name, arg, depth))
            elif op == "$mod":
                children.append(self.mod(path, name, arg))
            elif op in ("$near", "$nearSphere"):
                children.append(self.near(path, name, op, arg, ops.get("$maxDistance"), conjunctive))
            elif op in ("$geoWithin", "$within"):
                children.append(self.within(path, name, op, arg))
            elif op in _REFUSED:
                raise InvalidQuery(f"The {op} operator is not supported.")
            else:
                raise InvalidQuery(f"Unknown operator {op} for {name!r}.")
        return simplify_and(children)

    def range(self, path: Path, name: str, op: str, arg: Any) -> Node:
        if arg is None:
            return Eq(path, None) if op in ("$gte", "$lte") else Const(False)
        if isinstance(arg, list | dict):
            raise InvalidQuery(
                f"Invalid {op} for {name!r}: compare with a number, a string, a boolean or null."
            )
        return Range(path, _RANGE_OPS[op], self.value(arg, f"{op} of {name!r}"))

    def types(self, arg: Any, name: str) -> frozenset[str]:
        items = arg if isinstance(arg, list) else [arg]
        if not items:
            raise InvalidQuery(f"Invalid $type for {name!r}: no type given.")
        out: set[str] = set()
        for item in items:
            key = int(item) if is_number(item) and float(item).is_integer() else item
            if isinstance(key, bool) or not isinstance(key, str | int) or key not in _TYPE_NAMES:
                raise InvalidQuery(f"Invalid $type for {name!r}: unsupported type {_show(item)}.")
            out.add(_TYPE_NAMES[key])
        return frozenset(out)

    def regex(self, path: Path, name: str, pattern: Any, options: Any) -> Node:
        if not isinstance(pattern, str):
            raise InvalidQuery(f"Invalid $regex for {name!r}: the pattern must be a string.")
        if not isinstance(options, str):
            raise InvalidQuery(f"Invalid $options for {name!r}: expected a string of flags.")
        flags = "".join(sorted(set(options)))
        program = translate(pattern, flags)
        if self.require_anchor and not program.anchored:
            raise InvalidQuery(f"Invalid $regex for {name!r}: the pattern must be anchored with '^'.")
        return Regex(path, pattern, flags)

    def all(self, path: Path, name: str, arg: Any, depth: int) -> Node:
        if not isinstance(arg, list):
            raise InvalidQuery(f"Invalid $all for {name!r}: expected an array, got {_show(arg)}.")
        if arg and all(isinstance(v, dict) and "$elemMatch" in v for v in arg):
            if not all(len(v) == 1 for v in arg):
                raise InvalidQuery(f"Invalid $all for {name!r}: $elemMatch entries take no other keys.")
            return simplify_and([self.elem_match(path, name, v["$elemMatch"], depth) for v in arg])
        return All(path, self.values(arg, "$all", name))

    def elem_match(self, path: Path, name: str, arg: Any, depth: int) -> Node:
        if not isinstance(arg, dict):
            raise InvalidQuery(f"Invalid $elemMatch for {name!r}: expected an object.")
        keys = [k for k in arg if isinstance(k, str)]
        on_value = bool(keys) and all(k.startswith("$") and k not in ("$and", "$or", "$nor") for k in keys)
        if on_value:
            condition = self.operators((), name, arg, depth + 1, False)
        else:
            condition = self.filter(arg, depth + 1, False)
        return ElemMatch(path, condition, on_value)

    def mod(self, path: Path, name: str, arg: Any) -> Node:
        if not isinstance(arg, list) or len(arg) != 2:
            raise InvalidQuery(f"Invalid $mod for {name!r}: expected [divisor, remainder].")
        divisor = _integral(arg[0], f"$mod divisor for {name!r}")
        remainder = _integral(arg[1], f"$mod remainder for {name!r}")
        if divisor == 0:
            raise InvalidQuery(f"Invalid $mod for {name!r}: the divisor cannot be 0.")
        return Mod(path, divisor, remainder)


def parse_filter(obj: Any, *, require_anchor: bool = True, sphere_radius: float | None = None) -> Node:
    """Parse a decoded Kinvey ``query`` object.

    Args:
        obj: the decoded JSON filter.
        require_anchor: refuse ``$regex`` patterns whose alternatives do not all start with ``^``
            (Kinvey's rule).
        sphere_radius: when set, the ``$maxDistance`` of ``$nearSphere`` is a length on a sphere
            of this radius (Kinvey: miles, :data:`EARTH_RADIUS_MILES`) instead of an angle in
            radians (MongoDB). ``$centerSphere`` radii stay in radians either way.

    Raises:
        InvalidQuery: for anything outside the supported language.
    """
    return _Parser(require_anchor, sphere_radius).filter(obj, 0, True)


def _direction(value: Any, field: str) -> bool:
    """True for descending."""
    if isinstance(value, bool):
        raise InvalidQuery(f"Invalid sort direction for {field!r}: expected 1 or -1.")
    if value in (1, "1", "asc", "ascending"):
        return False
    if value in (-1, "-1", "desc", "descending"):
        return True
    raise InvalidQuery(f"Invalid sort direction for {field!r}: expected 1 or -1.")


def parse_sort(value: str | Mapping[str, Any]) -> tuple[SortKey, ...]:
    """Parse Kinvey's ``sort``: a JSON object ``{"age": 1, "name": -1}`` (as text or decoded), or
    field names separated by commas, each optionally prefixed with ``-`` for descending.

    Raises:
        InvalidQuery: for bad JSON, a bad direction, a bad or repeated field.
    """
    items: list[tuple[str, bool]] = []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                decoded = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise InvalidQuery(f"Invalid sort: not valid JSON ({exc}).") from exc
            return parse_sort(decoded)
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            descending = part.startswith("-")
            items.append((part[1:] if part[0] in "+-" else part, descending))
    elif isinstance(value, Mapping):
        items = [(str(k), _direction(v, str(k))) for k, v in value.items()]
    else:
        raise InvalidQuery("Invalid sort: expected a JSON object or field names.")
    keys: list[SortKey] = []
    seen: set[Path] = set()
    for field, descending in items:
        path = parse_path(field)
        if path in seen:
            raise InvalidQuery(f"Invalid sort: {field!r} appears twice.")
        seen.add(path)
        keys.append(SortKey(path, descending))
    return tuple(keys)


def parse_fields(value: str) -> tuple[Path, ...]:
    """Parse ``fields=a,b.c`` (empty parts are ignored).

    Raises:
        InvalidQuery: for an invalid field name.
    """
    return tuple(parse_path(part.strip()) for part in value.split(",") if part.strip())


def _count(params: Mapping[str, str], name: str) -> int | None:
    text = params.get(name)
    if text is None:
        return None
    text = text.strip()
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        text = text[1:-1]
    result = uint(text)
    if result is None:
        raise InvalidQuery(f"Invalid {name}: expected a non-negative integer, got {text[:40]!r}.")
    if result > INT64_MAX:
        raise InvalidQuery(f"Invalid {name}: too large.")
    return result


def parse_query(
    params: Mapping[str, str], *, require_anchor: bool = True, sphere_radius: float | None = None
) -> Query:
    """Parse the ``query``, ``sort``, ``fields``, ``limit`` and ``skip`` parameters of a Kinvey
    read (other parameters are ignored).

    Raises:
        InvalidQuery: if any of them is invalid (including ``query`` that is not JSON).
    """
    filter_: Node | None = None
    text = params.get("query")
    if text is not None and text.strip():
        try:
            decoded = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InvalidQuery(f"Invalid query: not valid JSON ({exc}).") from exc
        node = parse_filter(decoded, require_anchor=require_anchor, sphere_radius=sphere_radius)
        filter_ = None if node == Const(True) else node
    sort = parse_sort(params["sort"]) if params.get("sort") else ()
    fields = parse_fields(params["fields"]) if params.get("fields") is not None else None
    limit = _count(params, "limit")
    skip = _count(params, "skip") or 0
    return Query(filter=filter_, sort=sort, skip=skip, limit=limit, fields=fields)
