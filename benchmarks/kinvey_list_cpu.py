"""CPU time per request of the suite's Kinvey list workloads, in-process (no HTTP server, no wrk).

CPU per request is far less sensitive to a shared machine's load than requests per second: this
drives the kinbase ASGI app directly with the suite's data set (10,000 items of one owner,
readable only by it, a user session) and reports ``time.process_time()`` per request (all threads
of the process, so reads that run on a thread are counted), and on PostgreSQL the CPU time of the
server's backends per request (read from ``/proc``: a server on this machine).

    .venv/bin/python benchmarks/kinvey_list_cpu.py seed --engine sqlite --dir /tmp/klc
    .venv/bin/python benchmarks/kinvey_list_cpu.py run --dir /tmp/klc [--src /tmp/before] [-n 200]
        (--src: a tree's root or its src/)
    .venv/bin/python benchmarks/kinvey_list_cpu.py explain --dir /tmp/klc

``seed`` makes a database (SQLite in DIR, or a fresh PostgreSQL database named in DIR/state.json)
with two collections holding the same items: ``items`` with the suite's indexes
(``[["status", "n"], ["n"]]``) and ``plain`` with none (``auto_index = false``). ``run`` measures
the workloads, with ``--src`` another source tree (``PYTHONPATH``, as the suite's ``--before-src``)
in a child process against the same database; ``explain`` prints each statement the reader runs
and its plan.
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
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.kinvey import ITEMS, items

APP = "kid_cpu"
PASSWORD = "cpu-owner-pw"
PG_ADMIN = os.environ.get("KINBASE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def q(value: Any) -> str:
    return urllib.parse.quote(json.dumps(value, separators=(",", ":")))


WORKLOADS = {
    "kv-list": "items?sort=" + q({"n": -1}) + "&limit=50",
    "kv-filter": "items?query=" + q({"status": "todo"}) + "&sort=" + q({"n": -1}) + "&limit=50",
    "kv-list-noidx": "plain?sort=" + q({"n": -1}) + "&limit=50",
    "kv-filter-noidx": "plain?query=" + q({"status": "todo"}) + "&sort=" + q({"n": -1}) + "&limit=50",
}


def _settings(state: dict[str, Any]) -> Any:
    from kinbase.settings import Settings

    return Settings(data_dir=state["dir"], database_url=state.get("database_url", ""), log_level="warning")


async def _core(state: dict[str, Any]) -> Any:
    from kinbase.core.services import Core
    from kinbase.storage.registry import create_storage

    settings = _settings(state)
    core = Core(settings, create_storage(settings))
    await core.start()
    return core


class Asgi:
    """Calls an ASGI app with the least machinery: one scope, the body, the collected response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        path, _, query = target.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": urllib.parse.unquote(path),
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
            + [(b"host", b"kinbase.test")],
            "client": ("127.0.0.1", 1),
            "server": ("kinbase.test", 80),
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


async def seed(state: dict[str, Any]) -> None:
    from kinbase.app import create_app
    from kinbase.core.appconfig.validate import parse_toml
    from kinbase.core.kinvey.transfer import batches, import_batch

    core = await _core(state)
    try:
        app = await core.apps.create("CPU", key=APP)
        call = Asgi(create_app(core.settings, core))
        import base64

        basic = "Basic " + base64.b64encode(f"{APP}:{app.app_secret}".encode()).decode()
        v6 = {"Authorization": basic, "X-Kinvey-API-Version": "6", "Content-Type": "application/json"}
        login = json.dumps({"username": "owner", "password": PASSWORD}).encode()
        status, body = await call("POST", f"/user/{APP}", v6, login)
        assert status == 201, body
        status, body = await call("POST", f"/user/{APP}/login", v6, login)
        assert status == 200, body
        user = json.loads(body)
        state["token"], uid = user["_kmd"]["authtoken"], user["_id"]
        acl = {"creator": uid, "gr": False, "gw": False}
        data = [{"_id": f"it{i:07d}", **d, "_acl": acl} for i, d in enumerate(items(ITEMS))]
        config = parse_toml(
            '[collections.items]\nindexes = [["status", "n"], ["n"]]\nauto_index = false\n\n'
            "[collections.plain]\nindexes = []\nauto_index = false\n"
        )
        await core.appconfig.apply(app, config)
        for collection in ("items", "plain"):
            for batch in batches(data, 1000):
                await import_batch(core.storage, app, collection, batch)
        await core.appconfig.apply(app, config)
    finally:
        await core.stop()


def _analyze(state: dict[str, Any]) -> None:
    if state.get("database_url"):
        import psycopg

        with psycopg.connect(state["database_url"], autocommit=True) as conn:
            conn.execute("ANALYZE")


def _server_cpu(state: dict[str, Any]) -> float:
    """CPU seconds of the PostgreSQL backends serving this database (from ``/proc``: the server
    runs on this machine), 0 on SQLite or where ``/proc`` does not show them."""
    if not state.get("database_url"):
        return 0.0
    import psycopg

    with psycopg.connect(state["database_url"], autocommit=True) as conn:
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    total = 0
    for (pid,) in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


async def run(state: dict[str, Any], count: int, repeats: int, only: list[str]) -> dict[str, Any]:
    from kinbase.app import create_app

    core = await _core(state)
    try:
        call = Asgi(create_app(core.settings, core))
        auth = {"Authorization": f"Kinvey {state['token']}", "X-Kinvey-API-Version": "6"}
        result: dict[str, Any] = {}
        for name in only:
            target = f"/appdata/{APP}/{WORKLOADS[name]}"
            for _ in range(5):  # warm caches (app, session, statements)
                status, body = await call("GET", target, auth)
                assert status == 200, (name, status, body[:300])
            rows = json.loads(body)
            assert len(rows) == 50 and [r["n"] for r in rows] == sorted((r["n"] for r in rows), reverse=True)
            assert "filter" not in name or all(r["status"] == "todo" for r in rows)
            per_request = []
            for _ in range(repeats):
                cpu, wall, server = time.process_time(), time.perf_counter(), _server_cpu(state)
                for _ in range(count):
                    await call("GET", target, auth)
                per_request.append(
                    (
                        (time.process_time() - cpu) / count * 1e3,
                        (time.perf_counter() - wall) / count * 1e3,
                        (_server_cpu(state) - server) / count * 1e3,
                    )
                )
            result[name] = {
                "cpu_ms": statistics.median(p[0] for p in per_request),
                "wall_ms": statistics.median(p[1] for p in per_request),
                "pg_ms": statistics.median(p[2] for p in per_request),
                "bytes": len(body),
                "first": rows[0]["_id"],
            }
        return result
    finally:
        await core.stop()


async def explain(state: dict[str, Any], only: list[str]) -> None:
    """Print every statement a list runs through the reader, and its plan."""
    from kinbase.app import create_app
    from kinbase.storage.sql import reader as reader_module

    core = await _core(state)
    seen: list[tuple[str, tuple[Any, ...]]] = []
    original = reader_module.SqlReader._compiled

    async def compiled(self: Any, query: Any, parent: Any, options: Any, **kwargs: Any) -> Any:
        sql = await original(self, query, parent, options, **kwargs)
        seen.append((sql.text, tuple(sql.params)))  # the page's statement (a list wraps it in an aggregate)
        return sql

    reader_module.SqlReader._compiled = compiled  # type: ignore[method-assign]
    try:
        call = Asgi(create_app(core.settings, core))
        auth = {"Authorization": f"Kinvey {state['token']}", "X-Kinvey-API-Version": "6"}
        for name in only:
            seen.clear()
            status, _ = await call("GET", f"/appdata/{APP}/{WORKLOADS[name]}", auth)
            print(f"== {name}: HTTP {status}")
            for text, params in seen:
                print(text)
                print("   params:", params)
                await _plan(state, text, params)
    finally:
        await core.stop()


async def _plan(state: dict[str, Any], text: str, params: tuple[Any, ...]) -> None:
    if state.get("database_url"):
        import psycopg

        with psycopg.connect(state["database_url"], autocommit=True) as conn:
            conn.execute("SET jit = off")  # as the server's connections
            plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + text, params).fetchall()  # type: ignore[arg-type]
            print("\n".join("   " + r[0] for r in plan))
    else:
        from kinbase.query.sql import register_sqlite_functions
        from kinbase.storage.sqlite.driver import sqlite  # documents are JSONB: the server's SQLite

        conn = sqlite.connect(Path(state["dir"]) / "kinbase.db")
        register_sqlite_functions(conn)
        for row in conn.execute("EXPLAIN QUERY PLAN " + text, params):
            print("   ", row)
        started = time.perf_counter()
        conn.execute(text, params).fetchall()
        print(f"   ran in {(time.perf_counter() - started) * 1e3:.2f} ms")
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("seed", "run", "explain", "_run"))
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--src", type=Path, action="append", default=[], help="other source trees to measure")
    parser.add_argument("-n", type=int, default=100, help="requests per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    args = parser.parse_args()
    only = [w for w in args.only.split(",") if w]
    state_file = args.dir / "state.json"
    if args.command == "seed":
        args.dir.mkdir(parents=True, exist_ok=True)
        state: dict[str, Any] = {"dir": str(args.dir.resolve()), "engine": args.engine}
        if args.engine == "postgresql":
            import psycopg

            name = "kinbase_cpu_" + secrets.token_hex(4)
            with psycopg.connect(PG_ADMIN + "/postgres", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            state["database_url"] = f"{PG_ADMIN}/{name}"
        asyncio.run(seed(state))
        _analyze(state)
        state_file.write_text(json.dumps(state))
        print(json.dumps(state))
        return
    state = json.loads(state_file.read_text())
    if args.command == "explain":
        asyncio.run(explain(state, only))
        return
    if args.command == "_run":
        import kinbase

        wanted = os.environ.get("PYTHONPATH")
        if wanted and not Path(kinbase.__file__).resolve().is_relative_to(Path(wanted).resolve()):
            sys.exit(f"kinbase came from {kinbase.__file__}, not from {wanted}")
        print(json.dumps(asyncio.run(run(state, args.n, args.repeats, only))))
        return
    trees = [("checkout", None), *((src.name, src) for src in args.src)]
    results: dict[str, dict[str, Any]] = {}
    for _ in range(2):  # interleaved: checkout, others, checkout, others
        for label, src in trees:
            env = dict(os.environ)
            if src is not None:
                # A tree's root or its src/ (a path without kinbase/ below would silently measure
                # the installed checkout instead: the child checks where it imported kinbase from).
                env["PYTHONPATH"] = str(src / "src" if (src / "src" / "kinbase").is_dir() else src)
            command = [sys.executable, __file__, "_run", "--dir", str(args.dir), "-n", str(args.n)]
            command += ["--repeats", str(args.repeats), "--only", ",".join(only)]
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if out.returncode:
                sys.exit(f"{label}: {out.stderr[-3000:]}")
            got = json.loads(out.stdout.strip().splitlines()[-1])
            for name, figures in got.items():
                best = results.setdefault(label, {}).get(name)
                if best is None or figures["cpu_ms"] < best["cpu_ms"]:
                    results[label][name] = figures
    load = os.getloadavg()
    print(
        f"{state['engine']}, {args.n} requests x {args.repeats} repeats, best of 2 runs; load {load[0]:.1f}"
    )
    pg = state["engine"] == "postgresql"
    unit = "CPU ms/req (wall" + (", PostgreSQL backend CPU)" if pg else ")")
    header = "| workload | " + " | ".join(f"{label} {unit}" for label, _ in trees)
    if len(trees) > 1:
        header += " | " + " | ".join(f"{label} / checkout" for label, _ in trees[1:])
    print(header + " |")
    for name in only:
        cells = [
            f"{results[label][name]['cpu_ms']:.3f} ({results[label][name]['wall_ms']:.2f}"
            + (f", {results[label][name].get('pg_ms', 0.0):.2f})" if pg else ")")
            for label, _ in trees
        ]
        ratios = [
            f"{results[label][name]['cpu_ms'] / results['checkout'][name]['cpu_ms']:.2f}x"
            for label, _ in trees[1:]
        ]
        print(f"| {name} | " + " | ".join(cells + ratios) + " |")


if __name__ == "__main__":
    main()
