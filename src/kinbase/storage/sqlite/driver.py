"""The SQLite library kinbase runs on: the one import point of the driver.

``pysqlite3-binary`` bundles a recent SQLite (3.51) with the standard library's ``sqlite3`` API
(wheels for Linux x86-64 only; elsewhere Python's own ``sqlite3`` serves if its SQLite is 3.45+).
Documents are stored as JSONB (SQLite ≥ 3.45): a list that is not an index walk reads a field of
every row, and JSONB is walked where JSON text must be parsed (about 2.5 times less CPU for a
10,000-row sorted scan, docs/performance.md). Python's own ``sqlite3`` links the system library
(3.40 on Debian 12), which cannot read JSONB: every connection to a kinbase database must come
from here.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same API; the stubs of the standard library describe it
    import sqlite3 as sqlite
else:
    try:
        from pysqlite3 import dbapi2 as sqlite
    except ImportError:  # no wheel for this platform (pyproject.toml): Python's own, if new enough
        import sqlite3 as sqlite

__all__ = ["JSONB_MIN_VERSION", "LOOKASIDE_SLOTS", "sqlite", "widen_lookaside"]

JSONB_MIN_VERSION = (3, 45, 0)

if sqlite.sqlite_version_info < JSONB_MIN_VERSION:  # pragma: no cover - the pinned wheel has 3.51
    raise ImportError(
        f"kinbase needs SQLite >= 3.45 (JSONB) and found {sqlite.sqlite_version}: install the dependency"
        " pysqlite3-binary (a checkout: scripts/bootstrap dev)"
    )

LOOKASIDE_SLOTS = 500
"""Lookaside slots of 1,200 bytes each connection gets (SQLite's default: 123 in all). A JSON
function allocates per call, which lookaside serves without a lock; the statements a connection
keeps prepared hold part of it (about 40 slots for a scan's statement, and ``pysqlite3`` keeps at
least 5), and once none is left every call mallocs under SQLite's memory mutex: a 10,000-row scan
~30 % slower alone, and two threads scanning together slower than one (169 against 279 req/s,
docs/performance.md). 600 KiB per connection."""


_OBJECT_HEADER = 16  # CPython's PyObject_HEAD on 64-bit builds without trace-refs
_DBCONFIG_LOOKASIDE = 1001  # SQLITE_DBCONFIG_LOOKASIDE


def _lookaside_setter() -> Callable[[Any, str], bool] | None:
    """``SQLITE_DBCONFIG_LOOKASIDE`` through ctypes, which neither ``sqlite3`` module exposes, or
    None where it cannot be done safely. The connection's ``sqlite3 *`` is the first field after
    the object header in both modules' ``Connection`` (CPython's ``pysqlite_Connection``); every
    call checks it by asking SQLite for the database's file name before configuring anything."""
    if sys.implementation.name != "cpython" or sys.getsizeof(object()) != _OBJECT_HEADER:
        return None  # another object layout (PyPy, a trace-refs build)
    extension = "pysqlite3._sqlite3" if sqlite.__name__.startswith("pysqlite3") else "_sqlite3"
    path = getattr(sys.modules.get(extension), "__file__", None)
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
        db_filename, db_config = lib.sqlite3_db_filename, lib.sqlite3_db_config
    except (OSError, AttributeError):
        return None
    db_filename.restype, db_filename.argtypes = ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_char_p]
    db_config.restype = ctypes.c_int

    def configure(conn: Any, filename: str) -> bool:
        if not isinstance(conn, sqlite.Connection):
            return False
        handle = ctypes.c_void_p.from_address(id(conn) + _OBJECT_HEADER).value
        if not handle:
            return False
        named = db_filename(handle, b"main")
        if named is None or os.path.realpath(named.decode()) != os.path.realpath(filename):
            return False
        size, slots = ctypes.c_int(1200), ctypes.c_int(LOOKASIDE_SLOTS)
        return (
            int(db_config(ctypes.c_void_p(handle), _DBCONFIG_LOOKASIDE, ctypes.c_void_p(None), size, slots))
            == 0
        )

    return configure


_SET_LOOKASIDE = _lookaside_setter()


def widen_lookaside(conn: Any, filename: str) -> bool:
    """Give a connection just opened on ``filename`` (before any statement) :data:`LOOKASIDE_SLOTS`
    slots of lookaside memory; False where that cannot be done (nothing changes then)."""
    return _SET_LOOKASIDE is not None and _SET_LOOKASIDE(conn, filename)
