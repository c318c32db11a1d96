"""``/appdata/:appKey/:collection[...]`` and ``/rpc/:appKey/custom/:name``: through the pipeline.

Each handler parses what the path, query string and body say into a
:class:`~kinbase.core.kinvey.pipeline.KinveyRequest`, runs it through the core's pipeline
(authorize → pre-hook → operation → post-hook) and renders the outcome. The collection settings
(``_settings``, master secret) are configuration, outside the pipeline.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kinbase.core.kinvey.entities import check_collection_name
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.pipeline import Entities, Entity, KinveyRequest, Operation, Outcome
from kinbase.frontends.kinvey import render
from kinbase.frontends.kinvey.call import KinveyCall
from kinbase.frontends.kinvey.files import link_options
from kinbase.frontends.kinvey.querystring import DELTASET_PARAMS, parse_query
from kinbase.http.response import HttpResponse
from kinbase.query.ast import Query

__all__ = [
    "collection_delete",
    "collection_get",
    "collection_post",
    "count",
    "custom_endpoint",
    "deltaset",
    "entity_delete",
    "entity_get",
    "entity_put",
    "group",
    "settings_get",
    "settings_put",
]

_EVERYTHING = Query()


async def run(
    call: KinveyCall, operation: Operation, *, query: Query = _EVERYTHING, body: Any = None, name: str = ""
) -> HttpResponse:
    """Build the pipeline request of ``call``, run it, render its outcome."""
    http = call.request
    request = KinveyRequest(
        app=call.app,
        caller=call.auth.caller,
        operation=operation,
        collection=name or call.params["collection"],
        wire=render.WIRE,
        token=call.auth.token,
        entity_id=call.params.get("entity_id"),
        query=query,
        params=http.params,
        query_string=http.query_string,
        body=body,
        headers=http.headers,
        api_version=call.api_version,
        request_id=http.request_id,
        base_url=http.origin,
        skip_business_logic=call.flag("x-kinvey-skip-business-logic"),
        with_count=call.flag("x-kinvey-include-items-count"),
    )
    result = await call.kinvey.pipeline.run(request)
    if operation in (Operation.GET, Operation.LIST):
        result = await _with_files(call, result)
    return render.outcome(request, result)


async def _with_files(call: KinveyCall, result: Outcome) -> Outcome:
    """Entities with their ``KinveyFile`` references expanded (``kinveyfile_ttl``, ``kinveyfile_tls``)."""
    if isinstance(result, Entity):
        texts = [result.text]
    elif isinstance(result, Entities):
        texts = result.texts
    else:
        return result
    if not any('"KinveyFile"' in text for text in texts):
        return result
    options = link_options(call, "kinveyfile_ttl", "kinveyfile_tls")
    expanded = await call.core.files.transfer.expand(call.app, call.caller, texts, options)
    if isinstance(result, Entity):
        return dataclasses.replace(result, text=expanded[0])
    return dataclasses.replace(result, texts=expanded)


async def collection_get(call: KinveyCall) -> HttpResponse:
    """List the entities the caller may read (``query``, ``sort``, ``limit``, ``skip``, ``fields``)."""
    return await run(call, Operation.LIST, query=parse_query(call.query))


async def collection_post(call: KinveyCall) -> HttpResponse:
    """Create one entity, or several (an array, API version 5 and later)."""
    body = await call.json_body()
    operation = Operation.INSERT_MANY if isinstance(body, list) else Operation.CREATE
    return await run(call, operation, body=body)


async def collection_delete(call: KinveyCall) -> HttpResponse:
    """Delete the entities matching ``query`` (all of them without one)."""
    return await run(call, Operation.DELETE_WHERE, query=parse_query(call.query))


async def count(call: KinveyCall) -> HttpResponse:
    """Count the entities matching ``query`` that the caller may read."""
    return await run(call, Operation.COUNT, query=parse_query(call.query))


async def group(call: KinveyCall) -> HttpResponse:
    """Aggregate (``key``, ``initial``, ``reduce``, ``condition``)."""
    return await run(call, Operation.GROUP, body=await call.json_body())


async def deltaset(call: KinveyCall) -> HttpResponse:
    """What changed since ``since`` in the result of ``query``."""
    params = {k: v for k, v in call.query.items() if k in DELTASET_PARAMS}
    return await run(call, Operation.DELTASET, query=parse_query(params))


async def entity_get(call: KinveyCall) -> HttpResponse:
    """One entity."""
    return await run(call, Operation.GET)


async def entity_put(call: KinveyCall) -> HttpResponse:
    """Replace the entity, or create it with the id of the path (201)."""
    body = await call.json_body()
    entity_id = call.params["entity_id"]
    if isinstance(body, dict) and "_id" in body and body["_id"] != entity_id:
        body = {**body, "_id": entity_id}
    return await run(call, Operation.SAVE, body=body)


async def entity_delete(call: KinveyCall) -> HttpResponse:
    """Delete one entity."""
    return await run(call, Operation.DELETE)


async def custom_endpoint(call: KinveyCall) -> HttpResponse:
    """Run a custom endpoint with the request's JSON body."""
    return await run(call, Operation.CUSTOM, body=await call.json_body(), name=call.params["endpoint"])


async def settings_get(call: KinveyCall) -> HttpResponse:
    """The collection's configuration (master secret)."""
    check_collection_name(call.params["collection"])
    return render.value(await call.kinvey.collections.describe(call.app, call.params["collection"]))


async def settings_put(call: KinveyCall) -> HttpResponse:
    """Configure delta set, the permission level, indexes and automatic indexing (master secret)::

    {"deltaSet": {"enabled": true, "deletedTtlDays": 30}, "permissions": {"level": "private"},
     "indexes": [["status", "n"], ["owner.id"]], "autoIndex": true}

    ``indexes`` replaces the declared indexes (``[]`` drops them all); a new one is built online.
    """
    body = await call.json_body()
    if not isinstance(body, dict):
        raise KinveyError("BadRequest", "The request body must be a JSON object.")
    delta = body.get("deltaSet") or {}
    permissions = body.get("permissions") or {}
    if not isinstance(delta, dict) or not isinstance(permissions, dict):
        raise KinveyError("BadRequest", "deltaSet and permissions must be objects.")
    enabled = delta.get("enabled")
    ttl = delta.get("deletedTtlDays")
    level = permissions.get("level")
    indexes = body.get("indexes")
    auto_index = body.get("autoIndex")
    if (
        (enabled is not None and not isinstance(enabled, bool))
        or (ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool)))
        or (level is not None and not isinstance(level, str))
        or (auto_index is not None and not isinstance(auto_index, bool))
    ):
        raise KinveyError(
            "BadRequest", "enabled and autoIndex are booleans, deletedTtlDays an integer, level a string."
        )
    if indexes is not None and not (
        isinstance(indexes, list)
        and all(
            isinstance(fields, list) and fields and all(isinstance(f, str) for f in fields)
            for fields in indexes
        )
    ):
        raise KinveyError("BadRequest", 'indexes is an array of field-name arrays, e.g. [["status", "n"]].')
    described = await call.kinvey.collections.configure(
        call.app,
        call.params["collection"],
        delta_set=enabled,
        ttl_days=ttl,
        level=level,
        indexes=indexes,
        auto_index=auto_index,
    )
    return render.value(described)
