"""More concurrent authenticated requests than PostgreSQL connections in the pool: none waits for a
second connection while holding one (which would stall every request until the pool times out).

The Kinto context holds a reader while it authenticates; the login throttle's check on the hot
path reads through that same reader instead of borrowing another connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from kinbase.app import create_app
from kinbase.core import throttle
from kinbase.core.services import Core
from kinbase.settings import Settings
from kinbase.storage.postgresql import PostgreSQLStorage
from tests.frontends.kinto.conftest import Kinto, new_app
from tests.support.databases import private_postgresql

pytestmark = pytest.mark.anyio


@pytest.fixture
async def small_pool() -> AsyncIterator[PostgreSQLStorage]:
    async with private_postgresql("pool", max_size=2) as storage:
        yield storage


async def test_many_basic_auth_requests_on_a_small_pool(
    small_pool: PostgreSQLStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every request consults the throttle (no cached clear answer), as when the cache expires
    # for all of them at once under load.
    monkeypatch.setattr(throttle, "_CLEAR_TRUSTED_SECONDS", 0.0)
    core = Core(Settings(), small_pool)
    await core.load_secret()
    app = await new_app(small_pool)
    transport = httpx.ASGITransport(app=create_app(core.settings, core))
    async with httpx.AsyncClient(transport=transport, base_url="http://kinbase.test") as http:
        kinto = Kinto(http, app)
        await kinto.account("alice")
        # First the cold path (no verified password yet: one bcrypt check shared by all), then the
        # hot path (verified, the throttle consulted by every request).
        for _ in range(2):
            answers = await asyncio.wait_for(
                asyncio.gather(*(kinto.get("/", "alice") for _ in range(24))), timeout=25
            )
            assert [a.status_code for a in answers] == [200] * 24
            assert all(a.json()["user"]["id"] == "account:alice" for a in answers)
