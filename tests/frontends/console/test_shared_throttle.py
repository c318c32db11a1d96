"""The console's login throttle is shared by every worker through the database, the operator's
too (it belongs to no app: its failures are counted under the server's own record). Two server
instances (two cores, two ASGI apps) on one database, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from kinbase.app import create_app
from kinbase.core.apps import SERVER_APP_KEY
from kinbase.core.services import Core
from kinbase.core.throttle import LoginThrottle, ThrottlePolicy
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, StorageBackend
from tests.frontends.console.conftest import OPERATOR

pytestmark = pytest.mark.anyio


@pytest.fixture
async def second(
    console: tuple[Core, httpx.AsyncClient], storage: StorageBackend, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """Another server instance on the same database (as another worker or machine would be)."""
    first, _ = console
    settings = Settings(
        data_dir=first.settings.data_dir, console_operator_secret=OPERATOR, login_delay_after=3
    )
    core = Core(settings, storage)
    await core.load_secret()
    transport = httpx.ASGITransport(app=create_app(settings, core), client=("10.1.2.3", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://kinbase.test") as http:
        yield http
    await core.flex.close()
    await core.files.ledger.close()


async def test_operator_throttle_shared(
    console: tuple[Core, httpx.AsyncClient], second: httpx.AsyncClient
) -> None:
    core, first = console
    for _ in range(3):
        r = await first.post("/console/login", data={"app_key": "", "secret": "wrong"})
        assert r.status_code == 401 and "Wrong" in r.text
    # The other instance refuses the operator, the right secret too.
    r = await second.post("/console/login", data={"app_key": "", "secret": OPERATOR})
    assert r.status_code == 429 and "retry in" in r.text
    # After the backoff (cleared here), a success on one instance clears the count for both.
    server = await core.apps.server()
    await LoginThrottle(core.storage, ThrottlePolicy(), "console").clear(server.id)
    await Core(core.settings, core.storage).apps.server()  # found, not created twice
    r = await second.post("/console/login", data={"app_key": "", "secret": OPERATOR})
    assert r.status_code == 303
    r = await first.post("/console/login", data={"app_key": "", "secret": "wrong"})
    assert r.status_code == 401
    # The server's own record is no app: not listed, not addressable.
    assert SERVER_APP_KEY not in [a.key for a in await core.apps.list()]
    assert await core.apps.get(SERVER_APP_KEY) is None
    assert not await core.apps.delete(SERVER_APP_KEY)


async def test_master_throttle_shared(
    console: tuple[Core, httpx.AsyncClient], second: httpx.AsyncClient, app: AppRecord
) -> None:
    _, first = console
    for _ in range(3):
        r = await first.post("/console/login", data={"app_key": app.key, "secret": "wrong"})
        assert r.status_code == 401
    r = await second.post("/console/login", data={"app_key": app.key, "secret": app.master_secret})
    assert r.status_code == 429 and "retry in" in r.text
