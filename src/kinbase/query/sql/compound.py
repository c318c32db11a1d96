"""Compound field indexes: the ``compound_values`` rows of a document, and the plans that use them.

A compound index on ``(p1, ..., pk, last)`` keeps, for every live object, one row
``(g, t, n, s)`` per combination of the candidate values of ``p1..pk`` (``g``, a digest of that
combination) and per candidate value of ``last`` (``t, n, s`` as in ``field_values``, see
:mod:`kinbase.query.sql.index`). A query whose top-level ``And`` pins every leading field with
an exact equality (or a short ``$in``) reads the rows of those ``g`` only:

* sorted by ``last`` (the index is single-valued), the walk of one ``g`` is already in order, so
  a filter + sort + limit reads ``limit`` rows (:func:`plan_for_sort`);
* otherwise it is a probe, ``o.oid IN (SELECT cv.oid ... WHERE cv.g IN (...))``, with the exact
  conditions on ``last`` in the same row when the index is single-valued (:func:`plan_for_filter`).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import orjson

from kinbase.query.ast import Eq, In, IndexDef, Node
from kinbase.query.evaluate import walk
from kinbase.query.sql.base import Sql
from kinbase.query.sql.index import PREFIX, T_SORTABLE_BELOW, Row, index_entries, row_condition
from kinbase.query.values import R_BOOL, R_NULL, R_NUMBER, R_STRING
from kinbase.types import Document, JSONValue, Path

__all__ = ["CompoundPlan", "compound_entries", "group_key", "plan_for_filter", "plan_for_sort"]

MAX_GROUPS: Final = 64
"""At most this many combinations of pinned values (``$in`` by ``$in``) are probed."""


def group_key(rows: Sequence[Row]) -> str:
    """The ``g`` of one combination of leading-field rows (a 96-bit digest: fixed size, so any
    string prefix fits PostgreSQL's btree keys)."""
    encoded = orjson.dumps([[t, float(n), s] for t, n, s in rows])
    return hashlib.blake2b(encoded, digest_size=12).hexdigest()


def compound_entries(doc: Document, index: IndexDef) -> list[tuple[str, int, float, str]]:
    """The distinct ``compound_values`` rows ``(g, t, n, s)`` of ``doc`` for ``index``."""
    combos = itertools.product(*(index_entries(doc, path) for path in index.prefix))
    last = index_entries(doc, index.path)
    return [(g, t, n, s) for g in sorted({group_key(c) for c in combos}) for t, n, s in last]


def compound_multikey(doc: Document, index: IndexDef) -> bool:
    """Whether ``doc`` gives some field of ``index`` several terminals or an array."""
    for path in index.fields:
        terminals = walk(doc, path)
        if len(terminals) > 1 or any(isinstance(t, list) for t in terminals):
            return True
    return False


def _pinned_rows(node: Node) -> list[Row] | None:
    """The exact rows an ``Eq``/``$in`` on scalars selects (None: not a usable pin)."""
    values: tuple[JSONValue, ...]
    if isinstance(node, Eq):
        values = (node.value,)
    elif isinstance(node, In) and node.values:
        values = node.values
    else:
        return None
    rows: list[Row] = []
    for value in values:
        if value is None:
            rows.append((R_NULL, 0.0, ""))
        elif isinstance(value, bool):
            rows.append((R_BOOL, 1.0 if value else 0.0, ""))
        elif isinstance(value, int | float):
            rows.append((R_NUMBER, float(value), ""))
        elif isinstance(value, str) and len(value) < PREFIX:
            rows.append((R_STRING, 0.0, value))
        else:
            return None
    return sorted(set(rows))


@dataclass(frozen=True, slots=True)
class CompoundPlan:
    """A compound index pinned by a filter: its ``g`` values, the nodes it answers exactly and the
    exact row conditions on its last field (``alias``-qualified)."""

    index: IndexDef
    groups: list[str]
    used: list[Node]
    rows: list[Sql]

    def rows_sql(self, alias: str, ph: str, parent_id: int) -> Sql:
        """``alias.parent_id = ? AND alias.slot = ? AND alias.g IN (...) [AND rows]``."""
        marks = ", ".join(ph for _ in self.groups)
        g = f"{alias}.g = {ph}" if len(self.groups) == 1 else f"{alias}.g IN ({marks})"
        sql = Sql(
            f"{alias}.parent_id = {ph} AND {alias}.slot = {ph} AND {g}",
            [parent_id, self.index.slot, *self.groups],
        )
        for row in self.rows:
            sql = sql + Sql(" AND ") + row
        return sql


def _plan(
    index: IndexDef, children: Sequence[Node], ph: str, alias: str, *, last_rows: bool
) -> CompoundPlan | None:
    used: list[Node] = []
    per_field: list[list[Row]] = []
    for path in index.prefix:
        pin = next(
            (
                (child, rows)
                for child in children
                if getattr(child, "path", None) == path and (rows := _pinned_rows(child)) is not None
            ),
            None,
        )
        if pin is None:
            return None
        used.append(pin[0])
        per_field.append(pin[1])
    count = 1
    for rows in per_field:
        count *= len(rows)
    if count > MAX_GROUPS:
        return None
    groups = sorted({group_key(combo) for combo in itertools.product(*per_field)})
    conditions: list[Sql] = []
    if last_rows and not index.multikey:
        for child in children:
            if getattr(child, "path", None) != index.path or child in used:
                continue
            found = row_condition(child, ph, alias)
            if found is not None and found[1]:
                conditions.append(found[0])
                used.append(child)
    return CompoundPlan(index, groups, used, conditions)


def plan_for_sort(
    compounds: Sequence[IndexDef], children: Sequence[Node], sort_path: Path, ph: str
) -> CompoundPlan | None:
    """A single-valued compound index whose last field is ``sort_path`` and whose leading fields
    the top-level conditions ``children`` pin to one combination (one ``g``: its walk is the
    order). The rows are for the join alias ``fs``; without conditions on the last field, the
    sort rows (``t`` below :data:`T_SORTABLE_BELOW`) are selected."""
    for index in compounds:
        if index.multikey or index.path != sort_path:
            continue
        plan = _plan(index, children, ph, "fs", last_rows=True)
        if plan is not None and len(plan.groups) == 1:
            if not plan.rows:
                plan.rows.append(Sql(f"fs.t < {T_SORTABLE_BELOW}"))
            return plan
    return None


def plan_for_filter(compounds: Sequence[IndexDef], children: Sequence[Node], ph: str) -> CompoundPlan | None:
    """The compound index pinned by the most conditions of ``children`` (probe alias ``cv``)."""
    best: CompoundPlan | None = None
    for index in compounds:
        plan = _plan(index, children, ph, "cv", last_rows=True)
        if plan is not None and (best is None or len(plan.used) > len(best.used)):
            best = plan
    return best


def probe_sql(plan: CompoundPlan, ph: str, parent_id: int) -> Sql:
    """``o.oid IN (SELECT cv.oid FROM compound_values cv WHERE ...)``."""
    return (
        Sql("o.oid IN (SELECT cv.oid FROM compound_values cv WHERE ")
        + plan.rows_sql("cv", ph, parent_id)
        + Sql(")")
    )


def sort_join_sql(plan: CompoundPlan, ph: str, parent_id: int) -> Sql:
    """The join that lets the compound index drive the order (alias ``fs``, as
    :func:`kinbase.query.sql.index.sort_join`)."""
    return Sql(" JOIN compound_values fs ON fs.oid = o.oid AND ") + plan.rows_sql("fs", ph, parent_id)
