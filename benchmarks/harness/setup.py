"""Start, seed and check every server of a run; returns the targets the rounds drive."""

from __future__ import annotations

import argparse
import contextlib
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from harness import kinto, kinvey
from harness.common import Server, Target, call, expect
from harness.kinbase import create_app, create_store, start_ceiling, start_kinbase, start_kinto
from harness.peers import start_parse, start_pocketbase

READS = ("kv-get", "kv-list", "kv-filter", "kt-get", "kt-list", "kt-filter")
ENGINE_LABEL = {"sqlite": "sqlite", "postgresql": "postgresql"}


def _wanted(groups: set[str], key: str) -> bool:
    if key.startswith("kv-") and "kinvey" in groups:
        return True
    if key.startswith("kt-") and "kinto" in groups:
        return True
    return ("workers" in groups and key in READS) or ("ceiling" in groups and key == "kv-get")


def _kinbase(
    stack: contextlib.ExitStack, args: argparse.Namespace, groups: set[str], engine: str, before: bool
) -> list[Target]:
    name = f"kinbase-{engine}" + ("@before" if before else "")
    store = create_store(
        engine, name.removeprefix("kinbase-").replace("@", "-"), args.before_src if before else None
    )
    server, base = start_kinbase(store, name)
    stack.callback(server.stop)
    database = store.database_url.rsplit("/", 1)[1] if store.database_url else None
    create_app(store)
    loads: dict[str, Any] = {}
    facts: dict[str, Any] = {}
    hooks: list[Callable[[str], None]] = [kinto.prepare(base + "/v1")]
    if groups & {"kinvey", "ceiling", "workers"}:
        big = args.big_kinvey if "kinvey" in groups else 0
        seeded = kinvey.seed_kinbase(store, base, big)
        loads.update(kinvey.kinbase_loads(store, seeded, big))
        facts["counts"] = seeded["counts"]
        facts["indexes"] = kinvey.supports_indexes(store) and not args.no_kinbase_indexes
        if facts["indexes"]:
            kinvey.declare_indexes(store, {k: v for k, v in kinvey.INDEXED.items() if big or k != "big"})
            hooks.append(kinvey.index_hook(store))
    if groups & {"kinto", "workers"}:
        expect(call("PUT", f"{base}/v1/accounts/bench", {"data": {"password": "bench"}}), 201)
        seeded = kinto.seed(base + "/v1")
        loads.update(kinto.loads("/v1", seeded))
        facts["kinto_counts"] = seeded["counts"]
    target = Target(
        name,
        server,
        base,
        store.version()
        + f" on {engine}, 1 worker"
        + (", Kinvey indexes declared" if facts.get("indexes") else ""),
        facts=facts,
        prepare=lambda key: _each(hooks, key),
        check=kinto.verify_writes(base + "/v1"),
        database=database,
    )
    target.loads = {k: v for k, v in loads.items() if _wanted(groups, k)}
    kinvey.check_loads(target, lambda body: body)
    kinto.check(target)
    say(f"{name}: started and seeded")
    out = [target]
    if "workers" in groups and not before:
        two, base2 = start_kinbase(store, name + "-2w", workers=2)
        stack.callback(two.stop)
        out.append(two_workers(target, two, base2))
    return out


def two_workers(one: Target, server: Server, base: str) -> Target:
    """The two-worker server on ``one``'s database, driven with ``one``'s read workloads. It shares
    ``one``'s hooks (the index state of the database): a round that runs it before ``one`` measures
    the indexed lists, not the unindexed state a ``-noidx`` workload left."""
    return Target(
        one.name + "-2w",
        server,
        base,
        one.version.replace(", 1 worker", ", 2 workers"),
        {k: v for k, v in one.loads.items() if k in READS},
        prepare=one.prepare,
        database=one.database,
        workers=2,
    )


def build_targets(stack: contextlib.ExitStack, args: argparse.Namespace, groups: set[str]) -> list[Target]:
    targets: list[Target] = []
    for engine in args.engines.split(","):
        targets += _kinbase(stack, args, groups, engine, before=False)
        if args.before_src is not None:
            targets += _kinbase(stack, args, groups, engine, before=True)
    if "kinvey" in groups:
        for start in (start_pocketbase, start_parse):
            peer = start()
            stack.callback(peer.server.stop)
            targets.append(peer)
            say(f"{peer.name}: started and seeded")
    if "kinto" in groups:
        server, base, version, database = start_kinto()
        stack.callback(server.stop)
        seeded = kinto.seed(base)
        root = base.removesuffix("/v1")
        target = Target(
            "kinto",
            server,
            root,
            version,
            facts={"kinto_counts": seeded["counts"]},
            prepare=kinto.prepare(base),
            check=kinto.verify_writes(base),
            database=database,
            workers=3,
        )
        target.loads = kinto.loads("/v1", seeded)
        kinto.check(target)
        targets.append(target)
        say("kinto: started and seeded")
    if "ceiling" in groups:
        first = targets[0]
        load = first.loads["kv-get"]
        req = urllib.request.Request(first.base + load.paths[0], headers=load.headers)
        with urllib.request.urlopen(req) as resp:
            body, headers = resp.read(), {k.lower(): v for k, v in resp.headers.items()}
        server, base = start_ceiling(body, headers)
        stack.callback(server.stop)
        targets.append(
            Target("asgi-ceiling", server, base, "raw ASGI hello-world, uvicorn 1 worker", {"kv-get": load})
        )
    _same_data(targets)
    return targets


def _each(hooks: list[Callable[[str], None]], key: str) -> None:
    for hook in hooks:
        hook(key)


def say(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


def _same_data(targets: list[Target]) -> None:
    """The data loaded is identical: the same counts per status on every server."""
    for fact in ("counts", "kinto_counts"):
        seen = {t.name: dict(sorted(t.facts[fact].items())) for t in targets if fact in t.facts}
        if len({repr(v) for v in seen.values()}) > 1:
            raise RuntimeError(f"the servers hold different data ({fact}): {seen}")
