"""Flex services serving Kinvey requests, through HTTP: a collection backed by a service object,
collection hooks, custom endpoints, and the failures of a service (timeout, unreachable, killed
mid-request, malformed, refused secret). Against the test service written with kinbase-flex and
with the official Node kinvey-flex-sdk (each a real process), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kinbase.core.appconfig import parse_toml
from kinbase.core.kinvey.access import Caller
from kinbase.core.services import Core
from kinbase.query.ast import Query
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend
from tests.frontends.kinvey.conftest import Kinvey, error_of
from tests.support.flex_services import FLEX_SECRET, KINDS, FlexProcess
from tests.support.server import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=str(tmp_path / "data"), password_hash_time_cost=1, password_hash_memory_kib=8)


@pytest.fixture
def kv(client: Any, app: Any) -> Kinvey:
    return Kinvey(client, app)


async def configure(core: Core, kv: Kinvey, text: str) -> None:
    """Apply a TOML configuration to the test app (``{url}``-style values already filled in)."""
    await core.appconfig.apply(await core.apps.require(kv.key), parse_toml(text))
    kv.app = await core.apps.require(kv.key)


def service_toml(name: str, url: str, **extra: Any) -> str:
    lines = [f"[flex_services.{name}]", f'url = "{url}"', f'secret = "{extra.pop("secret", FLEX_SECRET)}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


LINKED = """
[collections.things]
data_link = { service = "svc", service_object = "things" }
"""


def ids(response: Any) -> list[str]:
    return sorted(e["_id"] for e in response.json())


async def test_a_flex_backed_collection_through_every_operation(
    core: Core, kv: Kinvey, service: FlexProcess
) -> None:
    await configure(core, kv, service_toml("svc", service.url) + LINKED)
    ann = await kv.user("ann")
    assert (await kv.delete("/appdata/{k}/things", ann)).status_code == 200  # onDeleteAll: start empty
    r = await kv.post("/appdata/{k}/things", ann, json={"_id": "a", "color": "blue"})
    assert (r.status_code, r.json()) == (201, {"_id": "a", "color": "blue"})
    r = await kv.post(
        "/appdata/{k}/things",
        ann,
        version="5",
        json=[{"_id": "b", "color": "red"}, {"_id": "c", "color": "blue"}],
    )
    assert r.status_code == 201 and [e["_id"] for e in r.json()["entities"]] == ["b", "c"]
    r = await kv.get("/appdata/{k}/things", ann)
    assert r.status_code == 200 and ids(r) == ["a", "b", "c"]
    blue = {"query": json.dumps({"color": "blue"})}
    assert ids(await kv.get("/appdata/{k}/things", ann, params=blue)) == ["a", "c"]
    r = await kv.get("/appdata/{k}/things", ann, params={**blue, "limit": "1", "skip": "1"})
    assert ids(r) == ["c"]
    assert (await kv.get("/appdata/{k}/things/b", ann)).json() == {"_id": "b", "color": "red"}
    missing = await kv.get("/appdata/{k}/things/nope", ann)
    assert missing.status_code == 404 and error_of(missing) == "NotFound"
    assert (await kv.get("/appdata/{k}/things/_count", ann)).json() == {"count": 3}
    assert (await kv.get("/appdata/{k}/things/_count", ann, params=blue)).json() == {"count": 2}
    r = await kv.put("/appdata/{k}/things/a", ann, json={"color": "green"})
    assert (r.status_code, r.json()) == (200, {"_id": "a", "color": "green"})
    assert (await kv.put("/appdata/{k}/things/zzz", ann, json={})).status_code == 404
    assert (await kv.delete("/appdata/{k}/things/b", ann)).json() == {"count": 1}
    assert (await kv.delete("/appdata/{k}/things", ann, params=blue)).json() == {"count": 1}
    assert ids(await kv.get("/appdata/{k}/things", ann)) == ["a"]
    assert (await kv.delete("/appdata/{k}/things", ann)).json() == {"count": 1}
    assert (await kv.get("/appdata/{k}/things", ann)).json() == []
    r = await kv.post("/appdata/{k}/things/_group", ann, json={"key": {"color": True}})
    assert r.status_code == 400 and error_of(r) == "FeatureUnavailable"
    stored = await core.kinvey.entities.count(kv.app, Caller.master(), "things", Query())
    assert stored.count == 0, "kinbase's storage never held these entities"


async def test_kinbase_checks_the_collection_permission_first(
    core: Core, kv: Kinvey, service: FlexProcess
) -> None:
    await configure(core, kv, service_toml("svc", service.url) + LINKED + 'permissions = "readonly"\n')
    ann = await kv.user("ann")
    await kv.delete("/appdata/{k}/things")
    r = await kv.post("/appdata/{k}/things", ann, json={"_id": "x"})
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    assert (await kv.delete("/appdata/{k}/things/x", ann)).status_code == 401
    assert (await kv.post("/appdata/{k}/things", json={"_id": "x"})).status_code == 201  # master
    assert ids(await kv.get("/appdata/{k}/things", ann)) == ["x"]
    assert (await kv.post("/appdata/{k}/things", kv.appauth, json={})).status_code == 401


HOOKED = """
[collections.notes.hooks]
pre_save = { service = "svc", function = "preSave" }
pre_fetch = { service = "svc", function = "preSave" }
pre_delete = { service = "svc", function = "reject" }
post_fetch = { service = "svc", function = "postShape" }
"""


async def test_hooks_on_a_stored_collection(core: Core, kv: Kinvey, service: FlexProcess) -> None:
    await configure(core, kv, service_toml("svc", service.url) + HOOKED)
    ann = await kv.user("ann")
    skip = {"X-Kinvey-Skip-Business-Logic": "true"}
    # pre_save changes the body: the stored entity is stamped.
    r = await kv.post("/appdata/{k}/notes", ann, json={"_id": "n1", "text": "hi"})
    assert r.status_code == 201 and r.json()["stamped"] is True
    r = await kv.put("/appdata/{k}/notes/n2", ann, json={"text": "put"})
    assert r.status_code == 201 and r.json()["stamped"] is True
    await kv.post("/appdata/{k}/notes", json={"_id": "raw", "text": "raw"}, headers=skip)
    stored = await core.kinvey.entities.get(kv.app, Caller.master(), "notes", "n1")
    assert json.loads(stored)["stamped"] is True
    # pre_fetch changes the query (only stamped entities), post_fetch replaces the response.
    r = await kv.get("/appdata/{k}/notes", ann, params={"query": json.dumps({"text": "raw"})})
    assert r.status_code == 200
    assert r.json()["count"] == 2 and sorted(e["_id"] for e in r.json()["wrapped"]) == ["n1", "n2"]
    # pre_delete ends the request with its own answer: nothing is deleted.
    r = await kv.delete("/appdata/{k}/notes/n1", ann)
    assert r.status_code == 403 and error_of(r) == "Forbidden"
    assert (await kv.get("/appdata/{k}/notes/n1", headers=skip)).status_code == 200
    # The master secret may skip business logic; a user may not.
    r = await kv.get("/appdata/{k}/notes", headers=skip)
    assert sorted(e["_id"] for e in r.json()) == ["n1", "n2", "raw"]
    r = await kv.get("/appdata/{k}/notes", ann, headers=skip)
    assert "wrapped" in r.json()
    assert (await kv.delete("/appdata/{k}/notes/raw", headers=skip)).json() == {"count": 1}


async def test_the_temp_object_store_travels_from_pre_to_post(
    core: Core, kv: Kinvey, service: FlexProcess
) -> None:
    hooks = """
[collections.memo.hooks]
pre_save = { service = "svc", function = "temp" }
post_save = { service = "svc", function = "temp" }
"""
    await configure(core, kv, service_toml("svc", service.url) + hooks)
    r = await kv.post("/appdata/{k}/memo", json={"_id": "m"})
    # temp() counts in the store: 1 in the pre hook (whose next() also makes it the body), 2 in the post.
    assert (r.status_code, r.json()) == (200, {"n": 2})
    saved = await kv.get("/appdata/{k}/memo", headers={"X-Kinvey-Skip-Business-Logic": "true"})
    assert [e["n"] for e in saved.json()] == [1]  # the body the pre hook set was saved


async def test_hooks_on_a_flex_backed_collection(core: Core, kv: Kinvey, service: FlexProcess) -> None:
    hooks = """
[collections.things.hooks]
pre_save = { service = "svc", function = "preSave" }
post_fetch = { service = "svc", function = "postShape" }
"""
    await configure(core, kv, service_toml("svc", service.url) + LINKED + hooks)
    await kv.delete("/appdata/{k}/things")
    r = await kv.post("/appdata/{k}/things", json={"_id": "h", "n": 1})
    assert r.status_code == 201 and r.json() == {"_id": "h", "n": 1, "stamped": True}
    r = await kv.get("/appdata/{k}/things")
    assert r.json() == {"wrapped": [{"_id": "h", "n": 1, "stamped": True}], "count": 1}
    assert (await kv.get("/appdata/{k}/things/h")).json()["wrapped"]["_id"] == "h"


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


async def test_a_custom_endpoint_gets_the_callers_credentials(
    core: Core, kv: Kinvey, service: FlexProcess
) -> None:
    endpoints = """
[endpoints.checkout]
service = "svc"
function = "echo"

[endpoints.missing]
service = "svc"
function = "noSuchFunction"
"""
    await configure(core, kv, service_toml("svc", service.url) + endpoints)
    ann = await kv.user("ann")
    r = await kv.post("/rpc/{k}/custom/checkout", ann, json={"cart": [1, 2]})
    assert r.status_code == 200, r.text
    seen = r.json()
    assert (seen["hookType"], seen["objectName"], seen["method"]) == ("customEndpoint", "checkout", "POST")
    assert seen["body"] == {"cart": [1, 2]}
    assert (seen["username"], seen["userId"]) == ("ann", ann.id)
    assert seen["headers"]["authorization"] == f"Kinvey {ann.token}"
    assert seen["securityContext"] == "user"
    assert seen["appKey"] == kv.key and seen["masterSecret"] == kv.app.master_secret
    r = await kv.post("/rpc/{k}/custom/checkout", json={})
    assert r.json()["securityContext"] == "master" and r.json()["userId"] == ""
    r = await kv.post("/rpc/{k}/custom/missing", ann, json={})
    assert r.status_code == 501 and error_of(r) == "NotImplemented"
    r = await kv.post("/rpc/{k}/custom/undeclared", ann, json={})
    assert r.status_code == 404 and error_of(r) == "EntityNotFound"


async def test_a_refused_secret_never_logs_the_user_out(core: Core, kv: Kinvey, service: FlexProcess) -> None:
    text = service_toml("svc", service.url, secret="not-the-secret") + LINKED
    text += '\n[endpoints.e]\nservice = "svc"\nfunction = "echo"\n'
    await configure(core, kv, text)
    ann = await kv.user("ann")
    for r in (await kv.post("/rpc/{k}/custom/e", ann, json={}), await kv.get("/appdata/{k}/things", ann)):
        assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"


async def test_a_slow_service_times_out_and_holds_no_one_else(
    core: Core, kv: Kinvey, service: FlexProcess
) -> None:
    text = service_toml("slow", service.url, timeout_seconds=1) + service_toml("quick", service.url)
    text += '[endpoints.slow]\nservice = "slow"\nfunction = "slow"\n'
    text += '[endpoints.quick]\nservice = "quick"\nfunction = "echo"\n'
    await configure(core, kv, text)
    started = time.monotonic()
    pending = asyncio.create_task(kv.post("/rpc/{k}/custom/slow", json={"ms": 30_000}))
    await asyncio.sleep(0.2)
    assert (await kv.post("/rpc/{k}/custom/quick", json={})).status_code == 200
    r = await pending
    assert r.status_code == 550 and error_of(r) == "BLTimeoutError"
    assert "'slow'" in r.json()["debug"]
    assert time.monotonic() - started < 10  # the 1 s deadline, not the 30 s of the function


async def test_an_unreachable_service(core: Core, kv: Kinvey) -> None:
    text = service_toml("gone", f"http://127.0.0.1:{free_port()}") + LINKED.replace('"svc"', '"gone"')
    text += '[endpoints.e]\nservice = "gone"\nfunction = "echo"\n'
    await configure(core, kv, text)
    for r in (await kv.post("/rpc/{k}/custom/e", json={}), await kv.get("/appdata/{k}/things")):
        assert r.status_code == 550 and error_of(r) == "BLInternalError"


@pytest.fixture(params=KINDS)
def own_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FlexProcess]:
    """A test service of its own, to kill and restart."""
    process = FlexProcess(request.param, tmp_path)
    yield process
    process.stop()


async def test_a_service_killed_mid_request_then_restarted(
    core: Core, kv: Kinvey, own_service: FlexProcess
) -> None:
    text = service_toml("svc", own_service.url, timeout_seconds=60) + LINKED
    text += '[endpoints.slow]\nservice = "svc"\nfunction = "slow"\n'
    await configure(core, kv, text)
    await asyncio.to_thread(own_service.start)
    assert (await kv.post("/appdata/{k}/things", json={"_id": "before"})).status_code == 201
    pending = asyncio.create_task(kv.post("/rpc/{k}/custom/slow", json={"ms": 60_000}))
    await asyncio.sleep(0.5)
    killed_at = time.monotonic()
    own_service.kill()
    r = await pending
    assert r.status_code == 550 and error_of(r) == "BLInternalError"
    assert time.monotonic() - killed_at < 12  # at once, not the 60 s deadline
    await asyncio.to_thread(own_service.start)
    r = await kv.get("/appdata/{k}/things/_count")
    assert (r.status_code, r.json()) == (200, {"count": 0})  # a fresh process answers


async def test_malformed_replies_are_bl_runtime_errors(core: Core, kv: Kinvey) -> None:
    replies = {
        "/things": b'{"not": "an array"}',
        "/things/_count": b"[1, 2]",
        "/things/x": b"not json",
        "/_flexFunctions/bad": b'{"response": {"statusCode": 200}}',
    }

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ")[1].decode().split("?")[0]
        lines = head.split(b"\r\n")
        length = next((int(x.split(b":")[1]) for x in lines if x.lower().startswith(b"content-length")), 0)
        await reader.readexactly(length)
        body = replies.get(path, b"{}")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        await configure(
            core,
            kv,
            service_toml("svc", url) + LINKED + '[endpoints.bad]\nservice = "svc"\nfunction = "bad"\n',
        )
        for r in (
            await kv.get("/appdata/{k}/things"),
            await kv.get("/appdata/{k}/things/_count"),
            await kv.get("/appdata/{k}/things/x"),
            await kv.post("/rpc/{k}/custom/bad", json={}),
        ):
            assert r.status_code == 400 and error_of(r) == "BLRuntimeError", r.text
            assert "'svc'" in r.json()["debug"]


async def test_a_saturated_service_holds_no_other_app(
    core: Core, kv: Kinvey, service: FlexProcess, storage: StorageBackend
) -> None:
    """One app's calls fill its client's slots (max_concurrency 1) with a slow function; another
    app bound to the same service has its own client and slots, and is answered meanwhile."""
    text = service_toml("svc", service.url, timeout_seconds=30, max_concurrency=1)
    text += '[endpoints.slow]\nservice = "svc"\nfunction = "slow"\n'
    text += '[endpoints.echo]\nservice = "svc"\nfunction = "echo"\n'
    await configure(core, kv, text)
    async with storage.writer() as w:
        other_app = await w.create_app(
            "kid_" + secrets.token_hex(8), "Other", secrets.token_hex(16), secrets.token_hex(16), {}
        )
    other = Kinvey(kv.http, other_app)
    await configure(core, other, text)
    slow = [asyncio.create_task(kv.post("/rpc/{k}/custom/slow", json={"ms": 3000})) for _ in range(2)]
    await asyncio.sleep(0.3)
    r = await other.post("/rpc/{k}/custom/echo", json={})
    assert r.status_code == 200 and r.json()["appKey"] == other.key
    assert not any(task.done() for task in slow), "the other app was answered while these waited"
    assert [(await task).status_code for task in slow] == [200, 200]


async def test_a_pre_hook_changes_the_query_sent_to_the_service(
    core: Core, kv: Kinvey, service: FlexProcess
) -> None:
    """preSave's setQuery ({"stamped": true}) replaces the client's query: the service object
    receives the new query string, for reads and for deletes."""
    hooks = """
[collections.things.hooks]
pre_fetch = { service = "svc", function = "preSave" }
pre_delete = { service = "svc", function = "preSave" }
"""
    await configure(core, kv, service_toml("svc", service.url) + LINKED + hooks)
    await kv.delete("/appdata/{k}/things", headers={"X-Kinvey-Skip-Business-Logic": "true"})
    for body in ({"_id": "s1", "stamped": True}, {"_id": "s2", "stamped": True}, {"_id": "u1"}):
        assert (await kv.post("/appdata/{k}/things", json=body)).status_code == 201
    other = {"query": json.dumps({"_id": "u1"})}
    assert ids(await kv.get("/appdata/{k}/things", params=other)) == ["s1", "s2"]
    assert (await kv.get("/appdata/{k}/things/_count", params=other)).json() == {"count": 2}
    assert (await kv.delete("/appdata/{k}/things", params=other)).json() == {"count": 2}
    skip = {"X-Kinvey-Skip-Business-Logic": "true"}
    assert ids(await kv.get("/appdata/{k}/things", headers=skip)) == ["u1"]
