"""Ordering: sort keys (MongoDB and Kinto collation) and the distance order of ``$near``."""

from __future__ import annotations

from kinbase.query.ast import GeoNear, SortKey
from kinbase.query.sql.base import Sql, fmt, negate
from kinbase.query.sql.dialect import Val
from kinbase.query.sql.walk import PathWalker, RowSelect
from kinbase.query.values import R_EMPTY

__all__ = ["Ordering"]


class Ordering(PathWalker):
    """Writes ``ORDER BY`` terms."""

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

    def mongo_sort(self, key: SortKey, root: Val) -> list[Sql]:
        """(rank, number, text) of a row's key: its least (greatest, descending) sort candidate."""
        d = self.d
        direction = " DESC" if key.descending else ""
        if len(key.path) == 1:
            return self.mongo_sort_value(d.child(root, key.path[0]), key.descending)

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

    def mongo_sort_value(self, t: Val, descending: bool) -> list[Sql]:
        """(rank, number, text) of the value ``t``: its least (greatest, ``descending``) sort
        candidate, the value itself or, for an array, one of its elements."""
        d = self.d
        direction = " DESC" if descending else ""
        from_, e = d.elements(t, self.alias("s"))
        best_order = fmt(
            " ORDER BY {}" + direction + ", {}" + direction + ", {}" + direction + " LIMIT 1)",
            d.mongo_rank(e),
            d.sort_number(e),
            d.sort_text(e),
        )

        def best(part: Sql) -> Sql:
            return fmt("(SELECT {} FROM {}", part, from_) + best_order

        parts = d.mongo_sort_parts(t, e, best)
        return [*parts[:-1], self.collated(parts[-1])]

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
