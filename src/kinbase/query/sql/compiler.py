"""Nodes to SQL conditions and sort expressions, for any :class:`JsonDialect`.

The :class:`Compiler` is assembled from one mixin per concern, all on :class:`PathWalker`:

* :mod:`~kinbase.query.sql.walk`: the path walks (CASE trees and CTE chains) and the system columns;
* :mod:`~kinbase.query.sql.probes`: top-level ``And``/``Or`` answered by the field indexes;
* :mod:`~kinbase.query.sql.kinto`: Kinto filter semantics;
* :mod:`~kinbase.query.sql.ordering`: sort keys and the ``$near`` distance order;
* this module: the MongoDB conditions (:meth:`Compiler.cond`, :meth:`Compiler.field`).
"""

from __future__ import annotations

from typing import Final

from kinbase.query.ast import (
    All,
    And,
    Const,
    ElemMatch,
    Eq,
    Exists,
    GeoNear,
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
    Range,
    Regex,
    Size,
    TypeIs,
)
from kinbase.query.regex import translate
from kinbase.query.sql import index as fidx
from kinbase.query.sql.base import Cond, and_, negate, or_
from kinbase.query.sql.dialect import Val
from kinbase.query.sql.kinto import KintoConditions
from kinbase.query.sql.ordering import Ordering
from kinbase.query.sql.probes import IndexProbes
from kinbase.query.sql.walk import Leaf
from kinbase.types import Path

__all__ = ["Compiler"]

_NUMBER: Final = frozenset({"number"})
_SIMPLE_TYPES: Final = {
    "string": "string",
    "object": "object",
    "array": "array",
    "bool": "bool",
    "null": "null",
}


class Compiler(IndexProbes, KintoConditions, Ordering):
    """Compiles the nodes of one statement (aliases are numbered per compiler)."""

    # -- conditions ----------------------------------------------------------------------------

    def cond(self, node: Node, root: Val, root_object: bool, top: bool) -> Cond:
        """SQL that holds exactly when ``node`` matches (``top``: ``root`` is the document row,
        where system columns and field indexes apply)."""
        if isinstance(node, And):
            if top:
                return self.indexed_and(node, root)
            return and_(*(self.cond(c, root, root_object, top) for c in node.children))
        if isinstance(node, Or):
            if top:
                return self.indexed_or(node, root)
            return or_(*(self.cond(c, root, root_object, top) for c in node.children))
        if isinstance(node, Nor | Not):
            probed = self.probed  # a probe under a negation bounds nothing
            children = node.children if isinstance(node, Nor) else (node.child,)
            negated = negate(or_(*(self.cond(c, root, root_object, top) for c in children)))
            self.probed = probed
            return negated
        if isinstance(node, Const):
            return node.value
        if isinstance(node, KintoCompare | KintoLike | KintoHas | KintoContains):
            return self.kinto(node, self.kinto_value(root, node.path, top))
        if isinstance(node, All):
            if not node.values:
                return False
            return and_(*(self.cond(Eq(node.path, v), root, root_object, top) for v in node.values))
        if isinstance(node, Range) and node.value is None:
            return (
                self.cond(Eq(node.path, None), root, root_object, top) if node.op in ("gte", "lte") else False
            )

        path: Path = node.path  # type: ignore[attr-defined]
        json_test = self.field(node, path, root, root_object, top)
        if top and path == self.ctx.id_path and isinstance(node, Eq | In):
            self.probed = True  # the (parent_id, id) key
        index = self.index_for(path) if top else None
        if index is not None:
            probe = fidx.probe(node, index, self.ctx.parent_id, self.d.placeholder)
            if probe is not None:
                self.probed = True
                condition, exact = probe
                return condition if exact else and_(condition, json_test)
        return json_test

    def field(self, node: Node, path: Path, root: Val, root_object: bool, top: bool) -> Cond:
        """A condition on the terminals of ``path`` (``node``'s field)."""
        d = self.d

        def walk(leaf: Leaf, leaf_missing: bool = False) -> Cond:
            return self.terminals(root, root_object, top, path, leaf, leaf_missing)

        if isinstance(node, Eq):
            value = node.value

            def eq_leaf(t: Val) -> Cond:
                fast = d.eq_candidate(t, value)
                found = fast if fast is not None else self.any_candidate(t, lambda c: d.eq(c, value))
                return or_(d.missing(t), found) if value is None else found

            return walk(eq_leaf, value is None)
        if isinstance(node, In):
            values = node.values
            if not values:
                return False
            with_null = any(v is None for v in values)

            def in_leaf(t: Val) -> Cond:
                fast = d.in_candidates(t, values)
                found = fast if fast is not None else self.any_candidate(t, lambda c: d.in_values(c, values))
                return or_(d.missing(t), found) if with_null else found

            return walk(in_leaf, with_null)
        if isinstance(node, Range):
            op, operand = node.op, node.value
            assert isinstance(operand, int | float | str | bool)
            return walk(lambda t: self.any_candidate(t, lambda c: d.compare(c, op, operand)))
        if isinstance(node, Exists):
            found = walk(d.present)
            return found if node.present else negate(found)
        if isinstance(node, TypeIs):
            types = node.types

            def type_test(c: Val) -> Cond:
                kinds = frozenset(_SIMPLE_TYPES[t] for t in types if t in _SIMPLE_TYPES)
                if "number" in types:
                    kinds |= _NUMBER
                parts = [d.kind_in(c, kinds)] if kinds else []
                if "number" not in types:
                    parts.extend(d.number_class(c, cls) for cls in ("int", "long", "double") if cls in types)
                return or_(*parts)

            return walk(lambda t: self.any_candidate(t, type_test))
        if isinstance(node, Regex):
            program = translate(node.pattern, node.flags)
            return walk(lambda t: self.any_candidate(t, lambda c: d.regex(c, program)))
        if isinstance(node, Size):
            size = node.size
            return walk(lambda t: d.array_length_is(t, size))
        if isinstance(node, ElemMatch):
            condition, on_value = node.condition, node.on_value

            def elem_leaf(t: Val) -> Cond:
                if t.column is not None:
                    return False
                from_, element = d.elements(t, self.alias("m"))
                if on_value:
                    inner = self.cond(condition, element, False, False)
                else:
                    inner = and_(
                        d.kind_in(element, frozenset({"object"})), self.cond(condition, element, True, False)
                    )
                return and_(d.is_array(t), d.exists(from_, inner))

            return walk(elem_leaf)
        if isinstance(node, Mod):
            divisor, remainder = node.divisor, node.remainder
            return walk(lambda t: self.any_candidate(t, lambda c: d.mod(c, divisor, remainder)))
        if isinstance(node, GeoWithin):
            shape = node.shape
            return walk(
                lambda t: self.any_candidate(t, lambda c: self.geo.point_test(c, self.geo.within(shape)))
            )
        if isinstance(node, GeoNear):
            near = node
            return walk(
                lambda t: self.any_candidate(t, lambda c: self.geo.point_test(c, self.geo.near_within(near)))
            )
        raise TypeError(f"unknown query node {node!r}")
