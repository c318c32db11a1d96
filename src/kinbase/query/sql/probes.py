"""Index probes: top-level conditions answered from the ``field_values`` side table."""

from __future__ import annotations

from kinbase.query.ast import And, Eq, Exists, In, IndexDef, Node, Or, Range
from kinbase.query.sql import index as fidx
from kinbase.query.sql.base import Cond, Sql, and_, join, or_
from kinbase.query.sql.compound import plan_for_filter, probe_sql
from kinbase.query.sql.dialect import Val
from kinbase.query.sql.walk import PathWalker
from kinbase.types import Path

__all__ = ["IndexProbes"]


class IndexProbes(PathWalker):
    """Plans the top-level ``And``/``Or`` of a statement around the field indexes."""

    def index_for(self, path: Path) -> IndexDef | None:
        return None if self.column_for(path) is not None else self.ctx.indexes.get(path)

    def indexed_and(self, node: And, root: Val) -> Cond:
        """Top-level ``And``: the conditions on one single-valued (non-multikey) indexed path that
        the index answers exactly become one probe (``a >= 1 AND a < 2`` is one range search, not
        two half-open ones). Only for single-valued paths: with arrays, MongoDB lets each condition
        hold on a different element."""
        ph = self.d.placeholder
        conditions: list[Cond] = []
        children = list(node.children)
        compound = plan_for_filter(self.ctx.compounds, children, ph) if self.ctx.compounds else None
        if compound is not None:
            self.probed = True
            conditions.append(probe_sql(compound, ph, self.ctx.parent_id))
            children = [c for c in children if c not in compound.used]
        grouped: dict[Path, tuple[IndexDef, list[Sql]]] = {}
        others: list[Node] = []
        for child in children:
            path = getattr(child, "path", None)
            index = self.index_for(path) if isinstance(child, Eq | In | Range | Exists) and path else None
            found = fidx.row_condition(child, ph) if index is not None and not index.multikey else None
            if index is not None and found is not None and found[1]:
                grouped.setdefault(index.path, (index, []))[1].append(found[0])
            else:
                others.append(child)
        for index, rows in grouped.values():
            self.probed = True
            head = Sql(
                "o.oid IN (SELECT fv.oid FROM field_values fv "  # nosec B608: placeholders only; values bound
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
        probed = self.probed  # a branch that is a probe bounds nothing unless every branch is one
        for child in node.children:
            path = getattr(child, "path", None)
            index = self.index_for(path) if path is not None else None
            found = fidx.probe_select(child, index, self.ctx.parent_id, self.d.placeholder) if index else None
            if found is not None and found[1]:
                selects.append(found[0])
            else:
                others.append(self.cond(child, root, True, True))
        merged: Cond = join(" UNION ALL ", selects, "o.oid IN (", ")") if selects else False
        self.probed = probed or (bool(selects) and not others)
        return or_(merged, *others)
