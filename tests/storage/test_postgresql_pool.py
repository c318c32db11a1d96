"""The PostgreSQL pool: which connections are checked before they are lent."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
