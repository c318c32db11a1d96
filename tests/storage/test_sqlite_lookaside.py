"""SQLite connections get more lookaside memory than SQLite's default (``driver.LOOKASIDE_SLOTS``):
with the default, the statements a connection keeps prepared take all of it and every JSON call
of a scan then mallocs under SQLite's memory mutex (docs/performance.md)."""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import pytest

from kinbase.storage.sqlite import driver
from kinbase.storage.sqlite.files import connect

LOOKASIDE_MISS_FULL = 6


def _misses(conn: object) -> int:
    """SQLITE_DBSTATUS_LOOKASIDE_MISS_FULL: allocations lookaside could not serve (it was full)."""
    extension = "pysqlite3._sqlite3" if driver.sqlite.__name__.startswith("pysqlite3") else "_sqlite3"
    lib = ctypes.CDLL(sys.modules[extension].__file__)
    handle = ctypes.c_void_p.from_address(id(conn) + 16).value
    current, highest = ctypes.c_int(), ctypes.c_int()
    lib.sqlite3_db_status(
        ctypes.c_void_p(handle), LOOKASIDE_MISS_FULL, ctypes.byref(current), ctypes.byref(highest), 0
    )
    return highest.value


def _run(conn: object) -> int:
    execute = conn.execute  # type: ignore[attr-defined]
    execute("CREATE TABLE IF NOT EXISTS t (a INTEGER PRIMARY KEY, b TEXT)")
    execute("INSERT OR REPLACE INTO t VALUES (1, '{\"x\": [1, 2, 3]}')")
    for i in range(20):  # 20 statements kept prepared; each reads JSON
        execute(f"SELECT {i} + a, json_extract(b, '$.x[1]'), json_type(b, '$.x') FROM t").fetchall()
    return _misses(conn)


def test_a_connection_keeps_lookaside_for_its_statements(tmp_path: Path) -> None:
    default = driver.sqlite.connect(str(tmp_path / "default.sqlite"), isolation_level=None)
    assert _run(default) > 0  # SQLite's default lookaside is full: allocations go to malloc
    widened = connect(str(tmp_path / "widened.sqlite"), synchronous="normal")
    assert _run(widened) == 0
    default.close()
    widened.close()


def test_widening_refuses_a_connection_it_cannot_identify(tmp_path: Path) -> None:
    conn = driver.sqlite.connect(str(tmp_path / "a.sqlite"))
    assert not driver.widen_lookaside(conn, str(tmp_path / "b.sqlite"))  # not this file
    conn.execute("SELECT 1").fetchall()
    fresh = driver.sqlite.connect(str(tmp_path / "c.sqlite"))
    assert driver.widen_lookaside(fresh, str(tmp_path / "c.sqlite"))
    fresh.close()
    conn.close()


@pytest.mark.parametrize("busy", [True])
def test_widening_after_statements_fails_without_harm(tmp_path: Path, busy: bool) -> None:
    """SQLite refuses to change lookaside while some of it is in use: the call says so."""
    path = str(tmp_path / "d.sqlite")
    conn = driver.sqlite.connect(path)
    cursor = conn.execute("SELECT 1 UNION ALL SELECT 2")  # a statement in progress holds lookaside
    assert not driver.widen_lookaside(conn, path)
    assert cursor.fetchall() == [(1,), (2,)]
    conn.close()
