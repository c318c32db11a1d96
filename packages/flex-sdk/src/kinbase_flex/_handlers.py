"""Turning a request into a task of each kind (data, functions, auth) and dispatching it."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kinbase_flex._completion import auth_complete_factory, complete_factory
from kinbase_flex._context import Context, TaskState
from kinbase_flex._envelope import base_task, first, json_response, kinvey_error
from kinbase_flex._jsutil import parse_query_string, truthy, try_parse_json
from kinbase_flex._registry import FlexAuth, FlexData, FlexFunctions
from kinbase_flex._runner import TaskRunner
from kinbase_flex.protocol import INVALID_AUTH_KEY_BODY

__all__ = ["TaskHandlers"]


class TaskHandlers(TaskRunner):
    """The task of each kind for :class:`~kinbase_flex.FlexService` (a mixin, as :class:`TaskRunner`)."""

    sharedSecret: str | None
    data: FlexData
    functions: FlexFunctions
    auth: FlexAuth

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
        task = base_task(request, method, body)
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
            return json_response(401, dict(INVALID_AUTH_KEY_BODY))

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
        method = first(posted.get("method"), request.method)
        method = method if isinstance(method, str) else request.method
        task = base_task(request, method, body)
        task["taskType"] = "functions"
        task["taskName"] = name
        task["hookType"] = first(posted.get("hookType"), "customEndpoint")
        task_request: Context = task["request"]
        task_request["objectName"] = first(posted.get("objectName"), "")
        task_request["tempObjectStore"] = first(posted.get("tempObjectStore"), {})
        url_query = parse_query_string(request.url.query)
        posted_query = posted.get("query")
        if url_query:
            task_request["query"] = url_query
        elif isinstance(posted_query, dict | list | str) and len(posted_query) > 0:
            task_request["query"] = posted_query
        if truthy(posted.get("entityId")):
            task_request["entityId"] = posted["entityId"]
        task_request["body"] = first(posted.get("body"), body)
        if not self._authorized(task):
            response = task["response"]
            response["body"] = dict(INVALID_AUTH_KEY_BODY)
            response["statusCode"] = 401
            response["continue"] = False
            return json_response(401, {"request": task_request, "response": response})

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
        response["body"] = kinvey_error(
            "BadRequest", "Unable to understand the request", "Request body is not JSON"
        )
        response["statusCode"] = 400
        return json_response(400, {"request": task["request"], "response": response})

    # -- FlexAuth -----------------------------------------------------------------------------

    async def _auth(self, request: Request, name: str, body: Any) -> Response:
        posted: dict[str, Any] = body if isinstance(body, dict) else {}
        task = base_task(request, request.method, body)
        task["taskType"] = "auth"
        task["taskName"] = name
        task_request: Context = task["request"]
        task_request["body"] = {k: posted[k] for k in ("username", "password", "options") if k in posted}
        if not self._authorized(task):
            return json_response(401, dict(INVALID_AUTH_KEY_BODY))
        state = TaskState(task, "auth", name, asyncio.get_running_loop(), self.logger)
        modules = self._modules(state)
        handler = self.auth.resolve(name)
        await self._run(state, handler, task_request, auth_complete_factory(state), modules)
        return self._reply(state)
