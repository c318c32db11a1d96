"""The invalidation feeds between processes: the SQLite log, PostgreSQL LISTEN/NOTIFY, Redis.

Two feeds on the same database stand for two worker processes (each has its own origin, so its
own messages are not delivered back to it). The end-to-end check with two real server processes
is tests/reliability/test_cross_worker.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from kinbase.core.invalidation import ALL, IN_REQUEST, DatabaseFeed, Invalidations, create_invalidations
from kinbase.core.invalidation_redis import RedisFeed
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend
from kinbase.storage.feed import InvalidationFeed, SubscribedFeed, decode, encode, encode_ack
from kinbase.storage.postgresql import PostgreSQLStorage
from kinbase.storage.postgresql.notify import NotifyFeed
from kinbase.storage.sqlite import SQLiteStorage
from tests.support.redis_restart import PrivateRedis

pytestmark = pytest.mark.anyio

REDIS_URL = "redis://127.0.0.1:6379/0"


class Seen:
    def __init__(self, bus: Invalidations, topic: str = "t") -> None:
        self.keys: list[str] = []
        bus.on(topic, self.keys.append)

    async def wait_for(self, key: str, bus: Invalidations) -> None:
        """Until ``key`` arrived (a pushed feed delivers in its own task); 10 s at most."""
        for _ in range(1000):
            await bus.sync()
            if key in self.keys:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{key!r} never arrived: {self.keys}")


async def sqlite_buses(
    pair: tuple[SQLiteStorage, SQLiteStorage],
) -> tuple[Invalidations, Invalidations, Seen, Seen]:
    """The started buses of two processes on one SQLite file (origins "a" and "b"), each with
    what it was delivered on topic "t"."""
    first, second = pair
    a = Invalidations(DatabaseFeed(first, "a"))
    b = Invalidations(DatabaseFeed(second, "b"))
    seen_a, seen_b = Seen(a), Seen(b)
    await a.start()
    await b.start()
    return a, b, seen_a, seen_b


async def test_the_sqlite_log_reaches_the_other_process_on_its_next_check(
    sqlite_pair: tuple[SQLiteStorage, SQLiteStorage],
) -> None:
    a, b, seen_a, seen_b = await sqlite_buses(sqlite_pair)
    await a.publish("t", "k1")
    assert seen_a.keys == ["k1"]  # at once in the publishing process
    await b.sync()
    assert seen_b.keys == ["k1"]  # on the very next check, no waiting
    await b.sync()
    assert seen_b.keys == ["k1"]  # delivered once
    await a.sync()
    assert seen_a.keys == ["k1"]  # its own message is not delivered back
    await a.publish("other", "x")
    await b.sync()
    assert seen_b.keys == ["k1"]


async def test_one_request_polls_once_and_the_next_request_polls_again(
    sqlite_pair: tuple[SQLiteStorage, SQLiteStorage],
) -> None:
    a, b, _, seen_b = await sqlite_buses(sqlite_pair)
    request = [True]
    token = IN_REQUEST.set(request)
    try:
        await b.sync()  # the request's first cache check polls
        await a.publish("t", "during")
        await b.sync()  # later checks of the same request do not
        assert seen_b.keys == []
        request[0] = False  # the request ended: a task it left behind polls every time
        await b.sync()
        assert seen_b.keys == ["during"]
        await a.publish("t", "next")
        IN_REQUEST.set([True])  # the next request polls on its first check
        await b.sync()
        assert seen_b.keys == ["during", "next"]
    finally:
        IN_REQUEST.reset(token)
    await a.publish("t", "outside")
    await b.sync()  # outside any request: every check polls
    assert seen_b.keys == ["during", "next", "outside"]


def _counted_reads(monkeypatch: pytest.MonkeyPatch, storage: StorageBackend) -> list[str]:
    """The keys ``storage.read_meta`` is called with from now on."""
    reads: list[str] = []
    read_meta = storage.read_meta

    async def counted(key: str) -> str | None:
        reads.append(key)
        return await read_meta(key)

    monkeypatch.setattr(storage, "read_meta", counted)
    return reads


async def test_the_sqlite_commit_marker_moves_with_every_commit_of_any_process(
    sqlite_pair: tuple[SQLiteStorage, SQLiteStorage],
) -> None:
    first, second = sqlite_pair
    marker = second.commit_marker()
    assert marker is not None
    async with second.reader() as reader:
        await reader.get_meta("anything")
    assert second.commit_marker() == marker  # reads move nothing
    for n, storage in enumerate([first, second, first]):
        async with storage.writer() as writer:
            await writer.set_meta("marker-test", str(n))
        moved = second.commit_marker()
        assert moved != marker, n  # another process's commit, and its own
        assert first.commit_marker() == moved  # one shared header
        marker = moved


async def test_the_sqlite_feed_reads_the_database_only_when_something_was_committed(
    sqlite_pair: tuple[SQLiteStorage, SQLiteStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = sqlite_pair
    a, b, _, seen_b = await sqlite_buses(sqlite_pair)
    reads = _counted_reads(monkeypatch, second)
    await b.sync()
    polls = len(reads)
    await b.sync()
    await b.sync()
    assert len(reads) == polls  # no commit since: no statement
    await a.publish("t", "k1")
    await b.sync()
    assert seen_b.keys == ["k1"] and len(reads) > polls  # the commit is seen at once
    polls = len(reads)
    async with first.writer() as writer:  # a commit that publishes nothing: one read, no message
        await writer.set_meta("unrelated", "x")
    await b.sync()
    await b.sync()
    assert seen_b.keys == ["k1"] and len(reads) == polls + 1


async def test_without_a_commit_marker_every_poll_reads(
    sqlite_pair: tuple[SQLiteStorage, SQLiteStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    second = sqlite_pair[1]
    monkeypatch.setattr(second, "commit_marker", lambda: None)
    a, b, _, seen_b = await sqlite_buses(sqlite_pair)
    reads = _counted_reads(monkeypatch, second)
    await b.sync()
    await b.sync()
    assert len(reads) == 2
    await a.publish("t", "k1")
    await b.sync()
    assert seen_b.keys == ["k1"]


async def test_a_process_that_fell_behind_the_log_drops_everything(
    sqlite_pair: tuple[SQLiteStorage, SQLiteStorage],
) -> None:
    first, second = sqlite_pair
    feed_a = DatabaseFeed(first, "a")
    a, b = Invalidations(feed_a), Invalidations(DatabaseFeed(second, "b"))
    seen_b = Seen(b)
    await a.start()
    await b.start()
    for i in range(600):  # more than the log keeps
        await feed_a.send("t", f"k{i}")
    await b.sync()
    assert seen_b.keys == [ALL]


async def test_an_unstarted_bus_delivers_locally_only_when_it_has_no_feed() -> None:
    bus = Invalidations()
    seen = Seen(bus)
    await bus.start()
    await bus.publish("t")
    await bus.sync()
    assert seen.keys == [ALL]
    await bus.stop()


async def test_postgresql_notify_reaches_the_other_process(
    postgresql_storage: StorageBackend, caplog: pytest.LogCaptureFixture
) -> None:
    assert isinstance(postgresql_storage, PostgreSQLStorage)
    a = Invalidations(postgresql_storage.invalidation_feed("a"))
    b = Invalidations(postgresql_storage.invalidation_feed("b"))
    seen_a, seen_b = Seen(a), Seen(b)
    await a.start()
    await b.start()
    # start() waits 10 s at most for the LISTEN connection; on a loaded server it can take longer
    # (connections refused, retried): a message sent before b listens is not b's to hear.
    for _ in range(600):
        if a.connected and b.connected:
            break
        await asyncio.sleep(0.1)
    assert a.connected and b.connected
    seen_a.keys.clear()
    seen_b.keys.clear()
    try:
        await a.publish("t", "k1")
        await a.publish("t", "x" * 9000)  # beyond NOTIFY's payload limit: the whole topic
        await seen_b.wait_for(ALL, b)
        assert seen_b.keys == ["k1", ALL]
        assert seen_a.keys == ["k1", "x" * 9000]
        # each publish returned on its acknowledgements (both processes'), not on the timeout
        assert "acknowledged by" not in caplog.text
    finally:
        await a.stop()
        await b.stop()


async def test_a_lost_notify_feed_trusts_no_cache() -> None:
    async def send(channel: str, payload: str) -> None:
        raise OSError("down")

    feed = NotifyFeed("postgresql://postgres@127.0.0.1:1/none", "x", "a", send)
    bus = Invalidations(feed)
    seen = Seen(bus)
    task = asyncio.create_task(bus.start())
    await asyncio.sleep(0.3)
    assert not feed.connected
    await bus.sync()
    assert ALL in seen.keys
    await bus.publish("t", "k")  # a failed send is logged, never raised
    task.cancel()
    await bus.stop()


async def test_redis_reaches_the_other_process_and_only_on_the_same_database(
    caplog: pytest.LogCaptureFixture,
) -> None:
    identity = f"test:{uuid.uuid4()}"
    a = Invalidations(RedisFeed(REDIS_URL, identity, "a"))
    b = Invalidations(RedisFeed(REDIS_URL, identity, "b"))
    elsewhere = Invalidations(RedisFeed(REDIS_URL, identity + "-other", "c"))
    seen_a, seen_b, seen_elsewhere = Seen(a), Seen(b), Seen(elsewhere)
    for bus in (a, b, elsewhere):
        await bus.start()
    try:
        seen_b.keys.clear()
        seen_elsewhere.keys.clear()
        await a.publish("t", "k1")
        await seen_b.wait_for("k1", b)
        assert seen_a.keys[-1:] == ["k1"]
        assert "k1" not in seen_elsewhere.keys
        assert "acknowledged by" not in caplog.text
    finally:
        for bus in (a, b, elsewhere):
            await bus.stop()


async def test_a_lost_redis_feed_trusts_no_cache() -> None:
    feed = RedisFeed("redis://127.0.0.1:1/0", "x", "a")
    bus = Invalidations(feed)
    seen = Seen(bus)
    task = asyncio.create_task(bus.start())
    await asyncio.sleep(0.3)
    assert not feed.connected
    await bus.sync()
    assert ALL in seen.keys
    await bus.publish("t", "k")  # a failed publish is logged, never raised
    task.cancel()
    await bus.stop()


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never")


async def test_a_restarted_redis_loses_no_invalidation(tmp_path: Path) -> None:
    """A private Redis killed and started again: while it is down neither worker trusts a cache;
    once both are subscribed again, the first change published reaches the other (it met the
    pooled connection Redis had closed, and was lost: the other worker kept its copy)."""
    identity = f"test:{uuid.uuid4()}"
    with PrivateRedis(tmp_path) as private:
        a_feed, b_feed = RedisFeed(private.url, identity, "a"), RedisFeed(private.url, identity, "b")
        a, b = Invalidations(a_feed), Invalidations(b_feed)
        seen_b = Seen(b)
        await a.start()
        await b.start()
        try:
            await a.publish("t", "before")
            await seen_b.wait_for("before", b)
            await asyncio.to_thread(private.kill)
            await _until(lambda: not a.connected and not b.connected)
            seen_b.keys.clear()
            await b.sync()
            assert seen_b.keys == [ALL]  # down: every check drops what is cached
            await asyncio.to_thread(private.start)
            await _until(lambda: a.connected and b.connected)
            seen_b.keys.clear()
            await b.sync()
            assert seen_b.keys == []  # back: caches are trusted again
            await a.publish("t", "after")
            await seen_b.wait_for("after", b)
        finally:
            await a.stop()
            await b.stop()


async def test_the_feed_is_chosen_by_the_settings(tmp_path: Path, postgresql_storage: StorageBackend) -> None:
    sqlite = SQLiteStorage(tmp_path / "x.db")
    assert isinstance(create_invalidations(Settings(), sqlite).feed, DatabaseFeed)
    assert isinstance(create_invalidations(Settings(), postgresql_storage).feed, NotifyFeed)
    redis = create_invalidations(Settings(redis_url=REDIS_URL), sqlite).feed
    assert isinstance(redis, RedisFeed)
    await redis.stop()


def test_messages_of_others_are_ignored() -> None:
    assert decode(encode("o.1", "t", "k")) == ("o.1", "t", "k")
    assert decode(encode_ack("o.1")) is None  # what a process of an earlier version sees
    assert decode("not json") is None
    assert decode("[1, 2]") is None


async def _pair(kind: str, postgresql_storage: StorageBackend) -> tuple[Invalidations, Invalidations]:
    if kind == "redis":
        identity = f"test:{uuid.uuid4()}"
        a, b = (
            Invalidations(RedisFeed(REDIS_URL, identity, "a")),
            Invalidations(RedisFeed(REDIS_URL, identity, "b")),
        )
    else:
        assert isinstance(postgresql_storage, PostgreSQLStorage)
        # a channel of their own: the storage is shared by this process's tests, and a server
        # another test left listening on its channel would be counted as a third process
        identity = f"{postgresql_storage.identity}:{uuid.uuid4()}"
        url, send = postgresql_storage.url, postgresql_storage._notify
        a = Invalidations(NotifyFeed(url, identity, "a", send))
        b = Invalidations(NotifyFeed(url, identity, "b", send))
    await a.start()
    await b.start()
    await _until(lambda: a.connected and b.connected)
    return a, b


def _slow(feed: InvalidationFeed | None, delay: float) -> list[asyncio.TimerHandle]:
    """The feed's process hears every message ``delay`` seconds late (a busy event loop); the
    returned handles are the deliveries still to come (cancel them before the test ends)."""
    assert isinstance(feed, SubscribedFeed)
    receive = feed._receive
    pending: list[asyncio.TimerHandle] = []

    def late(payload: str | bytes, deliver: Callable[[str, str], None]) -> None:
        pending.append(asyncio.get_running_loop().call_later(delay, receive, payload, deliver))

    feed._receive = late  # type: ignore[method-assign]
    return pending


@pytest.mark.parametrize("kind", ["notify", "redis"])
async def test_a_publish_returns_once_every_other_process_dropped_its_copy(
    kind: str, postgresql_storage: StorageBackend
) -> None:
    """Exact, not merely fast: the other process hears 0.3 s late, and the publish (after which
    the change is acknowledged to its client) waits for it."""
    a, b = await _pair(kind, postgresql_storage)
    seen_b = Seen(b)
    try:
        _slow(b.feed, 0.3)
        started = asyncio.get_running_loop().time()
        await a.publish("t", "k1")
        assert seen_b.keys == ["k1"]  # no sync, no waiting: already dropped
        assert asyncio.get_running_loop().time() - started >= 0.3
    finally:
        await a.stop()
        await b.stop()


@pytest.mark.parametrize("kind", ["notify", "redis"])
async def test_a_process_that_never_acknowledges_costs_the_sender_its_timeout_only(
    kind: str, postgresql_storage: StorageBackend, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = await _pair(kind, postgresql_storage)
    assert isinstance(a.feed, SubscribedFeed)
    a.feed.ack_timeout = 0.3
    seen_b = Seen(b)
    pending: list[asyncio.TimerHandle] = []
    try:
        pending = _slow(b.feed, 5)  # stalled well beyond the sender's patience
        started = asyncio.get_running_loop().time()
        await a.publish("t", "k1")
        assert 0.3 <= asyncio.get_running_loop().time() - started < 3
        assert seen_b.keys == []
        assert "acknowledged by 1 of 2 processes" in caplog.text
    finally:
        for handle in pending:
            handle.cancel()
        await a.stop()
        await b.stop()
