"""Two server processes on one database: what one changes, the other sees at once.

Each worker caches apps, sessions, group memberships and "this user is not throttled" answers, and
remembers verified passwords; the invalidation feed (Redis, or the database: PostgreSQL
``LISTEN``/``NOTIFY``, the SQLite log) makes a change through one process effective on the other
for the very next request. Both engines, with and without Redis. The same checks hold for two
workers of one ``kinbase serve --workers 2`` (they are the same two processes; here each has its
own port so the test knows which one answers).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.databases import database_args
from tests.support.server import ServerProcess, kinbase_cli, run_server

pytestmark = pytest.mark.slow

OLD_API = {"X-Kinvey-API-Version": "3"}  # Basic username:password is accepted before version 6


def _credentials(log: str) -> tuple[str, str, str]:
    key = re.search(r"^app key:\s+(\S+)$", log, re.M)
    secret = re.search(r"^app secret:\s+(\S+)$", log, re.M)
    master = re.search(r"^master secret:\s+(\S+)$", log, re.M)
    assert key and secret and master, log
    return key.group(1), secret.group(1), master.group(1)


def _error(response: httpx.Response) -> str:
    assert response.status_code >= 400, response.text
    return str(response.json()["error"])


@contextlib.contextmanager
def _two_servers(
    engine: str, redis: bool, tmp_path: Path
) -> Iterator[tuple[list[str], dict[str, str], ServerProcess, ServerProcess]]:
    env = {
        "KINBASE_REDIS_URL": "redis://127.0.0.1:6379/0" if redis else "",
        # A lockout after 3 failures, long enough for any loaded machine (no backoff before it).
        "KINBASE_LOGIN_MAX_FAILURES": "3",
        "KINBASE_LOGIN_DELAY_AFTER": "100",
        "KINBASE_LOGIN_LOCKOUT_SECONDS": "600",
        # Long caches: without invalidation the second worker would keep serving its copies.
        "KINBASE_APP_CACHE_SECONDS": "600",
    }
    for args in database_args(engine, tmp_path):
        with (
            run_server(*args, workdir=tmp_path, env=env) as first,
            run_server(*args, workdir=tmp_path, env=env) as second,
        ):
            yield args, env, first, second


@pytest.mark.parametrize("redis", [False, True], ids=["database", "redis"])
@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_change_through_one_worker_is_seen_by_the_other_at_once(
    engine: str, redis: bool, tmp_path: Path
) -> None:
    with _two_servers(engine, redis, tmp_path) as (args, env, a, b):
        key, secret, master = _credentials(a.log())
        with httpx.Client(timeout=30) as http:

            def call(
                server: ServerProcess, method: str, path: str, auth: tuple[str, str], **kw: object
            ) -> httpx.Response:
                return http.request(method, server.url + path, auth=auth, **kw)  # type: ignore[arg-type]

            made = call(
                a, "POST", f"/user/{key}/", (key, secret), json={"username": "ann", "password": "old-pw"}
            )
            assert made.status_code == 201, made.text
            ann = made.json()["_id"]
            group = call(a, "PUT", f"/group/{key}/readers", (key, master), json={"users": {"list": []}})
            assert group.status_code in (200, 201), group.text
            doc = {"_id": "d1", "title": "t", "_acl": {"gr": False, "groups": {"r": ["readers"]}}}
            assert call(a, "PUT", f"/appdata/{key}/docs/d1", (key, master), json=doc).status_code in (
                200,
                201,
            )

            # B warms every cache: the app, ann's verified password, her throttle answer, memberships.
            assert _error(call(b, "GET", f"/appdata/{key}/docs/d1", ("ann", "old-pw"), headers=OLD_API)) == (
                "InsufficientCredentials"
            )

            # An ACL through group membership: ann joins the group on A; B lets her read at once.
            group = call(a, "PUT", f"/group/{key}/readers", (key, master), json={"users": {"list": [ann]}})
            assert group.status_code == 200, group.text
            seen = call(b, "GET", f"/appdata/{key}/docs/d1", ("ann", "old-pw"), headers=OLD_API)
            assert seen.status_code == 200, seen.text
            # An ACL on the entity: A takes the group's read away; B refuses at once.
            doc["_acl"] = {"gr": False}
            assert call(a, "PUT", f"/appdata/{key}/docs/d1", (key, master), json=doc).status_code == 200
            assert _error(call(b, "GET", f"/appdata/{key}/docs/d1", ("ann", "old-pw"), headers=OLD_API)) == (
                "InsufficientCredentials"
            )
            doc["_acl"] = {"gr": False, "groups": {"r": ["readers"]}}
            assert call(a, "PUT", f"/appdata/{key}/docs/d1", (key, master), json=doc).status_code == 200

            # A password change on A: B refuses the old password and takes the new one at once.
            assert (
                call(b, "GET", f"/appdata/{key}/docs/d1", ("ann", "old-pw"), headers=OLD_API).status_code
                == 200
            )
            changed = call(
                a, "PUT", f"/user/{key}/{ann}", (key, master), json={"username": "ann", "password": "new-pw"}
            )
            assert changed.status_code == 200, changed.text
            old = call(b, "GET", f"/appdata/{key}/docs/d1", ("ann", "old-pw"), headers=OLD_API)
            assert _error(old) == "InvalidCredentials"
            assert (
                call(b, "GET", f"/appdata/{key}/docs/d1", ("ann", "new-pw"), headers=OLD_API).status_code
                == 200
            )

            # Sessions, which each worker caches: ended on A (logout, then every session of the
            # user through DELETE /user/:id/tokens), refused by B at once.
            for end in ("logout", "tokens"):
                login = call(
                    a,
                    "POST",
                    f"/user/{key}/login",
                    (key, secret),
                    json={"username": "ann", "password": "new-pw"},
                )
                assert login.status_code == 200, login.text
                token = {"Authorization": f"Kinvey {login.json()['_kmd']['authtoken']}"}
                read = http.get(f"{b.url}/appdata/{key}/docs/d1", headers=token)
                assert read.status_code == 200, read.text  # B caches the session
                if end == "logout":
                    ended = http.post(f"{a.url}/user/{key}/_logout", headers=token)
                else:
                    ended = call(a, "DELETE", f"/user/{key}/{ann}/tokens", (key, master))
                assert ended.status_code == 204, ended.text
                assert (
                    _error(http.get(f"{b.url}/appdata/{key}/docs/d1", headers=token)) == "InvalidCredentials"
                )

            # The login throttle: A locks ann out (3 failures); B, which has just trusted her
            # "not throttled" answer, refuses even the right password at once.
            for _ in range(3):
                assert (
                    call(a, "GET", f"/appdata/{key}/docs/d1", ("ann", "wrong"), headers=OLD_API).status_code
                    == 401
                )
            locked = call(b, "GET", f"/appdata/{key}/docs/d1", ("ann", "new-pw"), headers=OLD_API)
            assert locked.status_code == 429, locked.text
            assert locked.json()["error"] == "LoginThrottled"

            # Kinto permissions, behind each worker's structure version (on PostgreSQL trusted
            # through the feed, on SQLite through its commit marker): a collection's read given
            # and taken away on A is in force on B at once, B having served the record before.
            kinto = f"/kinto/{key}/v1"
            for name in ("alice", "bob"):
                made = call(
                    a, "PUT", f"{kinto}/accounts/{name}", (name, "pw"), json={"data": {"password": "pw"}}
                )
                assert made.status_code == 201, made.text
            alice, bob = ("alice", "pw"), ("bob", "pw")
            coll = f"{kinto}/buckets/b/collections/c"
            assert call(a, "PUT", f"{kinto}/buckets/b", alice, json={}).status_code == 201
            assert call(a, "PUT", coll, alice, json={}).status_code == 201
            assert call(a, "PUT", f"{coll}/records/r", alice, json={"data": {"n": 1}}).status_code == 201
            for _ in range(2):  # B warms its structure version and its caches
                assert call(b, "GET", f"{coll}/records/r", bob).status_code == 403
                assert call(b, "GET", f"{coll}/records/r", alice).status_code == 200
            given = call(a, "PATCH", coll, alice, json={"permissions": {"read": ["account:bob"]}})
            assert given.status_code == 200, given.text
            assert call(b, "GET", f"{coll}/records/r", bob).status_code == 200
            assert call(b, "GET", f"{coll}/records", bob).json()["data"][0]["id"] == "r"
            taken = call(a, "PATCH", coll, alice, json={"permissions": {"read": []}})
            assert taken.status_code == 200, taken.text
            assert call(b, "GET", f"{coll}/records/r", bob).status_code == 403
            assert call(b, "GET", f"{coll}/records", bob).status_code == 403
            # A batch on A that makes the bucket readable by everyone: B serves it at once.
            batch = {
                "requests": [
                    {
                        "method": "PATCH",
                        "path": "/buckets/b",
                        "body": {"permissions": {"read": ["system.Everyone"]}},
                    }
                ]
            }
            assert call(a, "POST", f"{kinto}/batch", alice, json=batch).status_code == 200
            assert http.get(b.url + f"{coll}/records/r").status_code == 200

            # The app itself, deleted by another process (the CLI): both workers forget it at once.
            assert call(b, "GET", f"/appdata/{key}", (key, secret)).status_code == 200
            deleted = kinbase_cli("apps", "delete", key, "--yes", *args, env=env, cwd=tmp_path)
            assert deleted.returncode == 0, deleted.stdout + deleted.stderr
            for server in (a, b):
                gone = call(server, "GET", f"/appdata/{key}", (key, secret))
                assert gone.status_code == 404, gone.text
