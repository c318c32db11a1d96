"""The invalidation feed: how the workers of one deployment tell each other what changed.

A worker caches things it reads on every request (apps, memberships, login-throttle answers). When
one of them changes, the worker that changed it publishes ``(topic, key)`` on a feed; every other
worker subscribed to the same feed drops its cached copy. The feeds are the core's
(:mod:`kinbase.core.invalidation`: Redis, or a log in the database); an engine that can push
messages itself offers one (:meth:`StorageBackend.invalidation_feed`, PostgreSQL's
``LISTEN``/``NOTIFY``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from typing import ClassVar, Protocol

import orjson

__all__ = ["Deliver", "InvalidationFeed", "Reset", "SubscribedFeed", "channel_name", "decode", "encode"]

log = logging.getLogger(__name__)

Deliver = Callable[[str, str], None]
"""Called with ``(topic, key)`` for each message another process published."""

Reset = Callable[[], None]
"""Called when messages may have been missed (the feed was lost): every cache is dropped."""


class InvalidationFeed(Protocol):
    """A channel shared by every process of one deployment (one database)."""

    connected: bool
    """Subscribed (messages of the others arrive); while False nothing cached is trusted."""

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


class SubscribedFeed:
    """A feed pushed by a server over a subscription (Redis pub/sub, PostgreSQL ``LISTEN``): the
    subscribe → deliver → reconnect-with-back-off loop and the reset on a gap, shared by the
    transports, which implement :meth:`_subscribe` and :meth:`send`."""

    errors: ClassVar[tuple[type[BaseException], ...]] = (OSError,)
    """What a lost connection raises in :meth:`_subscribe` (then the loop resets and retries)."""

    def __init__(self, identity: str, origin: str) -> None:
        self.channel = channel_name(identity)
        self._origin = origin
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._reset: Reset = lambda: None
        self.connected = False

    async def start(self, deliver: Deliver, reset: Reset) -> None:
        self._reset = reset
        self._task = asyncio.create_task(self._listen(deliver), name="kinbase-invalidations")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=10)

    async def _subscribe(self, deliver: Deliver) -> None:
        """Subscribe, call :meth:`_on_subscribed`, then hand every message of the channel to
        :meth:`_receive` until the connection is lost (raise one of :attr:`errors`)."""
        raise NotImplementedError

    def _on_subscribed(self) -> None:
        self.connected = True
        self._reset()  # anything sent while this worker was not subscribed
        if self._subscribed.is_set():
            log.warning("invalidation feed back; caches are on again")
        self._subscribed.set()

    def _receive(self, payload: str | bytes, deliver: Deliver) -> None:
        message = decode(payload)
        if message is not None and message[0] != self._origin:
            deliver(message[1], message[2])

    async def _listen(self, deliver: Deliver) -> None:
        delay = 0.1
        while True:
            try:
                await self._subscribe(deliver)
            except self.errors as exc:
                if self.connected:
                    log.warning("invalidation feed lost (%s); caches are off until it is back", exc)
            if self.connected:
                delay = 0.1  # it was up: retry soon
            self.connected = False
            self._reset()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def poll(self) -> None:
        if not self.connected:
            self._reset()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.connected = False
