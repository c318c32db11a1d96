"""The Kinvey-side data set and workloads, and how kinbase is seeded with them.

Every Kinvey-family server (kinbase, PocketBase, Parse Server) gets the same items: ``n`` (a
permutation of 0..N-1, unrelated to insertion order), ``status`` (one of four, seeded random),
``title`` and ``pad``, owned by one user ``owner`` and readable only by that user. The workloads
run as that user (its session), with ACLs in force.
"""

from __future__ import annotations

import base64
import json
import random
import urllib.parse
from collections import Counter
from collections.abc import Callable
from typing import Any

from harness.common import WORK, Target, call, expect, psql
from harness.kinbase import KINVEY_APP, KinbaseStore
from harness.wrk import Load

STATUSES = ("todo", "doing", "done", "archived")
PASSWORD = "bench-owner-pw"
ITEMS = 10_000
CREATE_BODY = '{"n": {i}, "status": "todo", "title": "New item {i}", "pad": "' + "y" * 120 + '"}'

WORKLOADS = {
    "kv-get": "GET by id",
    "kv-create": "create",
    "kv-list": "list 50 of 10k sorted by n desc",
    "kv-filter": "status filter + sort + limit 50",
    "kv-list-noidx": "list 50 of 10k, peers' indexes dropped",
    "kv-filter-noidx": "status filter + sort + limit 50, peers' indexes dropped",
    "kv-login": "login, verified-password cache off",
    "kv-handshake": "handshake (GET /appdata/:key)",
    "kv-count": "_count of 10k (ACL-filtered)",
    "kv-group": "_group count by status, 10k",
    "kv-deltaset": "_deltaset, 100 changes in 10k",
    "kv-big": "status filter + sort + limit 50 on 100,000",
}
PEER_WORKLOADS = (
    "kv-get",
    "kv-create",
    "kv-list",
    "kv-filter",
    "kv-list-noidx",
    "kv-filter-noidx",
    "kv-login",
)


def items(count: int, seed: int = 20) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    order = list(range(count))
    rng.shuffle(order)
    return [
        {"n": order[i], "status": rng.choice(STATUSES), "title": f"Item {i}", "pad": "x" * 120}
        for i in range(count)
    ]


def status_counts(data: list[dict[str, Any]]) -> dict[str, int]:
    return dict(sorted(Counter(d["status"] for d in data).items()))


def q(value: Any) -> str:
    return urllib.parse.quote(json.dumps(value, separators=(",", ":")))


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def seed_kinbase(store: KinbaseStore, base: str, big: int) -> dict[str, Any]:
    """Owner, 10k items (+ ``big`` in collection ``big``), delta set on ``items`` with 100 changes."""
    app = _basic(KINVEY_APP, store.app_secret)
    master = _basic(KINVEY_APP, store.master_secret)
    v6 = {"X-Kinvey-API-Version": "6"}
    expect(
        call(
            "POST",
            f"{base}/user/{KINVEY_APP}",
            {"username": "owner", "password": PASSWORD},
            {"Authorization": app, **v6},
        ),
        201,
    )
    user = expect(
        call(
            "POST",
            f"{base}/user/{KINVEY_APP}/login",
            {"username": "owner", "password": PASSWORD},
            {"Authorization": app, **v6},
        ),
        200,
    )
    token, uid = user["_kmd"]["authtoken"], user["_id"]
    expect(
        call(
            "PUT",
            f"{base}/appdata/{KINVEY_APP}/items/_settings",
            {"deltaSet": {"enabled": True}},
            {"Authorization": master, **v6},
        ),
        200,
    )
    acl = {"creator": uid, "gr": False, "gw": False}
    for collection, count, prefix in (("items", ITEMS, "it"), ("big", big, "bg")):
        if count:
            path = WORK / f"import-{store.label}-{collection}.json"
            data = [{"_id": f"{prefix}{i:07d}", **d, "_acl": acl} for i, d in enumerate(items(count))]
            path.write_text(json.dumps(data))
            if store.database_url:
                # Without statistics PostgreSQL plans the import's per-batch id lookup as a walk of
                # the whole collection, and a 100k import slows down batch after batch (found here).
                psql(store.database_url.rsplit("/", 1)[1], "ANALYZE")
            store.cli("import", KINVEY_APP, collection, str(path))
            path.unlink()
    auth = {"Authorization": f"Kinvey {token}", **v6}
    coll = f"{base}/appdata/{KINVEY_APP}/items"
    _, headers, _ = call("GET", f"{coll}?limit=1", headers=auth)
    since = headers["x-kinvey-request-start"]
    data = items(ITEMS)
    for i in range(100):
        entity = {"_id": f"it{i * 97:07d}", **data[i * 97], "_acl": {"gr": False, "gw": False}}
        expect(call("PUT", f"{coll}/{entity['_id']}", entity, auth), 200)
    page = expect(call("GET", f"{coll}?sort={q({'n': 1})}&limit=100", headers=auth), 200)
    counts = {
        s: expect(call("GET", f"{coll}/_count?query={q({'status': s})}", headers=auth), 200)["count"]
        for s in STATUSES
    }
    return {
        "token": token,
        "uid": uid,
        "ids": [e["_id"] for e in page],
        "since": since,
        "counts": dict(sorted(counts.items())),
    }


def kinbase_loads(store: KinbaseStore, seeded: dict[str, Any], big: int) -> dict[str, Load]:
    auth = {"Authorization": f"Kinvey {seeded['token']}", "X-Kinvey-API-Version": "6"}
    app = f"/appdata/{KINVEY_APP}"
    coll = f"{app}/items"
    by_n = q({"n": -1})
    todo = q({"status": "todo"})
    group = {
        "key": {"status": True},
        "initial": {"count": 0},
        "reduce": "function(doc, out) { out.count++; }",
    }
    login = {"username": "owner", "password": PASSWORD}
    loads = {
        "kv-get": Load("GET", tuple(f"{coll}/{i}" for i in seeded["ids"]), auth),
        "kv-create": Load("POST", (f"{app}/items_w",), auth, CREATE_BODY),
        "kv-list": Load("GET", (f"{coll}?sort={by_n}&limit=50",), auth),
        "kv-filter": Load("GET", (f"{coll}?query={todo}&sort={by_n}&limit=50",), auth),
        "kv-login": Load(
            "POST",
            (f"/user/{KINVEY_APP}/login",),
            {"Authorization": _basic(KINVEY_APP, store.app_secret), "X-Kinvey-API-Version": "6"},
            json.dumps(login),
        ),
        "kv-handshake": Load("GET", (app,), auth),
        "kv-count": Load("GET", (f"{coll}/_count",), auth),
        "kv-group": Load("POST", (f"{coll}/_group",), auth, json.dumps(group)),
        "kv-deltaset": Load("GET", (f"{coll}/_deltaset?since={urllib.parse.quote(seeded['since'])}",), auth),
    }
    loads["kv-list-noidx"], loads["kv-filter-noidx"] = loads["kv-list"], loads["kv-filter"]
    if big:
        loads["kv-big"] = Load("GET", (f"{app}/big?query={todo}&sort={by_n}&limit=50",), auth)
    return loads


def check_loads(target: Target, entities: Callable[[Any], list[dict[str, Any]]]) -> None:
    """Each load answers 2xx once, with the expected rows, before it is measured; ``entities``
    takes the entity list out of a list response (a bare array, PocketBase ``items``, Parse ``results``)."""
    for key, load in target.loads.items():
        if not key.startswith("kv-"):
            continue
        body = load.body.replace("{i}", "0").encode() if load.body else None
        status, _, got = call(load.method, target.base + load.paths[0], body, load.headers)
        if status >= 300:
            raise RuntimeError(f"{target.name} {key}: HTTP {status} {str(got)[:300]}")
        if key in ("kv-list", "kv-filter", "kv-big"):
            rows = entities(got)
            assert len(rows) == 50, (target.name, key, len(rows))
            assert [e["n"] for e in rows] == sorted((e["n"] for e in rows), reverse=True), (target.name, key)
            assert key == "kv-list" or all(e["status"] == "todo" for e in rows), (target.name, key)
        if key == "kv-deltaset":
            assert len(got["changed"]) == 100, got


INDEXED = {"items": '[["status", "n"], ["n"]]', "big": '[["status", "n"], ["n"]]'}


def declare_indexes(store: KinbaseStore, collections: dict[str, str]) -> None:
    """``kinbase apply`` of ``[collections.NAME] indexes = ...`` (built before it returns), with
    ``auto_index = false``: the indexed and unindexed workloads compare declared indexes, as the
    peers'; automatic indexing is measured on its own (docs/performance.md)."""
    text = "".join(
        f"[collections.{name}]\nindexes = {value}\nauto_index = false\n\n"
        for name, value in collections.items()
    )
    path = WORK / f"indexes-{store.label}.toml"
    path.write_text(text)
    store.cli("apply", KINVEY_APP, str(path))


def supports_indexes(store: KinbaseStore) -> bool:
    """Whether this kinbase tree declares indexes on Kinvey collections (``kinbase apply``)."""
    try:
        store.cli("apply", "--help")
    except RuntimeError:
        return False
    return True


def index_hook(store: KinbaseStore) -> Callable[[str], None]:
    """Before each Kinvey list workload: ``items`` indexed, or not for the ``-noidx`` ones."""
    state = {"indexed": True}

    def hook(key: str) -> None:
        if key not in ("kv-list", "kv-filter", "kv-list-noidx", "kv-filter-noidx"):
            return
        wanted = not key.endswith("-noidx")
        if state["indexed"] != wanted:
            declare_indexes(store, {"items": INDEXED["items"] if wanted else "[]"})
            state["indexed"] = wanted

    return hook
