"""How the PostgreSQL engine gets its connections when they are being killed.

psycopg_pool backs off exponentially in two places, and both failed reads when every connection of
the pool was terminated (``pg_terminate_backend``, a server restart, a failover):

- between two failed checks of one loan (1, 2, 4, 8, 16 s): a request meeting the pool's six dead
  idle connections in turn waited 31 s and got a ``PoolTimeout``. :func:`loan` checks connections
  itself: a dead one is dropped (the pool opens a replacement) and the next is taken at once;
- between two failed attempts at a new connection (1, 2, 4... s, for up to five minutes): a new
  connection killed while it was being set up left its slot empty for longer and longer.
  :func:`connection_class` retries the connection and its set-up at a fixed
  :data:`RECONNECT_DELAY` for :data:`RECONNECT_SECONDS` before the pool's own backoff applies (to an
  outage, not to a connection killed now and then).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Self, TypeAlias

import psycopg
from psycopg_pool import AsyncConnectionPool

from kinbase.storage.sql import Row

__all__ = ["RECONNECT_DELAY", "RECONNECT_SECONDS", "PoolKind", "connection_class", "loan"]

PoolKind: TypeAlias = Literal["main", "planned", "generic"]
"""The engine's pools: the main one (point reads, writes), the compiled finds planned with their
values, and the index walks on generic plans (:mod:`~kinbase.storage.postgresql.generic`)."""

RECONNECT_DELAY = 0.25
"""The fixed pause between two attempts at a new connection, and between two loans once more dead
connections came than the pool holds (the fresh ones die too)."""

RECONNECT_SECONDS = 5.0
"""How long a new connection is retried at :data:`RECONNECT_DELAY` before the attempt fails (and
the pool's backoff applies: the database is down rather than killing connections)."""

Connection = psycopg.AsyncConnection[Row]
Configure = Callable[[Connection], Awaitable[None]]
Check = Callable[[Connection], Awaitable[None]]


def connection_class(configure: Configure) -> type[Connection]:
    """A connection class whose ``connect`` also sets the connection up (``configure``), and
    retries both at a fixed delay when the connection is refused or killed on the way."""

    class KinbaseConnection(psycopg.AsyncConnection[Row]):
        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
            deadline = time.monotonic() + RECONNECT_SECONDS
            while True:
                conn: Self | None = None
                try:
                    conn = await super().connect(conninfo, **kwargs)
                    await configure(conn)
                except psycopg.OperationalError:
                    if conn is not None:
                        await conn.close()
                    if time.monotonic() >= deadline:
                        raise
                    await asyncio.sleep(RECONNECT_DELAY)
                    continue
                except BaseException:
                    if conn is not None:
                        await conn.close()
                    raise
                return conn

    return KinbaseConnection


async def loan(pool: AsyncConnectionPool[Connection], check: Check, timeout: float) -> Connection:
    """A connection from ``pool`` that passed ``check``, within ``timeout`` seconds (else
    ``PoolTimeout``). A connection failing the check goes back to the pool, which drops it and
    opens another; the next one is taken at once, with a pause of :data:`RECONNECT_DELAY` only
    once more have failed than the pool can hold."""
    deadline = time.monotonic() + timeout
    dead = 0
    while True:
        conn = await pool.getconn(timeout=max(deadline - time.monotonic(), 0.0))
        try:
            await check(conn)
        except psycopg.Error:
            await pool.putconn(conn)
            dead += 1
            if dead > pool.max_size:
                await asyncio.sleep(RECONNECT_DELAY)
            continue
        except BaseException:
            await pool.putconn(conn)
            raise
        return conn
