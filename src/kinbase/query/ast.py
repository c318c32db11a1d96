"""The protocol-neutral query AST.

Kinvey's MongoDB-style JSON filters (:mod:`kinbase.query.mongo`) and Kinto's querystring filters
parse into these nodes. :mod:`kinbase.query.evaluate` gives them their meaning over decoded
documents; :mod:`kinbase.query.sql` compiles them to parameterised SQL for SQLite and PostgreSQL,
and the differential tests hold the three to the same answers. The exact semantics (array
traversal, missing versus null, type brackets, sort order across types) are written down in
``docs/query-language.md``.

Field nodes address a :data:`~kinbase.types.Path`. Every node is an immutable, hashable value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from kinbase.types import JSONValue, Path


class _Missing:
    """The marker of an absent value (a path that leads nowhere). Falsy, unique, immutable."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()
"""Stands for "no value here": a terminal of a path walk that found nothing, or a keyset position
on a record that lacks the sort field."""

__all__ = [
    "MISSING",
    "All",
    "And",
    "Const",
    "ElemMatch",
    "Eq",
    "Exists",
    "GeoBox",
    "GeoCenter",
    "GeoCenterSphere",
    "GeoNear",
    "GeoPolygon",
    "GeoWithin",
    "In",
    "IndexDef",
    "KintoCompare",
    "KintoContains",
    "KintoHas",
    "KintoLike",
    "Mod",
    "Node",
    "Nor",
    "Not",
    "Or",
    "Query",
    "Range",
    "Regex",
    "Size",
    "SortKey",
    "TypeIs",
    "simplify_and",
]


class Node:
    """Base of every filter node."""

    __slots__ = ()


# -- logic -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const(Node):
    """Matches every document (True) or none (False)."""

    value: bool


@dataclass(frozen=True, slots=True)
class And(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Nor(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not(Node):
    """Logical negation. MongoDB's ``$ne``, ``$nin`` and ``$not`` are ``Not`` around the positive node,
    so a document without the field matches them."""

    child: Node


# -- MongoDB field conditions (a condition holds if ANY candidate value of the path satisfies it) ---


@dataclass(frozen=True, slots=True)
class Eq(Node):
    """Some candidate equals ``value`` (JSON equality; ``null`` also matches a missing field)."""

    path: Path
    value: JSONValue


@dataclass(frozen=True, slots=True)
class In(Node):
    """Some candidate equals one of ``values``."""

    path: Path
    values: tuple[JSONValue, ...]


RangeOp: TypeAlias = Literal["gt", "gte", "lt", "lte"]


@dataclass(frozen=True, slots=True)
class Range(Node):
    """Some candidate of the same type bracket as ``value`` compares ``op`` to it."""

    path: Path
    op: RangeOp
    value: JSONValue


@dataclass(frozen=True, slots=True)
class Exists(Node):
    path: Path
    present: bool


@dataclass(frozen=True, slots=True)
class TypeIs(Node):
    """Some candidate has one of ``types`` (names: double, int, long, number, string, object, array,
    bool, null)."""

    path: Path
    types: frozenset[str]


@dataclass(frozen=True, slots=True)
class Regex(Node):
    """Some string candidate matches ``pattern`` (searched, so anchors matter). ``flags`` is a subset
    of ``"imsx"``."""

    path: Path
    pattern: str
    flags: str = ""


@dataclass(frozen=True, slots=True)
class Size(Node):
    """Some terminal value is an array of exactly ``size`` elements."""

    path: Path
    size: int


@dataclass(frozen=True, slots=True)
class All(Node):
    """Every one of ``values`` is matched by some candidate (MongoDB ``$all``)."""

    path: Path
    values: tuple[JSONValue, ...]


@dataclass(frozen=True, slots=True)
class ElemMatch(Node):
    """Some terminal array has an element satisfying ``condition``.

    With ``on_value`` the condition's paths are empty tuples and apply to the element itself
    (``{"$elemMatch": {"$gt": 1, "$lt": 5}}``); otherwise they are relative to the element, which must
    be an object (``{"$elemMatch": {"name": "x"}}``).
    """

    path: Path
    condition: Node
    on_value: bool = False


@dataclass(frozen=True, slots=True)
class Mod(Node):
    """Some numeric candidate, truncated to an integer, has ``remainder`` modulo ``divisor``
    (remainder takes the sign of the dividend, as in C, MongoDB and SQL)."""

    path: Path
    divisor: int
    remainder: int


# -- geo (on [longitude, latitude] pairs) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class GeoBox:
    """Axis-aligned box: ``[[lng1, lat1], [lng2, lat2]]`` (bottom-left, top-right), edges included."""

    low: tuple[float, float]
    high: tuple[float, float]


@dataclass(frozen=True, slots=True)
class GeoPolygon:
    """Polygon given by its vertices (closed implicitly), even-odd rule."""

    vertices: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class GeoCenter:
    """Plane disc: centre ``[x, y]`` and radius in coordinate units, edge included."""

    center: tuple[float, float]
    radius: float


@dataclass(frozen=True, slots=True)
class GeoCenterSphere:
    """Spherical cap: centre ``[lng, lat]`` and radius in radians."""

    center: tuple[float, float]
    radius: float


@dataclass(frozen=True, slots=True)
class GeoWithin(Node):
    path: Path
    shape: GeoBox | GeoPolygon | GeoCenter | GeoCenterSphere


@dataclass(frozen=True, slots=True)
class GeoNear(Node):
    """The point at ``path`` lies within ``max_distance`` of ``point``.

    ``spherical`` distances are great-circle angles in radians (``$nearSphere``); otherwise plane
    distances in coordinate units (``$near``). A query with a ``GeoNear`` and no explicit sort is
    ordered by increasing distance.
    """

    path: Path
    point: tuple[float, float]
    max_distance: float | None
    spherical: bool


# -- Kinto querystring filters (Kinto's own semantics, see docs/query-language.md) ------------

KintoOp: TypeAlias = Literal["eq", "not", "lt", "gt", "min", "max", "in", "exclude"]


@dataclass(frozen=True, slots=True)
class KintoCompare(Node):
    """Kinto's ``field=``, ``not_``, ``lt_``, ``gt_``, ``min_``, ``max_``, ``in_`` and ``exclude_``,
    with PostgreSQL NULL rules for missing fields and Kinto's cross-type order."""

    path: Path
    op: KintoOp
    value: JSONValue


@dataclass(frozen=True, slots=True)
class KintoLike(Node):
    """Case-insensitive match with ``*`` wildcards (Kinto ``like_``)."""

    path: Path
    pattern: str


@dataclass(frozen=True, slots=True)
class KintoHas(Node):
    path: Path
    present: bool


@dataclass(frozen=True, slots=True)
class KintoContains(Node):
    """The array at ``path`` contains all (``any_=False``) or any of ``values``."""

    path: Path
    values: tuple[JSONValue, ...]
    any_: bool = False


# -- ordering, indexes and the whole query ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexDef:
    """A declared field index of a parent: the candidate values of ``path`` are kept in the
    ``field_values`` rows of slot ``slot``.

    A **compound** index has a ``prefix`` (the fields before ``path``): its rows are in
    ``compound_values``, keyed by ``g`` (a digest of one combination of the prefix fields' values)
    and then the value of ``path``, so equality on the prefix plus a range or an order on ``path``
    is one walk of the index.

    ``multikey`` becomes true (and stays true) once some object gave one of its fields more than one
    candidate value or an array; only a single-valued index can drive a sort.
    """

    path: Path
    slot: int
    multikey: bool = False
    prefix: tuple[Path, ...] = ()

    @property
    def fields(self) -> tuple[Path, ...]:
        """Every field of the index, in order (``(path,)`` for a single-field index)."""
        return (*self.prefix, self.path)


Collation: TypeAlias = Literal["mongo", "kinto"]


@dataclass(frozen=True, slots=True)
class SortKey:
    path: Path
    descending: bool = False
    collation: Collation = "mongo"


@dataclass(frozen=True, slots=True)
class Query:
    """A complete read: filter, order, window and projection."""

    filter: Node | None = None
    sort: tuple[SortKey, ...] = ()
    skip: int = 0
    limit: int | None = None
    fields: tuple[Path, ...] | None = None


def simplify_and(children: list[Node]) -> Node:
    """``And`` of ``children`` with nested ``And`` flattened and trivial cases removed."""
    flat: list[Node] = []
    for child in children:
        if isinstance(child, And):
            flat.extend(child.children)
        elif isinstance(child, Const) and child.value:
            continue
        else:
            flat.append(child)
    if any(isinstance(c, Const) and not c.value for c in flat):
        return Const(False)
    if not flat:
        return Const(True)
    if len(flat) == 1:
        return flat[0]
    return And(tuple(flat))
