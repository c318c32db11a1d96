"""Object endpoints of every resource: ``GET``, ``PUT``, ``PATCH``, ``DELETE`` on
``/buckets/{bid}``, ``.../collections/{cid}``, ``.../groups/{gid}``, ``.../records/{rid}`` and
``/accounts/{id}``."""

from __future__ import annotations

from typing import Any, Literal

import orjson

from kinbase import jsonutil
from kinbase.core.kinto.errors import ObjectChanged
from kinbase.core.kinto.model import Target
from kinbase.core.kinto.objects import Body, Conditions, ObjectResult, Patch
from kinbase.errors import InvalidQuery
from kinbase.frontends.kinto.call import KintoCall, KintoResponse
from kinbase.frontends.kinto.errors import Errno, KintoError, invalid
from kinbase.frontends.kinto.querystring import project, query_error
from kinbase.query.kinto import native_value, parse_stamp
from kinbase.query.kinto_querystring import parse_fields
from kinbase.types import Stamp

__all__ = ["delete_object", "get_object", "parse_body", "patch_object", "put_object", "render_object"]

_PATCH_TYPES = {
    "application/json": "json",
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json-patch",
}


def content_kind(call: KintoCall, *, patch: bool = False) -> str:
    """The body flavour from ``Content-Type`` (415 for an unsupported one)."""
    raw = call.header("content-type")
    if raw is None:
        return "json"
    media = raw.split(";", 1)[0].strip().lower()
    kind = _PATCH_TYPES.get(media) if patch else ("json" if media == "application/json" else None)
    if kind is None:
        accepted = ", ".join(_PATCH_TYPES) if patch else "application/json"
        raise KintoError(
            Errno.INVALID_PARAMETERS,
            f"Content-Type header should be one of [{accepted}]",
            status=415,
            details=[
                {
                    "location": "header",
                    "name": "Content-Type",
                    "description": f"should be one of [{accepted}]",
                }
            ],
        )
    return kind


def parse_body(call: KintoCall) -> Body:
    """The ``{data, permissions}`` envelope of a write.

    Raises:
        KintoError: 400 for anything else.
    """
    body = call.json()
    if body is None:
        return Body()
    if not isinstance(body, dict):
        raise invalid("body", "body", "Should be an object")
    for key in body:
        if key not in ("data", "permissions"):
            raise invalid("body", key, "Unknown field")
    data = body.get("data")
    if data is not None and not isinstance(data, dict):
        raise invalid("body", "data", "Should be an object")
    permissions = body.get("permissions")
    if permissions is not None and not isinstance(permissions, dict):
        raise invalid("body", "permissions", "Should be an object")
    return Body(data, permissions)


def conditions(call: KintoCall) -> Conditions:
    return Conditions(call.precondition("If-Match"), call.precondition("If-None-Match"))  # type: ignore[arg-type]


def render_object(result: ObjectResult, *, fields: Any = None) -> bytes:
    """``{"data": <stored JSON>, "permissions": {...}}`` without decoding the stored JSON."""
    data = result.data.encode()
    if fields is not None:
        data = jsonutil.dumps(project(orjson.loads(data), fields))
    if result.permissions is None:
        return b'{"data":' + data + b"}"
    return b'{"data":' + data + b',"permissions":' + jsonutil.dumps(result.permissions) + b"}"


def _response(call: KintoCall, result: ObjectResult, status: int = 200, fields: Any = None) -> KintoResponse:
    headers = call.stamp_headers(result.stamp, result.cache_expires)
    return KintoResponse(status, render_object(result, fields=fields), headers)


def _fields(call: KintoCall) -> Any:
    for key, value in call.request.query:
        if key == "_fields":
            return parse_fields(value)
    return None


async def get_object(call: KintoCall, target: Target) -> KintoResponse:
    result = await call.kinto.objects.get(call.ctx, target)
    if_match = call.precondition("If-Match")
    if_none_match = call.precondition("If-None-Match")
    if isinstance(if_none_match, int) and if_none_match == result.stamp:
        return KintoResponse(304, b"", call.stamp_headers(result.stamp))
    if (isinstance(if_match, int) and if_match != result.stamp) or if_none_match == "*":
        raise ObjectChanged(result.data, result.stamp)
    return _response(call, result, fields=_fields(call))


async def put_object(call: KintoCall, target: Target) -> KintoResponse:
    content_kind(call)
    body = parse_body(call)
    if target.resource == "bucket" and body.data is not None and body.data.get("id") == "default":
        assert target.id is not None
        body = Body({**body.data, "id": target.id}, body.permissions)
    result = await call.kinto.objects.put(call.ctx, target, body, conditions(call))
    return _response(call, result, 201 if result.created else 200)


async def patch_object(call: KintoCall, target: Target) -> KintoResponse:
    kind: Literal["json", "merge", "json-patch"] = content_kind(call, patch=True)  # type: ignore[assignment]
    behavior = (call.header("response-behavior") or "full").strip().lower()
    if behavior not in ("full", "light", "diff"):
        raise invalid("header", "Response-Behavior", f"{behavior!r} is not one of full, light, diff")
    if kind == "json-patch":
        ops = call.json()
        patch = Patch("json-patch", Body(), ops, behavior)  # type: ignore[arg-type]
    else:
        patch = Patch(kind, parse_body(call), None, behavior)  # type: ignore[arg-type]
    result = await call.kinto.objects.patch(call.ctx, target, patch, conditions(call))
    return _response(call, result)


def requested_stamp(call: KintoCall) -> Stamp | None:
    for key, value in call.request.query:
        if key == "last_modified":
            try:
                return parse_stamp(native_value(value), key, None)
            except InvalidQuery as exc:
                raise query_error(exc, key) from None
    return None


async def delete_object(call: KintoCall, target: Target) -> KintoResponse:
    result = await call.kinto.objects.delete(call.ctx, target, conditions(call), requested_stamp(call))
    return _response(call, result)
