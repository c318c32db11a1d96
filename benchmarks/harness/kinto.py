"""The Kinto workloads against the real Kinto and kinbase's Kinto API.

Seeding is the shared harness's (``/work/shared/bench/kinto_workloads.py``, run as a tool: bucket
``bench``, collections ``tasks`` with 10,000 records and ``tasks_w``), plus the ``sync`` collection
of ``kinto_compare.py`` (1,000 records, a timestamp, then 1,000 changes). The loads send the same
requests as the shared harness's (a)-(d), ``_since`` (e), and 16 concurrent writers on one
collection whose acknowledged ids are checked against what the collection holds afterwards.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.common import Target, call, expect
from harness.wrk import Load
from kinto_compare import AUTH, seed_sync_collection

TOOL = Path("/work/shared/bench/kinto_workloads.py")
WORKLOADS = {
    "kt-get": "GET one record",
    "kt-post": "POST a record",
    "kt-list": "list 50 of 10k by -last_modified",
    "kt-filter": "filtered list (status=todo, 50)",
    "kt-since": "_since sync of 1,000 changes",
    "kt-writers": "16 concurrent writers, one collection",
}
HEADERS = {"Authorization": AUTH}
COLL = "/buckets/bench/collections"


def seed(base: str, tool: Path = TOOL) -> dict[str, Any]:
    """Seed ``base`` (a /v1 URL) and return what the loads need."""
    subprocess.run(
        [sys.executable, str(tool), base, "--only", "a", "--duration", "1"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    since = seed_sync_collection(base)
    expect(call("PUT", f"{base}{COLL}/writers", {"data": {}}, HEADERS), 200, 201)
    page = expect(call("GET", f"{base}{COLL}/tasks/records?_limit=100", headers=HEADERS), 200)["data"]
    counts = {}
    for status in ("todo", "doing", "done"):
        _, headers, _ = call("HEAD", f"{base}{COLL}/tasks/records?status={status}", headers=HEADERS)
        counts[status] = int(headers.get("total-records", headers.get("total-objects", -1)))
    return {"ids": [r["id"] for r in page], "since": since, "counts": counts}


def loads(prefix: str, seeded: dict[str, Any]) -> dict[str, Load]:
    """``prefix`` is the URL path of /v1 (``/v1``); paths are relative to the server root."""
    tasks = f"{prefix}{COLL}/tasks/records"
    body = '{"data": {"title": "Task {i}", "status": "todo", "priority": 3, "done": false}}'
    return {
        "kt-get": Load("GET", tuple(f"{tasks}/{i}" for i in seeded["ids"]), HEADERS, connections=16),
        "kt-post": Load("POST", (f"{prefix}{COLL}/tasks_w/records",), HEADERS, body, connections=16),
        "kt-list": Load("GET", (f"{tasks}?_limit=50&_sort=-last_modified",), HEADERS, connections=16),
        "kt-filter": Load("GET", (f"{tasks}?status=todo&_limit=50",), HEADERS, connections=16),
        "kt-since": Load(
            "GET", (f"{prefix}{COLL}/sync/records?_since={seeded['since']}",), HEADERS, connections=16
        ),
        "kt-writers": Load(
            "POST",
            (f"{prefix}{COLL}/writers/records",),
            HEADERS,
            '{"data": {"w": {i}}}',
            capture='"id":%s*"([^"]+)"',
            connections=16,
        ),
    }


def stored_ids(base: str, collection: str) -> list[str]:
    ids: list[str] = []
    url: str | None = f"{base}{COLL}/{collection}/records?_fields=id&_limit=10000"
    while url:
        status, headers, body = call("GET", url, headers=HEADERS)
        assert status == 200, (status, body)
        ids += [r["id"] for r in body["data"]]
        url = headers.get("next-page")
    return ids


def prepare(base: str) -> Any:
    def hook(key: str) -> None:
        if key == "kt-writers":  # start from an empty collection
            expect(call("DELETE", f"{base}{COLL}/writers/records", headers=HEADERS), 200)

    return hook


def verify_writes(base: str) -> Any:
    """After ``kt-writers``: every acknowledged id is stored (``lost`` counts those that are not)."""

    def hook(key: str, sample: dict[str, Any]) -> None:
        if key != "kt-writers":
            return
        acked = set(sample["ids"])
        stored = set(stored_ids(base, "writers"))
        sample["acknowledged"] = len(acked)
        sample["lost"] = len(acked - stored)
        sample["unacknowledged_stored"] = len(stored - acked)

    return hook


def check(target: Target) -> None:
    for key, load in target.loads.items():
        if not key.startswith("kt-"):
            continue
        body = load.body.replace("{i}", "0").encode() if load.body else None
        status, _, got = call(load.method, target.base + load.paths[0], body, load.headers)
        if status >= 300:
            raise RuntimeError(f"{target.name} {key}: HTTP {status} {str(got)[:300]}")
        if key in ("kt-list", "kt-filter"):
            assert len(got["data"]) == 50, (target.name, key)
            assert key == "kt-list" or all(r["status"] == "todo" for r in got["data"]), (target.name, key)
        if key == "kt-since":
            assert len(got["data"]) == 1000, (target.name, len(got["data"]))
