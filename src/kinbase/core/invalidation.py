"""Cross-worker cache invalidation: what one worker changes, every other worker stops trusting.

A worker keeps a few things in memory that it would otherwise read on every request: apps (their
secrets, settings and configuration version, :mod:`kinbase.core.apps`), Kinvey sessions
(:mod:`kinbase.core.kinvey.sessions`), Kinvey group and role memberships
(:mod:`kinbase.core.kinvey.membership`), and the login throttle's "this user and address are not
throttled" answers (:mod:`kinbase.core.throttle`). The service that changes one of
them calls :meth:`Invalidations.publish` after the change committed and before the change is
acknowledged; every worker of every machine on the same database then drops its copy.

How the message travels (:func:`create_invalidations`):

- **Redis** when ``redis_url`` is set: a pub/sub channel named after the database
  (:mod:`kinbase.core.invalidation_redis`). Works across machines; costs nothing per request.
- otherwise **the database**: on PostgreSQL ``LISTEN``/``NOTIFY`` (pushed, nothing per request,
  :mod:`kinbase.storage.postgresql.notify`); on SQLite, whose workers share one file on one
  machine, a sequence number and a short log in ``server_meta`` (:class:`DatabaseFeed`): before
  the first cache a request trusts the worker reads the sequence (one point read on the event
  loop, microseconds, once per request: :data:`IN_REQUEST`), so a change is seen by the very next
  request of every worker. The read is skipped while the storage's commit marker
  (:meth:`~kinbase.storage.base.StorageBackend.commit_marker`: on SQLite the WAL index header
  in shared memory, which every commit of every process rewrites) has not changed since the
  last one.

What is never cached needs no message: Kinvey credentials are read on every request
(a verified password is remembered by an HMAC of the stored hash, so a new password never matches
an old entry), entity ACLs are grant rows read with the entity, and the Kinto API keys every cache
by the app's structure version, read once per request (on SQLite only when something was
committed since the worker last read it; over a pushed feed only after a change of it was heard:
topic ``kinto-structure``, :mod:`kinbase.core.kinto.principals`).

A lost feed (Redis or the listening connection down) makes every cache untrusted until it is back:
each check drops what is cached, so correctness never depends on the feed, only speed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextvars import ContextVar

import orjson

from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend
from kinbase.storage.feed import Deliver, InvalidationFeed, Reset, SubscribedFeed

__all__ = ["ALL", "IN_REQUEST", "DatabaseFeed", "Invalidations", "create_invalidations"]

log = logging.getLogger(__name__)

ALL = "*"
"""The key meaning "everything of this topic"."""

_SEQ = "invalidation_seq"
_LOG = "invalidation_log"
_KEEP = 512
"""Messages kept in the database log; a worker further behind drops every cache instead."""

IN_REQUEST: ContextVar[list[bool] | None] = ContextVar("kinbase_in_request", default=None)
"""Set by the HTTP server for the duration of each request to a fresh ``[True]`` (set to
``[False]`` when the request ends): :meth:`Invalidations.sync` polls the feed once per request,
before the first cache the request trusts, not before each of them (the app, the session, the
memberships: on SQLite without Redis each poll is a read). Tasks outside a request, and a task a
request started that outlives it, poll every time."""


class Invalidations:
    """Topics, their subscribers in this process, and the feed to the other processes."""

    def __init__(self, feed: InvalidationFeed | None = None) -> None:
        self._feed = feed
        self._subscribers: dict[str, list[Callable[[str], None]]] = {}
        self._synced: list[bool] | None = None
        self.started = False

    @property
    def feed(self) -> InvalidationFeed | None:
        return self._feed

    @property
    def connected(self) -> bool:
        """Whether this process hears the others (a started feed that is subscribed, or no
        other process to hear: no feed); while False every cache is bypassed."""
        return self._feed is None or (self.started and self._feed.connected)

    @property
    def pushed(self) -> bool:
        """Whether :meth:`publish` returns only once every listening process has dropped its
        copy (a subscription: Redis, PostgreSQL's ``NOTIFY``; or no feed, no other process), so
        that what it invalidates may be trusted without a read per request while
        :attr:`connected`. The database log (:class:`DatabaseFeed`) is read by each process when
        it polls instead."""
        return self._feed is None or isinstance(self._feed, SubscribedFeed)

    def on(self, topic: str, callback: Callable[[str], None]) -> None:
        """Call ``callback(key)`` whenever ``topic`` changes (``key`` may be :data:`ALL`)."""
        self._subscribers.setdefault(topic, []).append(callback)

    async def start(self) -> None:
        if self._feed is not None and not self.started:
            await self._feed.start(self._deliver, self._reset)
        self.started = True

    async def stop(self) -> None:
        if self._feed is not None and self.started:
            await self._feed.stop()
        self.started = False

    async def publish(self, topic: str, key: str = ALL) -> None:
        """``topic``/``key`` changed: drop it here at once, and tell every other process."""
        self._deliver(topic, key)
        if self._feed is not None:
            await self._feed.send(topic, key)

    async def sync(self) -> None:
        """Take in what other processes published (call before trusting a cache). Within one
        request (:data:`IN_REQUEST`) only the first call polls: what another process publishes
        while the request runs is concurrent with it, and this process's own changes are dropped
        here at once by :meth:`publish`."""
        if self._feed is None or not self.started:
            return
        request = IN_REQUEST.get()
        if request is not None and request is self._synced and request[0]:
            return
        await self._feed.poll()
        self._synced = request

    def _deliver(self, topic: str, key: str) -> None:
        for callback in self._subscribers.get(topic, ()):
            callback(key)

    def _reset(self) -> None:
        for callbacks in self._subscribers.values():
            for callback in callbacks:
                callback(ALL)


class DatabaseFeed:
    """A sequence number and the last :data:`_KEEP` messages in ``server_meta``.

    For an engine with one writer at a time (SQLite: ``BEGIN IMMEDIATE`` serialises every process),
    so the read-modify-write of the log in a write transaction never loses a message.
    """

    def __init__(self, storage: StorageBackend, origin: str) -> None:
        self._storage = storage
        self._origin = origin
        self._seen: int | None = None
        self._marker: bytes | None = None
        self._deliver: Deliver = lambda topic, key: None
        self._reset: Reset = lambda: None
        self.connected = False

    async def start(self, deliver: Deliver, reset: Reset) -> None:
        self._deliver, self._reset = deliver, reset
        async with self._storage.reader() as reader:
            self._seen = int(await reader.get_meta(_SEQ) or 0)
        self.connected = True

    async def send(self, topic: str, key: str) -> None:
        async with self._storage.writer() as writer:
            seq = int(await writer.get_meta(_SEQ) or 0) + 1
            entries = orjson.loads(await writer.get_meta(_LOG) or "[]")
            entries.append([seq, self._origin, topic, key])
            await writer.set_meta(_LOG, orjson.dumps(entries[-_KEEP:]).decode())
            await writer.set_meta(_SEQ, str(seq))

    async def poll(self) -> None:
        seen = self._seen
        if seen is None:
            return
        # Nothing committed since the last poll (a few bytes of shared memory, no statement):
        # the sequence has not moved. Taken before the read, so a commit after it moves it again.
        marker = self._storage.commit_marker()
        if marker is not None and marker == self._marker:
            return
        seq = int(await self._storage.read_meta(_SEQ) or 0)
        self._marker = marker
        if seq == seen:
            return
        entries = orjson.loads(await self._storage.read_meta(_LOG) or "[]")
        self._seen = max(seen, seq)
        newer = [e for e in entries if int(e[0]) > seen]
        if not newer or int(newer[0][0]) != seen + 1:
            self._reset()  # fell behind the log (or it was reset): trust nothing cached
            return
        for _, origin, topic, key in newer:
            if origin != self._origin:
                self._deliver(str(topic), str(key))

    async def stop(self) -> None:
        self._seen = None
        self._marker = None
        self.connected = False


def create_invalidations(settings: Settings, storage: StorageBackend) -> Invalidations:
    """The invalidations of one process: through Redis if ``redis_url`` is set, else the database."""
    origin = uuid.uuid4().hex
    feed: InvalidationFeed | None
    if settings.redis_url:
        from kinbase.core.invalidation_redis import RedisFeed

        feed = RedisFeed(settings.redis_url, storage.identity, origin)
    else:
        feed = storage.invalidation_feed(origin) or DatabaseFeed(storage, origin)
    return Invalidations(feed)
