"""Run queries against the real schemas: an in-memory SQLite database and a private PostgreSQL
schema, both created from the storage engines' migration files."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path as FsPath
from typing import Any

import orjson
import psycopg

from kinbase.query.ast import IndexDef, Query
from kinbase.query.sql import (
    CompileContext,
    Sql,
    compile_find,
    index_entries,
    is_multikey,
    quick_sort_refused,
    register_sqlite_functions,
)
from kinbase.query.sql.depth import TREE_BUDGET
from kinbase.storage.migrations import load_migrations
from kinbase.storage.sqlite.driver import sqlite as sqlite3
from kinbase.types import Document, Path

ROOT = FsPath(__file__).resolve().parents[2]
SQLITE_MIGRATIONS = "\n".join(m.sql for m in load_migrations("sqlite"))
PG_MIGRATIONS = "\n".join(m.sql for m in load_migrations("postgresql"))
PG_URL = os.environ.get("KINBASE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PARENT = 7


def sqlite_database() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)  # the server's SQLite: documents are JSONB
    conn.executescript(SQLITE_MIGRATIONS)
    register_sqlite_functions(conn)
    return conn


class PgDatabase:
    """A connection whose ``search_path`` is a fresh schema holding the kinbase tables."""

    def __init__(self) -> None:
        self.conn = psycopg.connect(PG_URL, autocommit=True)
        self.drop_stale()
        self.schema = f"q_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.conn.execute(f'CREATE SCHEMA "{self.schema}"')
        self.conn.execute(f'SET search_path TO "{self.schema}"')
        # JIT compiles the big JSON expressions for hundreds of ms; OLTP servers turn it off.
        self.conn.execute("SET jit = off")
        self.conn.execute(PG_MIGRATIONS)

    def analyze(self) -> None:
        """Fresh statistics of this schema's tables. A bare ``ANALYZE`` would analyze every table of
        the database: other test processes' too, whose tests check the planner's estimates."""
        tables = self.conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (self.schema,)
        ).fetchall()
        names = ", ".join(f'"{self.schema}"."{name}"' for (name,) in tables)
        self.conn.execute(f"ANALYZE {names}")  # nosec B608: names read from the catalogue

    def drop_stale(self) -> None:
        """Drop the schemas of earlier test processes that died before cleaning up."""
        rows = self.conn.execute(
            r"SELECT nspname FROM pg_namespace WHERE nspname ~ '^q_test_[0-9]+_[0-9a-f]{8}$'"
        )
        for (name,) in rows.fetchall():
            if not FsPath(f"/proc/{name.split('_')[2]}").exists():
                self.conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    def close(self) -> None:
        try:
            self.conn.execute(f'DROP SCHEMA "{self.schema}" CASCADE')
        finally:
            self.conn.close()


def rows_for(
    docs: Sequence[Document], ids: Sequence[str] | None = None, stamps: Sequence[int] | None = None
) -> list[tuple[Any, ...]]:
    out = []
    for i, doc in enumerate(docs):
        oid = i + 1
        out.append(
            (
                oid,
                PARENT,
                ids[i] if ids is not None else f"id{oid:05d}",
                stamps[i] if stamps is not None else 1000 + oid,
                0,
                orjson.dumps(doc).decode(),
            )
        )
    return out


def index_rows(docs: Sequence[Document], indexes: Mapping[Path, int]) -> list[tuple[Any, ...]]:
    out = []
    for i, doc in enumerate(docs):
        for path, slot in indexes.items():
            for t, n, s in index_entries(doc, path):
                out.append((PARENT, slot, t, n, s, i + 1))
    return out


def index_defs(docs: Sequence[Document], indexes: Mapping[Path, int]) -> dict[Path, IndexDef]:
    return {
        path: IndexDef(path, slot, any(is_multikey(doc, path) for doc in docs))
        for path, slot in indexes.items()
    }


class Backends:
    """The same documents loaded in SQLite and PostgreSQL; run a query on both."""

    def __init__(self, lite: sqlite3.Connection, pg: PgDatabase) -> None:
        self.lite = lite
        self.pg = pg.conn
        self.refusals = 0

    def load(
        self,
        docs: Sequence[Document],
        indexes: Mapping[Path, int] | None = None,
        ids: Sequence[str] | None = None,
        stamps: Sequence[int] | None = None,
    ) -> None:
        objects = rows_for(docs, ids, stamps)
        fvs = index_rows(docs, indexes or {})
        self.lite.execute("DELETE FROM objects")
        self.lite.execute("DELETE FROM field_values")
        self.lite.executemany(
            "INSERT INTO objects (oid, parent_id, id, stamp, created, data) VALUES (?, ?, ?, ?, ?, jsonb(?))",
            objects,
        )
        self.lite.executemany(
            "INSERT INTO field_values (parent_id, slot, t, n, s, oid) VALUES (?, ?, ?, ?, ?, ?)", fvs
        )
        with self.pg.cursor() as cur:
            cur.execute("DELETE FROM objects")
            cur.execute("DELETE FROM field_values")
            with cur.copy("COPY objects (oid, parent_id, id, stamp, created, data) FROM STDIN") as copy:
                for row in objects:
                    copy.write_row(row)
            with cur.copy("COPY field_values (parent_id, slot, t, n, s, oid) FROM STDIN") as copy:
                for row in fvs:
                    copy.write_row(row)

    def statement(
        self,
        dialect: str,
        query: Query,
        ctx: CompileContext,
        tree_budget: int = TREE_BUDGET,
        count: bool = False,
    ) -> Sql:
        ph = "?" if dialect == "sqlite" else "%s"
        deleted = "o.deleted = 0" if dialect == "sqlite" else "NOT o.deleted"
        where = Sql(f"o.parent_id = {ph} AND {deleted}", [PARENT])
        return compile_find(query, ctx, select="o.oid", where=where, count=count, tree_budget=tree_budget)

    def run_sqlite(self, query: Query, ctx: CompileContext, tree_budget: int = TREE_BUDGET) -> list[int]:
        """The rows, as the storage engine reads them: a statement whose quick sort keys refused a
        row (``quick_sort_refused``) runs again with the exact keys; ``self.refusals`` counts it."""
        sql = self.statement("sqlite", query, ctx, tree_budget)
        rows = self.lite.execute(sql.text, sql.params).fetchall()
        if quick_sort_refused():
            self.refusals += 1
            sql = self.statement("sqlite", query, dataclasses.replace(ctx, quick_sort=False), tree_budget)
            rows = self.lite.execute(sql.text, sql.params).fetchall()
        return [r[0] - 1 for r in rows]

    def run_pg(self, query: Query, ctx: CompileContext, tree_budget: int = TREE_BUDGET) -> list[int]:
        sql = self.statement("postgresql", query, ctx, tree_budget)
        return [r[0] - 1 for r in self.pg.execute(sql.text, sql.params).fetchall()]

    def run_pg_many(self, statements: Sequence[Sql]) -> list[list[int]]:
        """The single-column results of several statements, in one round trip (each as an ARRAY)."""
        out: list[list[int]] = []
        batch: list[Sql] = []
        size = 0

        def flush() -> None:
            if not batch:
                return
            text = "SELECT " + ", ".join(f"ARRAY({s.text})" for s in batch)
            params = [p for s in batch for p in s.params]
            row = self.pg.execute(text, params).fetchone()
            assert row is not None
            out.extend([list(column) for column in row])
            batch.clear()

        for statement in statements:
            if size + len(statement.params) > 30000:
                flush()
                size = 0
            batch.append(statement)
            size += len(statement.params)
        flush()
        return out

    def count(self, query: Query, ctx_lite: CompileContext, ctx_pg: CompileContext) -> tuple[int, int]:
        a = self.statement("sqlite", query, ctx_lite, count=True)
        b = self.statement("postgresql", query, ctx_pg, count=True)
        lite = self.lite.execute(a.text, a.params).fetchone()
        pg = self.pg.execute(b.text, b.params).fetchone()
        assert lite is not None and pg is not None
        return int(lite[0]), int(pg[0])


def contexts(
    indexes: Mapping[Path, IndexDef] | None = None,
    id_path: Path | None = None,
    stamp_path: Path | None = None,
    quick_sort: bool = False,
) -> tuple[CompileContext, CompileContext]:
    kw: dict[str, Any] = {"indexes": dict(indexes or {}), "id_path": id_path, "stamp_path": stamp_path}
    return (
        CompileContext("sqlite", PARENT, quick_sort=quick_sort, **kw),
        CompileContext("postgresql", PARENT, **kw),
    )
