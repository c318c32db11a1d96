"""Path walks: the terminals of a path, written as SQL for any :class:`JsonDialect`.

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

:class:`PathWalker` is the base of :class:`~kinbase.query.sql.compiler.Compiler`; the mixins in
``probes``, ``kinto`` and ``ordering`` build on it.
"""

from __future__ import annotations

from collections.abc import Callable

from kinbase.query.ast import Node
from kinbase.query.paths import positional_index
from kinbase.query.sql.base import CompileContext, Cond, Sql, and_, case, fmt, join, negate, or_, render
from kinbase.query.sql.depth import TREE_BUDGET, tree_leaves
from kinbase.query.sql.dialect import JsonDialect, Val
from kinbase.query.sql.geo import GeoWriter
from kinbase.query.sql.postgres import PostgresDialect
from kinbase.query.sql.sqlite import SqliteDialect
from kinbase.types import Path

__all__ = ["Leaf", "PathWalker", "RowSelect"]

Leaf = Callable[[Val], Cond]
RowSelect = tuple[Sql, Sql | None, Cond]
"""A row of a terminal: (select list, extra FROM item or None, WHERE condition)."""


class PathWalker:
    """The state of one statement (dialect, alias counter) and the path walks over it."""

    def __init__(self, ctx: CompileContext, tree_budget: int = TREE_BUDGET) -> None:
        self.ctx = ctx
        self.d: JsonDialect = SqliteDialect() if ctx.dialect == "sqlite" else PostgresDialect()
        self.tree_budget = tree_budget
        self.geo = GeoWriter(self.d)
        self._n = 0
        self.probed = False
        """Whether a top-level conjunct compiled so far is an index probe (see ``Sql.indexed``)."""

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

    def kinto_value(self, root: Val, path: Path, top: bool) -> Val:
        """The value at ``path`` itself, without array traversal (Kinto semantics)."""
        if top:
            column = self.column_for(path)
            if column is not None:
                return column
        v = root
        for segment in path:
            v = self.d.child(v, segment)
        return v

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
        return fmt("EXISTS (WITH {} SELECT 1 FROM " + last + " WHERE {})", ctes, render(test))  # nosec B608: compiled fragments; values bound

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

    def cond(self, node: Node, root: Val, root_object: bool, top: bool) -> Cond:
        """SQL that holds exactly when ``node`` matches (implemented by the compiler)."""
        raise NotImplementedError

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
        return fmt("(SELECT " + select + " FROM ({}) AS q" + tail + ")", body)  # nosec B608: compiled fragments; values bound
