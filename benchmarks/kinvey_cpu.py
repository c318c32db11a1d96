"""CPU time per request of the Kinvey read path, in-process (issue 20, perf-kinvey-get).

Drives the kinbase ASGI app directly (no socket, no HTTP parser: what is measured is kinbase's own
work from the ASGI scope to the last ``send``) N times per workload and reports the process's CPU
time per request (``time.process_time()``, all threads: SQLite reads sent to a thread count too),
and, in a separate pass, the database statements and connection checkouts per request. CPU per
request hardly depends on how loaded the machine is, unlike req/s.

    .venv/bin/python benchmarks/kinvey_cpu.py                       # this checkout, both engines
    .venv/bin/python benchmarks/kinvey_cpu.py --before-src /tmp/before   # also a base tree, alternating
    .venv/bin/python benchmarks/kinvey_cpu.py --engines sqlite --requests 5000 --rounds 3

Workloads: ``get`` (GET by id with a user session; the entity is the user's own and readable only
by it: the ACL is checked), ``get-shared`` (the same user reads another user's entity through a
grant in ``_acl.r``: the grant rows are read), ``handshake`` (``GET /appdata/:appKey``), ``count``
(``_count`` of ``--items`` entities, ACL-filtered), ``deltaset`` (10 changes among them) and
``ceiling`` (an ASGI app that sends the same bytes: the floor of a direct call), ``create`` (POST
of a new entity with a generated ``_id``, one at a time) and ``create-16`` (the same by 16
concurrent tasks: writers of one collection share commits where the engine groups them). For
the writes the statements column counts the round trips to the database instead (PostgreSQL:
the waits of psycopg's connections; SQLite: commits), and ``per commit`` how many writes one
commit served. On PostgreSQL, ``server µs`` is the CPU time of the database backends serving the
worker's pool per write (``/proc``, found by the ``application_name`` the worker's URL sets: the
server runs on this machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("KINBASE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432") + "/test"
WORKLOADS = ("ceiling", "get", "get-shared", "handshake", "count", "deltaset", "create", "create-16")
WRITES = ("create", "create-16")
CREATE_BODY = json.dumps({"n": 1, "status": "todo", "title": "Item", "pad": "x" * 120}).encode()


class Driver:
    """Calls an ASGI app the way uvicorn does, one request at a time."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def call(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        raw_path, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": urllib.parse.unquote(raw_path),
            "raw_path": raw_path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
            + [(b"host", b"127.0.0.1:8000"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        out: dict[str, Any] = {"status": 0, "headers": {}, "body": b""}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
                out["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
            else:
                out["body"] += message.get("body", b"")

        await self.app(scope, receive, send)
        return out["status"], out["headers"], out["body"]


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def _lifespan(app: Any) -> tuple[asyncio.Task[None], asyncio.Queue[dict[str, Any]]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()
        elif message["type"] == "lifespan.startup.failed":
            raise RuntimeError(message.get("message"))

    task = asyncio.create_task(app({"type": "lifespan"}, receive, send))
    await inbox.put({"type": "lifespan.startup"})
    await asyncio.wait_for(started.wait(), 60)
    return task, inbox


def _count_statements(counts: dict[str, int]) -> None:
    """Count the statements and connection checkouts of every reader and writer."""
    from kinbase.storage import sql as sql_package

    for cls in (sql_package.SqlReader, sql_package.SqlWriter):
        for name in ("_one", "_all"):
            for sub in _subclasses(cls):
                if sub.__subclasses__():
                    continue  # wrap each concrete class once
                original = getattr(sub, name)

                def wrap(fn: Any) -> Any:
                    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
                        counts["statements"] += 1
                        return await fn(self, *args, **kwargs)

                    return counted

                setattr(sub, name, wrap(original))
    # The invalidation poll reads through the storage itself (read_meta, where the tree has it).
    from kinbase.storage.sqlite import SQLiteStorage

    if "read_meta" in vars(SQLiteStorage):
        original_meta = SQLiteStorage.read_meta

        async def counted_meta(self: Any, key: str) -> Any:
            counts["statements"] += 1
            return await original_meta(self, key)

        SQLiteStorage.read_meta = counted_meta  # type: ignore[method-assign]


def _subclasses(cls: type) -> list[type]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_subclasses(sub))
    return out


async def _worker(engine: str, requests: int, items: int, workloads: list[str]) -> dict[str, Any]:
    from kinbase.app import create_app
    from kinbase.settings import Settings

    tmp = tempfile.mkdtemp(prefix="kinvey-cpu-")
    schema = None
    kwargs: dict[str, Any] = {
        "data_dir": tmp,
        "password_hash_time_cost": 1,
        "password_hash_memory_kib": 8,
        "log_level": "warning",
    }
    if engine == "postgresql":
        import psycopg

        schema = "kcpu_" + secrets.token_hex(4)
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        kwargs["database_url"] = f"{PG_URL}?options=-csearch_path%3D{schema}&application_name={schema}"
    settings = Settings(**kwargs)
    app = create_app(settings)
    task, inbox = await _lifespan(app)
    try:
        return await _measure(app, requests, items, workloads)
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 30)
        if schema is not None:
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def _measure(app: Any, requests: int, items: int, workloads: list[str]) -> dict[str, Any]:
    core = app.core
    async with core.storage.writer() as writer:
        record = await writer.create_app(
            "kid_" + secrets.token_hex(6), "cpu", secrets.token_hex(16), secrets.token_hex(16), {}
        )
    drive = Driver(app)
    v6 = {"X-Kinvey-API-Version": "6"}
    appauth = {"Authorization": _basic(record.key, record.app_secret), **v6}
    master = {"Authorization": _basic(record.key, record.master_secret), **v6}
    tokens = []
    for name in ("owner", "other"):
        body = json.dumps({"username": name, "password": "pw"}).encode()
        status, _, got = await drive.call("POST", f"/user/{record.key}", appauth, body)
        assert status == 201, got
        status, _, got = await drive.call("POST", f"/user/{record.key}/login", appauth, body)
        assert status == 200, got
        data = json.loads(got)
        tokens.append((data["_id"], data["_kmd"]["authtoken"]))
    (owner_id, owner_token), (_, other_token) = tokens
    auth = {"Authorization": f"Kinvey {owner_token}", **v6}
    other = {"Authorization": f"Kinvey {other_token}", **v6}
    coll = f"/appdata/{record.key}/items"
    status, _, got = await drive.call(
        "PUT", f"{coll}/_settings", master, json.dumps({"deltaSet": {"enabled": True}}).encode()
    )
    assert status == 200, got
    entities = [
        {
            "_id": f"it{i:06d}",
            "n": i,
            "status": "todo",
            "title": f"Item {i}",
            "pad": "x" * 120,
            "_acl": {"gr": False, "gw": False},
        }
        for i in range(items)
    ]
    for start in range(0, items, 100):
        status, _, got = await drive.call(
            "POST", coll, auth, json.dumps(entities[start : start + 100]).encode()
        )
        assert status in (200, 201, 207), got
    shared = {"_id": "shared1", "n": -1, "_acl": {"gr": False, "gw": False, "r": [owner_id]}}
    status, _, got = await drive.call("PUT", f"{coll}/shared1", other, json.dumps(shared).encode())
    assert status in (200, 201), got
    _, headers, _ = await drive.call("GET", f"{coll}?limit=1", auth)
    since = headers["x-kinvey-request-start"]
    for i in range(10):
        body = json.dumps({**entities[i * 7], "n": 1000 + i}).encode()
        status, _, got = await drive.call("PUT", f"{coll}/{entities[i * 7]['_id']}", auth, body)
        assert status == 200, got

    status, head, ceiling_body = await drive.call("GET", f"{coll}/it000001", auth)
    assert status == 200, ceiling_body
    ceiling_headers = [(k.encode(), v.encode()) for k, v in head.items()]

    async def ceiling(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": ceiling_headers})
        await send({"type": "http.response.body", "body": ceiling_body})

    loads: dict[str, tuple[Driver, str, dict[str, str], Any]] = {
        "ceiling": (Driver(ceiling), f"{coll}/it000001", auth, None),
        "get": (drive, f"{coll}/it000001", auth, lambda b: json.loads(b)["_id"] == "it000001"),
        "get-shared": (drive, f"{coll}/shared1", auth, lambda b: json.loads(b)["_id"] == "shared1"),
        "handshake": (drive, f"/appdata/{record.key}", auth, lambda b: "kinvey" in json.loads(b)),
        "count": (drive, f"{coll}/_count", auth, lambda b: json.loads(b)["count"] == items + 1),
        "deltaset": (
            drive,
            f"{coll}/_deltaset?since={urllib.parse.quote(since)}",
            auth,
            lambda b: len(json.loads(b)["changed"]) == 10,
        ),
    }
    result: dict[str, Any] = {}
    for name in [w for w in workloads if w in WRITES]:
        result[name] = await _measure_create(drive, coll, auth, requests, 16 if name == "create-16" else 1)
        if name == os.environ.get("KINVEY_CPU_PROFILE"):
            import cProfile
            import pstats

            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            await _measure_create(drive, coll, auth, requests, 16 if name == "create-16" else 1)
            profiler.disable()
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats(os.environ.get("KINVEY_CPU_SORT", "tottime")).print_stats(45)
    for name in [w for w in workloads if w not in WRITES]:
        driver, path, headers, check = loads[name]
        status, _, got = await driver.call("GET", path, headers)
        assert status == 200 and (check is None or check(got)), (name, status, got[:300])
        n = requests if name not in ("count", "deltaset") else max(50, requests // 10)
        for _ in range(min(200, n)):  # warm: prepared statements, caches
            await driver.call("GET", path, headers)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            await driver.call("GET", path, headers)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        result[name] = {"cpu_us": cpu / n * 1e6, "wall_us": wall / n * 1e6, "n": n}
        if name == os.environ.get("KINVEY_CPU_PROFILE"):
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(n):
                await driver.call("GET", path, headers)
            profiler.disable()
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats(os.environ.get("KINVEY_CPU_SORT", "tottime")).print_stats(45)
    counts = {"statements": 0}
    _count_statements(counts)
    for name in workloads:
        if name == "ceiling" or name in WRITES:
            continue
        driver, path, headers, _ = loads[name]
        counts["statements"] = 0
        for _ in range(20):
            await driver.call("GET", path, headers)
        result[name]["statements"] = counts["statements"] / 20
    return result


class _RoundTrips:
    """Counts the waits on the database: psycopg connections' ``wait`` (PostgreSQL), or the
    commits of SQLite's write connection."""

    def __init__(self) -> None:
        self.count = 0
        self.commits = 0
        import psycopg

        original = psycopg.AsyncConnection.wait
        counter = self

        async def wait(conn: Any, *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            return await original(conn, *args, **kwargs)

        psycopg.AsyncConnection.wait = wait  # type: ignore[method-assign]
        self._original = original

    def close(self) -> None:
        import psycopg

        psycopg.AsyncConnection.wait = self._original  # type: ignore[method-assign]


def _backend_cpu(core: Any) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving this worker's pool (by the
    ``application_name`` the worker's URL sets; read from ``/proc``: the server runs on this
    machine). Empty on SQLite."""
    url = getattr(core.storage, "url", None)
    if not url or "application_name=" not in url:
        return {}
    import psycopg

    name = url.rsplit("application_name=", 1)[1].split("&")[0]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,)
        ).fetchall()
    out = {}
    for (pid,) in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


async def _measure_create(
    drive: Driver, coll: str, auth: dict[str, str], requests: int, tasks: int
) -> dict[str, Any]:
    async def one() -> None:
        status, _, got = await drive.call("POST", coll, auth, CREATE_BODY)
        assert status == 201, got[:300]

    async def run(n: int) -> None:
        async def worker(k: int) -> None:
            for _ in range(k):
                await one()

        per = n // tasks
        await asyncio.gather(*(worker(per) for _ in range(tasks)))

    core = drive.app.core
    await run(min(200, requests))  # warm
    backends0 = _backend_cpu(core)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await run(requests)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    backends = _backend_cpu(core)
    n = requests // tasks * tasks
    out: dict[str, Any] = {"cpu_us": cpu / n * 1e6, "wall_us": wall / n * 1e6, "n": n}
    if backends:
        server = sum(t - backends0.get(pid, 0.0) for pid, t in backends.items())
        out["server_us"] = server / n * 1e6
    ahead = getattr(core.storage, "_ahead", None)
    trips = _RoundTrips()
    batches0 = ahead.batches if ahead is not None else 0
    try:
        await run(min(400, requests))
    finally:
        trips.close()
    m = min(400, requests) // tasks * tasks
    if ahead is not None:
        out["statements"] = round(trips.count / m, 2)
        batches = ahead.batches - batches0
        out["per_commit"] = round(m / batches, 1) if batches else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument(
        "--before-src", help="also measure this kinbase source tree (its src/ or a dir holding kinbase/)"
    )
    parser.add_argument("--worker", nargs=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    workloads = args.workloads.split(",")
    if args.worker:
        import uvloop  # as kinbase serve runs

        result = uvloop.run(_worker(args.worker[0], args.requests, args.items, workloads))
        print(json.dumps(result))
        return
    trees = {"after": str(ROOT / "src")}
    if args.before_src:
        before = Path(args.before_src)
        trees = {"before": str(before / "src" if (before / "src" / "kinbase").is_dir() else before), **trees}
    print(f"load average: {os.getloadavg()}", flush=True)
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _ in range(args.rounds):
        for engine in args.engines.split(","):
            for label, src in trees.items():
                env = {**os.environ, "PYTHONPATH": src}
                command = [
                    sys.executable,
                    __file__,
                    "--worker",
                    engine,
                    "--requests",
                    str(args.requests),
                    "--items",
                    str(args.items),
                    "--workloads",
                    args.workloads,
                ]
                out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    print(out.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"{label} {engine} failed")
                results.setdefault((engine, label), []).append(
                    json.loads(out.stdout.strip().splitlines()[-1])
                )
    print(f"load average: {os.getloadavg()}")
    head = (
        "engine",
        "tree",
        "workload",
        "CPU µs/req",
        "server µs",
        "wall µs/req",
        "statements",
        "per commit",
    )
    print(
        f"{head[0]:<11} {head[1]:<7} {head[2]:<11} {head[3]:>11} {head[4]:>10} {head[5]:>12} {head[6]:>11}"
        f" {head[7]:>10}"
    )
    for (engine, label), runs in results.items():
        for name in workloads:
            cpu = statistics.median(r[name]["cpu_us"] for r in runs)
            wall = statistics.median(r[name]["wall_us"] for r in runs)
            servers = [r[name]["server_us"] for r in runs if "server_us" in r[name]]
            server = f"{statistics.median(servers):.1f}" if servers else ""
            stmts = runs[0][name].get("statements", "")
            per = runs[0][name].get("per_commit", "")
            print(
                f"{engine:<11} {label:<7} {name:<11} {cpu:>11.1f} {server:>10} {wall:>12.1f} {stmts!s:>11}"
                f" {per!s:>10}"
            )


if __name__ == "__main__":
    main()
