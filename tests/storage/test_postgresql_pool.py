"""The PostgreSQL pool: which connections are checked before they are lent."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

import kinbase.storage.postgresql as pg
from kinbase.storage.exceptions import StorageError
from kinbase.storage.postgresql import PostgreSQLStorage
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.anyio


async def _backend_pid(storage: PostgreSQLStorage) -> int:
    async with storage.reader() as reader:
        meta = await reader.get_meta("no-such-key")  # a read, so the connection counts as used
        assert meta is None
    pool = storage._require_pool()
    async with pool.connection() as conn:
        return conn.info.backend_pid


def _terminate(pid: int) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.fixture
async def single(pg_schema: str) -> AsyncIterator[PostgreSQLStorage]:
    storage = PostgreSQLStorage(POSTGRES_URL, min_size=1, max_size=1, schema=pg_schema)
    await storage.start()
    yield storage
    await storage.stop()


async def test_an_idle_connection_the_server_closed_is_replaced(
    single: PostgreSQLStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg, "TRUSTED_SECONDS", 0.0)  # every connection counts as idle
    _terminate(await _backend_pid(single))
    async with single.reader() as reader:
        assert await reader.get_meta("no-such-key") is None


async def test_a_recently_used_connection_killed_is_replaced_by_one_retry(
    single: PostgreSQLStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Skipping the check lends a connection killed within TRUSTED_SECONDS of its last use; the
    read that meets it is run again once on a fresh connection instead of failing."""
    monkeypatch.setattr(pg, "TRUSTED_SECONDS", 3600.0)
    pid = await _backend_pid(single)
    _terminate(pid)
    async with single.reader() as reader:
        assert await reader.get_meta("no-such-key") is None
    assert await _backend_pid(single) != pid


async def test_a_write_on_a_killed_connection_fails_cleanly_and_is_not_acknowledged(
    single: PostgreSQLStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg, "TRUSTED_SECONDS", 3600.0)
    _terminate(await _backend_pid(single))
    with pytest.raises(StorageError) as caught:
        async with single.writer() as writer:
            await writer.set_meta("reliability", "lost")
    assert caught.value.message == "The database failed to write; retry later."
    assert caught.value.original is not None  # the driver's message is kept for the log only
    async with single.reader() as reader:
        assert await reader.get_meta("reliability") is None
    async with single.writer() as writer:  # the next write gets a checked, fresh connection
        await writer.set_meta("reliability", "kept")
    async with single.reader() as reader:
        assert await reader.get_meta("reliability") == "kept"


def _terminate_named(name: str) -> int:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
            (name,),
        ).fetchone()
    return int(row[0]) if row else 0


async def test_a_loan_passes_every_dead_idle_connection_at_once(
    pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16 item 1 of the last run: eight idle connections terminated, then one read. The
    pool's own check waited 1, 2, 4, 8, 16 s between two dead connections (31 s for six: a 503
    after its 30 s wait); kinbase's loan drops each dead one and takes the next at once."""
    monkeypatch.setattr(pg, "TRUSTED_SECONDS", 0.0)  # every connection is checked, as when idle
    name = "kbt_idle_" + secrets.token_hex(4)
    storage = PostgreSQLStorage(
        f"{POSTGRES_URL}?application_name={name}", min_size=8, max_size=8, schema=pg_schema, pool_timeout=5
    )
    await storage.start()
    try:

        async def read() -> None:
            async with storage.reader() as reader:
                assert await reader.get_meta("no-such-key") is None
                await asyncio.sleep(0.05)

        await asyncio.gather(*(read() for _ in range(8)))  # eight connections in the pool
        assert storage.pool_stats()["idle"] == 8
        assert _terminate_named(name) == 8
        await asyncio.sleep(0.2)
        await read()
    finally:
        await storage.stop()


async def test_a_connection_killed_while_it_is_set_up_is_retried_at_once(pg_schema: str) -> None:
    """A new connection terminated during its set-up three times in a row: the pool backed off 1,
    2, 4 s before its next attempt (a read waiting 3 s failed); now the connection is retried at a
    fixed short delay, and the read is served."""
    storage = PostgreSQLStorage(POSTGRES_URL, min_size=1, max_size=1, schema=pg_schema, pool_timeout=3)
    configure = storage._configure
    kills = 0

    async def killed_on_the_way(conn: psycopg.AsyncConnection[Any]) -> None:
        nonlocal kills
        await configure(conn)
        if kills > 0:
            kills -= 1
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    storage._configure = killed_on_the_way  # type: ignore[method-assign]
    await storage.start()
    try:
        pid = await _backend_pid(storage)
        kills = 3
        _terminate(pid)
        storage.distrust()
        async with storage.reader() as reader:
            assert await reader.get_meta("no-such-key") is None
        assert kills == 0
    finally:
        await storage.stop()


async def test_reads_go_on_while_every_connection_is_terminated_repeatedly(pg_schema: str) -> None:
    """Every connection of the pool, fresh ones included, terminated every 0.25 s for 3 s under
    three readers: no read fails (a read waiting 5 s for a connection failed before), and the pool
    serves at once afterwards."""
    name = "kbt_storm_" + secrets.token_hex(4)
    storage = PostgreSQLStorage(
        f"{POSTGRES_URL}?application_name={name}", min_size=2, max_size=8, schema=pg_schema, pool_timeout=5
    )
    await storage.start()
    stop = threading.Event()
    terminated = 0

    def storm() -> None:
        nonlocal terminated
        while not stop.wait(0.25):
            terminated += _terminate_named(name)

    reads: list[bool] = []

    async def reader() -> None:
        while not stop.is_set():
            try:
                async with storage.reader() as r:
                    assert await r.get_meta("no-such-key") is None
                reads.append(True)
            except StorageError:
                reads.append(False)
            await asyncio.sleep(0.01)

    thread = threading.Thread(target=storm)
    thread.start()
    try:
        tasks = [asyncio.create_task(reader()) for _ in range(3)]
        await asyncio.sleep(3)
    finally:
        stop.set()
        thread.join()
    await asyncio.gather(*tasks)
    try:
        assert terminated >= 10
        assert len(reads) > 30 and reads.count(False) == 0
        async with storage.reader() as r:
            assert await r.get_meta("no-such-key") is None
    finally:
        await storage.stop()
