"""Storage benchmark: load N entities per engine, then time inserts, get-by-id and query shapes.

    .venv/bin/python benchmarks/storage_bench.py --count 1000000 --engines sqlite,postgresql

Prints a table per engine (and the EXPLAIN plans of the indexed queries). The data imitates the
perf baseline's: 12 top-level fields, a nested owner, an array of tags. The collection declares
field indexes on ``category``, ``price`` and ``owner.id``; ``status`` is left unindexed on purpose.
Figures are for this machine on this day; compare engines and shapes within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql as pgsql

from kinbase.query.ast import And, Eq, In, Or, Query, Range, Regex, SortKey
from kinbase.query.sql import CompileContext, Sql, compile_find
from kinbase.storage.base import (
    FindOptions,
    NewVersion,
    ParentRecord,
    StorageBackend,
    SystemColumns,
    WriteContext,
)
from kinbase.storage.postgresql import PostgreSQLStorage
from kinbase.storage.sqlite import SQLiteStorage

CATEGORIES = [f"c{i:04d}" for i in range(1000)]
OWNERS = [f"u{i:04d}" for i in range(1000)]
TAGS = [f"t{i}" for i in range(20)]
STATUSES = ["todo", "doing", "done", "archived"]
COLUMNS = FindOptions(columns=SystemColumns(id=("_id",)))


def make_doc(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "_id": f"e{i:07d}",
        "name": "".join(rng.choices(string.ascii_lowercase, k=8)),
        "category": rng.choice(CATEGORIES),
        "status": rng.choice(STATUSES),
        "priority": rng.randint(1, 5),
        "price": round(rng.uniform(0, 1000), 2),
        "qty": rng.randint(0, 500),
        "active": rng.random() < 0.5,
        "tags": rng.sample(TAGS, rng.randint(1, 3)),
        "owner": {"id": rng.choice(OWNERS), "name": "Owner", "address": {"city": "Paris", "zip": "75001"}},
        "created": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "_acl": {"creator": "bench"},
    }


def builder(doc: dict[str, Any]) -> Callable[[WriteContext], NewVersion]:
    def build(ctx: WriteContext) -> NewVersion:
        return NewVersion(data=doc, creator="user:bench", grants=[("read", "user:bench")])

    return build


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, float, float]:
    """(ops/s, p50 ms, p99 ms) over ``repeat`` sequential calls."""
    samples: list[float] = []
    begin = time.perf_counter()
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    total = time.perf_counter() - begin
    samples.sort()
    return (
        repeat / total,
        statistics.median(samples),
        samples[min(len(samples) - 1, int(len(samples) * 0.99))],
    )


def report(name: str, rate: float, p50: float, p99: float, unit: str) -> None:
    print(f"{name:<42} {rate:>10,.1f}  p50 {p50:8.3f} ms  p99 {p99:8.3f} ms  {unit}", flush=True)


QUERIES: dict[str, Query] = {
    "eq_indexed {category}": Query(filter=Eq(("category",), "c0042")),
    "nested_eq_indexed {owner.id}": Query(filter=Eq(("owner", "id"), "u0042")),
    "in3_indexed": Query(filter=In(("category",), ("c0001", "c0002", "c0003"))),
    "or2_indexed": Query(filter=Or((Eq(("category",), "c0007"), Eq(("owner", "id"), "u0007")))),
    "range_indexed {price 100..101}": Query(
        filter=And((Range(("price",), "gte", 100), Range(("price",), "lt", 101)))
    ),
    "range_sort_limit50 {price}": Query(
        filter=And((Range(("price",), "gte", 100), Range(("price",), "lt", 300))),
        sort=(SortKey(("price",)),),
        limit=50,
    ),
    "prefix_regex_indexed {category ^c004}": Query(filter=Regex(("category",), "^c004")),
    "eq_unindexed_limit50 {status}": Query(filter=Eq(("status",), "done"), limit=50),
    "array_contains_limit50 {tags}": Query(filter=Eq(("tags",), "t3"), limit=50),
    "page_50_skip_1000 (insertion order)": Query(skip=1000, limit=50),
}


async def explain(storage: StorageBackend, parent: ParentRecord, query: Query) -> str:
    ctx = CompileContext(
        dialect="sqlite" if storage.engine == "sqlite" else "postgresql",
        parent_id=parent.id,
        indexes={i.path: i for i in parent.indexes},
        id_path=("_id",),
    )
    ph = "?" if storage.engine == "sqlite" else "%s"
    sql: Sql = compile_find(
        query, ctx, select="o.oid", where=Sql(f"o.parent_id = {ph} AND NOT o.deleted", [parent.id])
    )
    if isinstance(storage, SQLiteStorage):
        conn = storage._read_conn
        assert conn is not None
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql.text, sql.params).fetchall()
        return "\n".join("    " + str(r[-1]) for r in rows)
    assert isinstance(storage, PostgreSQLStorage)
    async with storage._require_pool().connection() as conn:
        cur = await conn.execute("EXPLAIN " + sql.text, sql.params)  # type: ignore[arg-type]
        return "\n".join("    " + r[0] for r in await cur.fetchall())


async def run_engine(storage: StorageBackend, count: int, batch: int, seed: int) -> None:
    await storage.start()
    rng = random.Random(seed)
    async with storage.writer() as w:
        app = await w.create_app(f"kid_bench{int(time.time())}", "bench", "a" * 32, "b" * 32, {})
        parent = await w.ensure_parent(app.id, "kinvey.appdata", "bench")
        for path in (("category",), ("price",), ("owner", "id")):
            parent = await w.create_index(parent, path)
    print(f"\n== {storage.engine}: loading {count:,} entities (batches of {batch}, 3 field indexes) ==")
    begin = time.perf_counter()
    for start in range(0, count, batch):
        items = [(f"e{i:07d}", builder(make_doc(rng, i))) for i in range(start, min(count, start + batch))]
        async with storage.writer() as w:
            await w.put_many(parent, items)
        if start and start % (batch * 100) == 0:
            rate = start / (time.perf_counter() - begin)
            print(f"  {start:>9,} loaded, {rate:,.0f} entities/s", flush=True)
    load_seconds = time.perf_counter() - begin
    print(f"bulk load: {count / load_seconds:,.0f} entities/s ({load_seconds:.1f} s)")
    if isinstance(storage, PostgreSQLStorage):
        async with storage._require_pool().connection() as conn:
            await conn.execute("ANALYZE")
    async with storage.reader() as r:
        fresh = await r.get_parent(app.id, "kinvey.appdata", "bench")
    assert fresh is not None and fresh.live == count

    counter = iter(range(count + 1, count + 10_000_000))

    async def single_insert() -> None:
        i = next(counter)
        async with storage.writer() as w:
            await w.put(fresh, f"e{i:07d}", builder(make_doc(rng, i)))

    ops, p50, p99 = await timed(single_insert, 2000)
    report("single insert (one transaction each)", ops, p50, p99, "ops/s")

    async def get_by_id() -> None:
        async with storage.reader() as r:
            found = await r.get_object(fresh, f"e{rng.randrange(count):07d}")
        assert found is not None

    ops, p50, p99 = await timed(get_by_id, 20_000)
    report("get by id", ops, p50, p99, "ops/s")

    for name, query in QUERIES.items():
        rows: list[Any] = []

        async def run(q: Query = query, out: list[Any] = rows) -> None:
            async with storage.reader() as r:
                out[:] = await r.find(fresh, q, COLUMNS)

        repeat = 5 if "unindexed" in name else 50
        ops, p50, p99 = await timed(run, repeat)
        report(name, ops, p50, p99, f"q/s    rows {len(rows)}")
    for name in ("eq_indexed {category}", "range_sort_limit50 {price}", "eq_unindexed_limit50 {status}"):
        print(f"EXPLAIN {name}:\n{await explain(storage, fresh, QUERIES[name])}")
    await storage.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("KINBASE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    for engine in args.engines.split(","):
        if engine == "sqlite":
            with tempfile.TemporaryDirectory(prefix="kinbase-bench-") as tmp:
                await run_engine(SQLiteStorage(Path(tmp) / "bench.db"), args.count, args.batch, args.seed)
        else:
            schema = f"kb_bench_{os.getpid()}"
            try:
                await run_engine(
                    PostgreSQLStorage(args.pg_url, schema=schema), args.count, args.batch, args.seed
                )
            finally:
                with psycopg.connect(args.pg_url, autocommit=True) as conn:
                    conn.execute(
                        pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema))
                    )


if __name__ == "__main__":
    asyncio.run(main())
