"""Time budgets for SQLite statements, and the mapping of SQLite's errors to kinbase's.

On the event loop, a progress handler aborts the running statement once a deadline has passed
(SQLite calls it every few thousand virtual-machine steps; between statements the deadline is
infinite, so ``BEGIN``, ``COMMIT`` and writes are never interrupted). A statement on the event loop
gets a short slice: past it, it is aborted and run again on a thread with the whole query budget,
so no read holds the loop for longer than the slice. Aborting a ``SELECT`` leaves the surrounding
transaction intact (checked by the tests).

On a thread, a statement runs with no progress handler: a :class:`Watch` on the event loop calls
``Connection.interrupt`` once the query budget has passed. A handler is Python, so each call
takes the GIL: while the loop is busy each take waits up to the interpreter's switch interval
(5 ms), and a 10,000-row scan calls it ~40 times. Under load that made an unindexed list wait
~10 times its CPU time (docs/performance.md, "Reads on threads and the GIL").
"""

from __future__ import annotations

import asyncio
import math
import threading
import time

from kinbase.errors import BaaSError, InvalidQuery, InvalidRequest, QueryTimeout
from kinbase.storage.exceptions import StorageError
from kinbase.storage.sqlite.driver import sqlite as sqlite3

__all__ = ["Budget", "Watch", "classify", "install_budget", "interrupted"]

_LOOP_STEPS = 10_000
"""Virtual-machine steps between two checks on the event loop (a point read takes ~100)."""

_AGAIN_SECONDS = 0.005
"""How often a watch past its budget interrupts its statement again, until the statement ends."""

_TOO_COMPLEX = (
    "too many sql variables",
    "expression tree is too large",
    "parser stack overflow",
    "too many terms",
    "too many arguments",
    "pattern too complex",
    "too many columns",
    "at most 64 tables",
)


class Budget:
    """The deadline of the statement running on one connection of the event loop (``math.inf``:
    none), checked by its progress handler."""

    __slots__ = ("deadline",)

    def __init__(self) -> None:
        self.deadline = math.inf

    def check(self) -> int:
        return 1 if time.monotonic() > self.deadline else 0

    def attach(self, conn: sqlite3.Connection) -> None:
        conn.set_progress_handler(self.check, _LOOP_STEPS)


def install_budget(conn: sqlite3.Connection) -> Budget:
    """A budget checked on ``conn`` (a connection used on the event loop)."""
    budget = Budget()
    budget.attach(conn)
    return budget


class Watch:
    """The budget of one statement run on a thread, kept from the event loop.

    Made on the loop (its timer starts there); the thread calls :meth:`begin` with its connection
    before the statement and :meth:`end` after it. The budget counts from :meth:`begin` (time
    queued for a thread is not the statement's): when the timer fires first, it waits again.
    ``interrupt`` is only called between ``begin`` and ``end``, under the lock both take, so it
    never reaches the connection's next statement (SQLite forgets an interrupt made while no
    statement runs). For the same reason an interrupt that lands after ``begin`` but before the
    statement's first step is lost: past the budget, the watch interrupts again every
    :data:`_AGAIN_SECONDS` until ``end``.
    """

    __slots__ = ("_conn", "_ended", "_handle", "_lock", "_loop", "_started", "_timeout")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self._timeout = timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._started = 0.0
        self._ended = False
        self._handle = loop.call_later(timeout, self._expire)

    def begin(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            self._conn = conn
            self._started = time.monotonic()

    def end(self) -> None:
        with self._lock:
            self._conn = None
            self._ended = True

    def cancel(self) -> None:
        """On the loop, once the statement's future is done (or abandoned)."""
        self._handle.cancel()

    def _expire(self) -> None:
        with self._lock:
            if self._ended:
                return
            conn = self._conn
            if conn is None:  # still queued for a thread
                left = max(self._timeout, 0.001)
            else:
                left = self._started + self._timeout - time.monotonic()
                if left <= 0:
                    conn.interrupt()
                    left = _AGAIN_SECONDS  # until end(): this one may have come too early
            self._handle = self._loop.call_later(left, self._expire)


def interrupted(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and getattr(exc, "sqlite_errorname", "") == (
        "SQLITE_INTERRUPT"
    )


def classify(exc: BaseException, what: str) -> BaaSError:
    """The kinbase error for an exception raised by SQLite on a statement (``what``: "read" or
    "write"): a client's mistake is a typed 4xx, anything else a generic :class:`StorageError`."""
    if interrupted(exc):
        return QueryTimeout()
    if isinstance(exc, OverflowError):
        return InvalidRequest("A number in the request is out of the 64-bit integer range.")
    if isinstance(exc, UnicodeEncodeError):
        return InvalidRequest("The request holds text that is not valid Unicode (a lone surrogate).")
    message = str(exc).lower()
    if isinstance(exc, sqlite3.DataError) or "string or blob too big" in message:
        return InvalidRequest("A value in the request is too large.")
    if any(marker in message for marker in _TOO_COMPLEX):
        return InvalidQuery("The query is too complex: use fewer conditions.")
    return StorageError(f"The database failed to {what}; retry later.", original=exc)
