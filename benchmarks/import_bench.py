"""Time the import path (``import_batch``, what ``kinbase import`` runs) on a fresh store.

    PYTHONPATH=<tree>/src .venv/bin/python benchmarks/import_bench.py postgresql 100000 [BATCH]

The entities are the suite's ``--big`` ones (owned by one user, readable only by it). Prints the
wall time, the CPU of this process and, on PostgreSQL, the CPU of the one backend the storage
used (its pool has one connection), so runs on a loaded machine still compare.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg

from kinbase.core.kinvey.transfer import import_batch
from kinbase.storage.base import StorageBackend

PG_URL = os.environ.get("KINBASE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
STATUSES = ("todo", "doing", "done", "blocked")


def items(count: int, uid: str) -> list[dict[str, Any]]:
    rng = random.Random(21)
    order = list(range(count))
    rng.shuffle(order)
    return [
        {
            "_id": f"m{i:08d}",
            "n": order[i],
            "status": rng.choice(STATUSES),
            "title": f"Item {i}",
            "pad": "x" * 120,
            "_acl": {"creator": uid, "gr": False},
        }
        for i in range(count)
    ]


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@contextlib.asynccontextmanager
async def throwaway_store(engine: str, name: str, max_size: int) -> AsyncIterator[StorageBackend]:
    """A started store on a fresh SQLite file or PostgreSQL schema, removed afterwards."""
    schema = f"{name}_{uuid.uuid4().hex[:8]}"
    path = f"/tmp/{name}-{os.getpid()}.db"  # nosec B108: a throwaway benchmark file
    storage: StorageBackend
    if engine == "sqlite":
        from kinbase.storage.sqlite import SQLiteStorage

        storage = SQLiteStorage(path)
    else:
        from kinbase.storage.postgresql import PostgreSQLStorage

        storage = PostgreSQLStorage(PG_URL, schema=schema, min_size=1, max_size=max_size)
    await storage.start()
    try:
        yield storage
    finally:
        await storage.stop()
        if engine == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):  # noqa: PTH110
                    os.unlink(path + suffix)  # noqa: PTH108
        else:
            async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as conn:
                await conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def main() -> None:
    engine, count = sys.argv[1], int(sys.argv[2])
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    async with throwaway_store(engine, "import_bench", max_size=1) as storage:
        async with storage.writer() as w:
            app = await w.create_app("kid_import", "Import", "s", "m", {})
        data = items(count, "user1")
        pids: list[int] = []
        if engine != "sqlite":
            async with storage.reader() as r:
                pids.append(r._conn.info.backend_pid)  # type: ignore[attr-defined]
        started, cpu, server = time.monotonic(), time.process_time(), cpu_of(pids)
        for start in range(0, count, batch):
            await import_batch(storage, app, "million", data[start : start + batch])
        wall = time.monotonic() - started
        print(
            f"{engine} import {count:,}: {wall:.1f} s wall ({count / wall:,.0f}/s), "
            f"{time.process_time() - cpu:.1f} s CPU of this process"
            + (f", {cpu_of(pids) - server:.1f} s CPU of the PostgreSQL backend" if pids else "")
        )


if __name__ == "__main__":
    asyncio.run(main())
