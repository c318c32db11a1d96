"""Errors from the backend reach the handler's callback or raise, and never hang: backend error
replies, callback and blocking styles, unreachable and silent backends, fire-and-forget calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

import kinbase_flex
from flex_probe import B, run
from kinbase_flex.testing import FakeBackend, FlexTestClient

# -- errors from the backend reach the callback or raise, and never hang ------------------------

NOT_FOUND = {"error": "EntityNotFound", "description": "This entity not found in the collection", "debug": ""}


def test_backend_error_raises_in_await_style(
    client: FlexTestClient, flex: Any, flex_backend: FakeBackend
) -> None:
    flex_backend.respond("GET", "/appdata/kid_test/c/missing", status=404, json=NOT_FOUND)
    body = run(client, flex, lambda modules, context: modules.dataStore().collection("c").findById("missing"))
    assert body["error"] == {**NOT_FOUND, "type": "BackendError"}
    flex_backend.respond(
        "POST",
        "/push/kid_test/sendBroadcast",
        status=400,
        json={"error": "BadRequest", "description": "d", "debug": "x"},
    )
    body = run(client, flex, lambda modules, context: modules.push.broadcast("m"))
    assert body["error"] == {"error": "BadRequest", "description": "d", "debug": "x", "type": "BackendError"}


def test_backend_error_reaches_the_callback(
    client: FlexTestClient, flex: Any, flex_backend: FakeBackend
) -> None:
    flex_backend.respond("GET", "/appdata/kid_test/c/missing", status=404, json=NOT_FOUND)

    def handler(context: Any, complete: Any, modules: Any) -> None:
        def callback(err: Any, result: Any) -> None:
            complete().setBody(err).runtimeError().done()

        modules.dataStore().collection("c").findById("missing", callback)

    flex.functions.register("cb", handler)
    r = client.function("cb", {})
    assert r.status_code == 550
    debug = r.json()["response"]["body"]["debug"]
    assert (debug["name"], debug["message"], debug["description"], debug["debug"]) == (
        "BackendError",
        "EntityNotFound",
        NOT_FOUND["description"],
        "",
    )


def test_callback_styles(client: FlexTestClient, flex: Any, flex_backend: FakeBackend) -> None:
    def handler(context: Any, complete: Any, modules: Any) -> None:
        things = modules.dataStore().collection("c")

        async def second(err: Any, result: Any) -> None:
            assert err is None
            things.removeById(
                "x", lambda err: complete({"removed": err is None, "count": result}).ok().done()
            )

        things.count(second)

    flex.functions.register("styles", handler)
    assert client.function("styles", {}).json()["response"]["body"] == {
        "removed": True,
        "count": {"count": 0},
    }


def test_blocking_style_in_a_plain_handler(
    client: FlexTestClient, flex: Any, flex_backend: FakeBackend
) -> None:
    flex_backend.respond("GET", "/appdata/kid_test/c/missing", status=404, json=NOT_FOUND)

    def handler(context: Any, complete: Any, modules: Any) -> None:
        things = modules.dataStore().collection("c")
        pending = things.findById("x")
        found = pending.result(5)
        try:
            things.findById("missing").result()
        except kinbase_flex.BackendError as err:
            complete(
                {"found": found, "done": pending.done(), "error": err.error, "status": err.status_code}
            ).ok().done()

    flex.functions.register("blocking", handler)
    assert client.function("blocking", {}).json()["response"]["body"] == {
        "found": [],
        "done": True,
        "error": "EntityNotFound",
        "status": 404,
    }


def test_result_refuses_to_block_the_event_loop(client: FlexTestClient, flex: Any) -> None:
    async def handler(context: Any, complete: Any, modules: Any) -> None:
        pending = modules.dataStore().collection("c").find()
        try:
            pending.result()
        except RuntimeError as err:
            complete({"error": str(err), "then": await pending}).ok().done()

    flex.functions.register("loop", handler)
    assert client.function("loop", {}).json()["response"]["body"] == {
        "error": "Pending.result() would block the event loop: use `await` in an async handler",
        "then": [],
    }


def test_an_unreachable_backend(flex: Any, flex_client: Callable[..., FlexTestClient]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    flex.backend_transport = httpx.MockTransport(refuse)
    tc = flex_client(flex)
    body = run(tc, flex, lambda modules, context: modules.userStore().findById("u"))
    assert body["error"]["type"] == "BackendUnavailable"
    assert body["error"]["debug"] == f"GET {B}/user/kid_test/u failed: ConnectError: connection refused"


def test_a_backend_that_never_answers_times_out(flex_client: Callable[..., FlexTestClient]) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    flex = kinbase_flex.service(
        backend_timeout=0.2, handler_timeout=5, backend_transport=httpx.MockTransport(hang)
    )
    tc = flex_client(flex)
    body = run(tc, flex, lambda modules, context: modules.dataStore().collection("c").find())
    assert body["error"]["type"] == "BackendUnavailable"
    assert body["error"]["debug"] == f"No answer from GET {B}/appdata/kid_test/c/ within 0.2 s"


def test_a_real_slow_backend_times_out() -> None:
    """Over a real socket: a server that accepts the connection and never answers."""
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        flex = kinbase_flex.service(backend_timeout=0.3, handler_timeout=5)
        metadata = {"_id": "kid_test", "mastersecret": "m", "baasUrl": url}
        with FlexTestClient(flex, app_metadata=metadata) as tc:
            body = run(tc, flex, lambda modules, context: modules.groupStore().findById("g"))
    assert body["error"]["type"] == "BackendUnavailable"
    assert body["error"]["debug"] == f"No answer from GET {url}/group/kid_test/g within 0.3 s"


def test_fire_and_forget_calls_still_run(
    client: FlexTestClient, flex: Any, flex_backend: FakeBackend
) -> None:
    def handler(context: Any, complete: Any, modules: Any) -> None:
        modules.email.send("a@x", "b@x", "s", "t")  # no callback, not awaited: still sent
        complete().ok().done()

    flex.functions.register("fire", handler)
    client.function("fire", {})
    import time

    deadline = time.monotonic() + 5
    while not flex_backend.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert flex_backend.requests[0].path == "/rpc/kid_test/send-email"
