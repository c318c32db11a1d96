"""Fresh databases for tests: command-line arguments that select one of each engine (for
subprocess tests), and a started PostgreSQL storage in a schema of its own."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
from psycopg import sql as pgsql

from kinbase.storage.postgresql import PostgreSQLStorage
from tests.conftest import POSTGRES_URL

__all__ = ["database_args", "private_postgresql"]


def database_args(engine: str, tmp_path: Path) -> Iterator[list[str]]:
    """Yield ``--data-dir`` (SQLite) or ``--database-url`` with a private schema (PostgreSQL)."""
    if engine == "sqlite":
        yield ["--data-dir", str(tmp_path / "data")]
        return
    schema = f"kbt_cli_{os.getpid()}_{time.monotonic_ns()}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(schema)))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield ["--database-url", f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"]
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP SCHEMA {} CASCADE").format(pgsql.Identifier(schema)))


@contextlib.asynccontextmanager
async def private_postgresql(
    prefix: str, storage_class: type[PostgreSQLStorage] = PostgreSQLStorage, *, max_size: int = 4
) -> AsyncIterator[PostgreSQLStorage]:
    """A started storage whose tables are its own (schema ``kbt_<prefix>_<random>``, dropped
    after): for a test whose counters or planner statistics the shared schema's rows would move."""
    schema = f"kbt_{prefix}_{secrets.token_hex(4)}"
    storage = storage_class(POSTGRES_URL, min_size=1, max_size=max_size, schema=schema)
    await storage.start()
    try:
        yield storage
    finally:
        await storage.stop()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema)))
