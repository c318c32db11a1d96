"""SIGKILL during a stream of acknowledged writes loses none of them (SQLite, for real).

A subprocess writes objects one transaction at a time and prints each id after its commit
returned; we kill it with SIGKILL mid-stream, reopen the database and check every acknowledged
write is there. The server-level version (HTTP writes to a running `kinbase serve`) is in
tests/frontends/kinvey/test_durability_http.py.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kinbase.query.ast import Query
from kinbase.storage.sqlite import SQLiteStorage

pytestmark = pytest.mark.slow

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from kinbase.storage.base import NewVersion
    from kinbase.storage.sqlite import SQLiteStorage

    async def main(path, synchronous):
        storage = SQLiteStorage(path, synchronous=synchronous)
        await storage.start()
        async with storage.writer() as w:
            app = await w.create_app("kid_durable", "durable", "a", "b", {})
            parent = await w.ensure_parent(app.id, "test.collection", "stream")
        print("ready", flush=True)
        i = 0
        while True:
            async with storage.writer() as w:
                await w.put(parent, f"e{i}", lambda ctx, i=i: NewVersion(data={"i": i, "pad": "x" * 200}))
            print(f"ack e{i}", flush=True)
            i += 1

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def _stored_ids(db: Path) -> set[str]:
    storage = SQLiteStorage(db)
    await storage.start()
    try:
        async with storage.reader() as r:
            app = await r.get_app("kid_durable")
            assert app is not None
            parent = await r.get_parent(app.id, "test.collection", "stream")
            assert parent is not None
            return {o.id for o in await r.find(parent, Query())}
    finally:
        await storage.stop()


@pytest.mark.parametrize("synchronous", ["normal", "full"])
@pytest.mark.parametrize("kill_after", [50, 400])
def test_sigkill_loses_no_acknowledged_write(tmp_path: Path, synchronous: str, kill_after: int) -> None:
    db = tmp_path / "durable.db"
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), synchronous],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    acked: list[str] = []
    try:
        ready = process.stdout.readline()
        assert ready.strip() == "ready", ready + (process.stderr.read() if process.stderr else "")
        deadline = time.monotonic() + 60
        while len(acked) < kill_after and time.monotonic() < deadline:
            line = process.stdout.readline()
            if line.startswith("ack "):
                acked.append(line.split()[1])
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert len(acked) == kill_after
    stored = asyncio.run(_stored_ids(db))
    missing = [i for i in acked if i not in stored]
    assert not missing, f"{len(missing)} acknowledged writes lost after SIGKILL: {missing[:5]}"
