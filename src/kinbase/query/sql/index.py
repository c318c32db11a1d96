"""Field indexes: the ``field_values`` rows of a document, and index probes for conditions.

For each indexed path, every live object has the *distinct* rows ``(t, n, s)``:

* one per candidate value (``t`` is the MongoDB sort rank: 1 null, 2 number, 3 string, 4 object,
  5 array (a nested one), 6 boolean; ``n`` the number or 0/1, ``s`` the string cut to
  :data:`PREFIX` characters; unused parts are ``0`` and ``''``);
* ``t = 1`` also for a MISSING terminal (MISSING and null sort the same, so a single-valued
  object has exactly one row with ``t < 7`` whatever it holds);
* ``t = 7`` for a terminal that is an empty array;
* ``t = 8`` ("present") when some terminal is not MISSING but every other row has ``t = 1``
  (so ``$exists`` is ``t > 1`` even for ``null`` values).

Numbers are doubles everywhere, so ``n`` is exact. A probe is exact unless a string operand reaches
the prefix length (or it is a regex prefix range): then it is a prefilter and the JSON condition is
ANDed.
"""

from __future__ import annotations

from typing import Final

from kinbase.query.ast import MISSING, Eq, Exists, In, IndexDef, Node, Range, Regex
from kinbase.query.evaluate import walk
from kinbase.query.regex import translate
from kinbase.query.sql.base import Cond, Sql, fmt, join, or_
from kinbase.query.sql.comparisons import SYMBOLS, successor
from kinbase.query.values import R_ARRAY, R_BOOL, R_NULL, R_NUMBER, R_OBJECT, R_STRING, is_number
from kinbase.types import Document, JSONValue, Path

__all__ = ["PREFIX", "T_EMPTY", "T_PRESENT", "index_entries", "is_multikey", "probe"]

PREFIX: Final = 256
"""Characters of a string kept in ``field_values.s`` (PostgreSQL btree keys are limited)."""

T_EMPTY: Final = 7
T_PRESENT: Final = 8
T_SORTABLE_BELOW: Final = 7
"""Rows with ``t`` below this are the sort rows (exactly one per object of a non-multikey index)."""

Row = tuple[int, float, str]


def _row(value: object) -> Row:
    if value is None or value is MISSING:
        return (R_NULL, 0.0, "")
    if isinstance(value, bool):
        return (R_BOOL, 1.0 if value else 0.0, "")
    if isinstance(value, int | float):
        return (R_NUMBER, float(value), "")
    if isinstance(value, str):
        return (R_STRING, 0.0, value[:PREFIX])
    if isinstance(value, list):
        return (R_ARRAY, 0.0, "")
    return (R_OBJECT, 0.0, "")


def index_entries(doc: Document, path: Path) -> list[tuple[int, float, str]]:
    """The distinct ``field_values`` rows ``(t, n, s)`` of ``doc`` for the indexed ``path``,
    sorted. Never empty."""
    rows: set[Row] = set()
    present = False
    for t in walk(doc, path):
        if t is MISSING:
            rows.add((R_NULL, 0.0, ""))
            continue
        present = True
        if isinstance(t, list):
            if t:
                rows.update(_row(e) for e in t)
            else:
                rows.add((T_EMPTY, 0.0, ""))
        else:
            rows.add(_row(t))
    if present and all(r[0] == R_NULL for r in rows):
        rows.add((T_PRESENT, 0.0, ""))
    return sorted(rows)


def is_multikey(doc: Document, path: Path) -> bool:
    """Whether ``doc`` gives ``path`` more than one terminal or an array terminal (then the
    index can no longer drive a sort)."""
    terminals = walk(doc, path)
    return len(terminals) > 1 or any(isinstance(t, list) for t in terminals)


# -- probes -------------------------------------------------------------------------------------


def _scalar(value: JSONValue, ph: str) -> tuple[Sql, bool] | None:
    """The row condition for a scalar equal to ``value`` and whether it is exact."""
    if value is None:
        return Sql(f"(fv.t = {R_NULL} AND fv.n = 0 AND fv.s = '')"), True
    if isinstance(value, bool):
        return Sql(f"(fv.t = {R_BOOL} AND fv.n = {ph} AND fv.s = '')", [1.0 if value else 0.0]), True
    if isinstance(value, int | float):
        return Sql(f"(fv.t = {R_NUMBER} AND fv.n = {ph} AND fv.s = '')", [float(value)]), True
    if isinstance(value, str):
        return Sql(f"(fv.t = {R_STRING} AND fv.n = 0 AND fv.s = {ph})", [value[:PREFIX]]), len(value) < PREFIX
    return None


_RELAXED: Final = {"gt": ">=", "gte": ">=", "lt": "<=", "lte": "<="}


def row_condition(node: Node, ph: str, alias: str = "fv") -> tuple[Sql, bool] | None:
    """The condition on ``field_values`` rows (named ``alias``) of the objects ``node`` matches,
    and whether it is exact; None when the index cannot answer ``node``."""
    found = _row_condition(node, ph)
    if found is None or alias == "fv":
        return found
    return Sql(found[0].text.replace("fv.", alias + "."), found[0].params), found[1]


def _row_condition(node: Node, ph: str) -> tuple[Sql, bool] | None:
    if isinstance(node, Eq):
        return _scalar(node.value, ph)
    if isinstance(node, In):
        if not node.values:
            return None
        parts: list[Sql] = []
        exact = True
        numbers = [float(v) for v in node.values if is_number(v)]  # type: ignore[arg-type]
        strings = [v for v in node.values if isinstance(v, str)]
        for v in node.values:
            if v is None or isinstance(v, bool):
                scalar = _scalar(v, ph)
                assert scalar is not None
                parts.append(scalar[0])
            elif isinstance(v, list | dict):
                return None
        if numbers:
            marks = ", ".join(ph for _ in numbers)
            parts.append(Sql(f"(fv.t = {R_NUMBER} AND fv.n IN ({marks}) AND fv.s = '')", numbers))
        if strings:
            marks = ", ".join(ph for _ in strings)
            parts.append(
                Sql(f"(fv.t = {R_STRING} AND fv.n = 0 AND fv.s IN ({marks}))", [s[:PREFIX] for s in strings])
            )
            exact = exact and all(len(s) < PREFIX for s in strings)
        condition = or_(*parts)
        assert isinstance(condition, Sql)
        return condition, exact
    if isinstance(node, Range):
        value = node.value
        if isinstance(value, bool):
            return Sql(f"(fv.t = {R_BOOL} AND fv.n {SYMBOLS[node.op]} {ph})", [1.0 if value else 0.0]), True
        if isinstance(value, int | float):
            return Sql(f"(fv.t = {R_NUMBER} AND fv.n {SYMBOLS[node.op]} {ph})", [float(value)]), True
        if isinstance(value, str):
            exact = len(value) < PREFIX
            op = SYMBOLS[node.op] if exact else _RELAXED[node.op]
            return Sql(f"(fv.t = {R_STRING} AND fv.n = 0 AND fv.s {op} {ph})", [value[:PREFIX]]), exact
        return None
    if isinstance(node, Exists) and node.present:
        return Sql(f"fv.t > {R_NULL}"), True
    if isinstance(node, Regex):
        prefix = translate(node.pattern, node.flags).prefix
        if not prefix:
            return None
        prefix = prefix[:PREFIX]
        upper = successor(prefix)
        if upper is None:
            return Sql(f"(fv.t = {R_STRING} AND fv.n = 0 AND fv.s >= {ph})", [prefix]), False
        return Sql(
            f"(fv.t = {R_STRING} AND fv.n = 0 AND fv.s >= {ph} AND fv.s < {ph})", [prefix, upper]
        ), False
    return None


def probe_select(node: Node, index: IndexDef, parent_id: int, ph: str) -> tuple[Sql, bool] | None:
    """``SELECT fv.oid FROM field_values fv WHERE <rows matching node>`` and whether it is exact,
    or None when the index cannot answer ``node``."""
    found = _row_condition(node, ph)
    if found is None:
        return None
    condition, exact = found
    head = Sql(
        f"SELECT fv.oid FROM field_values fv WHERE fv.parent_id = {ph} AND fv.slot = {ph} AND ",  # nosec B608: placeholders only; values bound
        [parent_id, index.slot],
    )
    return head + condition, exact


def probe(node: Node, index: IndexDef, parent_id: int, ph: str) -> tuple[Cond, bool] | None:
    """``o.oid IN (<field_values rows matching node>)`` and whether it is exact, or None when the
    index cannot answer ``node``."""
    found = probe_select(node, index, parent_id, ph)
    if found is None:
        return None
    return fmt("o.oid IN ({})", found[0]), found[1]


def sort_join(index: IndexDef, parent_id: int, ph: str, conditions: list[Sql]) -> Sql:
    """The join that lets the index rows of a non-multikey path drive the order, with the row
    ``conditions`` of the filter on that same path (they pin ``t``, so they replace the
    sort-row range)."""
    head = Sql(
        f" JOIN field_values fs ON fs.oid = o.oid AND fs.parent_id = {ph} AND fs.slot = {ph}",
        [parent_id, index.slot],
    )
    if not conditions:
        return head + Sql(f" AND fs.t < {T_SORTABLE_BELOW}")
    return head + join(" AND ", conditions, " AND ")


def sort_tiebreak(text: Sql) -> Sql:
    """The exact tie-breaker inside equal index keys: the whole string when ``s`` is a cut prefix."""
    return fmt(f"CASE WHEN fs.t = {R_STRING} AND length(fs.s) >= {PREFIX} THEN {{}} END", text)
