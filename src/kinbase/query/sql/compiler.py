"""Nodes to SQL conditions and sort expressions, for any :class:`JsonDialect`.

A MongoDB condition on a path holds when some *terminal* of the path walk (see
:mod:`kinbase.query.evaluate`) satisfies a *leaf* test. The walk is written out in one of two
shapes:

* a **tree** of ``CASE WHEN <value is an array> THEN <element and position branches> ELSE <key
  branch> END``: one leaf test per combination of branches, cheap per row, exponential in the
  number of path segments (used while the number of leaves stays within a budget);
* a **chain** of CTEs, one per segment, each holding every value reached so far (``UNION ALL`` of
  the key, element, empty-array and position steps): linear in the path length, used for deep
  paths and for sort keys on nested paths.

Both produce MISSING terminals exactly where the evaluator does, so tests that count MISSING
(``null`` equality, ``$exists``) see the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
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
    IndexDef,
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
    SortKey,
    TypeIs,
)
from kinbase.query.paths import positional_index
from kinbase.query.regex import like_program, translate
from kinbase.query.sql import index as fidx
from kinbase.query.sql.base import CompileContext, Cond, Sql, and_, case, fmt, join, negate, or_, render
from kinbase.query.sql.depth import TREE_BUDGET, tree_leaves
from kinbase.query.sql.dialect import JsonDialect, Val
from kinbase.query.sql.geo import GeoWriter
from kinbase.query.sql.postgres import PostgresDialect
from kinbase.query.sql.sqlite import SqliteDialect
from kinbase.query.values import K_ARRAY, K_BOOL, K_NULL, K_NUMBER, K_OBJECT, K_STRING, R_EMPTY, kinto_rank
from kinbase.types import Path

__all__ = ["Compiler"]

Leaf = Callable[[Val], Cond]
RowSelect = tuple[Sql, Sql | None, Cond]
"""A row of a terminal: (select list, extra FROM item or None, WHERE condition)."""

_NUMBER: Final = frozenset({"number"})
_KINTO_KINDS: Final = (
    (K_NULL, "null"),
    (K_STRING, "string"),
    (K_NUMBER, "number"),
    (K_BOOL, "bool"),
    (K_ARRAY, "array"),
    (K_OBJECT, "object"),
)
_SIMPLE_TYPES: Final = {
    "string": "string",
    "object": "object",
    "array": "array",
    "bool": "bool",
    "null": "null",
}


class Compiler:
    """Compiles the nodes of one statement (aliases are numbered per compiler)."""

    def __init__(self, ctx: CompileContext, tree_budget: int = TREE_BUDGET) -> None:
        self.ctx = ctx
        self.d: JsonDialect = SqliteDialect() if ctx.dialect == "sqlite" else PostgresDialect()
        self.tree_budget = tree_budget
        self.geo = GeoWriter(self.d)
        self._n = 0

    def alias(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    # -- path walks ----------------------------------------------------------------------------

    def column_for(self, path: Path) -> Val | None:
        if path == self.ctx.id_path:
            return self.d.column("o.id", "string")
        if path == self.ctx.stamp_path:
            return self.d.column("o.stamp", "integer")
        return None

    def terminals(
        self, root: Val, root_object: bool, top: bool, path: Path, leaf: Leaf, leaf_missing: bool
    ) -> Cond:
        """Some terminal of ``path`` from ``root`` passes ``leaf`` (``leaf_missing``: whether the
        leaf can hold for a MISSING terminal)."""
        if top:
            column = self.column_for(path)
            if column is not None:
                return leaf(column)
        if not path:
            return leaf(root)
        if tree_leaves(path, root_object) <= self.tree_budget:
            return self._tree(root, path, 0, root_object, leaf, leaf_missing)
        ctes, last, terminal = self.chain(root, path, root_object)
        test = leaf(terminal)
        if test is False:
            return False
        return fmt("EXISTS (WITH {} SELECT 1 FROM " + last + " WHERE {})", ctes, render(test))

    def _tree(self, v: Val, path: Path, i: int, known_object: bool, leaf: Leaf, leaf_missing: bool) -> Cond:
        if i == len(path):
            return leaf(v)
        d = self.d
        segment = path[i]
        key_branch = self._tree(d.child(v, segment), path, i + 1, False, leaf, leaf_missing)
        if known_object:
            return key_branch
        from_, element = d.elements(v, self.alias("e"))
        parts: list[Cond] = [
            d.exists(from_, self._tree(d.child(element, segment), path, i + 1, False, leaf, leaf_missing))
        ]
        if leaf_missing:
            parts.append(d.is_empty_array(v))
        position = positional_index(segment)
        if position is not None:
            at = d.index(v, position)
            branch = self._tree(at, path, i + 1, False, leaf, leaf_missing)
            parts.append(and_(d.present(at), branch) if leaf_missing else branch)
        return case(d.is_array(v), or_(*parts), key_branch)

    def chain(self, root: Val, path: Path, root_object: bool) -> tuple[Sql, str, Val]:
        """CTEs reaching every terminal of ``path``: (the WITH list, the last CTE, its value)."""
        d = self.d
        start = 0
        v = root
        if root_object:
            v = d.child(root, path[0])
            start = 1
        name = self.alias("w")
        ctes = [fmt(name + "(c) AS (SELECT {})", d.carrier(v))]
        for segment in path[start:]:
            prev = d.from_carrier(f"{name}.c")
            nxt = self.alias("w")
            source = " FROM " + name
            arms = [
                fmt(
                    "SELECT {}" + source + " WHERE {}",
                    d.carrier(d.child(prev, segment)),
                    render(negate(d.is_array(prev))),
                )
            ]
            from_, element = d.elements(prev, self.alias("e"))
            arms.append(
                fmt(
                    "SELECT {}" + source + ", {} WHERE {}",
                    d.carrier(d.child(element, segment)),
                    from_,
                    render(d.is_array(prev)),
                )
            )
            arms.append(
                fmt(
                    "SELECT {}" + source + " WHERE {}",
                    d.missing_carrier(prev),
                    render(d.is_empty_array(prev)),
                )
            )
            position = positional_index(segment)
            if position is not None:
                at = d.index(prev, position)
                arms.append(
                    fmt(
                        "SELECT {}" + source + " WHERE {}",
                        d.carrier(at),
                        render(and_(d.is_array(prev), d.present(at))),
                    )
                )
            ctes.append(join(" UNION ALL ", arms, nxt + "(c) AS (", ")"))
            name = nxt
        return join(", ", ctes), name, d.from_carrier(f"{name}.c")

    def any_candidate(self, t: Val, test: Leaf) -> Cond:
        """``t`` passes ``test``, or ``t`` is an array with an element that does."""
        d = self.d
        from_, element = d.elements(t, self.alias("c")) if t.column is None else (Sql(""), t)
        inner = test(element) if t.column is None else False
        return or_(test(t), and_(d.is_array(t), d.exists(from_, inner)))

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
        if isinstance(node, Nor):
            return negate(or_(*(self.cond(c, root, root_object, top) for c in node.children)))
        if isinstance(node, Not):
            return negate(self.cond(node.child, root, root_object, top))
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
        index = self.index_for(path) if top else None
        if index is not None:
            probe = fidx.probe(node, index, self.ctx.parent_id, self.d.placeholder)
            if probe is not None:
                condition, exact = probe
                return condition if exact else and_(condition, json_test)
        return json_test

    def index_for(self, path: Path) -> IndexDef | None:
        return None if self.column_for(path) is not None else self.ctx.indexes.get(path)

    def indexed_and(self, node: And, root: Val) -> Cond:
        """Top-level ``And``: the conditions on one single-valued (non-multikey) indexed path that
        the index answers exactly become one probe (``a >= 1 AND a < 2`` is one range search, not
        two half-open ones). Only for single-valued paths: with arrays, MongoDB lets each condition
        hold on a different element."""
        ph = self.d.placeholder
        grouped: dict[Path, tuple[IndexDef, list[Sql]]] = {}
        others: list[Node] = []
        for child in node.children:
            path = getattr(child, "path", None)
            index = self.index_for(path) if isinstance(child, Eq | In | Range | Exists) and path else None
            found = fidx.row_condition(child, ph) if index is not None and not index.multikey else None
            if index is not None and found is not None and found[1]:
                grouped.setdefault(index.path, (index, []))[1].append(found[0])
            else:
                others.append(child)
        conditions: list[Cond] = []
        for index, rows in grouped.values():
            head = Sql(
                "o.oid IN (SELECT fv.oid FROM field_values fv "
                f"WHERE fv.parent_id = {ph} AND fv.slot = {ph} AND ",
                [self.ctx.parent_id, index.slot],
            )
            conditions.append(head + join(" AND ", rows) + Sql(")"))
        conditions += [self.cond(child, root, True, True) for child in others]
        return and_(*conditions)

    def indexed_or(self, node: Or, root: Val) -> Cond:
        """Top-level ``Or``: the branches an index answers exactly become one ``o.oid IN (... UNION
        ALL ...)``, which both planners run as index searches."""
        selects: list[Sql] = []
        others: list[Cond] = []
        for child in node.children:
            path = getattr(child, "path", None)
            index = self.index_for(path) if path is not None else None
            found = fidx.probe_select(child, index, self.ctx.parent_id, self.d.placeholder) if index else None
            if found is not None and found[1]:
                selects.append(found[0])
            else:
                others.append(self.cond(child, root, True, True))
        merged: Cond = join(" UNION ALL ", selects, "o.oid IN (", ")") if selects else False
        return or_(merged, *others)

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

    # -- Kinto -------------------------------------------------------------------------------------

    def kinto_value(self, root: Val, path: Path, top: bool) -> Val:
        if top:
            column = self.column_for(path)
            if column is not None:
                return column
        v = root
        for segment in path:
            v = self.d.child(v, segment)
        return v

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

    # -- geo ---------------------------------------------------------------------------------------

    def near_order(self, node: GeoNear, root: Val) -> Sql:
        """The smallest distance measure over the point candidates of ``node.path``."""
        d = self.d
        measure = self.geo.near_measure(node)

        def rows(t: Val) -> list[RowSelect]:
            from_, element = d.elements(t, self.alias("g"))
            return [
                (fmt("{} AS m", self.geo.point_value(t, measure)), None, True),
                (fmt("{} AS m", self.geo.point_value(element, measure)), from_, d.is_array(t)),
            ]

        return self.over_terminals(root, node.path, rows, "min(m)", None)

    # -- ordering ----------------------------------------------------------------------------------

    def over_terminals(
        self, root: Val, path: Path, rows: Callable[[Val], list[RowSelect]], select: str, order: str | None
    ) -> Sql:
        """A scalar subquery over the rows ``rows(t)`` gives for every terminal ``t`` of ``path``:
        ``select`` of the first row by ``order`` (an aggregate ``select`` when ``order`` is None)."""
        source: str | None = None
        if len(path) == 1:
            t = self.d.child(root, path[0])
            prefix = Sql("")
        else:
            ctes, source, t = self.chain(root, path, True)
            prefix = fmt("WITH {} ", ctes)
        parts: list[Sql] = []
        for columns, from_, where in rows(t):
            if where is False:
                continue
            sources = [s for s in (Sql(source) if source else None, from_) if s is not None]
            text = fmt("SELECT {}", columns)
            if sources:
                text = text + join(", ", sources, " FROM ")
            if where is not True:
                text = text + fmt(" WHERE {}", render(where))
            parts.append(text)
        body = prefix + join(" UNION ALL ", parts)
        tail = f" ORDER BY {order} LIMIT 1" if order else ""
        return fmt("(SELECT " + select + " FROM ({}) AS q" + tail + ")", body)

    def mongo_sort(self, key: SortKey, root: Val) -> list[Sql]:
        """(rank, number, text) of a row's key: its least (greatest, descending) sort candidate."""
        d = self.d
        direction = " DESC" if key.descending else ""
        if len(key.path) == 1:
            t = d.child(root, key.path[0])
            from_, e = d.elements(t, self.alias("s"))
            best_order = fmt(
                " ORDER BY {}" + direction + ", {}" + direction + ", {}" + direction + " LIMIT 1)",
                d.mongo_rank(e),
                d.sort_number(e),
                d.sort_text(e),
            )

            def best(part: Sql) -> Sql:
                return fmt("(SELECT {} FROM {}", part, from_) + best_order

            is_array = render(d.is_array(t))
            rank = fmt(
                "CASE WHEN {} THEN coalesce({}, " + str(R_EMPTY) + ") ELSE {} END",
                is_array,
                best(d.mongo_rank(e)),
                d.mongo_rank(t),
            )
            number = fmt(
                "CASE WHEN {} THEN {} ELSE {} END", is_array, best(d.sort_number(e)), d.sort_number(t)
            )
            text = fmt("CASE WHEN {} THEN {} ELSE {} END", is_array, best(d.sort_text(e)), d.sort_text(t))
            return [rank, number, self.collated(text)]

        def rows(t: Val) -> list[RowSelect]:
            from_, e = d.elements(t, self.alias("s"))
            return [
                (
                    fmt("{} AS k, {} AS n, {} AS s", d.mongo_rank(t), d.sort_number(t), d.sort_text(t)),
                    None,
                    negate(d.is_array(t)),
                ),
                (
                    fmt("{} AS k, {} AS n, {} AS s", d.mongo_rank(e), d.sort_number(e), d.sort_text(e)),
                    from_,
                    d.is_array(t),
                ),
                (Sql(f"{R_EMPTY} AS k, NULL AS n, NULL AS s"), None, d.is_empty_array(t)),
            ]

        order = f"k{direction}, n{direction}, s{direction}"
        return [
            self.over_terminals(root, key.path, rows, "k", order),
            self.over_terminals(root, key.path, rows, "n", order),
            self.collated(self.over_terminals(root, key.path, rows, "s", order)),
        ]

    def collated(self, text: Sql) -> Sql:
        return fmt('({}) COLLATE "C"', text) if self.ctx.dialect == "postgresql" else text

    def sort_terms(self, key: SortKey, root: Val) -> list[Sql]:
        column = self.column_for(key.path)
        if column is not None:
            return [Sql(column.column or "")]
        if key.collation == "kinto":
            v = self.kinto_value(root, key.path, True)
            return [self.d.kinto_rank(v), self.d.sort_number(v), self.d.sort_text(v)]
        return self.mongo_sort(key, root)
