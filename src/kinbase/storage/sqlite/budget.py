"""Time budgets for SQLite statements, and the mapping of SQLite's errors to kinbase's.

A progress handler on every connection aborts the running statement once a deadline has passed
(SQLite calls it every few thousand virtual-machine steps; between statements the deadline is
infinite, so ``BEGIN``, ``COMMIT`` and writes are never interrupted). A statement on the event loop
gets a short slice: past it, it is aborted and run again on a thread with the whole query budget,
so no read holds the loop for longer than the slice. Aborting a ``SELECT`` leaves the surrounding
transaction intact (checked by the tests).
"""

from __future__ import annotations

import math
import time

from kinbase.errors import BaaSError, InvalidQuery, InvalidRequest, QueryTimeout
from kinbase.storage.exceptions import StorageError
from kinbase.storage.sqlite.driver import sqlite as sqlite3

__all__ = ["Budget", "classify", "install_budget", "interrupted"]

_LOOP_STEPS = 10_000
"""Virtual-machine steps between two checks on the event loop (a point read takes ~100)."""

_THREAD_STEPS = 10_000

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
    """The deadline of the statement running on one connection (``math.inf``: none)."""

    __slots__ = ("deadline",)

    def __init__(self) -> None:
        self.deadline = math.inf


def install_budget(conn: sqlite3.Connection, *, on_loop: bool) -> Budget:
    budget = Budget()

    def check() -> int:
        return 1 if time.monotonic() > budget.deadline else 0

    conn.set_progress_handler(check, _LOOP_STEPS if on_loop else _THREAD_STEPS)
    return budget


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
