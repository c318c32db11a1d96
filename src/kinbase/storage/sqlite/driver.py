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

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the same API; the stubs of the standard library describe it
    import sqlite3 as sqlite
else:
    try:
        from pysqlite3 import dbapi2 as sqlite
    except ImportError:  # no wheel for this platform (pyproject.toml): Python's own, if new enough
        import sqlite3 as sqlite

__all__ = ["JSONB_MIN_VERSION", "sqlite"]

JSONB_MIN_VERSION = (3, 45, 0)

if sqlite.sqlite_version_info < JSONB_MIN_VERSION:  # pragma: no cover - the pinned wheel has 3.51
    raise ImportError(
        f"kinbase needs SQLite >= 3.45 (JSONB) and found {sqlite.sqlite_version}: install the dependency"
        " pysqlite3-binary (a checkout: scripts/bootstrap dev)"
    )
