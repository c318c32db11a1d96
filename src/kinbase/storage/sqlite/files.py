"""Opening the SQLite database's files: a connection with kinbase's settings, and the read-only
map of the WAL index header (the commit marker of :meth:`SQLiteStorage.commit_marker
<kinbase.storage.sqlite.SQLiteStorage.commit_marker>`)."""

from __future__ import annotations

import mmap

from kinbase.query.sql import register_sqlite_functions
from kinbase.storage.sqlite.driver import sqlite as sqlite3
from kinbase.storage.sqlite.driver import widen_lookaside

__all__ = [
    "READ_CACHE_KIB",
    "WAL_INDEX_HEADER",
    "WRITE_CACHE_KIB",
    "WRITE_SPILL_PAGES",
    "connect",
    "map_wal_index",
]

WAL_INDEX_HEADER = 48
"""Bytes of the first copy of the WAL index header, at the start of the ``-shm`` file
(sqlite.org/walformat.html: version, change counter, page size, last valid frame, database size,
checksums and salts). Every commit, by any connection of any process, writes it with a new change
counter; checkpoints that restart the WAL write new salts."""


def map_wal_index(path: str) -> mmap.mmap | None:
    """A read-only map of the WAL index's first page, or None (no ``-shm`` file: then every
    invalidation poll reads the database). The file lives as long as a connection to the database
    is open (the last one to close deletes it), and this storage keeps its own open meanwhile."""
    try:
        with open(path + "-shm", "rb") as shm:
            return mmap.mmap(shm.fileno(), WAL_INDEX_HEADER, prot=mmap.PROT_READ)
    except (OSError, ValueError):
        return None


READ_CACHE_KIB = 65_536
"""Page cache of each reading connection (``PRAGMA cache_size``): the database pages beyond the
``mmap`` (256 MiB) and those whose latest version is still in the WAL are read into it."""

WRITE_CACHE_KIB = 8_192
"""Page cache of the write connection. Every page a write changes is copied into it and stays
after the commit, so a cache as large as the readers' fills with the pages of new rows: a
worker's heap grew by as much as the database did, up to the cap (64 MiB: +59 MiB over 200,000
mixed requests, docs/performance.md "Server memory over a 30-minute mixed run"), private copies
of pages the ``mmap`` shares between workers and the kernel can drop. Writes read the page they
change from the ``mmap`` when it is not cached (a copy of 4 KiB)."""

WRITE_SPILL_PAGES = 16_000
"""Dirty pages one transaction may hold before SQLite writes some to the WAL ahead of the commit
(``PRAGMA cache_spill``): ~62 MiB of 4-KiB pages, about where the 64-MiB cache put it, so a large
import spills no sooner than before; after the commit the cache shrinks back to its size. (Not
16,384: SQLite also reads the number as a boolean from its low byte, and a multiple of 256 would
turn spilling off, letting one transaction's dirty pages grow without bound.)"""


def connect(
    path: str, *, synchronous: str, cache_kib: int = READ_CACHE_KIB, statements: int = 512
) -> sqlite3.Connection:
    """A connection to the database at ``path`` with kinbase's settings; ``statements`` is how
    many prepared statements it keeps (``cached_statements``)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=statements)
    widen_lookaside(conn, path)  # before any statement: none may hold lookaside yet
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'full' else 'NORMAL'}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 0")
    conn.execute(f"PRAGMA cache_size = -{cache_kib}")
    conn.execute("PRAGMA mmap_size = 268435456")
    conn.execute("PRAGMA temp_store = MEMORY")
    register_sqlite_functions(conn)
    return conn
