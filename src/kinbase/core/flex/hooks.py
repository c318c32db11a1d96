"""Collection hooks and custom endpoints bound to Flex functions (``specs/flex-protocol.md`` §4).

- :class:`FlexPreHook` (``pre_save``, ``pre_fetch``, ``pre_delete``): the envelope carries the
  client's body, the query parameters as an object, the entity id and the ``tempObjectStore``.
  ``next()`` goes on with the body (save) or the query (fetch, delete) the handler set, and the
  store it changed; ``done()`` ends the request with the handler's status and body.
- :class:`FlexPostHook` (``post_save``, ``post_fetch``, ``post_delete``): the envelope carries the
  response the client would get (``response``: status, headers, body); the client gets the
  handler's status and body instead.
- :class:`FlexEndpoint` (``POST /rpc/:appKey/custom/:name``): the client's body; the handler's
  status and body are the answer. The caller's credentials travel in
  ``X-Kinvey-Original-Request-Headers`` (``requestContext``, ``useUserContext``).

An error the handler chose (``badRequest()``, ``notFound()``…) reaches the client as it is, except
``InvalidCredentials`` (see :func:`~kinbase.core.flex.datalink.service_answer`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

from kinbase.core.appconfig.model import FunctionRef
from kinbase.core.flex.calls import METHODS, FlexCalls
from kinbase.core.flex.datalink import service_answer
from kinbase.core.flex.wire import FunctionResult, FunctionTask
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.pipeline import Event, KinveyRequest, Outcome, Reply

__all__ = ["FlexEndpoint", "FlexPostHook", "FlexPreHook", "answer"]


def answer(service: str, result: FunctionResult) -> Reply:
    """The handler's status and body as the client's response.

    Raises:
        KinveyError: BLRuntimeError for an error status without a Kinvey error body.
    """
    if result.status >= 400:
        return service_answer(service, result.status, result.body)
    return Reply(result.status, result.body)


def _query_params(query: Any, service: str) -> dict[str, str] | None:
    """A query the pre-hook set (``setQuery``) as query parameters (None: none set)."""
    if query is None:
        return None
    if not isinstance(query, dict):
        raise KinveyError(
            "BLRuntimeError", f"The Flex service {service!r} set a query that is not an object."
        )
    return {
        str(k): v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
        for k, v in query.items()
        if v is not None
    }


class _Bound:
    def __init__(self, calls: FlexCalls, ref: FunctionRef) -> None:
        self._calls = calls
        self.ref = ref

    async def _run(self, request: KinveyRequest, task: FunctionTask) -> tuple[str, FunctionResult]:
        service = await self._calls.service(request.app, self.ref.service)
        result = await service.function(await self._calls.context(request), self.ref.function, task)
        return service.name, result


class FlexPreHook(_Bound):
    """A pre hook of one event (:class:`~kinbase.core.kinvey.pipeline.PreHook`)."""

    def __init__(self, calls: FlexCalls, ref: FunctionRef, event: Event) -> None:
        super().__init__(calls, ref)
        self.event = event

    async def __call__(self, request: KinveyRequest) -> KinveyRequest | Reply:
        task = FunctionTask(
            "pre",
            METHODS[request.operation],
            request.collection,
            body=request.body,
            entity_id=request.entity_id,
            query=dict(request.params),
            temp_object_store=request.temp,
        )
        service, result = await self._run(request, task)
        if not result.proceed:
            return answer(service, result)
        request.temp.clear()
        request.temp.update(result.temp_object_store)
        if self.event == "save":
            if result.request_body is not None and result.request_body != request.body:
                request = request.with_body(result.request_body)
            return request
        params = _query_params(result.request_query, service)
        if params is not None and params != dict(request.params):
            request = request.with_params(params)
        return request


class FlexPostHook(_Bound):
    """A post hook of one event (:class:`~kinbase.core.kinvey.pipeline.PostHook`)."""

    async def __call__(self, request: KinveyRequest, outcome: Outcome) -> Outcome:
        rendered = request.wire.render(request, outcome)
        response: Mapping[str, Any] = {
            "status": rendered.status,
            "headers": {k.lower(): v for k, v in rendered.headers.items()},
            "body": orjson.loads(rendered.body) if rendered.body else None,
        }
        task = FunctionTask(
            "post",
            METHODS[request.operation],
            request.collection,
            body=request.body,
            entity_id=request.entity_id,
            query=dict(request.params),
            temp_object_store=request.temp,
            response=response,
        )
        service, result = await self._run(request, task)
        return answer(service, result)


class FlexEndpoint(_Bound):
    """A custom endpoint (:class:`~kinbase.core.kinvey.pipeline.EndpointHandler`)."""

    async def __call__(self, request: KinveyRequest) -> Outcome:
        task = FunctionTask("customEndpoint", "POST", request.collection, body=request.body)
        service, result = await self._run(request, task)
        return answer(service, result)
