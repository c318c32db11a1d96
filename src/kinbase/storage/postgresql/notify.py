"""Invalidations through PostgreSQL's ``LISTEN``/``NOTIFY`` (the feed of a deployment on
PostgreSQL without Redis).

Each process listens on one channel named after the database (and schema) on a connection of its
own, outside the pool, named after the channel (``application_name``, set once it listens); a
message is sent with ``pg_notify`` on a pooled connection, in the statement that counts the
listening connections, so the sender knows how many acknowledgements to wait for
(:class:`~kinbase.storage.feed.SubscribedFeed`). If the listening connection is lost, every cache
is dropped and stays untrusted (``poll`` resets) until it listens again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import psycopg

from kinbase.storage.feed import Deliver, SubscribedFeed

__all__ = ["NotifyFeed"]

log = logging.getLogger(__name__)

SendNotify = Callable[[str, str], Awaitable[int]]
"""``pg_notify(channel, payload)`` on a connection of the pool (given by the engine); returns how
many connections listen on ``channel`` (named after it)."""


class NotifyFeed(SubscribedFeed):
    """An :class:`~kinbase.storage.feed.InvalidationFeed` over ``LISTEN``/``NOTIFY``."""

    errors = (psycopg.Error, OSError)
    max_payload = 7900  # NOTIFY payloads must stay under 8,000 bytes

    def __init__(self, url: str, identity: str, origin: str, send: SendNotify) -> None:
        super().__init__(identity, origin)
        self._url = url
        self._send = send

    async def _subscribe(self, deliver: Deliver) -> None:
        async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
            await conn.execute(f"LISTEN {self.channel}")
            # Counted by senders only once it listens (every message counted is delivered to it).
            await conn.execute("SELECT set_config('application_name', %s, false)", (self.channel,))
            self._on_subscribed()
            async for note in conn.notifies():
                self._receive(note.payload, deliver)

    async def _post(self, payload: str, *, count: bool) -> int | None:
        try:
            return await self._send(self.channel, payload)
        except (psycopg.Error, OSError) as exc:
            log.warning("could not publish an invalidation (%s)", exc)
            return None
