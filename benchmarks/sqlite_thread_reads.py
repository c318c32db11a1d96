"""SQLite scans on a thread while the event loop is busy: their latency and what the loop got done.

A scan that no index bounds (a Kinvey list sorted on an unindexed field) runs on one of the
storage's two threads. While it runs, the event loop keeps serving requests, holding the GIL; any
Python the scan needs on its thread (a progress handler every few thousand steps, each row handed
back) waits for the loop to let go of the GIL, up to the interpreter's switch interval (5 ms) each
time. This drives that case in-process, with no HTTP and no wrk: a SQLite database with
``--rows`` documents of one collection (no index), ``--scans`` tasks reading "50 sorted by ``n``
desc" over and over through ``Reader.find`` (on a thread: the statement is not an index probe),
and one task that keeps the loop busy in Python (slices of ``--slice-ms``, each followed by a
wait of ``--idle-ms`` in the loop's poll, as a loaded server's loop runs request after request and
now and then waits for the network; with no wait at all a thread can be starved of the GIL for
seconds, in either tree: CPython 3.11 asks the holder to let go only when no other thread took
the GIL meanwhile, and the loop takes it again after every poll). It reports per tree (alternating, the
order rotating; ``--before-src`` another checkout in a child process): the scans' wall latency
(p50, p90), scans per second, the process's CPU per scan, and the loop's own work per second.

    .venv/bin/python benchmarks/sqlite_thread_reads.py [--before-src /tmp/before] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


async def _seed(path: Path, rows: int) -> None:
    from kinbase.storage.base import NewVersion
    from kinbase.storage.sqlite import SQLiteStorage

    storage = SQLiteStorage(path)
    await storage.start()
    try:
        async with storage.writer() as w:
            app = await w.create_app("kid_threads", "threads", "s" * 16, "m" * 16, {})
            parent = await w.ensure_parent(app.id, "bench.threads", "items")
            pad = "x" * 120
            await w.put_many(
                parent,
                [
                    (
                        f"it{n:07d}",
                        lambda ctx, n=n: NewVersion({"n": (n * 7919) % rows, "status": "todo", "pad": pad}),
                    )
                    for n in range(rows)
                ],
            )
    finally:
        await storage.stop()


async def _measure(path: Path, seconds: float, scans: int, slice_ms: float, idle_ms: float) -> dict[str, Any]:
    from kinbase.query.ast import Query, SortKey
    from kinbase.storage.sqlite import SQLiteStorage

    storage = SQLiteStorage(path)
    await storage.start()
    try:
        async with storage.reader() as reader:
            app = await reader.get_app("kid_threads")
            assert app is not None
            parent = await reader.get_parent(app.id, "bench.threads", "items")
            assert parent is not None
        query = Query(sort=(SortKey(("n",), True),), limit=50)
        latencies: list[float] = []
        loop_work = 0
        stop = time.monotonic() + seconds

        async def scan() -> None:
            while time.monotonic() < stop:
                started = time.perf_counter()
                async with storage.reader() as reader:
                    found = await reader.find(parent, query)
                latencies.append(time.perf_counter() - started)
                assert len(found) == 50

        async def busy() -> None:
            nonlocal loop_work
            while time.monotonic() < stop:
                until = time.perf_counter() + slice_ms / 1000
                while time.perf_counter() < until:
                    loop_work += 1
                await asyncio.sleep(idle_ms / 1000)  # the loop waits for I/O: the GIL is free

        cpu = time.process_time()
        wall = time.perf_counter()
        await asyncio.gather(busy(), *(scan() for _ in range(scans)))
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
    finally:
        await storage.stop()
    latencies.sort()
    return {
        "scans_per_s": len(latencies) / wall,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p90_ms": latencies[int(len(latencies) * 0.9)] * 1000,
        "process_cpu_ms_per_scan": cpu / max(len(latencies), 1) * 1000,
        "loop_work_per_s": loop_work / wall,
    }


def _child(args: argparse.Namespace) -> None:
    print(
        json.dumps(
            asyncio.run(_measure(Path(args.db), args.seconds, args.scans, args.slice_ms, args.idle_ms))
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before-src", help="another checkout (its src/ goes on PYTHONPATH)")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--scans", type=int, default=2, help="concurrent scanning tasks")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--slice-ms", type=float, default=2.0)
    parser.add_argument("--idle-ms", type=float, default=0.5, help="the loop's wait for I/O between slices")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    here = Path(__file__).resolve().parent.parent
    trees = {"checkout": here}
    if args.before_src:
        trees["before"] = Path(args.before_src).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "kinbase.db"
        asyncio.run(_seed(db, args.rows))
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        names = list(trees)
        for rnd in range(args.rounds):
            for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
                env = {**os.environ, "PYTHONPATH": str(trees[name] / "src")}
                command = [
                    sys.executable,
                    __file__,
                    "--child",
                    "--db",
                    str(db),
                    "--seconds",
                    str(args.seconds),
                ]
                command += [
                    "--scans",
                    str(args.scans),
                    "--slice-ms",
                    str(args.slice_ms),
                    "--idle-ms",
                    str(args.idle_ms),
                ]
                out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
                result = json.loads(out.strip().splitlines()[-1])
                results[name].append(result)
                print(
                    f"round {rnd} {name:9} " + "  ".join(f"{k} {v:,.1f}" for k, v in result.items()),
                    flush=True,
                )
    print(
        f"\n{args.rows:,} rows, {args.scans} scanning tasks, the loop busy {args.slice_ms:g} ms then "
        f"waiting {args.idle_ms:g} ms, "
        f"{args.seconds:g} s x {args.rounds} rounds, medians; load average {os.getloadavg()[0]:.1f}"
    )
    keys = list(next(iter(results.values()))[0])
    print("| tree | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for name, runs in results.items():
        cells = [f"{statistics.median(r[k] for r in runs):,.1f}" for k in keys]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
