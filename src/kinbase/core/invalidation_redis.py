"""Invalidations through Redis pub/sub (``redis_url``): one channel per database, so deployments
sharing a Redis do not hear each other.

``PUBLISH`` returns how many subscribers Redis wrote the message to: the publishing worker waits
for as many acknowledgements before it acknowledges the change
(:class:`~kinbase.storage.feed.SubscribedFeed`), so every other worker dropped its copy before the
client hears back. The subscriber runs in a task of its own; if the
connection is lost (or Redis restarts) every cache is dropped and stays untrusted (``poll``
resets) until the worker is subscribed again, since messages sent meanwhile are lost.

A publish is tried a second time on a fresh connection when its connection is found closed: after
a Redis restart the first publish of each worker met the pooled connection Redis had closed, and
the change it announced was lost while every worker was subscribed again (the other workers kept
their copies for their whole lifetime: ``app_cache_seconds``). A message delivered twice only
drops a cached copy twice.
"""

from __future__ import annotations

import contextlib
import logging

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from kinbase.storage.feed import Deliver, SubscribedFeed

__all__ = ["RedisFeed"]

log = logging.getLogger(__name__)


class RedisFeed(SubscribedFeed):
    """An :class:`~kinbase.storage.feed.InvalidationFeed` over a Redis channel."""

    errors = (RedisError, OSError)

    def __init__(self, url: str, identity: str, origin: str) -> None:
        super().__init__(identity, origin)
        self._url = url
        # No silent reconnection of the subscription: a gap in it must reset the caches.
        self._subscriber = aioredis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=5)
        # A publish once more on a fresh connection (the pooled one may predate a Redis restart).
        self._client = aioredis.Redis.from_url(url, retry=Retry(NoBackoff(), 1), socket_connect_timeout=5)

    async def _subscribe(self, deliver: Deliver) -> None:
        pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            self._on_subscribed()
            while True:
                message = await pubsub.get_message(timeout=30.0)
                if message is not None and message.get("type") == "message":
                    self._receive(message["data"], deliver)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _post(self, payload: str, *, count: bool) -> int | None:
        try:
            return int(await self._client.publish(self.channel, payload))
        except (RedisError, OSError) as exc:
            log.warning("could not publish an invalidation (%s)", exc)
            return None

    async def stop(self) -> None:
        await super().stop()
        for client in (self._subscriber, self._client):
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()
