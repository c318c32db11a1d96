"""The ``--big`` query at storage level: load COUNT entities through ``import_batch``, build the
compound index ``(status, n)`` online, time the owner's ``status`` filter + sort by ``n`` desc +
limit 50 (ACL in force) and print its plan (PostgreSQL: ``EXPLAIN (ANALYZE, BUFFERS)``).

    .venv/bin/python benchmarks/big_query.py postgresql 1000000
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from import_bench import items, throwaway_store
from kinbase.core.kinvey.transfer import import_batch
from kinbase.core.permissions import AUTHENTICATED, IMPLIED_BY
from kinbase.query.ast import Eq, Query, SortKey
from kinbase.storage import indexing
from kinbase.storage.base import AclFilter, FindOptions

KIND = "kinvey.appdata"


async def main() -> None:
    engine, count = sys.argv[1], int(sys.argv[2])
    async with throwaway_store(engine, "big_query", max_size=2) as storage:
        async with storage.writer() as w:
            app = await w.create_app("kid_q", "Q", "s", "m", {})
        data = items(count, "user1")
        started = time.monotonic()
        for start in range(0, count, 5000):
            await import_batch(storage, app, "million", data[start : start + 5000])
        print(f"load {time.monotonic() - started:.1f} s", flush=True)
        del data
        started = time.monotonic()
        await indexing.build_index(storage, app.id, KIND, "million", ("n",), prefix=(("status",),))
        print(f"index build {time.monotonic() - started:.1f} s", flush=True)
        async with storage.reader() as r:
            parent = await r.get_parent(app.id, KIND, "million")
        assert parent is not None
        query = Query(filter=Eq(("status",), "todo"), sort=(SortKey(("n",), -1),), limit=50)
        acl = AclFilter(perms=IMPLIED_BY["read"], principals=tuple(sorted([AUTHENTICATED, "user:user1"])))
        options = FindOptions(acl=acl)
        times = []
        for _ in range(50):
            started = time.perf_counter()
            async with storage.reader() as r:
                found = await r.find(parent, query, options)
            times.append(time.perf_counter() - started)
        assert len(found) == 50
        times.sort()
        print(f"{engine} {count:,}: find p50 {1000 * times[25]:.2f} ms, fastest {1000 * times[0]:.2f} ms")
        statements: list[tuple[str, Any]] = []
        async with storage.reader() as r:
            reader: Any = r
            run = reader._all

            async def capture(sql: str, params: Any = (), **kwargs: Any) -> Any:
                statements.append((sql, params))
                return await run(sql, params, **kwargs)

            reader._all = capture
            await r.find(parent, query, options)
            sql, params = statements[-1]
            explain = "EXPLAIN QUERY PLAN " if engine == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "
            for row in await run(explain + sql, params):
                print(row[-1] if engine == "sqlite" else row[0])


if __name__ == "__main__":
    asyncio.run(main())
