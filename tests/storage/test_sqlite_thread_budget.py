"""The query budget of SQLite statements run on a thread (:class:`kinbase.storage.sqlite.budget.Watch`):
kept from the event loop with ``Connection.interrupt``, no progress handler on the thread (whose
every call would take the GIL)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from types import FrameType

import pytest

from kinbase.errors import QueryTimeout
from kinbase.storage.sqlite import SQLiteStorage
from kinbase.storage.sqlite.budget import Watch
from kinbase.storage.sqlite.driver import sqlite as sqlite3

pytestmark = pytest.mark.anyio

# A pure-C statement (no Python function in it) that runs for minutes unless interrupted.
COUNT_TO = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT count(*) FROM c"
)
ENDLESS = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000000) "
    "SELECT count(*) FROM c"
)


@pytest.fixture
async def storage(tmp_path: Path) -> SQLiteStorage:
    return SQLiteStorage(tmp_path / "kinbase.db", query_timeout=0.2)


async def test_a_read_on_a_thread_is_interrupted_past_its_budget(storage: SQLiteStorage) -> None:
    await storage.start()
    try:
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            await storage._read_long(ENDLESS, ())
        assert time.monotonic() - started < 30  # interrupted, not run to its end
        # the thread's connection serves the next statement, which the interrupt does not reach
        assert await storage._read_long("SELECT 41 + 1", ()) == [(42,)]
    finally:
        await storage.stop()


async def test_a_read_on_the_write_connection_is_interrupted_and_the_transaction_goes_on(
    storage: SQLiteStorage,
) -> None:
    await storage.start()
    try:
        async with storage.writer() as writer:
            await writer.set_meta("watch-test", "before")
            conn = storage._write_conn
            assert conn is not None
            with pytest.raises(QueryTimeout):
                await storage._run_long(conn, ENDLESS, ())
            await writer.set_meta("watch-test", "after")
        async with storage.reader() as reader:
            assert await reader.get_meta("watch-test") == "after"
        # the loop's budget is back on the write connection: a slice of zero moves a read off it
        async with storage.writer() as writer:
            storage.loop_slice = 0.0
            assert await writer.get_meta("watch-test") == "after"
    finally:
        await storage.stop()


async def test_time_queued_for_a_thread_is_not_the_statements() -> None:
    """The timer fires while the statement waits for a thread: it waits again, and interrupts
    only once the statement has run for the whole budget."""
    loop = asyncio.get_running_loop()
    interrupted: list[float] = []

    class Conn:
        def interrupt(self) -> None:
            interrupted.append(time.monotonic())

    watch = Watch(loop, 0.05)
    await asyncio.sleep(0.12)  # queued past two budgets
    assert interrupted == []
    began = time.monotonic()
    watch.begin(Conn())  # type: ignore[arg-type]
    await asyncio.sleep(0.3)
    assert interrupted and interrupted[0] - began >= 0.05
    watch.end()
    after_end = len(interrupted)
    await asyncio.sleep(0.05)
    assert len(interrupted) == after_end  # not once end() was called
    watch.cancel()


async def test_an_interrupt_before_the_first_step_is_made_again(tmp_path: Path) -> None:
    """SQLite forgets an interrupt made while no statement runs, so one that lands between
    ``begin`` and the statement's first step is lost: past its budget, the watch interrupts again
    until ``end`` (a lost one let a statement run unbounded; seen in CI with a zero budget)."""
    conn = sqlite3.connect(tmp_path / "kinbase.db", check_same_thread=False)
    watch = Watch(asyncio.get_running_loop(), 0.0)
    watch.begin(conn)
    await asyncio.sleep(0.05)  # interrupted before the statement starts: that one is lost

    def run() -> BaseException | None:
        try:
            conn.execute(ENDLESS).fetchall()
        except sqlite3.OperationalError as exc:
            return exc
        finally:
            watch.end()
        return None

    thread = asyncio.ensure_future(asyncio.to_thread(run))
    try:
        done, _ = await asyncio.wait({thread}, timeout=10)
        assert done, "the statement was not interrupted"
        failed = thread.result()
        assert isinstance(failed, sqlite3.OperationalError) and "interrupted" in str(failed)
    finally:
        while not thread.done():  # a failed check leaves no endless statement behind
            conn.interrupt()
            await asyncio.sleep(0.01)
        watch.cancel()
        conn.close()


async def test_no_interrupt_after_the_statement_ended() -> None:
    loop = asyncio.get_running_loop()
    calls: list[int] = []

    class Conn:
        def interrupt(self) -> None:
            calls.append(1)

    watch = Watch(loop, 0.01)
    watch.begin(Conn())  # type: ignore[arg-type]
    watch.end()
    await asyncio.sleep(0.05)
    assert calls == []
    watch.cancel()


async def test_a_scan_on_a_thread_calls_no_python(tmp_path: Path) -> None:
    """While a scan runs on a thread, SQLite calls no Python function there (a progress handler
    would be called every few thousand steps, each call taking the GIL)."""
    calls: list[str] = []
    loop_thread = threading.get_ident()

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call" and threading.get_ident() != loop_thread:
            calls.append(frame.f_code.co_name)

    # a connection with a handler, as the loop's connections have, is seen by the profile
    probe = sqlite3.connect(":memory:", check_same_thread=False)

    def check() -> int:  # named as the loop budget's handler is
        return 0

    probe.set_progress_handler(check, 1000)
    seen = threading.Thread(target=probe.execute, args=(COUNT_TO.format(n=100_000),))
    storage = SQLiteStorage(tmp_path / "kinbase.db", query_timeout=60)
    threading.setprofile(profile)
    try:
        seen.start()
        seen.join()
        assert "check" in calls
        calls.clear()
        await storage.start()  # its threads start under the profile
        assert await storage._read_long(COUNT_TO.format(n=300_000), ()) == [(300_000,)]
        await storage._read_long(COUNT_TO.format(n=300_000), ())
    finally:
        threading.setprofile(None)
        await storage.stop()
    # Python ran on the thread around the statement (the executor, the watch), never inside it
    assert calls and "check" not in calls, calls
