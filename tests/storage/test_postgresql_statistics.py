"""The PostgreSQL engine keeps the planner's statistics fresh itself (autovacuum may be off, and
lags a minute and 10 % of a table behind when on): a collection that grew is planned with its
size (storage/postgresql/statistics.py)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg import sql as pgsql

from kinbase.storage.postgresql import PostgreSQLStorage
from kinbase.storage.testing import put_doc
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.anyio


@pytest.fixture
async def storage() -> AsyncIterator[PostgreSQLStorage]:
    schema = "kbt_stats_" + secrets.token_hex(4)  # tables of its own: counters start at zero
    storage = PostgreSQLStorage(POSTGRES_URL, min_size=1, max_size=4, schema=schema)
    await storage.start()
    yield storage
    await storage.stop()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(pgsql.SQL("DROP SCHEMA {} CASCADE").format(pgsql.Identifier(schema)))


async def _estimate(storage: PostgreSQLStorage, parent_id: int) -> float:
    """The planner's estimate of the rows of one collection."""
    async with storage.reader() as reader:
        row = await reader._one(  # type: ignore[attr-defined]
            "EXPLAIN (FORMAT JSON) SELECT oid FROM objects WHERE parent_id = %s", (parent_id,)
        )
    assert row is not None
    return float(row[0][0]["Plan"]["Plan Rows"])


async def _refreshed(storage: PostgreSQLStorage) -> list[str]:
    """What a check analyzes, once PostgreSQL's counters show the writes (a backend reports them
    about once a second)."""
    for _ in range(200):
        analyzed = await storage.statistics.refresh()
        if analyzed:
            return analyzed
        await asyncio.sleep(0.1)
    return []


async def test_a_collection_that_grew_is_planned_with_its_size(storage: PostgreSQLStorage) -> None:
    storage.statistics.delay = 3600  # only the checks below (the writes take seconds when loaded)
    async with storage.writer() as w:
        app = await w.create_app("kid_" + secrets.token_hex(8), "Test app", "s", "m", {})
        small = await w.ensure_parent(app.id, "test.collection", "small")
        grown = await w.ensure_parent(app.id, "test.collection", "grown")
    for i in range(10):
        await put_doc(storage, small, f"s{i}", {"i": i})
    assert await storage.statistics.refresh() == []  # 10 changed rows: below the threshold

    for i in range(1200):
        await put_doc(storage, grown, f"g{i}", {"i": i})
    assert await _estimate(storage, grown.id) < 100  # as if it held a few rows
    analyzed = await _refreshed(storage)
    assert "objects" in analyzed and "grants" not in analyzed  # no grants were written
    assert await _estimate(storage, grown.id) > 600
    assert await storage.statistics.refresh() == []  # nothing changed since


async def test_a_write_schedules_one_check(storage: PostgreSQLStorage) -> None:
    storage.statistics.delay = 0.01
    async with storage.writer() as w:
        app = await w.create_app("kid_" + secrets.token_hex(8), "Test app", "s", "m", {})
    task = storage.statistics._task
    assert task is not None
    async with storage.writer() as w:
        await w.ensure_parent(app.id, "test.collection", "x")
    assert storage.statistics._task is task  # the waiting check covers this write too
    assert await task == []  # a handful of rows: nothing to analyze
