"""``FlexService``: registers handlers and serves them over HTTP as an ASGI app.

The HTTP side reproduces the receiver of the Node SDK (``kinvey-code-task-runner``): each request
becomes a *task* dict of the same shape, the handler fills in ``task["response"]`` through
``complete()``, and the reply is rendered from the task as the Node SDK renders it.

This module holds the service itself, its routes and :func:`service`; the request envelope is read
in ``_envelope``, each kind of task is built in ``_handlers``, and run and answered in ``_runner``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from kinbase_flex._envelope import BadBody, json_response, kinvey_error, read_body
from kinbase_flex._handlers import TaskHandlers
from kinbase_flex._logger import FlexLogger
from kinbase_flex._registry import FlexAuth, FlexData, FlexFunctions
from kinbase_flex.protocol import DEFAULT_PORT

__all__ = ["FlexService", "service"]

VERSION = "0.1.0.dev0"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_BODY_LIMIT = 26_214_400  # 25 MiB, as the Node SDK
DEFAULT_HANDLER_TIMEOUT = 60.0
DEFAULT_BACKEND_TIMEOUT = 30.0
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    return float(value) if value else None


class FlexService(TaskHandlers):
    """A Flex service: ``flex.data``, ``flex.functions``, ``flex.auth``, ``flex.logger`` and ``flex.app``.

    Make one with :func:`kinbase_flex.service`. The service is itself an ASGI app (``flex.app`` is the
    same app), so ``uvicorn my_module:flex`` serves it, as do ``kinbase-flex run my_module:flex`` and
    ``flex.run()``.

    Args:
        shared_secret: the value every task must carry in ``X-Auth-Key`` (discovery and the health
            check excepted). Default: ``FLEX_SHARED_SECRET``; none means no check.
        host, port: where :meth:`run` listens. Default: ``FLEX_HOST`` / ``FLEX_PORT``, else
            ``127.0.0.1:10001``.
        request_body_limit: the largest request body in bytes (default 25 MiB; 413 above it).
        handler_timeout: seconds a handler has to call ``done()`` or ``next()`` (default 60,
            ``FLEX_HANDLER_TIMEOUT``); after that the request is answered with a runtime error.
        backend_timeout: seconds a module call back into the backend may take (default 30,
            ``FLEX_BACKEND_TIMEOUT``).
        backend_transport: an ``httpx`` transport for the module calls (tests use
            ``httpx.MockTransport``); default: the network.
    """

    def __init__(
        self,
        *,
        shared_secret: str | None = None,
        host: str | None = None,
        port: int | None = None,
        request_body_limit: int | None = None,
        handler_timeout: float | None = None,
        backend_timeout: float | None = None,
        backend_transport: httpx.AsyncBaseTransport | None = None,
        logger: FlexLogger | None = None,
    ) -> None:
        env_port = os.environ.get("FLEX_PORT")
        self.sharedSecret: str | None = shared_secret or os.environ.get("FLEX_SHARED_SECRET") or None
        self.host = host or os.environ.get("FLEX_HOST") or DEFAULT_HOST
        self.port = port if port is not None else int(env_port) if env_port else DEFAULT_PORT
        self.request_body_limit = request_body_limit or DEFAULT_BODY_LIMIT
        self.handler_timeout = (
            handler_timeout or _env_float("FLEX_HANDLER_TIMEOUT") or DEFAULT_HANDLER_TIMEOUT
        )
        self.backend_timeout = (
            backend_timeout or _env_float("FLEX_BACKEND_TIMEOUT") or DEFAULT_BACKEND_TIMEOUT
        )
        self.backend_transport = backend_transport
        self.data = FlexData()
        self.functions = FlexFunctions()
        self.auth = FlexAuth()
        self.logger = logger or FlexLogger()
        self.version = VERSION
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self.app = Starlette(
            routes=[Route("/{path:path}", self._endpoint, methods=_ALL_METHODS)],
            lifespan=self._lifespan,
        )
        self.app.router.redirect_slashes = False

    # Node names
    @property
    def dataLink(self) -> FlexData:
        return self.data

    @property
    def businessLogic(self) -> FlexFunctions:
        return self.functions

    @property
    def shared_secret(self) -> str | None:
        return self.sharedSecret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def run(self, host: str | None = None, port: int | None = None, **uvicorn_options: Any) -> None:
        """Serve with uvicorn until interrupted (SIGINT/SIGTERM shut down gracefully)."""
        import uvicorn

        uvicorn_options.setdefault("log_level", "info")
        uvicorn.run(self.app, host=host or self.host, port=port or self.port, **uvicorn_options)

    # -- routing ------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        method = request.method
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        segments = path.split("/")[1:]
        if len(segments) > 1 and segments[-1] == "":
            segments.pop()  # one trailing slash is optional, as in Express
        if any(segment == "" for segment in segments):
            return self._not_found(method, path)
        segments = [unquote(segment) for segment in segments]
        lowered = [segment.lower() for segment in segments]
        try:
            if method == "GET" and lowered == ["healthcheck"]:
                return json_response(200, {"healthy": True})
            if method == "POST" and lowered == ["_command", "discover"]:
                await self._read_body(request)
                return json_response(200, self._discovery())
            if method == "POST" and len(segments) == 2 and lowered[0] == "_flexfunctions":
                return await self._functions(request, segments[1], await self._read_body(request))
            if method == "POST" and len(segments) == 2 and lowered[0] == "_auth":
                return await self._auth(request, segments[1], await self._read_body(request))
            if len(segments) == 2 and method == "GET" and lowered[1] == "_count":
                return await self._data(request, segments[0], None, None, count=True)
            if method == "GET" and len(segments) in (1, 2):
                return await self._data(request, segments[0], segments[1:] or None, None)
            if method == "POST" and len(segments) == 1 and lowered[0] not in ("_flexfunctions", "_command"):
                return await self._data(request, segments[0], None, await self._read_body(request))
            if method == "PUT" and len(segments) == 2:
                return await self._data(request, segments[0], segments[1:], await self._read_body(request))
            if method == "DELETE" and len(segments) in (1, 2):
                return await self._data(request, segments[0], segments[1:] or None, None)
        except BadBody as bad:
            return json_response(bad.status, bad.body)
        return self._not_found(method, path)

    @staticmethod
    def _not_found(method: str, path: str) -> Response:
        return json_response(404, kinvey_error("NotFound", "No such route", f"Cannot {method} {path}"))

    async def _read_body(self, request: Request) -> Any:
        return await read_body(request, self.request_body_limit)

    def _discovery(self) -> dict[str, Any]:
        return {
            "dataLink": {"serviceObjects": self.data.getServiceObjects()},
            "businessLogic": {"handlers": self.functions.getHandlers()},
            "auth": {"handlers": self.auth.getHandlers()},
        }


def service(
    options: dict[str, Any] | Callable[..., Any] | None = None,
    callback: Callable[..., Any] | None = None,
    *,
    shared_secret: str | None = None,
    host: str | None = None,
    port: int | None = None,
    request_body_limit: int | None = None,
    handler_timeout: float | None = None,
    backend_timeout: float | None = None,
    backend_transport: httpx.AsyncBaseTransport | None = None,
) -> FlexService:
    """Make a Flex service: ``flex = kinbase_flex.service(shared_secret="...")``.

    The Node forms work too: ``service({"sharedSecret": "..."}, callback)`` and ``service(callback)``
    call ``callback(None, flex)`` at once (the service is served by ``flex.run()``, ``kinbase-flex
    run`` or any ASGI server). Keyword options win over the options dict; environment variables
    (``FLEX_SHARED_SECRET``, ``FLEX_HOST``, ``FLEX_PORT``...) fill in what neither gives.
    """
    if callable(options) and callback is None:
        callback, options = options, None
    given: dict[str, Any] = dict(options) if isinstance(options, dict) else {}
    flex = FlexService(
        shared_secret=shared_secret or given.get("sharedSecret") or given.get("shared_secret"),
        host=host or given.get("host"),
        port=port if port is not None else given.get("port"),
        request_body_limit=request_body_limit
        or given.get("requestBodyLimit")
        or given.get("request_body_limit"),
        handler_timeout=handler_timeout or given.get("handlerTimeout") or given.get("handler_timeout"),
        backend_timeout=backend_timeout or given.get("backendTimeout") or given.get("backend_timeout"),
        backend_transport=backend_transport,
    )
    if callback is not None:
        callback(None, flex)
    return flex
