"""The two long steps: ``--soak`` (server RSS over a mixed run, minute 5 vs the last minute) and
``--big`` (a filter + sort + limit 50 on 1,000,000 entities, without and with field indexes)."""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import subprocess
import threading
import time
from typing import Any

from harness import kinto, kinvey, wrk
from harness.common import PG_ADMIN, VENV_PYTHON, WORK, Server, call, expect, psql
from harness.kinbase import KINVEY_APP, KinbaseStore, create_app, create_store, start_kinbase

SOAK_KEYS = (
    "kv-get",
    "kv-list",
    "kv-filter",
    "kv-create",
    "kv-count",
    "kt-get",
    "kt-post",
    "kt-list",
    "kt-filter",
)


def _mixed(loads: dict[str, wrk.Load]) -> str:
    """One wrk script whose requests rotate over the soak workloads."""
    rows = []
    for key in SOAK_KEYS:
        load = loads[key]
        headers = {**load.headers, **({"Content-Type": "application/json"} if load.body else {})}
        body = json.dumps(load.body.replace("{i}", "1")) if load.body else "nil"
        for path in load.paths[:20]:
            rows.append(f"{{{json.dumps(load.method)}, {json.dumps(path)}, {_lua_table(headers)}, {body}}}")
    return (
        "local specs = {" + ",\n".join(rows) + "}\nlocal reqs = {}\nlocal i = 0\nthreads = {}\n"
        "setup = function(thread) table.insert(threads, thread) end\n"
        "init = function(args)\n  for k, s in ipairs(specs) do\n"
        "    reqs[k] = wrk.format(s[1], s[2], s[3], s[4])\n  end\nend\n"
        "request = function() i = i + 1; return reqs[(i % #reqs) + 1] end\n" + wrk.DONE
    )


def _lua_table(headers: dict[str, str]) -> str:
    return "{" + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()) + "}"


def soak(stack: contextlib.ExitStack, args: argparse.Namespace) -> list[str]:
    """Each engine's server under the mixed load for ``--soak-minutes``, both at once; RSS each minute."""
    minutes = max(1, round(args.soak_minutes))
    servers: dict[str, tuple[Server, str, str]] = {}
    for engine in args.engines.split(","):
        store = create_store(engine, f"soak-{engine}", None)
        server, base = start_kinbase(store, f"soak-{engine}")
        stack.callback(server.stop)
        create_app(store)
        seeded = kinvey.seed_kinbase(store, base, 0)
        loads = kinvey.kinbase_loads(store, seeded, 0)
        expect(call("PUT", f"{base}/v1/accounts/bench", {"data": {"password": "bench"}}), 201)
        loads.update(kinto.loads("/v1", kinto.seed(base + "/v1")))
        servers[engine] = (server, base, _mixed(loads))
    rss: dict[str, list[dict[str, float]]] = {e: [] for e in servers}
    rates: dict[str, list[float]] = {e: [] for e in servers}
    errors: dict[str, int] = dict.fromkeys(servers, 0)

    def drive(engine: str) -> None:
        server, base, script = servers[engine]
        for _ in range(minutes):
            got = wrk.run_script(base, "/", script, 60, args.connections, 1, WORK / "lua")
            rates[engine].append(got["rps"])
            errors[engine] += got["non2xx"] + got["socket_errors"]
            rss[engine].append(server.rss_parts_mib())
            now = rss[engine][-1]
            print(
                f"soak {engine} minute {len(rss[engine])}: {got['rps']:,.0f} req/s, "
                f"RSS {now['VmRSS']:.1f} MiB "
                f"(anon {now['RssAnon']:.1f}, file {now['RssFile']:.1f})",
                flush=True,
            )

    threads = [threading.Thread(target=drive, args=(e,)) for e in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = [
        f"Run of `benchmarks/suite.py --soak --soak-minutes {args.soak_minutes:g}` "
        f"(ended {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, both engines at once, "
        "one worker each, "
        f"wrk -c{args.connections} per server, requests rotating over {', '.join(SOAK_KEYS)}):",
        "",
        "| minute | "
        + " | ".join(f"{e} RSS MiB | {e} RssAnon | {e} RssFile | {e} req/s" for e in servers)
        + " |",
        "|---|" + "---|---|---|---|" * len(servers),
    ]
    for m in range(minutes):
        if m + 1 in (1, 2, 5, 10, 15, 20, 25, 30) or m == minutes - 1:
            out.append(
                f"| {m + 1} | "
                + " | ".join(
                    f"{rss[e][m]['VmRSS']:.1f} | {rss[e][m]['RssAnon']:.1f} | {rss[e][m]['RssFile']:.1f} | "
                    f"{rates[e][m]:,.0f}"
                    for e in servers
                )
                + " |"
            )
    out.append("")
    for e in servers:
        if minutes >= 5:
            first, last = rss[e][4], rss[e][-1]
            change = last["VmRSS"] / first["VmRSS"] - 1
            verdict = "met" if abs(change) <= 0.10 else "**not met**"
            anon = last["RssAnon"] / first["RssAnon"] - 1
            out.append(
                f"- {verdict}: {e} RSS minute 5 {first['VmRSS']:.1f} MiB → minute {minutes} "
                f"{last['VmRSS']:.1f} MiB "
                f"({change:+.1%}, goal within ±10 %); {errors[e]} non-2xx or socket errors. Of which RssAnon "
                f"(heap) {first['RssAnon']:.1f} → {last['RssAnon']:.1f} MiB ({anon:+.1%}), RssFile (mapped "
                f"files: code and the SQLite database's mmap) {first['RssFile']:.1f} → "
                f"{last['RssFile']:.1f} MiB"
            )
    return out


INDEX_SNIPPET = """
import asyncio
from kinbase.settings import load_settings
from kinbase.storage.registry import create_storage
async def main():
    storage = create_storage(load_settings(None))
    await storage.start()
    try:
        async with storage.reader() as r:
            app = await r.get_app({app!r})
        async with storage.writer() as w:
            parent = await w.ensure_parent(app.id, "kinvey.appdata", "million")
            for path in (("status",), ("n",)):
                parent = await w.create_index(parent, path)
    finally:
        await storage.stop()
asyncio.run(main())
"""


def _declare_indexes(store: KinbaseStore) -> None:
    """Field indexes on ``status`` and ``n`` through the storage API (no Kinvey API declares one yet)."""
    env = {**os.environ, **store.env()}
    code = INDEX_SNIPPET.format(app=KINVEY_APP)
    subprocess.run([str(VENV_PYTHON), "-c", code], env=env, check=True, timeout=3600)


def _load_big(store: KinbaseStore, base: str, count: int) -> tuple[dict[str, Any], float]:
    """The owner and ``count`` entities in ``million`` through ``kinbase import``; seconds taken."""
    seeded = kinvey.seed_kinbase(store, base, 0)
    started = time.monotonic()
    path = WORK / f"import-big-{store.engine}.jsonl"
    with path.open("w") as fh:
        for i, item in enumerate(kinvey.items(count, seed=21)):
            fh.write(
                json.dumps({"_id": f"m{i:08d}", **item, "_acl": {"creator": seeded["uid"], "gr": False}})
            )
            fh.write("\n")
    store.cli("import", KINVEY_APP, "million", str(path), "--batch-size", "5000")
    path.unlink()
    return seeded, time.monotonic() - started


BIG_DATABASE = "kinbase_big"  # a --big run on PostgreSQL leaves it for --big-reuse


def _big_store(engine: str, reuse: bool) -> KinbaseStore:
    """The store of ``--big``: fresh (SQLite data dir / the PostgreSQL database ``kinbase_big``,
    both left in place afterwards) or, with ``reuse``, the one an earlier ``--big`` run left."""
    label = f"big-{engine}"
    if not reuse:
        store = create_store(engine, label, None)
        if engine == "postgresql":  # a fixed name, not dropped at exit
            psql(
                "postgres",
                f"DROP DATABASE IF EXISTS {BIG_DATABASE} WITH (FORCE)",
                f"CREATE DATABASE {BIG_DATABASE}",
            )
            psql("postgres", f"ALTER DATABASE {BIG_DATABASE} SET TIMEZONE TO UTC")
            store.database_url = f"{PG_ADMIN}/{BIG_DATABASE}"
        return store
    store = KinbaseStore(engine, label, None, data_dir=WORK / f"data-{label}")
    if engine == "postgresql":
        store.database_url = f"{PG_ADMIN}/{BIG_DATABASE}"
    return store


def _reuse_big(store: KinbaseStore, base: str) -> dict[str, Any]:
    """The owner's session on a store a ``--big`` run already loaded and indexed."""
    query = "SELECT app_secret, master_secret FROM apps WHERE app_key = "
    if store.engine == "postgresql":
        row = psql(BIG_DATABASE, f"{query}'{KINVEY_APP}'")[0]
    else:
        from kinbase.storage.sqlite.driver import sqlite as sqlite3  # the SQLite kinbase runs on

        with sqlite3.connect(WORK / f"data-{store.label}" / "kinbase.db") as conn:
            row = conn.execute(query + "?", (KINVEY_APP,)).fetchone()
    store.app_secret, store.master_secret = row
    app = "Basic " + base64.b64encode(f"{KINVEY_APP}:{store.app_secret}".encode()).decode()
    user = expect(
        call(
            "POST",
            f"{base}/user/{KINVEY_APP}/login",
            {"username": "owner", "password": kinvey.PASSWORD},
            {"Authorization": app, "X-Kinvey-API-Version": "6"},
        ),
        200,
    )
    return {"token": user["_kmd"]["authtoken"], "uid": user["_id"]}


def big(stack: contextlib.ExitStack, args: argparse.Namespace) -> list[str]:
    rows: list[str] = []
    for engine in args.engines.split(","):
        reuse = args.big_reuse
        store = _big_store(engine, reuse)
        server, base = start_kinbase(store, f"big-{engine}")
        stack.callback(server.stop)
        if reuse:
            seeded, load_s = _reuse_big(store, base), None
        else:
            create_app(store)
            seeded, load_s = _load_big(store, base, args.big_count)
        auth = {"Authorization": f"Kinvey {seeded['token']}", "X-Kinvey-API-Version": "6"}
        todo, by_n = kinvey.q({"status": "todo"}), kinvey.q({"n": -1})
        query = f"/appdata/{KINVEY_APP}/million?query={todo}&sort={by_n}&limit=50"
        load = wrk.Load("GET", (query,), auth)
        results: dict[str, Any] = {}
        compound = kinvey.supports_indexes(store)
        indexed = "compound index (status, n)" if compound else "field indexes on status and n"
        if compound and not reuse:  # no automatic index while the unindexed query runs
            kinvey.declare_indexes(store, {"million": "[]"})
        # a reused store keeps the index the run that loaded it built: only the indexed query
        for label in (indexed,) if reuse else ("no index", indexed):
            if label != "no index" and not reuse:
                started = time.monotonic()
                if compound:
                    kinvey.declare_indexes(store, {"million": '[["status", "n"]]'})
                else:
                    _declare_indexes(store)
                results["index_s"] = time.monotonic() - started
            started = time.monotonic()
            status, _, got = call("GET", base + query, headers=auth)
            took = time.monotonic() - started
            if label == "no index" and status == 503:  # over the query budget: nothing to time
                rows.append(f"| {engine} | {label} | HTTP 503 after {took:.3g} s (over the query budget) | |")
                continue
            got = expect((status, {}, got), 200)
            assert len(got) == 50 and all(e["status"] == "todo" for e in got), "wrong answer"
            one = wrk.run(base, load, args.duration, 1, 1, WORK / "lua")
            many = wrk.run(base, load, args.duration, args.connections, args.threads, WORK / "lua")
            if one["non2xx"] or many["non2xx"]:  # wrk times only the answers, 503s included
                refused = one["non2xx"] + many["non2xx"]
                rows.append(
                    f"| {engine} | {label} | first request {took:.3g} s; then {refused} "
                    "answers over the query budget (503) under wrk | |"
                )
                continue
            under_wrk = (
                f"{many['rps']:,.1f} ({many['p50_ms']:.3g} / {many['p99_ms']:.3g} ms)"
                if many["requests"]
                else f"no answer within the {args.duration:g} s run ({many['socket_errors']} socket errors)"
            )
            rows.append(
                f"| {engine} | {label} | {one['p50_ms']:.3g} / {one['p99_ms']:.3g} ms | {under_wrk} |"
            )
        loaded = (
            f"load {args.big_count:,} entities: {load_s:.0f} s; index build {results.get('index_s', 0):.0f} s"
            if load_s is not None
            else "loaded and indexed by an earlier --big run"
        )
        rows.append(f"| {engine} | {loaded} | | |")
    return [
        f"Run of `benchmarks/suite.py --big --big-count {args.big_count}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}): `status` filter + sort by `n` desc + "
        "limit 50 (a quarter of the entities match), as the owner (ACL in force), one worker.",
        "",
        "| engine | index | one connection p50 / p99 | wrk -c"
        + str(args.connections)
        + " req/s (p50 / p99) |",
        "|---|---|---|---|",
        *rows,
    ]
