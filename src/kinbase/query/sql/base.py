"""SQL fragments, boolean condition algebra and the compile context."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from kinbase.query.ast import IndexDef
from kinbase.types import Path

__all__ = ["CompileContext", "Cond", "Dialect", "Sql", "and_", "join", "or_", "render"]

Dialect = Literal["sqlite", "postgresql"]


@dataclass(slots=True)
class Sql:
    """SQL text with ``?`` (SQLite) or ``%s`` (psycopg) placeholders, and the values they bind.

    Values and JSON paths only ever travel in ``params``; ``text`` holds fixed SQL.
    """

    text: str
    params: list[Any] = field(default_factory=list)
    indexed: bool = False
    """Set by :func:`~kinbase.query.sql.compile_find` on a whole statement that an index bounds:
    a top-level conjunct is an index probe (a field or compound index, or the id column), or an
    index walk in the order stops at the limit. A statement without it may scan the parent."""
    walk: bool = False
    """Set on a statement whose order a field or compound index gives, with a limit: its plan is
    meant to be that index's walk in order, stopping after skip + limit rows that pass the
    filter (PostgreSQL runs such a statement on a generic plan once its shape is checked:
    :mod:`kinbase.storage.postgresql.generic`)."""

    def __add__(self, other: Sql) -> Sql:
        return Sql(self.text + other.text, self.params + other.params)


def join(separator: str, parts: Iterable[Sql], prefix: str = "", suffix: str = "") -> Sql:
    """Concatenate fragments with ``separator`` between them, in one pass."""
    texts: list[str] = []
    params: list[Any] = []
    for part in parts:
        texts.append(part.text)
        params.extend(part.params)
    return Sql(prefix + separator.join(texts) + suffix, params)


def fmt(template: str, *parts: Sql) -> Sql:
    """``template`` with each ``{}`` replaced by the next fragment (params kept in order).

    Templates hold no other braces (the SQL this package writes never needs them)."""
    if len(parts) == 1:
        part = parts[0]
        return Sql(template.format(part.text), [*part.params])
    return Sql(template.format(*[p.text for p in parts]), [x for p in parts for x in p.params])


Cond: TypeAlias = "Sql | bool"
"""A boolean condition: SQL, or a constant known at compile time (folded away where possible).

A SQL condition is TRUE when it holds and FALSE *or NULL* when it does not; :func:`negate` makes
that two-valued before inverting it."""


_FLAT = 32


def _balanced(separator: str, sqls: list[Sql]) -> Sql:
    """``(a OP b OP ...)``; past :data:`_FLAT` terms, nested in halves, so that SQLite's parser
    (which builds ``a AND b AND c`` as a left-deep tree and refuses a depth above 1,000) sees a
    depth that grows with the logarithm of the number of terms. Same meaning on both engines."""
    if len(sqls) <= _FLAT:
        return join(separator, sqls, "(", ")")
    middle = len(sqls) // 2
    return join(
        separator, [_balanced(separator, sqls[:middle]), _balanced(separator, sqls[middle:])], "(", ")"
    )


def and_(*parts: Cond) -> Cond:
    sqls: list[Sql] = []
    for part in parts:
        if part is False:
            return False
        if part is True:
            continue
        assert isinstance(part, Sql)
        sqls.append(part)
    if not sqls:
        return True
    if len(sqls) == 1:
        return sqls[0]
    return _balanced(" AND ", sqls)


def or_(*parts: Cond) -> Cond:
    sqls: list[Sql] = []
    for part in parts:
        if part is True:
            return True
        if part is False:
            continue
        assert isinstance(part, Sql)
        sqls.append(part)
    if not sqls:
        return False
    if len(sqls) == 1:
        return sqls[0]
    return _balanced(" OR ", sqls)


def negate(part: Cond, nullable: bool = True) -> Cond:
    """Logical NOT; NULL (unknown) counts as false, so the result is two-valued."""
    if isinstance(part, bool):
        return not part
    if nullable:
        return fmt("NOT coalesce({}, FALSE)", part)
    return fmt("NOT {}", part)


def render(part: Cond) -> Sql:
    if part is True:
        return Sql("TRUE")
    if part is False:
        return Sql("FALSE")
    assert isinstance(part, Sql)
    return part


def case(condition: Cond, then: Cond, otherwise: Cond) -> Cond:
    """``CASE WHEN condition THEN then ELSE otherwise END`` (NULL condition: ``otherwise``)."""
    if condition is True:
        return then
    if condition is False:
        return otherwise
    if then == otherwise:
        return then
    if then is True and otherwise is False:
        return condition
    return fmt("CASE WHEN {} THEN {} ELSE {} END", render(condition), render(then), render(otherwise))


@dataclass(frozen=True, slots=True)
class CompileContext:
    """What the compiler needs to know about the parent being queried.

    Attributes:
        dialect: the SQL dialect to write.
        parent_id: the parent's id (``objects.parent_id``, ``field_values.parent_id``).
        indexes: the parent's declared field indexes by path.
        id_path: documents mirror ``o.id`` (a string) at this path; filters and sorts on it use
            the column.
        stamp_path: documents mirror ``o.stamp`` (integer ms) at this path.
        index_sort: allow a non-multikey field index to drive the order by joining
            ``field_values``; only valid when every row the read can return has its index
            entries (set False when the read includes tombstones without entries).
        compounds: the parent's compound indexes (:mod:`kinbase.query.sql.compound`).
        quick_sort: SQLite: a top-N sort may order by quick keys of top-level fields, which a
            statement refuses when it cannot trust them (``compile_find``): only a caller that
            then runs the query again with the exact keys (the storage reader) sets it.
    """

    dialect: Dialect
    parent_id: int
    indexes: Mapping[Path, IndexDef] = field(default_factory=dict)
    id_path: Path | None = None
    stamp_path: Path | None = None
    index_sort: bool = True
    compounds: tuple[IndexDef, ...] = ()
    quick_sort: bool = False
