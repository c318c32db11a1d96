"""The Flex client against real services: the test service written with kinbase-flex and with the
official Node kinvey-flex-sdk (each a real process), on SQLite and PostgreSQL (the configuration
that declares the service lives in the database)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kinbase.core.appconfig import parse_toml
from kinbase.core.flex import BoundService, FlexContext, FunctionTask, chain
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.services import Core
from kinbase.frontends.kinvey.errors import status_of
from kinbase.storage.base import AppRecord
from kinbase_flex.testing import FakeBackend
from tests.support.flex_services import FLEX_SECRET, KINDS, FlexProcess
from tests.support.server import free_port

pytestmark = pytest.mark.anyio


def _toml(services: dict[str, dict[str, Any]]) -> str:
    text = ""
    for name, values in services.items():
        text += f"[flex_services.{name}]\n"
        text += "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
    return text


async def declare(core: Core, app: AppRecord, **services: dict[str, Any]) -> AppRecord:
    """Apply a configuration declaring ``services`` (name -> url, secret...) and return the app."""
    for values in services.values():
        values.setdefault("secret", FLEX_SECRET)
    await core.appconfig.apply(await core.apps.require(app.key), parse_toml(_toml(services)))
    await core.apps.changed(app.key)
    return await core.apps.require(app.key)


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def context(app: AppRecord, *, baas_url: str = "http://127.0.0.1:9", **kw: Any) -> FlexContext:
    values: dict[str, Any] = {
        "original_headers": {"Authorization": "Kinvey session-token", "X-Kinvey-API-Version": "5"},
        "username": "alice",
        "user_id": "alice-id",
        "request_id": "req-1",
    }
    values.update(kw)
    return FlexContext(app, baas_url, **values)


async def test_every_flexdata_route(core: Core, app: AppRecord, service: FlexProcess) -> None:
    app = await declare(core, app, svc={"url": service.url})
    svc = await core.flex.service(app, "svc")
    ctx = context(app)
    assert (await svc.data(ctx, "things", "DELETE")).status == 200  # onDeleteAll: start empty
    created = await svc.data(ctx, "things", "POST", body={"_id": "a", "color": "blue"})
    assert (created.status, created.body) == (201, {"_id": "a", "color": "blue"})
    many = await svc.data(
        ctx, "things", "POST", body=[{"_id": "b", "color": "red"}, {"_id": "c", "color": "blue"}]
    )
    assert many.status == 201 and [e["_id"] for e in many.body["entities"]] == ["b", "c"]
    everything = await svc.data(ctx, "things", "GET")
    assert everything.status == 200 and [e["_id"] for e in everything.body] == ["a", "b", "c"]
    assert (await svc.data(ctx, "things", "GET", entity_id="b")).body == {"_id": "b", "color": "red"}
    missing = await svc.data(ctx, "things", "GET", entity_id="nope")
    assert missing.status == 404 and missing.body["error"] == "NotFound"
    blue = "query=%7B%22color%22%3A%22blue%22%7D"
    found = await svc.data(ctx, "things", "GET", query_string=f"{blue}&limit=1&skip=1")
    assert found.status == 200 and [e["_id"] for e in found.body] == ["c"]
    assert (await svc.data(ctx, "things", "GET", count=True)).body == {"count": 3}
    assert (await svc.data(ctx, "things", "GET", count=True, query_string=blue)).body == {"count": 2}
    updated = await svc.data(ctx, "things", "PUT", entity_id="a", body={"color": "green"})
    assert (updated.status, updated.body) == (200, {"_id": "a", "color": "green"})
    assert (await svc.data(ctx, "things", "PUT", entity_id="zzz", body={})).status == 404
    assert (await svc.data(ctx, "things", "DELETE", entity_id="b")).body == {"count": 1}
    assert (await svc.data(ctx, "things", "DELETE", query_string=blue)).body == {"count": 1}
    assert (await svc.data(ctx, "things", "DELETE")).body == {"count": 1}
    assert (await svc.data(ctx, "things", "GET")).body == []


async def test_the_request_headers_reach_the_handler(
    core: Core, app: AppRecord, service: FlexProcess
) -> None:
    app = await declare(core, app, svc={"url": service.url})
    svc = await core.flex.service(app, "svc")
    master = _basic(app.key, app.master_secret)
    ctx = context(app, original_headers={"Authorization": master, "X-Kinvey-Client-App-Version": "1.2.3"})
    task = FunctionTask("customEndpoint", "POST", "checkout", body={"cart": [1, 2]})
    result = await svc.function(ctx, "echo", task)
    assert (result.status, result.proceed) == (200, False)
    seen = result.body
    assert seen["headers"] == {"authorization": master, "x-kinvey-client-app-version": "1.2.3"}
    assert (seen["username"], seen["userId"]) == ("alice", "alice-id")
    assert (seen["hookType"], seen["objectName"], seen["method"]) == ("customEndpoint", "checkout", "POST")
    assert seen["body"] == {"cart": [1, 2]}
    assert (seen["appKey"], seen["appSecret"], seen["masterSecret"]) == (
        app.key,
        app.app_secret,
        app.master_secret,
    )
    assert seen["securityContext"] == "master"
    anonymous = await svc.function(context(app, username=None, user_id=None), "echo", task)
    assert (anonymous.body["username"], anonymous.body["userId"]) == ("", "")


async def test_hook_envelopes(core: Core, app: AppRecord, service: FlexProcess) -> None:
    app = await declare(
        core, app, svc={"url": service.url}, wrong={"url": service.url, "secret": "not-the-secret"}
    )
    svc = await core.flex.service(app, "svc")
    ctx = context(app)
    pre = await svc.function(ctx, "preSave", FunctionTask("pre", "POST", "orders", body={"total": 5}))
    assert pre.proceed and pre.request_body == {"total": 5, "stamped": True}
    assert json.loads(pre.request_query["query"]) == {"stamped": True}
    query = {"query": '{"total":5}'}
    seen = await svc.function(ctx, "echo", FunctionTask("pre", "GET", "orders", query=query, entity_id="e1"))
    assert (seen.body["query"], seen.body["entityId"], seen.body["hookType"]) == (query, "e1", "pre")
    stop = await svc.function(ctx, "reject", FunctionTask("pre", "POST", "orders", body={}))
    assert (stop.proceed, stop.status, stop.body["error"]) == (False, 403, "Forbidden")
    post = await svc.function(
        ctx,
        "postShape",
        FunctionTask("post", "GET", "orders", response={"status": 200, "headers": {}, "body": [1, 2]}),
    )
    assert (post.proceed, post.body) == (True, {"wrapped": [1, 2], "count": 2})
    temp = await svc.function(ctx, "temp", FunctionTask("pre", "POST", "orders", temp_object_store={"n": 1}))
    assert temp.temp_object_store == {"n": 2} and temp.request_body == {
        "n": 2
    }  # pre: next() sets the request
    unknown = await svc.function(ctx, "nope", FunctionTask("customEndpoint", "POST", "x"))
    assert (unknown.status, unknown.body["error"]) == (501, "NotImplemented")
    refused = await (await core.flex.service(app, "wrong")).function(
        ctx, "echo", FunctionTask("pre", "POST", "x")
    )
    assert (refused.status, refused.proceed, refused.body["error"]) == (401, False, "InvalidCredentials")


async def test_flexauth_and_discovery(core: Core, app: AppRecord, service: FlexProcess) -> None:
    app = await declare(core, app, svc={"url": service.url})
    svc = await core.flex.service(app, "svc")
    ctx = context(app, username=None, user_id=None)
    ok = await svc.authenticate(ctx, "login", "flexuser", "flexpass")
    assert ok.authenticated and ok.token == {"access_token": "tok-flexuser"}
    assert ok.attributes == {"email": "flexuser@example.test"}
    denied = await svc.authenticate(ctx, "login", "flexuser", "wrong")
    assert not denied.authenticated
    assert (denied.error, denied.error_description) == ("access_denied", "Wrong username or password")
    offered = await svc.discover()
    assert offered.service_objects == ("things",) and offered.auth_handlers == ("login",)
    assert {"echo", "preSave", "slow", "callback"} <= set(offered.functions)
    assert await svc.healthy()
    with pytest.raises(KinveyError) as unknown:
        await core.flex.service(app, "undeclared")
    assert unknown.value.name == "MissingConfiguration"


async def test_modules_call_back_to_the_baas_url(core: Core, app: AppRecord, service: FlexProcess) -> None:
    """``X-Kinvey-App-Metadata`` carries kinbase's own baasUrl and the app's real secrets: the
    service's dataStore module calls back there with the master secret and skip-BL."""
    app = await declare(core, app, svc={"url": service.url})
    backend = FakeBackend()
    # The callback URL carries the signed chain of Flex calls (kinbase.core.flex.chain).
    callback_path = re.compile(rf"/_flex/([^/]+)/appdata/{app.key}/things/?")
    backend.respond("GET", callback_path, json=[{"_id": "from-kinbase"}])
    with backend.serve() as url:
        svc = await core.flex.service(app, "svc")
        result = await svc.function(
            context(app, baas_url=url), "callback", FunctionTask("customEndpoint", "POST", "c")
        )
    assert result.body == {"found": [{"_id": "from-kinbase"}]}, result.body
    call = backend.requests[-1]
    assert call.headers["authorization"] == _basic(app.key, app.master_secret)
    assert call.headers["x-kinvey-skip-business-logic"] == "true"
    found = callback_path.fullmatch(call.path)
    assert found is not None, call.path
    assert chain.verify(core.secret, found.group(1)) == ("function svc/callback (customEndpoint c)",)


async def test_a_slow_service_times_out_and_holds_only_its_own_slots(
    core: Core, app: AppRecord, service: FlexProcess
) -> None:
    app = await declare(
        core,
        app,
        slow={"url": service.url, "timeout_seconds": 3, "max_concurrency": 2},
        other={"url": service.url},
    )
    slow, other = await core.flex.service(app, "slow"), await core.flex.service(app, "other")
    ctx = context(app)
    started = time.monotonic()
    with pytest.raises(KinveyError) as timed_out:
        await slow.function(ctx, "slow", FunctionTask("customEndpoint", "POST", "s", body={"ms": 8000}))
    assert timed_out.value.name == "BLTimeoutError" and status_of(timed_out.value.name) == 550
    assert 2.9 < time.monotonic() - started < 6.0  # the 3 s deadline, not the 8 s call

    async def call(ms: int) -> Any:
        return await slow.function(ctx, "slow", FunctionTask("customEndpoint", "POST", "s", body={"ms": ms}))

    # Two slots: the first two calls take 1.8 s, the next two wait for a slot and run out of time
    # (3.6 s > 3 s: a loaded machine only makes them later; the first two have 1.2 s to spare).
    calls = [asyncio.create_task(call(1800)) for _ in range(4)]
    await asyncio.sleep(0.1)
    quick_start = time.monotonic()
    echoed = await other.function(ctx, "echo", FunctionTask("customEndpoint", "POST", "e"))
    assert echoed.status == 200 and time.monotonic() - quick_start < 1.5  # another service is not held
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert sum(1 for o in outcomes if not isinstance(o, BaseException)) == 2
    assert [o.name for o in outcomes if isinstance(o, KinveyError)] == ["BLTimeoutError"] * 2


async def test_an_unreachable_service_fails_fast(core: Core, app: AppRecord) -> None:
    app = await declare(core, app, gone={"url": f"http://127.0.0.1:{free_port()}", "timeout_seconds": 10})
    svc = await core.flex.service(app, "gone")
    started = time.monotonic()
    with pytest.raises(KinveyError) as failed:
        await svc.function(context(app), "echo", FunctionTask("customEndpoint", "POST", "e"))
    assert failed.value.name == "BLInternalError" and "'gone'" in failed.value.debug
    assert time.monotonic() - started < 5.0  # not the 10 s deadline
    assert not await svc.healthy()


@pytest.fixture
async def raw_server() -> AsyncIterator[tuple[str, dict[str, bytes]]]:
    """A server that answers each path with canned bytes (for malformed replies)."""
    replies: dict[str, bytes] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ")[1].decode()
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        await reader.readexactly(length)
        body = replies.get(path, b"{}")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}", replies


async def test_malformed_replies(
    core: Core, app: AppRecord, raw_server: tuple[str, dict[str, bytes]]
) -> None:
    url, replies = raw_server
    replies["/_flexFunctions/text"] = b"this is not json"
    replies["/_flexFunctions/shape"] = b'{"request": {}}'
    replies["/_flexFunctions/status"] = b'{"response": {"continue": true, "statusCode": 99}}'
    replies["/_command/discover"] = b'{"dataLink": {"serviceObjects": "things"}}'
    app = await declare(core, app, raw={"url": url})
    svc = await core.flex.service(app, "raw")
    for name, hint in (("text", "not JSON"), ("shape", "'response'"), ("status", "statusCode")):
        with pytest.raises(KinveyError) as bad:
            await svc.function(context(app), name, FunctionTask("customEndpoint", "POST", "x"))
        assert bad.value.name == "BLRuntimeError" and hint in bad.value.debug, bad.value.debug
    with pytest.raises(KinveyError) as bad:
        await svc.discover()
    assert bad.value.name == "BLRuntimeError"


class _DropsSecond:
    """A keep-alive server that answers the first request on each connection and drops the
    connection, unanswered, when a second request arrives on it: what a service that closes idle
    connections does to a client that picked the connection in the same instant."""

    def __init__(self, drop_first: bool = False, reset: bool = False) -> None:
        self.drop_first = drop_first
        self.reset = reset  # drop with a reset before reading the body (the client is writing it)
        self.requests = 0
        self.dropped = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                if (served or self.drop_first) and self.reset:
                    self.dropped += 1
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                await reader.readexactly(length)
                if served or self.drop_first:
                    self.dropped += 1
                    return
                served += 1
                body = b'{"response": {"statusCode": 200, "body": {}, "continue": false}}'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def _serving(
    core: Core, app: AppRecord, service: _DropsSecond
) -> AsyncIterator[tuple[AppRecord, BoundService]]:
    """``service`` listening, declared as the app's Flex service ``raw``: the app and the service."""
    server = await asyncio.start_server(service.handle, "127.0.0.1", 0)
    async with server:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        app = await declare(core, app, raw={"url": url})
        yield app, await core.flex.service(app, "raw")


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset-while-sending"])
async def test_a_pooled_connection_the_service_closed_is_retried_on_a_new_one(
    core: Core, app: AppRecord, reset: bool
) -> None:
    service = _DropsSecond(reset=reset)
    async with _serving(core, app, service) as (app, svc):
        # Large enough that the reset comes while the client sends it or awaits the answer.
        task = FunctionTask("customEndpoint", "POST", "e", body={"pad": "x" * (900 << 10)})
        assert (await svc.function(context(app), "echo", task)).status == 200
        # The second call takes the pooled connection, which the service drops: sent again.
        assert (await svc.function(context(app), "echo", task)).status == 200
        assert (service.requests, service.dropped) == (3, 1)


async def test_a_call_cut_on_a_new_connection_is_not_sent_twice(core: Core, app: AppRecord) -> None:
    service = _DropsSecond(drop_first=True)
    async with _serving(core, app, service) as (app, svc):
        with pytest.raises(KinveyError) as cut:
            await svc.function(context(app), "echo", FunctionTask("customEndpoint", "POST", "e"))
        assert cut.value.name == "BLInternalError"
        assert service.requests == 1  # the service may have acted on it: not sent again


@pytest.fixture(params=KINDS)
def own_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FlexProcess]:
    """A test service of its own, to kill and restart."""
    process = FlexProcess(request.param, tmp_path)
    yield process
    process.stop()


async def test_a_service_killed_mid_request_then_restarted(
    core: Core, app: AppRecord, own_service: FlexProcess
) -> None:
    app = await declare(core, app, svc={"url": own_service.url, "timeout_seconds": 30})
    svc = await core.flex.service(app, "svc")
    ctx = context(app)
    # Not running yet: kinbase starts without it, and a call fails fast.
    with pytest.raises(KinveyError) as early:
        await svc.function(ctx, "echo", FunctionTask("customEndpoint", "POST", "e"))
    assert early.value.name == "BLInternalError"
    await asyncio.to_thread(own_service.start)
    assert (await svc.function(ctx, "echo", FunctionTask("customEndpoint", "POST", "e"))).status == 200
    pending = asyncio.create_task(
        svc.function(ctx, "slow", FunctionTask("customEndpoint", "POST", "s", body={"ms": 20_000}))
    )
    await asyncio.sleep(0.5)
    killed_at = time.monotonic()
    own_service.kill()
    with pytest.raises(KinveyError) as cut:
        await pending
    assert cut.value.name == "BLInternalError"
    assert time.monotonic() - killed_at < 2.0  # not the 30 s deadline
    await asyncio.to_thread(own_service.start)
    again = await core.flex.service(app, "svc")
    assert (await again.function(ctx, "echo", FunctionTask("customEndpoint", "POST", "e"))).status == 200
    assert (await again.data(ctx, "things", "GET", count=True)).body == {"count": 0}  # a fresh process
