"""Running a task: the modules a handler gets, the handler itself (with its time limit), and the
reply rendered from the task as the Node SDK renders it."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kinbase_flex._calls import CallRuntime
from kinbase_flex._context import TaskKind, TaskState
from kinbase_flex._envelope import json_response, runtime_error_body
from kinbase_flex._jsutil import loads, try_parse_json
from kinbase_flex._logger import FlexLogger
from kinbase_flex.modules import Modules
from kinbase_flex.modules._store import BackendEnv
from kinbase_flex.modules.request_context import RequestContext, security_context
from kinbase_flex.protocol import NOT_IMPLEMENTED_DEBUG
from kinbase_flex.types import Handler

__all__ = ["CUSTOM_PROPERTIES_HEADER", "TaskRunner"]

DEFAULT_API_VERSION = "3"
CUSTOM_PROPERTIES_HEADER = "x-kinvey-custom-request-properties"


def _not_implemented(context: Any, complete: Any, modules: Any) -> None:
    complete(NOT_IMPLEMENTED_DEBUG).notImplemented().done()


def _is_async(handler: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - an object with an async __call__
    return call is not None and inspect.iscoroutinefunction(call)


class TaskRunner:
    """Runs handlers for :class:`~kinbase_flex.FlexService` (a mixin: the service sets the attributes)."""

    logger: FlexLogger
    handler_timeout: float
    backend_timeout: float
    backend_transport: httpx.AsyncBaseTransport | None
    _clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient]

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
            return json_response(status, {"request": request, "response": response})
        return json_response(status, response.get("body"))

    @staticmethod
    def _error_reply(kind: TaskKind, task: dict[str, Any], debug: str) -> Response:
        if kind == "auth":
            return json_response(401, {"error": "server_error", "error_description": debug})
        body = runtime_error_body(debug)
        if kind == "functions":
            response = task["response"]
            response["body"] = body
            response["statusCode"] = 550
            response["continue"] = False
            return json_response(550, {"request": task["request"], "response": response})
        return json_response(550, body)
