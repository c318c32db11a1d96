"""The invalidation feed: how the workers of one deployment tell each other what changed.

A worker caches things it reads on every request (apps, memberships, login-throttle answers). When
one of them changes, the worker that changed it publishes ``(topic, key)`` on a feed; every other
worker subscribed to the same feed drops its cached copy. The feeds are the core's
(:mod:`kinbase.core.invalidation`: Redis, or a log in the database); an engine that can push
messages itself offers one (:meth:`StorageBackend.invalidation_feed`, PostgreSQL's
``LISTEN``/``NOTIFY``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Protocol

import orjson

__all__ = ["Deliver", "InvalidationFeed", "Reset", "channel_name", "decode", "encode"]

Deliver = Callable[[str, str], None]
"""Called with ``(topic, key)`` for each message another process published."""

Reset = Callable[[], None]
"""Called when messages may have been missed (the feed was lost): every cache is dropped."""


class InvalidationFeed(Protocol):
    """A channel shared by every process of one deployment (one database)."""

    async def start(self, deliver: Deliver, reset: Reset) -> None:
        """Subscribe; ``deliver`` gets the messages of the other processes from now on."""

    async def send(self, topic: str, key: str) -> None:
        """Publish one message to every other subscribed process (best effort: a failure is
        logged and the other processes reset their caches when they notice the feed is lost)."""

    async def poll(self) -> None:
        """Deliver what is waiting, before a cache is trusted (cheap; a no-op for pushed feeds
        that are connected). While a feed is lost it calls ``reset`` so nothing cached is trusted."""

    async def stop(self) -> None:
        """Unsubscribe and close."""


def channel_name(identity: str) -> str:
    """A channel name of the deployment whose database is ``identity`` (letters and digits only,
    so it is a valid PostgreSQL identifier and Redis channel)."""
    return "kinbase_invalidate_" + hashlib.sha256(identity.encode()).hexdigest()[:20]


def encode(origin: str, topic: str, key: str) -> str:
    return orjson.dumps([origin, topic, key]).decode()


def decode(payload: str | bytes) -> tuple[str, str, str] | None:
    """``(origin, topic, key)``, or None for a message that is not ours."""
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, list) and len(value) == 3 and all(isinstance(v, str) for v in value):
        return value[0], value[1], value[2]
    return None
