"""The reference evaluator: what every node means, in plain Python.

The SQL compilers must return exactly what :func:`find` returns (the differential tests hold them
to it). ``docs/query-language.md`` describes the same rules in prose.

Path walk (MongoDB nodes): from a value and the remaining segments,

* no segment left: the value is a *terminal*;
* an object: follow the key, or yield MISSING if it is absent;
* an array: for every element, follow the key if the element is an object that has it, else yield
  MISSING; an empty array yields MISSING; a canonical integer segment in range *also* follows that
  position (the element found there is walked like any value, so it may be an array again);
* anything else (a scalar, MISSING): MISSING.

Elements of an array reached while traversing an array are therefore never traversed by name
(nested arrays are not flattened). The *candidates* of a path are its non-MISSING terminals plus
the elements of the terminals that are arrays.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

from kinbase.query import geo
from kinbase.query.ast import (
    MISSING,
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
    KintoCompare,
    KintoContains,
    KintoHas,
    KintoLike,
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
from kinbase.query.paths import positional_index
from kinbase.query.regex import RegexProgram, like_program, matcher, translate
from kinbase.query.values import (
    K_NUMBER,
    R_ARRAY,
    R_BOOL,
    R_EMPTY,
    R_NULL,
    R_NUMBER,
    R_OBJECT,
    R_STRING,
    TWO_63,
    is_number,
    json_equal,
    kind,
    kinto_rank,
    number_class,
)
from kinbase.types import Document, JSONValue, Path

__all__ = [
    "candidates",
    "find",
    "kinto_compare",
    "kinto_value",
    "matches",
    "sort_docs",
    "sort_key",
    "walk",
]


SortValue = tuple[int, int | float, str]
"""A sort key component: (rank, number, string); unused parts are 0 and ''."""


# -- walking ---------------------------------------------------------------------------------


def walk(value: object, path: Path) -> list[object]:
    """The terminals of ``path`` from ``value`` (MongoDB rules, MISSING included)."""
    out: list[object] = []
    _walk(value, path, 0, out)
    return out


def _walk(value: object, path: Path, i: int, out: list[object]) -> None:
    if i == len(path):
        out.append(value)
        return
    segment = path[i]
    if isinstance(value, list):
        if not value:
            out.append(MISSING)
            return
        for element in value:
            if isinstance(element, dict) and segment in element:
                _walk(element[segment], path, i + 1, out)
            else:
                out.append(MISSING)
        position = positional_index(segment)
        if position is not None and position < len(value):
            _walk(value[position], path, i + 1, out)
    elif isinstance(value, dict):
        if segment in value:
            _walk(value[segment], path, i + 1, out)
        else:
            out.append(MISSING)
    else:
        out.append(MISSING)


def candidates(terminals: Sequence[object]) -> list[JSONValue]:
    """Non-MISSING terminals, plus the elements of those that are arrays."""
    out: list[JSONValue] = []
    for t in terminals:
        if t is MISSING:
            continue
        out.append(t)  # type: ignore[arg-type]
        if isinstance(t, list):
            out.extend(t)
    return out


def kinto_value(value: object, path: Path) -> object:
    """Kinto's lookup: object keys only, MISSING as soon as a step is not an object with the key."""
    for segment in path:
        if isinstance(value, dict) and segment in value:
            value = value[segment]
        else:
            return MISSING
    return value


# -- matching --------------------------------------------------------------------------------


def _regex(pattern: str, flags: str) -> Callable[[str], bool]:
    program: RegexProgram = translate(pattern, flags)
    return matcher(program.re2)


def _like(pattern: str) -> Callable[[str], bool]:
    return matcher(like_program(pattern).re2)


def _type_matches(value: JSONValue, types: frozenset[str]) -> bool:
    k = kind(value)
    if k == "number":
        if "number" in types:
            return True
        assert isinstance(value, int | float)
        return number_class(value) in types
    return k in types


def _c_remainder(value: int, divisor: int) -> int:
    r = abs(value) % abs(divisor)
    return -r if value < 0 else r


def _mod_matches(value: JSONValue, divisor: int, remainder: int) -> bool:
    if not is_number(value):
        return False
    assert isinstance(value, int | float)
    f = float(value)
    if not -TWO_63 < f < TWO_63:
        return False
    return _c_remainder(math.trunc(f), divisor) == remainder


def _range_matches(value: JSONValue, op: str, operand: JSONValue) -> bool:
    if is_number(operand):
        if not is_number(value):
            return False
    elif isinstance(operand, str):
        if not isinstance(value, str):
            return False
    elif isinstance(operand, bool):
        if not isinstance(value, bool):
            return False
    else:
        return False
    a, b = value, operand
    if is_number(a):
        a, b = float(a), float(b)  # type: ignore[arg-type]
    if op == "gt":
        return a > b  # type: ignore[operator]
    if op == "gte":
        return a >= b  # type: ignore[operator]
    if op == "lt":
        return a < b  # type: ignore[operator]
    return a <= b  # type: ignore[operator]


def _point_in(value: JSONValue, test: Callable[[float, float], bool]) -> bool:
    if not geo.is_point(value):
        return False
    assert isinstance(value, list)
    return test(float(value[0]), float(value[1]))  # type: ignore[arg-type]


def _within(shape: GeoBox | GeoPolygon | GeoCenter | GeoCenterSphere) -> Callable[[float, float], bool]:
    if isinstance(shape, GeoBox):
        return lambda x, y: geo.in_box(x, y, shape)
    if isinstance(shape, GeoPolygon):
        edges = geo.polygon_edges(shape)
        return lambda x, y: geo.in_polygon(x, y, edges)
    if isinstance(shape, GeoCenter):
        return lambda x, y: geo.in_center(x, y, shape)
    return lambda x, y: geo.within_sphere(x, y, shape)


def _near(node: GeoNear) -> Callable[[float, float], bool]:
    limit = geo.near_limit(node)
    if limit is None:
        return lambda x, y: True
    return lambda x, y: geo.near_measure(node, x, y) <= limit


def kinto_compare(value: object, operand: JSONValue) -> int:
    """-1, 0 or 1: ``value`` against ``operand`` in Kinto's cross-type order (arrays compare equal
    to arrays, objects to objects; MISSING is above everything)."""
    ra, rb = kinto_rank(value), kinto_rank(operand)
    if ra != rb:
        return -1 if ra < rb else 1
    if isinstance(value, bool | int | float | str):
        assert isinstance(operand, bool | int | float | str)
        if rb == K_NUMBER:
            value, operand = float(value), float(operand)
        if value < operand:  # type: ignore[operator]
            return -1
        if value > operand:  # type: ignore[operator]
            return 1
    return 0


def _kinto_matches(node: KintoCompare, value: object) -> bool:
    op, operand = node.op, node.value
    if op in ("eq", "not"):
        hit = value is not MISSING and json_equal(value, operand)  # type: ignore[arg-type]
        return hit if op == "eq" else not hit
    if op in ("in", "exclude"):
        assert isinstance(operand, list | tuple)
        hit = value is not MISSING and any(json_equal(value, v) for v in operand)  # type: ignore[arg-type]
        return hit if op == "in" else not hit
    c = kinto_compare(value, operand)
    if op == "lt":
        return c < 0
    if op == "gt":
        return c > 0
    if op == "min":
        return c >= 0
    return c <= 0  # max


def matches(node: Node | None, doc: JSONValue) -> bool:
    """Whether ``doc`` satisfies ``node`` (None matches everything)."""
    if node is None:
        return True
    return _match(node, doc)


def _match(node: Node, root: JSONValue) -> bool:
    if isinstance(node, And):
        return all(_match(c, root) for c in node.children)
    if isinstance(node, Or):
        return any(_match(c, root) for c in node.children)
    if isinstance(node, Nor):
        return not any(_match(c, root) for c in node.children)
    if isinstance(node, Not):
        return not _match(node.child, root)
    if isinstance(node, Const):
        return node.value
    if isinstance(node, KintoCompare | KintoLike | KintoHas | KintoContains):
        return _match_kinto(node, kinto_value(root, node.path))

    terminals = walk(root, node.path)  # type: ignore[attr-defined]
    if isinstance(node, Eq):
        if node.value is None and any(t is MISSING for t in terminals):
            return True
        return any(json_equal(c, node.value) for c in candidates(terminals))
    if isinstance(node, In):
        return any(_match(Eq(node.path, v), root) for v in node.values)
    if isinstance(node, All):
        return bool(node.values) and all(_match(Eq(node.path, v), root) for v in node.values)
    if isinstance(node, Range):
        if node.value is None:
            return node.op in ("gte", "lte") and _match(Eq(node.path, None), root)
        return any(_range_matches(c, node.op, node.value) for c in candidates(terminals))
    if isinstance(node, Exists):
        return any(t is not MISSING for t in terminals) == node.present
    if isinstance(node, TypeIs):
        return any(_type_matches(c, node.types) for c in candidates(terminals))
    if isinstance(node, Regex):
        rx = _regex(node.pattern, node.flags)
        return any(isinstance(c, str) and rx(c) for c in candidates(terminals))
    if isinstance(node, Size):
        return any(isinstance(t, list) and len(t) == node.size for t in terminals)
    if isinstance(node, ElemMatch):
        for t in terminals:
            if isinstance(t, list):
                for element in t:
                    if node.on_value:
                        if _match(node.condition, element):
                            return True
                    elif isinstance(element, dict) and _match(node.condition, element):
                        return True
        return False
    if isinstance(node, Mod):
        return any(_mod_matches(c, node.divisor, node.remainder) for c in candidates(terminals))
    if isinstance(node, GeoWithin):
        test = _within(node.shape)
        return any(_point_in(c, test) for c in candidates(terminals))
    if isinstance(node, GeoNear):
        test = _near(node)
        return any(_point_in(c, test) for c in candidates(terminals))
    raise TypeError(f"unknown query node {node!r}")


def _match_kinto(node: Node, value: object) -> bool:
    if isinstance(node, KintoCompare):
        return _kinto_matches(node, value)
    if isinstance(node, KintoLike):
        return isinstance(value, str) and _like(node.pattern)(value)
    if isinstance(node, KintoHas):
        return (value is not MISSING) == node.present
    assert isinstance(node, KintoContains)
    if not isinstance(value, list):
        return False
    found = (any(json_equal(e, v) for e in value) for v in node.values)
    return any(found) if node.any_ else all(found)


# -- ordering --------------------------------------------------------------------------------


def _scalar_key(value: object) -> SortValue:
    if value is None or value is MISSING:
        return (R_NULL, 0, "")
    if isinstance(value, bool):
        return (R_BOOL, int(value), "")
    if isinstance(value, int | float):
        return (R_NUMBER, float(value), "")
    if isinstance(value, str):
        return (R_STRING, 0, value)
    if isinstance(value, list):
        return (R_ARRAY, 0, "")
    return (R_OBJECT, 0, "")


def _mongo_key(doc: JSONValue, key: SortKey) -> SortValue:
    values: list[SortValue] = []
    for t in walk(doc, key.path):
        if isinstance(t, list):
            if not t:
                values.append((R_EMPTY, 0, ""))
            else:
                values.extend(_scalar_key(e) for e in t)
        else:
            values.append(_scalar_key(t))
    return max(values) if key.descending else min(values)


def _kinto_key(doc: JSONValue, key: SortKey) -> SortValue:
    value = kinto_value(doc, key.path)
    rank = kinto_rank(value)
    if isinstance(value, bool):
        return (rank, int(value), "")
    if isinstance(value, int | float):
        return (rank, float(value), "")
    if isinstance(value, str):
        return (rank, 0, value)
    return (rank, 0, "")


def sort_key(doc: JSONValue, keys: Sequence[SortKey]) -> tuple[SortValue, ...]:
    """The key of ``doc`` for each sort key (compare each component in its key's direction)."""
    return tuple(_kinto_key(doc, k) if k.collation == "kinto" else _mongo_key(doc, k) for k in keys)


def _cmp(a: object, b: object) -> int:
    return int((a > b) - (a < b))  # type: ignore[operator]


def sort_docs(docs: Sequence[JSONValue], keys: Sequence[SortKey]) -> list[int]:
    """Indices of ``docs`` in the order of ``keys``; ties keep list order (the insertion order,
    like ``o.oid``) in the direction of the first key."""
    if not keys:
        return list(range(len(docs)))
    computed = [sort_key(d, keys) for d in docs]
    tie_desc = keys[0].descending

    def compare(i: int, j: int) -> int:
        for k, key in enumerate(keys):
            c = _cmp(computed[i][k], computed[j][k])
            if c:
                return -c if key.descending else c
        return _cmp(j, i) if tie_desc else _cmp(i, j)

    return sorted(range(len(docs)), key=functools.cmp_to_key(compare))


def _near_distance(doc: JSONValue, node: GeoNear) -> float:
    best = math.inf
    for c in candidates(walk(doc, node.path)):
        if geo.is_point(c):
            assert isinstance(c, list)
            best = min(best, geo.near_measure(node, float(c[0]), float(c[1])))  # type: ignore[arg-type]
    return best


def find(query: Query, docs: Sequence[Document]) -> list[int]:
    """Indices (insertion order = list order) of the documents ``query`` returns, in its order,
    after skip and limit."""
    selected = [i for i, d in enumerate(docs) if matches(query.filter, d)]
    near = geo.find_geo_near(query.filter)
    if query.sort:
        order = sort_docs([docs[i] for i in selected], query.sort)
        selected = [selected[k] for k in order]
    elif near is not None:
        selected.sort(key=lambda i: (_near_distance(docs[i], near), i))
    end = None if query.limit is None else query.skip + query.limit
    return selected[query.skip : end]
