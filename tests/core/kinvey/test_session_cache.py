"""The sessions each worker caches: whatever ends a session through one worker is refused by the
other on its next request (two services over one database stand for two workers, each with its
own invalidation feed: the SQLite log or PostgreSQL NOTIFY). The same with real server processes:
tests/reliability/test_cross_worker.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from kinbase.core.invalidation import IN_REQUEST, create_invalidations
from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.services import KinveyServices
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, StorageBackend

pytestmark = pytest.mark.anyio

SETTINGS = Settings(password_hash_time_cost=1, password_hash_memory_kib=8)


@pytest.fixture
async def workers(storage: StorageBackend) -> AsyncIterator[tuple[KinveyServices, KinveyServices]]:
    feeds = [create_invalidations(SETTINGS, storage) for _ in range(2)]
    for feed in feeds:
        await feed.start()
    yield (
        KinveyServices(SETTINGS, storage, lambda: b"s" * 32, invalidations=feeds[0]),
        KinveyServices(SETTINGS, storage, lambda: b"s" * 32, invalidations=feeds[1]),
    )
    for feed in feeds:
        await feed.stop()


async def _resolved(worker: KinveyServices, app: AppRecord, token: str) -> bool:
    """What the worker answers to a new request with ``token``. A pushed feed (NOTIFY) delivers
    in a task of its own: give it a moment, as the next request of a real worker would get."""
    outside = IN_REQUEST.set([True])
    try:
        for _ in range(50):
            if await worker.sessions.resolve(app, token) is None:
                return False
            await asyncio.sleep(0.02)
            IN_REQUEST.set([True])
        return True
    finally:
        IN_REQUEST.reset(outside)  # later tests in this task run outside any request


async def _signup(worker: KinveyServices, app: AppRecord, name: str) -> tuple[str, str]:
    result = await worker.users.signup(app, {"username": name, "password": "pw"}, with_token=True)
    assert result.token is not None
    return str(result.user["_id"]), result.token


@pytest.mark.parametrize(
    "end",
    ["logout", "revoke", "password", "disable", "hard delete"],
)
async def test_a_session_ended_through_one_worker_is_refused_by_the_other(
    workers: tuple[KinveyServices, KinveyServices], app: AppRecord, end: str
) -> None:
    a, b = workers
    user_id, token = await _signup(a, app, "ann")
    _, other_token = await _signup(a, app, "bob")
    assert await b.sessions.resolve(app, token) is not None  # b caches it
    assert await b.sessions.resolve(app, other_token) is not None
    master = Caller.master()
    actions: dict[str, Callable[[], Awaitable[object]]] = {
        "logout": lambda: a.sessions.close(app, token),
        "revoke": lambda: a.users.revoke_sessions(app, master, user_id),
        "password": lambda: a.users.update(app, master, user_id, {"username": "ann", "password": "new"}),
        "disable": lambda: a.users.delete(app, master, user_id, hard=False),
        "hard delete": lambda: a.users.delete(app, master, user_id, hard=True),
    }
    await actions[end]()
    assert not await _resolved(b, app, token)
    assert not await _resolved(a, app, token)
    assert await b.sessions.resolve(app, other_token) is not None  # another user's session lives on


async def test_a_cached_session_still_expires(
    workers: tuple[KinveyServices, KinveyServices], app: AppRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = workers
    _, token = await _signup(a, app, "cat")
    session = await a.sessions.resolve(app, token)
    assert session is not None
    import kinbase.core.kinvey.sessions as sessions

    monkeypatch.setattr(sessions, "now_ms", lambda: session.expires)
    assert await a.sessions.resolve(app, token) is None
