"""Command-line arguments that select a fresh database of each engine (for subprocess tests)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql as pgsql

from tests.conftest import POSTGRES_URL

__all__ = ["database_args"]


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
