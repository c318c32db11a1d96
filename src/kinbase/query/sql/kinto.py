"""Kinto filter semantics: conditions on the plain value at a path (no array traversal)."""

from __future__ import annotations

from typing import Final

from kinbase.query.ast import KintoCompare, KintoContains, KintoHas, KintoLike, Node
from kinbase.query.regex import like_program
from kinbase.query.sql.base import Cond, and_, negate, or_
from kinbase.query.sql.dialect import Val
from kinbase.query.sql.walk import PathWalker
from kinbase.query.values import K_ARRAY, K_BOOL, K_NULL, K_NUMBER, K_OBJECT, K_STRING, kinto_rank

__all__ = ["KintoConditions"]

_KINTO_KINDS: Final = (
    (K_NULL, "null"),
    (K_STRING, "string"),
    (K_NUMBER, "number"),
    (K_BOOL, "bool"),
    (K_ARRAY, "array"),
    (K_OBJECT, "object"),
)


class KintoConditions(PathWalker):
    """Writes the Kinto comparison, ``like_``, ``has_`` and ``contains_`` nodes."""

    def kinto(self, node: Node, v: Val) -> Cond:
        d = self.d
        if isinstance(node, KintoHas):
            return d.present(v) if node.present else d.missing(v)
        if isinstance(node, KintoLike):
            return d.regex(v, like_program(node.pattern))
        if isinstance(node, KintoContains):
            if v.column is not None:
                return False
            tests: list[Cond] = []
            for value in node.values:
                from_, element = d.elements(v, self.alias("k"))
                tests.append(d.exists(from_, d.eq(element, value)))
            found = or_(*tests) if node.any_ else and_(*tests)
            return and_(d.is_array(v), found)
        assert isinstance(node, KintoCompare)
        op, value = node.op, node.value
        if op in ("eq", "not"):
            hit = d.eq(v, value)
            return hit if op == "eq" else negate(hit)
        if op in ("in", "exclude"):
            assert isinstance(value, list | tuple)
            hit = d.in_values(v, tuple(value))
            return hit if op == "in" else negate(hit)
        rank = kinto_rank(value)
        own = next(kind for r, kind in _KINTO_KINDS if r == rank)
        if op in ("gt", "min"):
            other = or_(d.kind_in(v, frozenset(k for r, k in _KINTO_KINDS if r > rank)), d.missing(v))
        else:
            other = d.kind_in(v, frozenset(k for r, k in _KINTO_KINDS if r < rank))
        if isinstance(value, int | float | str):  # bool included
            same = d.compare(v, {"gt": "gt", "min": "gte", "lt": "lt", "max": "lte"}[op], value)  # type: ignore[arg-type]
        else:
            same = d.kind_in(v, frozenset({own})) if op in ("min", "max") else False
        return or_(other, same)
