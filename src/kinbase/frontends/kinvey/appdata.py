"""``/appdata/:appKey/:collection[...]``: entities, counts, aggregation, delta set, settings."""

from __future__ import annotations

from starlette.responses import Response

from kinbase import jsonutil
from kinbase.core.kinvey.aggregate import parse_group
from kinbase.core.kinvey.entities import check_collection_name
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.querying import parse_query
from kinbase.core.kinvey.wire import iso_of
from kinbase.frontends.kinvey import render
from kinbase.frontends.kinvey.auth import MASTER, AuthKind
from kinbase.frontends.kinvey.endpoint import KinveyCall, endpoint
from kinbase.http.responses import json_bytes_response

__all__ = [
    "collection_delete",
    "collection_get",
    "collection_post",
    "count",
    "deltaset",
    "entity_delete",
    "entity_get",
    "entity_put",
    "group",
    "settings_get",
    "settings_put",
]

DATA: tuple[AuthKind, ...] = ("user", "master")


def _collection(call: KinveyCall) -> str:
    name: str = call.path_params["collection"]
    check_collection_name(name)
    return name


def _location(call: KinveyCall, collection: str, entity_id: str) -> str:
    return call.url("appdata", call.app.key, collection, entity_id)


@endpoint(accepts=DATA)
async def collection_get(call: KinveyCall) -> Response:
    """List (``query``, ``sort``, ``limit``, ``skip``, ``fields``)."""
    collection = _collection(call)
    with_count = call.request.headers.get("x-kinvey-include-items-count", "").lower() == "true"
    result = await call.kinvey.entities.find(
        call.app,
        call.caller,
        collection,
        parse_query(call.params),
        api_version=call.api_version,
        with_count=with_count,
    )
    return render.listing(result)


@endpoint(accepts=DATA)
async def collection_post(call: KinveyCall) -> Response:
    """Create one entity, or several (an array, API version 5 and later)."""
    collection = _collection(call)
    body = await call.json_body()
    if isinstance(body, list):
        if call.api_version < 5:
            raise KinveyError("FeatureUnavailable", "Multi-insert needs X-Kinvey-API-Version 5 or later.")
        entities, errors = await call.kinvey.entities.insert_many(call.app, call.caller, collection, body)
        items = ",".join("null" if text is None else text for text in entities)
        errors_json = jsonutil.dumps_str(errors)
        payload = f'{{"entities":[{items}],"errors":{errors_json}}}'.encode()
        return json_bytes_response(payload, status=207 if errors else 201)
    stored = await call.kinvey.entities.create(call.app, call.caller, collection, body)
    return render.entity(stored.data, 201, _location(call, collection, stored.id))


@endpoint(accepts=DATA)
async def collection_delete(call: KinveyCall) -> Response:
    """Delete the entities matching ``query`` (all of them without one)."""
    collection = _collection(call)
    query = parse_query(call.params)
    deleted = await call.kinvey.entities.delete_where(call.app, call.caller, collection, query)
    if call.api_version < 2:
        return render.no_content()
    return render.value({"count": deleted})


@endpoint(accepts=DATA)
async def count(call: KinveyCall) -> Response:
    collection = _collection(call)
    result = await call.kinvey.entities.count(call.app, call.caller, collection, parse_query(call.params))
    return render.count(result)


@endpoint(accepts=DATA)
async def group(call: KinveyCall) -> Response:
    collection = _collection(call)
    spec = parse_group(await call.json_body())
    return render.value(await call.kinvey.entities.group(call.app, call.caller, collection, spec))


@endpoint(accepts=DATA)
async def deltaset(call: KinveyCall) -> Response:
    collection = _collection(call)
    query = parse_query({k: v for k, v in call.params.items() if k in ("query", "sort", "fields")})
    delta = await call.kinvey.collections.deltaset(
        call.app, call.caller, collection, call.params.get("since"), query
    )
    deleted = jsonutil.dumps_str([{"_id": i} for i in delta.deleted])
    body = '{"changed":[' + ",".join(delta.changed) + '],"deleted":' + deleted + "}"
    return json_bytes_response(body.encode(), headers={"X-Kinvey-Request-Start": iso_of(delta.start)})


@endpoint(accepts=DATA)
async def entity_get(call: KinveyCall) -> Response:
    collection = _collection(call)
    text = await call.kinvey.entities.get(call.app, call.caller, collection, call.path_params["entity_id"])
    return render.entity(text)


@endpoint(accepts=DATA)
async def entity_put(call: KinveyCall) -> Response:
    """Replace the entity, or create it with the id of the path (201)."""
    collection = _collection(call)
    entity_id: str = call.path_params["entity_id"]
    body = await call.json_body()
    if isinstance(body, dict) and "_id" in body and body["_id"] != entity_id:
        body = {**body, "_id": entity_id}
    stored, created = await call.kinvey.entities.save(call.app, call.caller, collection, entity_id, body)
    return render.created_or_ok(stored.data, created, _location(call, collection, entity_id))


@endpoint(accepts=DATA)
async def entity_delete(call: KinveyCall) -> Response:
    collection = _collection(call)
    deleted = await call.kinvey.entities.delete(
        call.app, call.caller, collection, call.path_params["entity_id"]
    )
    if call.api_version < 2:
        return render.no_content()
    return render.value({"count": deleted})


@endpoint(accepts=MASTER)
async def settings_get(call: KinveyCall) -> Response:
    """The collection's configuration (master secret)."""
    return render.value(await call.kinvey.collections.describe(call.app, _collection(call)))


@endpoint(accepts=MASTER)
async def settings_put(call: KinveyCall) -> Response:
    """Configure delta set and the permission level (master secret)::

    {"deltaSet": {"enabled": true, "deletedTtlDays": 30}, "permissions": {"level": "private"}}
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
    if (
        (enabled is not None and not isinstance(enabled, bool))
        or (ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool)))
        or (level is not None and not isinstance(level, str))
    ):
        raise KinveyError("BadRequest", "enabled is a boolean, deletedTtlDays an integer, level a string.")
    described = await call.kinvey.collections.configure(
        call.app, _collection(call), delta_set=enabled, ttl_days=ttl, level=level
    )
    return render.value(described)
