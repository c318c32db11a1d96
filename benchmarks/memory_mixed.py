"""Memory of one kinbase worker under the soak's mixed load, in-process (issue 20, the soak).

Drives the ASGI app directly (as ``kinvey_cpu.py``) with requests rotating over the soak's
workloads (Kinvey GET/list/filter/create/_count, Kinto GET/POST/list/filter) and prints, every
``--every`` requests: the process's RssAnon and RssFile, the bytes SQLite has allocated
(``sqlite3_memory_used()`` of the bundled library: page caches, statements, schema), the bytes
Python's allocator holds (``sys.getallocatedblocks`` is blocks, tracemalloc is bytes when on), the
number of objects the garbage collector tracks, and the database file size. ``--tracemalloc``
prints the allocation sites that grew most between the second sample and the last.

    .venv/bin/python benchmarks/memory_mixed.py --requests 200000
    .venv/bin/python benchmarks/memory_mixed.py --requests 100000 --tracemalloc
    .venv/bin/python benchmarks/memory_mixed.py --requests 200000 --cache-kib 2000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ctypes
import gc
import json
import secrets
import sys
import tempfile
import time
import tracemalloc
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kinvey_cpu import Driver, _basic, _lifespan

KINTO_AUTH = {
    "Authorization": "Basic " + base64.b64encode(b"bench:bench").decode(),
    "Content-Type": "application/json",
}


def _sqlite_memory_used() -> int:
    try:
        from pysqlite3 import _sqlite3  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - Python's own sqlite3
        return -1
    fn = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    fn.restype = ctypes.c_int64
    return int(fn())


def _status() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "VmRSS"):
            out[key] = int(value.split()[0])
    return out


def _patch_cache(kib: int | None, mmap: int | None) -> None:
    import kinbase.storage.sqlite as module

    original = module._connect

    def connect(path: str, *, synchronous: str) -> Any:
        conn = original(path, synchronous=synchronous)
        if kib is not None:
            conn.execute(f"PRAGMA cache_size = -{kib}")
        if mmap is not None:
            conn.execute(f"PRAGMA mmap_size = {mmap}")
        return conn

    module._connect = connect  # type: ignore[assignment]


async def _setup(app: Any, items: int) -> list[tuple[str, str, dict[str, str], bytes]]:
    drive = Driver(app)
    async with app.core.storage.writer() as writer:
        record = await writer.create_app(
            "kid_" + secrets.token_hex(6), "mem", secrets.token_hex(16), secrets.token_hex(16), {}
        )
    v6 = {"X-Kinvey-API-Version": "6"}
    appauth = {"Authorization": _basic(record.key, record.app_secret), **v6}
    body = json.dumps({"username": "owner", "password": "pw"}).encode()
    status, _, got = await drive.call("POST", f"/user/{record.key}", appauth, body)
    assert status == 201, got
    status, _, got = await drive.call("POST", f"/user/{record.key}/login", appauth, body)
    assert status == 200, got
    token = json.loads(got)["_kmd"]["authtoken"]
    auth = {"Authorization": f"Kinvey {token}", **v6}
    coll = f"/appdata/{record.key}/items"
    entities = [
        {
            "_id": f"it{i:06d}",
            "n": i,
            "status": ("todo", "done")[i % 2],
            "title": f"Item {i}",
            "pad": "x" * 120,
        }
        for i in range(items)
    ]
    for start in range(0, items, 100):
        status, _, got = await drive.call(
            "POST", coll, auth, json.dumps(entities[start : start + 100]).encode()
        )
        assert status in (200, 201, 207), got
    status, _, got = await drive.call(
        "PUT", f"/kinto/{record.key}/v1/accounts/bench", {}, b'{"data": {"password": "bench"}}'
    )
    assert status in (200, 201), got
    kcoll = f"/kinto/{record.key}/v1/buckets/bench/collections"
    for path in (f"/kinto/{record.key}/v1/buckets/bench", f"{kcoll}/tasks", f"{kcoll}/tasks_w"):
        status, _, got = await drive.call("PUT", path, KINTO_AUTH, b'{"data": {}}')
        assert status in (200, 201), got
    for i in range(items):
        rec = {"data": {"title": f"Task {i}", "status": ("todo", "done")[i % 2], "priority": i % 5}}
        status, _, got = await drive.call(
            "PUT", f"{kcoll}/tasks/records/r{i:06d}", KINTO_AUTH, json.dumps(rec).encode()
        )
        assert status in (200, 201), got
    q = urllib.parse.quote
    create = json.dumps({"n": 1, "status": "todo", "title": "Item", "pad": "x" * 120}).encode()
    post = b'{"data": {"title": "Task 1", "status": "todo", "priority": 3, "done": false}}'
    mix: list[tuple[str, str, dict[str, str], bytes]] = []
    for i in range(20):
        mix += [
            ("GET", f"{coll}/it{i * 37 % items:06d}", auth, b""),
            ("GET", f"{coll}?sort={q(json.dumps({'n': -1}))}&limit=50", auth, b""),
            (
                "GET",
                f"{coll}?query={q(json.dumps({'status': 'todo'}))}&sort={q(json.dumps({'n': -1}))}&limit=50",
                auth,
                b"",
            ),
            ("POST", f"/appdata/{record.key}/items_w", {**auth, "Content-Type": "application/json"}, create),
            ("GET", f"{coll}/_count", auth, b""),
            ("GET", f"{kcoll}/tasks/records/r{i * 37 % items:06d}", KINTO_AUTH, b""),
            ("POST", f"{kcoll}/tasks_w/records", KINTO_AUTH, post),
            ("GET", f"{kcoll}/tasks/records?_limit=50&_sort=-last_modified", KINTO_AUTH, b""),
            ("GET", f"{kcoll}/tasks/records?status=todo&_limit=50", KINTO_AUTH, b""),
        ]
    for method, path, headers, body in mix[:9]:
        status, _, got = await drive.call(method, path, headers, body)
        assert status < 300, (method, path, status, got[:300])
    return mix


async def _run(args: argparse.Namespace) -> None:
    from kinbase.app import create_app
    from kinbase.settings import Settings

    tmp = tempfile.mkdtemp(prefix="memory-mixed-")
    settings = Settings(
        data_dir=tmp, password_hash_time_cost=1, password_hash_memory_kib=8, log_level="warning"
    )
    app = create_app(settings)
    task, inbox = await _lifespan(app)
    try:
        mix = await _setup(app, args.items)
        drive = Driver(app)
        concurrency = args.concurrency
        snaps: list[Any] = []
        print(
            "requests | RssAnon MiB | RssFile MiB | SQLite MiB | py blocks k | gc objects k | db MiB | s"
            " | CPU us/req",
            flush=True,
        )
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        done = 0
        errors = 0

        async def one(k: int) -> None:
            nonlocal errors
            method, path, headers, body = mix[k % len(mix)]
            status, _, got = await drive.call(method, path, headers, body)
            if status >= 300:
                errors += 1
                if errors <= 3:
                    print(f"  {method} {path}: {status} {got[:200]!r}", flush=True)

        while done < args.requests:
            for start in range(0, args.every, concurrency):
                await asyncio.gather(*(one(done + start + j) for j in range(concurrency)))
            done += args.every
            cpu = time.process_time() - cpu0
            gc.collect()
            st = _status()
            db = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
            print(
                f"{done:>8} | {st['RssAnon'] / 1024:11.1f} | {st['RssFile'] / 1024:11.1f} | "
                f"{_sqlite_memory_used() / 2**20:10.1f} | {sys.getallocatedblocks() / 1000:11.0f} | "
                f"{len(gc.get_objects()) / 1000:12.0f} | {db / 2**20:6.1f} | "
                f"{time.perf_counter() - t0:.0f} | "
                f"{cpu / args.every * 1e6:.0f}",
                flush=True,
            )
            if args.tracemalloc and (len(snaps) < 2 or done >= args.requests):
                snaps.append(
                    (tracemalloc.take_snapshot(), Counter(type(o).__name__ for o in gc.get_objects()))
                )
                if len(snaps) > 2:
                    snaps.pop(1)
            cpu0 = time.process_time()
        print(f"errors: {errors}")
        if args.tracemalloc and len(snaps) >= 2:
            (first, types0), (last, types1) = snaps[0], snaps[-1]
            print("top allocation sites grown (traceback of 1 frame):")
            for stat in last.compare_to(first, "lineno")[:25]:
                print(f"  {stat}")
            print("object types grown:")
            for name, count in (types1 - types0).most_common(20):
                print(f"  {name}: +{count}")
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--every", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--cache-kib", type=int, help="PRAGMA cache_size = -KIB on every connection")
    parser.add_argument("--mmap", type=int, help="PRAGMA mmap_size on every connection")
    args = parser.parse_args()
    if args.tracemalloc:
        tracemalloc.start(1)
    if args.cache_kib is not None or args.mmap is not None:
        _patch_cache(args.cache_kib, args.mmap)
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
