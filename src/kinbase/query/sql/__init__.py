"""Compile query ASTs to parameterised SQL for SQLite and PostgreSQL (placeholder: the compiler
lands with the query engine). The storage engines use exactly this interface."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kinbase.query.ast import IndexDef, Query
from kinbase.types import Document, Path

__all__ = [
    "CompileContext",
    "Dialect",
    "Sql",
    "compile_find",
    "index_entries",
    "is_multikey",
    "register_sqlite_functions",
]

Dialect = Literal["sqlite", "postgresql"]


@dataclass(slots=True)
class Sql:
    """SQL text with ``?`` (SQLite) or ``%s`` (psycopg) placeholders, and the values they bind."""

    text: str
    params: list[Any] = field(default_factory=list)

    def __add__(self, other: Sql) -> Sql:
        return Sql(self.text + other.text, self.params + other.params)


@dataclass(frozen=True, slots=True)
class CompileContext:
    """What the compiler needs to know about the parent being queried."""

    dialect: Dialect
    parent_id: int
    indexes: Mapping[Path, IndexDef] = field(default_factory=dict)
    id_path: Path | None = None
    stamp_path: Path | None = None


def compile_find(query: Query, ctx: CompileContext, *, select: str, where: Sql, count: bool = False) -> Sql:
    """The whole statement for ``query`` over ``objects o`` (placeholder: no filter, no sort)."""
    if query.filter is not None or query.sort:
        from kinbase.query.sql.interim_kinto import compile_kinto  # INTERIM until the query engine lands

        text, params = compile_kinto(
            query, ctx.dialect, ctx.id_path, ctx.stamp_path, select, where.text, list(where.params), count
        )
        return Sql(text, params)
    ph = "?" if ctx.dialect == "sqlite" else "%s"
    if count:
        return Sql(f"SELECT count(*) FROM objects o WHERE {where.text}", list(where.params))
    text = f"SELECT {select} FROM objects o WHERE {where.text} ORDER BY o.oid"
    params = list(where.params)
    if query.limit is not None or query.skip:
        text += f" LIMIT {ph} OFFSET {ph}"
        params += [
            query.limit if query.limit is not None else -1 if ctx.dialect == "sqlite" else None,
            query.skip,
        ]
    return Sql(text, params)


def index_entries(doc: Document, path: Path) -> list[tuple[int, float, str]]:
    """The (type rank, number, string) candidate values of ``path`` in ``doc`` (placeholder)."""
    raise NotImplementedError("the query compiler has not landed yet")


def register_sqlite_functions(conn: sqlite3.Connection) -> None:
    """Register the SQL functions the SQLite statements use (placeholder: none yet)."""


def is_multikey(doc: Document, path: Path) -> bool:
    """Whether ``path`` has several candidate values in ``doc`` (placeholder)."""
    raise NotImplementedError("the query compiler has not landed yet")
