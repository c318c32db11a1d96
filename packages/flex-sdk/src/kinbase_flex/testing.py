"""Unit-test Flex handlers locally: a pytest plugin with a test client and a fake backend.

The plugin is registered through the ``pytest11`` entry point, so installing kinbase-flex makes
two fixtures available::

    def test_get_all(flex_client, flex_backend):
        from my_service import flex

        client = flex_client(flex)
        flex_backend.respond("GET", "/appdata/kid_test/widgets/", json=[{"_id": "1"}])
        reply = client.data("GET", "widgets")
        assert reply.status_code == 200
        assert flex_backend.requests[0].headers["authorization"].startswith("Basic ")

``flex_client(flex, **defaults)`` sends requests the way a backend does, with the headers the
reference asks for when testing locally (``X-Kinvey-App-Metadata``, ``X-Kinvey-Original-Request-
Headers``, ``X-Kinvey-Username``, ``X-Kinvey-User-Id`` and ``X-Auth-Key``), filled with test
defaults that any call can override. ``flex_backend`` records the module calls (``dataStore``,
``userStore``, ``push``...) and answers them with the replies you give it. Without the plugin,
:class:`FlexTestClient` and :class:`FakeBackend` can be used directly.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from kinbase_flex._jsutil import dumps, loads
from kinbase_flex._service import FlexService
from kinbase_flex.protocol import request_headers

__all__ = [
    "DEFAULT_APP_METADATA",
    "DEFAULT_BAAS_URL",
    "FakeBackend",
    "FlexTestClient",
    "RecordedRequest",
    "flex_backend",
    "flex_client",
    "task_headers",
]

DEFAULT_BAAS_URL = "http://backend.test"
DEFAULT_APP_METADATA: dict[str, Any] = {
    "_id": "kid_test",
    "appsecret": "test-app-secret",
    "mastersecret": "test-master-secret",
    "baasUrl": DEFAULT_BAAS_URL,
}
DEFAULT_ORIGINAL_HEADERS: dict[str, Any] = {"authorization": "Kinvey test-session-token"}
DEFAULT_USERNAME = "testuser"
DEFAULT_USER_ID = "testuser-id"

_UNSET: Any = object()


def task_headers(
    *,
    app_metadata: dict[str, Any] | None = None,
    original_headers: dict[str, Any] | None = None,
    username: str | None = DEFAULT_USERNAME,
    user_id: str | None = DEFAULT_USER_ID,
    auth_key: str | None = None,
    request_id: str | None = None,
) -> dict[str, str]:
    """The headers of a task as a backend sends them, with the test defaults.

    Handy for trying a running service by hand, e.g. with ``httpx`` or ``curl``.
    """
    return request_headers(
        app_metadata=DEFAULT_APP_METADATA if app_metadata is None else app_metadata,
        original_request_headers=DEFAULT_ORIGINAL_HEADERS if original_headers is None else original_headers,
        auth_key=auth_key,
        username=username,
        user_id=user_id,
        request_id=request_id,
    )


@dataclass
class RecordedRequest:
    """One request a module sent to the fake backend."""

    method: str
    url: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    json: Any = None


@dataclass
class _Rule:
    method: str
    path: str | re.Pattern[str]
    status: int
    json: Any
    reply: Callable[[RecordedRequest], Any] | None
    times: int | None
    used: int = field(default=0)

    def matches(self, request: RecordedRequest) -> bool:
        if self.method not in ("*", request.method):
            return False
        if self.times is not None and self.used >= self.times:
            return False
        if isinstance(self.path, re.Pattern):
            return self.path.fullmatch(request.path) is not None
        return self.path in (request.path, request.path.rstrip("/"))


class FakeBackend:
    """A stand-in for the backend that the modules call back into (an ``httpx.MockTransport``).

    Every request is appended to :attr:`requests`. It is answered by the last matching rule given to
    :meth:`respond`, or else: ``POST``/``PUT`` echo their JSON body, ``DELETE`` gives
    ``{"count": 1}``, ``GET .../_count`` gives ``{"count": 0}``, any other ``GET`` gives ``[]``.
    """

    def __init__(self, base_url: str = DEFAULT_BAAS_URL) -> None:
        self.base_url = base_url
        self.requests: list[RecordedRequest] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self.transport = httpx.MockTransport(self._handle)

    def respond(
        self,
        method: str,
        path: str | re.Pattern[str],
        *,
        status: int = 200,
        json: Any = None,
        reply: Callable[[RecordedRequest], Any] | None = None,
        times: int | None = None,
    ) -> None:
        """Answer ``method path`` (``"*"`` for any method; a regex for a path pattern) with ``status``
        and ``json`` (or ``reply(request)``'s value), for ``times`` requests or for ever."""
        self._rules.append(_Rule(method.upper(), path, status, json, reply, times))

    def clear(self) -> None:
        """Forget the recorded requests and the rules."""
        self.requests.clear()
        self._rules.clear()

    def _record(self, method: str, url: httpx.URL, headers: Any, raw: bytes) -> tuple[int, bytes]:
        recorded = RecordedRequest(
            method=method,
            url=str(url),
            path=url.path,
            params=dict(url.params),
            headers={k.lower(): v for k, v in headers.items()},
            body=raw,
        )
        if raw:
            with contextlib.suppress(ValueError):
                recorded.json = loads(raw)
        with self._lock:
            self.requests.append(recorded)
            for rule in reversed(self._rules):
                if rule.matches(recorded):
                    rule.used += 1
                    payload = rule.reply(recorded) if rule.reply is not None else rule.json
                    return rule.status, dumps(payload)
        return 200, dumps(self._default(recorded))

    def _handle(self, request: httpx.Request) -> httpx.Response:
        status, content = self._record(request.method, request.url, request.headers, request.read())
        return httpx.Response(status, content=content, headers=_JSON)

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        raw = await request.body()
        url = httpx.URL(str(request.url))
        status, content = self._record(request.method, url, request.headers, raw)
        await Response(content, status_code=status, media_type="application/json; charset=utf-8")(
            scope, receive, send
        )

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1") -> Iterator[str]:
        """Serve the fake backend over HTTP on a free port (uvicorn, in a thread) while in the block;
        yields its base URL (also set as :attr:`base_url`). For services run in another process."""
        import uvicorn

        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        config = uvicorn.Config(
            self._asgi, host=host, port=port, log_level="warning", lifespan="off", interface="asgi3"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="kinbase-flex-fake-backend", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the fake backend did not start")
            time.sleep(0.01)
        previous, self.base_url = self.base_url, f"http://{host}:{port}"
        try:
            yield self.base_url
        finally:
            server.should_exit = True
            thread.join(10)
            self.base_url = previous

    @staticmethod
    def _default(request: RecordedRequest) -> Any:
        if request.method in ("POST", "PUT"):
            return request.json if request.json is not None else {}
        if request.method == "DELETE":
            return {"count": 1}
        if request.path.rstrip("/").endswith("/_count"):
            return {"count": 0}
        return []


_JSON = {"Content-Type": "application/json; charset=utf-8"}


class FlexTestClient:
    """Sends tasks to a :class:`~kinbase_flex.FlexService` in-process, as a backend would.

    The service runs on an event loop in a background thread; the methods block until the reply.
    Keyword defaults (``app_metadata``, ``original_headers``, ``username``, ``user_id``, ``auth_key``)
    apply to every request and can be overridden per call. ``auth_key`` defaults to the service's
    shared secret. Close it (or use it as a context manager) when done.
    """

    def __init__(
        self,
        flex: FlexService,
        *,
        app_metadata: dict[str, Any] | None = None,
        original_headers: dict[str, Any] | None = None,
        username: str | None = DEFAULT_USERNAME,
        user_id: str | None = DEFAULT_USER_ID,
        auth_key: str | None = _UNSET,
        timeout: float = 30.0,
    ) -> None:
        self.flex = flex
        self.defaults: dict[str, Any] = {
            "app_metadata": dict(DEFAULT_APP_METADATA) if app_metadata is None else app_metadata,
            "original_headers": dict(DEFAULT_ORIGINAL_HEADERS)
            if original_headers is None
            else original_headers,
            "username": username,
            "user_id": user_id,
            "auth_key": flex.sharedSecret if auth_key is _UNSET else auth_key,
        }
        self.timeout = timeout
        self._closed = False
        self._stack = contextlib.ExitStack()
        self._portal: BlockingPortal = self._stack.enter_context(start_blocking_portal(backend="asyncio"))
        self._client: httpx.AsyncClient = self._portal.call(self._open)

    async def _open(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.flex.app),
            base_url="http://flex.test",
            timeout=self.timeout,
        )

    async def _close(self) -> None:
        await self._client.aclose()
        async with self.flex.app.router.lifespan_context(self.flex.app):
            pass  # the shutdown half closes the service's HTTP client for this loop

    def close(self) -> None:
        """Close the HTTP clients and stop the event loop thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._portal.call(self._close)
        finally:
            self._stack.close()

    def __enter__(self) -> FlexTestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def headers(self, **overrides: Any) -> dict[str, str]:
        """The task headers for one request: the defaults with ``overrides`` applied."""
        values = {**self.defaults, **{k: v for k, v in overrides.items() if v is not _UNSET}}
        return task_headers(
            app_metadata=values["app_metadata"],
            original_headers=values["original_headers"],
            username=values["username"],
            user_id=values["user_id"],
            auth_key=values["auth_key"],
            request_id=values.get("request_id"),
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = _UNSET,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **header_overrides: Any,
    ) -> httpx.Response:
        """Send any request; ``headers`` replace the task headers entirely when given."""
        sent = headers if headers is not None else self.headers(**header_overrides)

        async def send() -> httpx.Response:
            content = None if json is _UNSET else dumps(json)
            return await self._client.request(method, path, params=params, content=content, headers=sent)

        return self._portal.call(send)

    def data(
        self,
        method: str,
        service_object: str,
        entity_id: str | None = None,
        *,
        count: bool = False,
        query: dict[str, Any] | None = None,
        body: Any = _UNSET,
        **header_overrides: Any,
    ) -> httpx.Response:
        """A FlexData request: ``data("GET", "widgets", "id1")``, ``data("GET", "widgets", count=True,
        query={"query": '{"a":1}'})``, ``data("POST", "widgets", body={...})``."""
        path = f"/{service_object}"
        if count:
            path += "/_count"
        elif entity_id is not None:
            path += f"/{entity_id}"
        return self.request(method, path, json=body, params=query, **header_overrides)

    def function(
        self,
        name: str,
        body: Any = None,
        *,
        hook_type: str = "customEndpoint",
        method: str = "POST",
        object_name: str | None = None,
        entity_id: str | None = None,
        query: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
        temp_object_store: dict[str, Any] | None = None,
        **header_overrides: Any,
    ) -> httpx.Response:
        """A FlexFunctions task (custom endpoint, or ``pre``/``post`` hook with ``response``)."""
        task: dict[str, Any] = {"body": body, "hookType": hook_type, "method": method}
        if object_name is not None:
            task["objectName"] = object_name
        if entity_id is not None:
            task["entityId"] = entity_id
        if query is not None:
            task["query"] = query
        if response is not None:
            task["response"] = response
        if temp_object_store is not None:
            task["tempObjectStore"] = temp_object_store
        return self.request("POST", f"/_flexFunctions/{name}", json=task, **header_overrides)

    def auth(
        self,
        name: str,
        username: str,
        password: str,
        options: dict[str, Any] | None = None,
        **header_overrides: Any,
    ) -> httpx.Response:
        """A FlexAuth request."""
        task: dict[str, Any] = {"username": username, "password": password}
        if options is not None:
            task["options"] = options
        return self.request("POST", f"/_auth/{name}", json=task, **header_overrides)

    def discover(self) -> httpx.Response:
        return self.request(
            "POST", "/_command/discover", json={}, headers={"Content-Type": "application/json"}
        )

    def healthcheck(self) -> httpx.Response:
        return self.request("GET", "/healthcheck", headers={})


@pytest.fixture
def flex_backend() -> FakeBackend:
    """A fresh :class:`FakeBackend` at ``http://backend.test``."""
    return FakeBackend()


@pytest.fixture
def flex_client(flex_backend: FakeBackend) -> Iterator[Callable[..., FlexTestClient]]:
    """A factory: ``flex_client(flex, **defaults)`` gives a :class:`FlexTestClient` whose module calls
    go to ``flex_backend`` (unless the service already has a ``backend_transport``)."""
    clients: list[FlexTestClient] = []

    def make(flex: FlexService, **defaults: Any) -> FlexTestClient:
        if flex.backend_transport is None:
            flex.backend_transport = flex_backend.transport
        client = FlexTestClient(flex, **defaults)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
