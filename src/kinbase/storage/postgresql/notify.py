"""Invalidations through PostgreSQL's ``LISTEN``/``NOTIFY`` (the feed of a deployment on
PostgreSQL without Redis).

Each process listens on one channel named after the database (and schema) on a connection of its
own, outside the pool; a message is sent with ``pg_notify`` on a pooled connection. ``NOTIFY``
in autocommit is delivered to every listener before ``pg_notify`` returns to the sender, so a
change is announced before the request that made it is acknowledged. If the listening connection
is lost, every cache is dropped and stays untrusted (``poll`` resets) until it listens again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import psycopg

from kinbase.storage.feed import Deliver, Reset, channel_name, decode, encode

__all__ = ["NotifyFeed"]

log = logging.getLogger(__name__)

SendNotify = Callable[[str, str], Awaitable[None]]
"""``pg_notify(channel, payload)`` on a connection of the pool (given by the engine)."""

_MAX_PAYLOAD = 7900
"""NOTIFY payloads must stay under 8,000 bytes: a longer key is sent as ``*`` (drop the topic)."""


class NotifyFeed:
    """An :class:`~kinbase.storage.feed.InvalidationFeed` over ``LISTEN``/``NOTIFY``."""

    def __init__(self, url: str, identity: str, origin: str, send: SendNotify) -> None:
        self._url = url
        self.channel = channel_name(identity)
        self._origin = origin
        self._send = send
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._reset: Reset = lambda: None
        self.connected = False

    async def start(self, deliver: Deliver, reset: Reset) -> None:
        self._reset = reset
        self._task = asyncio.create_task(self._listen(deliver), name="kinbase-invalidations")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout=10)

    async def _listen(self, deliver: Deliver) -> None:
        delay = 0.1
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {self.channel}")
                    self.connected = True
                    self._reset()  # anything sent while nobody listened here
                    self._listening.set()
                    delay = 0.1
                    async for note in conn.notifies():
                        message = decode(note.payload)
                        if message is not None and message[0] != self._origin:
                            deliver(message[1], message[2])
            except (psycopg.Error, OSError) as exc:
                if self.connected:
                    log.warning("invalidation feed lost (%s); caches are off until it is back", exc)
            self.connected = False
            self._reset()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def send(self, topic: str, key: str) -> None:
        payload = encode(self._origin, topic, key)
        if len(payload.encode()) > _MAX_PAYLOAD:
            payload = encode(self._origin, topic, "*")
        try:
            await self._send(self.channel, payload)
        except (psycopg.Error, OSError) as exc:
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
        self.connected = False
