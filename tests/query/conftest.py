"""Shared databases for the query tests: one SQLite connection and one PostgreSQL schema per
test process. PostgreSQL is required: if it is unreachable the tests fail, they never skip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kinbase.storage.sqlite.driver import sqlite as sqlite3
from tests.query.qharness import Backends, PgDatabase, sqlite_database


@pytest.fixture(scope="session")
def lite() -> Iterator[sqlite3.Connection]:
    conn = sqlite_database()
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def pg() -> Iterator[PgDatabase]:
    database = PgDatabase()
    yield database
    database.close()


@pytest.fixture(scope="session")
def backends(lite: sqlite3.Connection, pg: PgDatabase) -> Backends:
    return Backends(lite, pg)
