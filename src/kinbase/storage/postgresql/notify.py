"""Invalidations through PostgreSQL's ``LISTEN``/``NOTIFY`` (the feed of a deployment on
PostgreSQL without Redis).

Each process listens on one channel named after the database (and schema) on a connection of its
own, outside the pool; a message is sent with ``pg_notify`` on a pooled connection. ``NOTIFY``
in autocommit is delivered to every listener before ``pg_notify`` returns to the sender, so a
change is announced before the request that made it is acknowledged. If the listening connection
is lost, every cache is dropped and stays untrusted (``poll`` resets) until it listens again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import psycopg

from kinbase.storage.feed import Deliver, SubscribedFeed, encode

__all__ = ["NotifyFeed"]

log = logging.getLogger(__name__)

SendNotify = Callable[[str, str], Awaitable[None]]
"""``pg_notify(channel, payload)`` on a connection of the pool (given by the engine)."""

_MAX_PAYLOAD = 7900
"""NOTIFY payloads must stay under 8,000 bytes: a longer key is sent as ``*`` (drop the topic)."""


class NotifyFeed(SubscribedFeed):
    """An :class:`~kinbase.storage.feed.InvalidationFeed` over ``LISTEN``/``NOTIFY``."""

    errors = (psycopg.Error, OSError)

    def __init__(self, url: str, identity: str, origin: str, send: SendNotify) -> None:
        super().__init__(identity, origin)
        self._url = url
        self._send = send

    async def _subscribe(self, deliver: Deliver) -> None:
        async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
            await conn.execute(f"LISTEN {self.channel}")
            self._on_subscribed()
            async for note in conn.notifies():
                self._receive(note.payload, deliver)

    async def send(self, topic: str, key: str) -> None:
        payload = encode(self._origin, topic, key)
        if len(payload.encode()) > _MAX_PAYLOAD:
            payload = encode(self._origin, topic, "*")
        try:
            await self._send(self.channel, payload)
        except (psycopg.Error, OSError) as exc:
            log.warning("could not publish an invalidation (%s)", exc)
