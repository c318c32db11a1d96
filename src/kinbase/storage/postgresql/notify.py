"""Invalidations through PostgreSQL's ``LISTEN``/``NOTIFY`` (the feed of a deployment on
PostgreSQL without Redis).

Each process listens on one channel named after the database (and schema) on a connection of its
own, outside the pool, named after the channel (``application_name``, set once it listens); a
message is sent with ``pg_notify`` on a pooled connection, in the statement that counts the
listening connections, so the sender knows how many acknowledgements to wait for
(:class:`~kinbase.storage.feed.SubscribedFeed`); acknowledgements go out on the listening
connection itself. If the listening connection is lost, every cache
is dropped and stays untrusted (``poll`` resets) until it listens again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

import psycopg

from kinbase.storage.exceptions import StorageError
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
        self._acks: list[str] = []
        self._receiving = False

    async def _subscribe(self, deliver: Deliver) -> None:
        async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
            await conn.execute(f"LISTEN {self.channel}")
            # Counted by senders only once it listens (every message counted is delivered to it).
            await conn.execute("SELECT set_config('application_name', %s, false)", (self.channel,))
            self._acks.clear()  # of messages heard on a connection that was lost: no one waits now
            self._on_subscribed()
            while True:
                # Acknowledgements go out on this connection, not a pooled one (a busy pool would
                # make the sender wait), after each batch of notifications: stop_after=1 ends the
                # read with the batch that arrived (never in the middle of one, which would lose
                # the rest); psycopg keeps what arrives meanwhile for the next read.
                async with contextlib.aclosing(conn.notifies(stop_after=1)) as notes:
                    async for note in notes:
                        self._receiving = True
                        try:
                            self._receive(note.payload, deliver)
                        finally:
                            self._receiving = False
                while self._acks:
                    await conn.execute("SELECT pg_notify(%s, %s)", (self.channel, self._acks.pop(0)))

    def _acknowledge(self, ack: str) -> None:
        if self._receiving:
            self._acks.append(ack)  # sent after this batch, on the listening connection
        else:
            super()._acknowledge(ack)  # heard outside the loop: on a pooled connection

    async def _post(self, payload: str, *, count: bool) -> int | None:
        try:
            return await self._send(self.channel, payload)
        except (psycopg.Error, OSError, StorageError) as exc:  # StorageError: the engine stopped
            log.warning("could not publish an invalidation (%s)", exc)
            return None
