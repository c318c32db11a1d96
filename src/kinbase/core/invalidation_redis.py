"""Invalidations through Redis pub/sub (``redis_url``): one channel per database, so deployments
sharing a Redis do not hear each other.

``PUBLISH`` returns after Redis wrote the message to every subscriber's connection, and the
publishing worker awaits it before it acknowledges the change, so the message is on its way to
every other worker before the client hears back. The subscriber runs in a task of its own; if the
connection is lost (or Redis restarts) every cache is dropped and stays untrusted (``poll``
resets) until the worker is subscribed again, since messages sent meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from kinbase.storage.feed import Deliver, Reset, channel_name, decode, encode

__all__ = ["RedisFeed"]

log = logging.getLogger(__name__)


class RedisFeed:
    """An :class:`~kinbase.storage.feed.InvalidationFeed` over a Redis channel."""

    def __init__(self, url: str, identity: str, origin: str) -> None:
        self._url = url
        self.channel = channel_name(identity)
        self._origin = origin
        # No silent reconnection: a gap in the subscription must reset the caches.
        self._client = aioredis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=5)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._reset: Reset = lambda: None
        self.connected = False

    async def start(self, deliver: Deliver, reset: Reset) -> None:
        self._reset = reset
        self._task = asyncio.create_task(self._listen(deliver), name="kinbase-invalidations")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=10)

    async def _listen(self, deliver: Deliver) -> None:
        delay = 0.1
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.connected = True
                self._reset()  # anything sent while this worker was not subscribed
                self._subscribed.set()
                delay = 0.1
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is None or message.get("type") != "message":
                        continue
                    found = decode(message["data"])
                    if found is not None and found[0] != self._origin:
                        deliver(found[1], found[2])
            except (RedisError, OSError) as exc:
                if self.connected:
                    log.warning("invalidation feed lost (%s); caches are off until it is back", exc)
            finally:
                self.connected = False
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            self._reset()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def send(self, topic: str, key: str) -> None:
        try:
            await self._client.publish(self.channel, encode(self._origin, topic, key))
        except (RedisError, OSError) as exc:
            log.warning("could not publish an invalidation (%s)", exc)

    async def poll(self) -> None:
        if not self.connected:
            self._reset()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(RedisError, OSError):
            await self._client.aclose()
