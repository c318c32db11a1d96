"""Group commit (kinbase.storage.group), on SQLite and on PostgreSQL.

Concurrent grouped writers of one collection share transactions: every one is acknowledged with its
own result and stored, stamps stay strictly increasing, and fewer transactions commit than writers;
a failing writer (in its builder, or a statement the database refuses) rolls back only its own
savepoint; a writer is acknowledged only after the commit, so SIGKILL after acknowledgements loses
none of them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kinbase.errors import BaaSError
from kinbase.query.ast import Query
from kinbase.storage.base import AppRecord, NewVersion, StorageBackend, WriteContext
from kinbase.storage.group import WriteGroups
from kinbase.storage.postgresql import PostgreSQLStorage
from kinbase.storage.sqlite import SQLiteStorage
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.anyio


@pytest.fixture
async def grouped(storage: StorageBackend) -> AsyncIterator[StorageBackend]:
    assert isinstance(storage, SQLiteStorage | PostgreSQLStorage)
    before = storage.group_commit
    storage.group_commit = True
    yield storage
    storage.group_commit = before


@pytest.fixture
async def app(storage: StorageBackend) -> AppRecord:
    async with storage.writer() as writer:
        return await writer.create_app(f"kid_g{time.monotonic_ns()}", "group", "s1", "s2", {})


def _groups(storage: StorageBackend) -> WriteGroups:
    assert isinstance(storage, SQLiteStorage | PostgreSQLStorage)
    return storage.groups


async def _write(storage: StorageBackend, app: AppRecord, object_id: str, fail: bool = False) -> int:
    async with storage.grouped_writer((app.id, "test.group", "c")) as writer:
        parent = await writer.ensure_parent(app.id, "test.group", "c")

        def build(ctx: WriteContext) -> NewVersion:
            if fail:
                raise BaaSError("refused by the builder")
            return NewVersion(data={"id": object_id})

        result = await writer.put(parent, object_id, build, new=True)
        return result.object.stamp


async def _stored(storage: StorageBackend, app: AppRecord) -> dict[str, int]:
    async with storage.reader() as reader:
        parent = await reader.get_parent(app.id, "test.group", "c")
        assert parent is not None
        return {o.id: o.stamp for o in await reader.find(parent, Query())}


async def test_concurrent_writers_share_transactions_and_each_gets_its_result(
    grouped: StorageBackend, app: AppRecord
) -> None:
    await _write(grouped, app, "first")
    before = _groups(grouped).batches
    stamps = await asyncio.gather(*(_write(grouped, app, f"o{i}") for i in range(40)))
    stored = await _stored(grouped, app)
    assert {f"o{i}": s for i, s in enumerate(stamps)} == {k: v for k, v in stored.items() if k != "first"}
    assert len(set(stamps)) == 40  # each its own, strictly increasing stamp
    committed = _groups(grouped).batches - before
    assert 1 <= committed < 40  # grouped: fewer transactions than writers


async def test_a_failing_writer_rolls_back_only_its_own_savepoint(
    grouped: StorageBackend, app: AppRecord
) -> None:
    async def broken_statement() -> None:
        async with grouped.grouped_writer((app.id, "test.group", "c")) as writer:
            parent = await writer.ensure_parent(app.id, "test.group", "c")
            await writer.put(parent, "bad-sql", lambda ctx: NewVersion(data={}), new=True)
            await writer._run("INSERT INTO no_such_table VALUES (1)")  # type: ignore[attr-defined]

    jobs = [_write(grouped, app, f"ok{i}") for i in range(10)]
    jobs.insert(3, _write(grouped, app, "refused", fail=True))
    jobs.insert(7, broken_statement())
    results = await asyncio.gather(*jobs, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 2, results
    assert isinstance(results[3], BaaSError)
    stored = await _stored(grouped, app)
    assert sorted(stored) == sorted(f"ok{i}" for i in range(10))


async def test_off_is_an_ordinary_writer(storage: StorageBackend, app: AppRecord) -> None:
    assert isinstance(storage, SQLiteStorage | PostgreSQLStorage)
    before = storage.group_commit
    storage.group_commit = False
    try:
        batches = storage.groups.batches
        await asyncio.gather(*(_write(storage, app, f"p{i}") for i in range(5)))
        assert storage.groups.batches == batches
        assert len(await _stored(storage, app)) == 5
    finally:
        storage.group_commit = before


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from kinbase.storage.base import NewVersion
    from kinbase.storage.postgresql import PostgreSQLStorage
    from kinbase.storage.sqlite import SQLiteStorage

    async def main(engine, where):
        if engine == "sqlite":
            storage = SQLiteStorage(where, group_commit=True)
        else:
            storage = PostgreSQLStorage(sys.argv[3], schema=where, group_commit=True)
        await storage.start()
        async with storage.writer() as w:
            app = await w.create_app("kid_durable", "durable", "a", "b", {})
        print("ready", flush=True)

        async def stream(n):
            i = 0
            while True:
                async with storage.grouped_writer("stream") as w:
                    parent = await w.ensure_parent(app.id, "test.collection", "stream")
                    build = lambda ctx: NewVersion(data={"pad": "x" * 200})
                    await w.put(parent, f"w{n}-{i}", build, new=True)
                print(f"ack w{n}-{i}", flush=True)
                i += 1

        await asyncio.gather(*(stream(n) for n in range(16)))

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def _durable_ids(engine: str, where: str) -> set[str]:
    storage: StorageBackend = (
        SQLiteStorage(where) if engine == "sqlite" else PostgreSQLStorage(POSTGRES_URL, schema=where)
    )
    await storage.start()
    try:
        async with storage.reader() as r:
            app = await r.get_app("kid_durable")
            assert app is not None
            parent = await r.get_parent(app.id, "test.collection", "stream")
            assert parent is not None
            return {o.id for o in await r.find(parent, Query())}
    finally:
        await storage.stop()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_sigkill_after_grouped_acknowledgements_loses_none(tmp_path: Path, engine: str) -> None:
    import psycopg
    from psycopg import sql as pgsql

    where = (
        str(tmp_path / "durable.db") if engine == "sqlite" else f"kbt_gc_{os.getpid()}_{time.monotonic_ns()}"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, engine, where, POSTGRES_URL],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    acked: list[str] = []
    try:
        ready = process.stdout.readline()
        assert ready.strip() == "ready", ready + (process.stderr.read() if process.stderr else "")
        deadline = time.monotonic() + 120
        while len(acked) < 500 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("ack "):
                acked.append(line.split()[1])
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        assert len(acked) >= 500
        stored = asyncio.run(_durable_ids(engine, where))
        missing = [i for i in acked if i not in stored]
        assert not missing, f"{len(missing)} acknowledged grouped writes lost after SIGKILL: {missing[:5]}"
    finally:
        if process.poll() is None:
            process.kill()
        if engine == "postgresql":
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(where)))
