"""``FlexService``: registers handlers and serves them over HTTP as an ASGI app.

The HTTP side reproduces the receiver of the Node SDK (``kinvey-code-task-runner``): each request
becomes a *task* dict of the same shape, the handler fills in ``task["response"]`` through
``complete()``, and the reply is rendered from the task as the Node SDK renders it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import secrets
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import unquote

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from kinbase_flex._calls import CallRuntime
from kinbase_flex._completion import auth_complete_factory, complete_factory
from kinbase_flex._context import Context, TaskKind, TaskState
from kinbase_flex._jsutil import dumps, loads, parse_query_string, truthy, try_parse_json
from kinbase_flex._logger import FlexLogger
from kinbase_flex._registry import FlexAuth, FlexData, FlexFunctions
from kinbase_flex.modules import Modules
from kinbase_flex.modules._store import BackendEnv
from kinbase_flex.modules.request_context import RequestContext, security_context
from kinbase_flex.protocol import (
    DEFAULT_PORT,
    ERROR_BODIES,
    HEADER_APP_METADATA,
    HEADER_AUTH_KEY,
    HEADER_ENVIRONMENT_ID,
    HEADER_ORIGINAL_REQUEST_HEADERS,
    HEADER_REQUEST_ID,
    HEADER_RESPONSE_BODY,
    HEADER_RESPONSE_HEADERS,
    HEADER_RESPONSE_STATUS,
    HEADER_USER_ID,
    HEADER_USERNAME,
    INVALID_AUTH_KEY_BODY,
    NOT_IMPLEMENTED_DEBUG,
)
from kinbase_flex.types import Handler

__all__ = ["FlexService", "service"]

VERSION = "0.1.0.dev0"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_BODY_LIMIT = 26_214_400  # 25 MiB, as the Node SDK
DEFAULT_HANDLER_TIMEOUT = 60.0
DEFAULT_BACKEND_TIMEOUT = 30.0
DEFAULT_API_VERSION = "3"
JSON_MEDIA_TYPE = "application/json; charset=utf-8"
CUSTOM_PROPERTIES_HEADER = "x-kinvey-custom-request-properties"
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


class _BadBody(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("debug"))
        self.status = status
        self.body = body


def _json_response(status: int, body: Any) -> Response:
    return Response(dumps(body), status_code=status, media_type=JSON_MEDIA_TYPE)


def _kinvey_error(error: str, description: str, debug: Any) -> dict[str, Any]:
    return {"error": error, "description": description, "debug": debug}


def _runtime_error_body(debug: str) -> dict[str, Any]:
    _status, error, description = ERROR_BODIES["runtimeError"]
    return _kinvey_error(error, description, debug)


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    return float(value) if value else None


def _parse_header_json(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _first(*values: Any) -> Any:
    for value in values:
        if truthy(value):
            return value
    return values[-1]


def _not_implemented(context: Any, complete: Any, modules: Any) -> None:
    complete(NOT_IMPLEMENTED_DEBUG).notImplemented().done()


def _is_async(handler: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - an object with an async __call__
    return call is not None and inspect.iscoroutinefunction(call)


class FlexService:
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

    # -- the HTTP client for module calls -----------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = httpx.AsyncClient(transport=self.backend_transport, trust_env=False)
            self._clients[loop] = client
        return client

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            client = self._clients.pop(asyncio.get_running_loop(), None)
            if client is not None:
                await client.aclose()

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
                return _json_response(200, {"healthy": True})
            if method == "POST" and lowered == ["_command", "discover"]:
                await self._read_body(request)
                return _json_response(200, self._discovery())
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
        except _BadBody as bad:
            return _json_response(bad.status, bad.body)
        return self._not_found(method, path)

    @staticmethod
    def _not_found(method: str, path: str) -> Response:
        return _json_response(404, _kinvey_error("NotFound", "No such route", f"Cannot {method} {path}"))

    async def _read_body(self, request: Request) -> Any:
        """The JSON body as ``body-parser.json`` gives it: ``{}`` unless it is ``application/json``."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.request_body_limit:
            raise _BadBody(
                413, _kinvey_error("BadRequest", "Unable to understand the request", "Request body too large")
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.request_body_limit:
                raise _BadBody(
                    413,
                    _kinvey_error("BadRequest", "Unable to understand the request", "Request body too large"),
                )
            chunks.append(chunk)
        raw = b"".join(chunks)
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json" or not raw.strip():
            return {}
        try:
            body = loads(raw)
        except ValueError:
            raise _BadBody(
                400,
                _kinvey_error(
                    "BadRequest", "Unable to understand the request", "Request body contains invalid JSON"
                ),
            ) from None
        if not isinstance(body, dict | list):
            raise _BadBody(
                400,
                _kinvey_error(
                    "BadRequest",
                    "Unable to understand the request",
                    "Request body must be a JSON object or array",
                ),
            )
        return body

    def _discovery(self) -> dict[str, Any]:
        return {
            "dataLink": {"serviceObjects": self.data.getServiceObjects()},
            "businessLogic": {"handlers": self.functions.getHandlers()},
            "auth": {"handlers": self.auth.getHandlers()},
        }

    # -- building tasks -----------------------------------------------------------------------

    def _base_task(self, request: Request, method: str, body: Any) -> dict[str, Any]:
        headers = request.headers
        posted_response = body.get("response") if isinstance(body, dict) else None
        response_in_body: dict[str, Any] = posted_response if isinstance(posted_response, dict) else {}
        status_header = headers.get(HEADER_RESPONSE_STATUS)
        status: Any = _first(status_header, response_in_body.get("status"), 0)
        if isinstance(status, str) and status.strip().isdigit():
            status = int(status)
        headers_header = headers.get(HEADER_RESPONSE_HEADERS)
        response_headers: Any = _parse_header_json(headers_header) if headers_header else None
        return {
            "appId": headers.get(HEADER_ENVIRONMENT_ID) or "",
            "appMetadata": _parse_header_json(headers.get(HEADER_APP_METADATA)),
            "authKey": headers.get(HEADER_AUTH_KEY),
            "requestId": headers.get(HEADER_REQUEST_ID) or "",
            "method": method.upper(),
            "request": Context(
                method=method,
                headers=_parse_header_json(headers.get(HEADER_ORIGINAL_REQUEST_HEADERS)),
                username=headers.get(HEADER_USERNAME) or "",
                userId=headers.get(HEADER_USER_ID) or "",
            ),
            "response": {
                "status": status,
                "headers": _first(response_headers, response_in_body.get("headers"), {}),
                "body": _first(headers.get(HEADER_RESPONSE_BODY), response_in_body.get("body"), {}),
            },
        }

    def _authorized(self, task: dict[str, Any]) -> bool:
        if self.sharedSecret is None:
            return True
        key = task.get("authKey")
        return isinstance(key, str) and secrets.compare_digest(key.encode(), self.sharedSecret.encode())

    # -- FlexData -----------------------------------------------------------------------------

    async def _data(
        self,
        request: Request,
        service_object: str,
        entity_id: list[str] | None,
        body: Any,
        *,
        count: bool = False,
    ) -> Response:
        method = request.method
        task = self._base_task(request, method, body)
        task["taskType"] = "data"
        task_request: Context = task["request"]
        task_request["serviceObjectName"] = service_object
        query = parse_query_string(request.url.query)
        if method in ("GET", "DELETE") and query:
            task_request["query"] = query
        if entity_id:
            task_request["entityId"] = entity_id[0]
        if method in ("POST", "PUT"):
            task_request["body"] = body
        if count:
            task["endpoint"] = "_count"
        if not self._authorized(task):
            return _json_response(401, dict(INVALID_AUTH_KEY_BODY))

        has_query = task_request.get("query") is not None
        if method == "POST":
            event = "onInsertMany" if isinstance(body, list) else "onInsert"
        elif method == "PUT":
            event = "onUpdate"
        elif method == "GET" and count:
            event = "onGetCountByQuery" if has_query else "onGetCount"
        elif method == "GET":
            event = "onGetById" if entity_id else "onGetByQuery" if has_query else "onGetAll"
        else:
            event = "onDeleteById" if entity_id else "onDeleteByQuery" if has_query else "onDeleteAll"

        found = self.data._find(service_object)
        handler = found.resolve(event) if found is not None else None
        state = TaskState(task, "data", event, asyncio.get_running_loop(), self.logger)
        modules = self._modules(state)
        await self._run(state, handler, task_request, complete_factory(state, False), modules)
        return self._reply(state)

    # -- FlexFunctions ------------------------------------------------------------------------

    async def _functions(self, request: Request, name: str, body: Any) -> Response:
        posted: dict[str, Any] = body if isinstance(body, dict) else {}
        method = _first(posted.get("method"), request.method)
        method = method if isinstance(method, str) else request.method
        task = self._base_task(request, method, body)
        task["taskType"] = "functions"
        task["taskName"] = name
        task["hookType"] = _first(posted.get("hookType"), "customEndpoint")
        task_request: Context = task["request"]
        task_request["objectName"] = _first(posted.get("objectName"), "")
        task_request["tempObjectStore"] = _first(posted.get("tempObjectStore"), {})
        url_query = parse_query_string(request.url.query)
        posted_query = posted.get("query")
        if url_query:
            task_request["query"] = url_query
        elif isinstance(posted_query, dict | list | str) and len(posted_query) > 0:
            task_request["query"] = posted_query
        if truthy(posted.get("entityId")):
            task_request["entityId"] = posted["entityId"]
        task_request["body"] = _first(posted.get("body"), body)
        if not self._authorized(task):
            response = task["response"]
            response["body"] = dict(INVALID_AUTH_KEY_BODY)
            response["statusCode"] = 401
            response["continue"] = False
            return _json_response(401, {"request": task_request, "response": response})

        hook_type = task["hookType"]
        current = task["response"] if hook_type == "post" else task_request
        context = Context(
            method=task_request["method"],
            headers=current.get("headers"),
            username=task_request["username"],
            userId=task_request["userId"],
            hookType=hook_type,
        )
        if truthy(task_request["objectName"]):
            context["objectName"] = task_request["objectName"]
        if truthy(task_request.get("entityId")):
            context["entityId"] = task_request["entityId"]
        parsed, value = try_parse_json(current.get("body"))
        if not parsed and isinstance(value, str) and value:
            return self._functions_bad_request(task)
        context["body"] = value
        if task_request.get("query") is not None:
            parsed, query = try_parse_json(task_request["query"])
            if parsed:
                task_request["query"] = query
            elif isinstance(query, str) and query:
                return self._functions_bad_request(task)
            context["query"] = task_request["query"]

        state = TaskState(task, "functions", name, asyncio.get_running_loop(), self.logger)
        modules = self._modules(state)
        handler = self.functions.resolve(name)
        await self._run(state, handler, context, complete_factory(state, hook_type == "pre"), modules)
        return self._reply(state)

    @staticmethod
    def _functions_bad_request(task: dict[str, Any]) -> Response:
        response = task["response"]
        response["body"] = _kinvey_error(
            "BadRequest", "Unable to understand the request", "Request body is not JSON"
        )
        response["statusCode"] = 400
        return _json_response(400, {"request": task["request"], "response": response})

    # -- FlexAuth -----------------------------------------------------------------------------

    async def _auth(self, request: Request, name: str, body: Any) -> Response:
        posted: dict[str, Any] = body if isinstance(body, dict) else {}
        task = self._base_task(request, request.method, body)
        task["taskType"] = "auth"
        task["taskName"] = name
        task_request: Context = task["request"]
        task_request["body"] = {k: posted[k] for k in ("username", "password", "options") if k in posted}
        if not self._authorized(task):
            return _json_response(401, dict(INVALID_AUTH_KEY_BODY))
        state = TaskState(task, "auth", name, asyncio.get_running_loop(), self.logger)
        modules = self._modules(state)
        handler = self.auth.resolve(name)
        await self._run(state, handler, task_request, auth_complete_factory(state), modules)
        return self._reply(state)

    # -- modules ------------------------------------------------------------------------------

    def _modules(self, state: TaskState) -> Modules:
        task = state.task
        request = task["request"]
        original = request.get("headers") if isinstance(request.get("headers"), dict) else {}
        lowered = {str(k).lower(): v for k, v in original.items()}
        metadata = dict(task["appMetadata"])
        if not metadata.get("baasUrl") and lowered.get("host"):
            metadata["baasUrl"] = f"{lowered.get('x-forwarded-proto') or 'https'}://{lowered['host']}"
        properties: Any = {}
        raw_properties = lowered.get(CUSTOM_PROPERTIES_HEADER)
        if isinstance(raw_properties, str):
            with contextlib.suppress(ValueError):
                properties = loads(raw_properties)
        elif isinstance(raw_properties, dict):
            properties = raw_properties
        if not isinstance(properties, dict):
            properties = {}
        response_headers = task["response"].get("headers")
        response_version = (
            response_headers.get("x-kinvey-api-version") if isinstance(response_headers, dict) else None
        )
        api_version = lowered.get("x-kinvey-api-version") or response_version or DEFAULT_API_VERSION
        authorization = lowered.get("authorization")

        def changed() -> None:
            state.custom_properties_changed = True
            state.task["customRequestProperties"] = properties

        request_context = RequestContext(
            username=request.get("username"),
            user_id=request.get("userId"),
            app_key=metadata.get("_id"),
            security_context=security_context(authorization, metadata),
            custom_request_properties=properties,
            client_app_version=lowered.get("x-kinvey-client-app-version"),
            request_id=task.get("requestId"),
            on_change=changed,
        )
        runtime = CallRuntime(state.loop, self._client, self.backend_timeout, state.fail)
        env = BackendEnv(
            runtime=runtime,
            app_metadata=metadata,
            authorization=authorization if isinstance(authorization, str) else None,
            api_version=str(api_version),
            user_id=request.get("userId"),
            object_name=request.get("serviceObjectName") or request.get("objectName"),
            hook_type=task.get("hookType"),
        )
        temp = request.get("tempObjectStore")
        return Modules(
            env, request_context=request_context, temp_object_store=temp if isinstance(temp, dict) else {}
        )

    # -- running a handler --------------------------------------------------------------------

    async def _run(
        self, state: TaskState, handler: Handler | None, context: Any, complete: Any, modules: Any
    ) -> None:
        if handler is None:
            _not_implemented(context, complete, modules)
            await state.finished
            return

        async def call() -> None:
            if _is_async(handler):
                outcome = handler(context, complete, modules)
            else:
                outcome = await run_in_threadpool(handler, context, complete, modules)
            if inspect.isawaitable(outcome):
                await outcome

        running = asyncio.ensure_future(call())

        def finished(future: asyncio.Future[None]) -> None:
            if future.cancelled():
                return
            error = future.exception()
            if error is not None:
                state.fail(error)

        running.add_done_callback(finished)
        try:
            await asyncio.wait_for(asyncio.shield(state.finished), self.handler_timeout)
        except TimeoutError:
            if state.time_out():
                running.cancel()
                self.logger.error(
                    f"{state._where()} did not call done() or next() within {self.handler_timeout:g} seconds"
                )
            else:
                await state.finished

    def _reply(self, state: TaskState) -> Response:
        task = state.task
        response = task["response"]
        if state.error is not None or state.timed_out:
            if state.error is not None:
                error = state.error
                self.logger.error(
                    f"{state._where()} raised {type(error).__name__}: {error}\n"
                    + "".join(traceback.format_exception(error)).rstrip()
                )
                debug = f"{type(error).__name__}: {error}"
            else:
                debug = f"The handler did not call done() or next() within {self.handler_timeout:g} seconds"
            return self._error_reply(state.kind, task, debug)
        parsed, value = try_parse_json(response.get("body"))
        if parsed:
            response["body"] = value
        status = response.get("statusCode") or 200
        if state.kind == "functions":
            request = task["request"]
            if state.custom_properties_changed:
                headers = request.get("headers")
                if isinstance(headers, dict):
                    for key in [k for k in headers if str(k).lower() == CUSTOM_PROPERTIES_HEADER]:
                        del headers[key]
                    headers[CUSTOM_PROPERTIES_HEADER] = json.dumps(
                        task.get("customRequestProperties", {}), separators=(",", ":")
                    )
            return _json_response(status, {"request": request, "response": response})
        return _json_response(status, response.get("body"))

    @staticmethod
    def _error_reply(kind: TaskKind, task: dict[str, Any], debug: str) -> Response:
        if kind == "auth":
            return _json_response(401, {"error": "server_error", "error_description": debug})
        body = _runtime_error_body(debug)
        if kind == "functions":
            response = task["response"]
            response["body"] = body
            response["statusCode"] = 550
            response["continue"] = False
            return _json_response(550, {"request": task["request"], "response": response})
        return _json_response(550, body)


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
