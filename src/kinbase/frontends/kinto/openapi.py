"""``GET /__api__``: an OpenAPI 2.0 (Swagger) description of the API, built from one table."""

from __future__ import annotations

from typing import Any

from kinbase import __version__
from kinbase.frontends.kinto.call import KintoCall, KintoResponse, json_response

__all__ = ["document", "openapi"]

_OBJECT = {"$ref": "#/definitions/Object"}
_LIST = {"$ref": "#/definitions/List"}
_ERROR = {"$ref": "#/definitions/Error"}

_RESOURCES: list[tuple[str, str, list[str]]] = [
    ("buckets", "/buckets", []),
    ("collections", "/buckets/{bid}/collections", ["bid"]),
    ("groups", "/buckets/{bid}/groups", ["bid"]),
    ("records", "/buckets/{bid}/collections/{cid}/records", ["bid", "cid"]),
    ("accounts", "/accounts", []),
]


def _params(names: list[str]) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "type": "string"} for n in names]


def _op(
    tag: str, summary: str, names: list[str], schema: dict[str, Any], *, body: bool = False
) -> dict[str, Any]:
    parameters = _params(names)
    if body:
        parameters.append({"name": "body", "in": "body", "required": False, "schema": _OBJECT})
    return {
        "tags": [tag],
        "summary": summary,
        "operationId": f"{summary.replace(' ', '_')}_{tag}",
        "parameters": parameters,
        "responses": {
            "200": {"description": "Success", "schema": schema},
            "default": {"description": "Error", "schema": _ERROR},
        },
    }


def document(base_path: str, host: str) -> dict[str, Any]:
    """The OpenAPI 2.0 document."""
    paths: dict[str, Any] = {
        "/": {"get": _op("Utilities", "server info", [], {"type": "object"})},
        "/__heartbeat__": {"get": _op("Utilities", "heartbeat", [], {"type": "object"})},
        "/__lbheartbeat__": {"get": _op("Utilities", "lbheartbeat", [], {"type": "object"})},
        "/__version__": {"get": _op("Utilities", "version", [], {"type": "object"})},
        "/batch": {"post": _op("Batch", "batch", [], {"type": "object"}, body=True)},
        "/permissions": {"get": _op("Permissions", "list permissions", [], _LIST)},
        "/buckets/{bid}/history": {
            "get": _op("History", "list history", ["bid"], _LIST),
            "delete": _op("History", "delete history", ["bid"], _LIST),
        },
    }
    for tag, plural, names in _RESOURCES:
        paths[plural] = {
            "get": _op(tag, f"list {tag}", names, _LIST),
            "head": _op(tag, f"count {tag}", names, {"type": "object"}),
            "post": _op(tag, f"create {tag}", names, _OBJECT, body=True),
            "delete": _op(tag, f"delete {tag}", names, _LIST),
        }
        item = [*names, "id"]
        paths[plural + "/{id}"] = {
            "get": _op(tag, f"get {tag}", item, _OBJECT),
            "put": _op(tag, f"put {tag}", item, _OBJECT, body=True),
            "patch": _op(tag, f"patch {tag}", item, _OBJECT, body=True),
            "delete": _op(tag, f"delete {tag}", item, _OBJECT),
        }
    attachment = ["bid", "cid", "id"]
    upload = _op("Attachments", "attach file", attachment, {"type": "object"})
    upload["consumes"] = ["multipart/form-data"]
    upload["parameters"] += [
        {"name": "attachment", "in": "formData", "type": "file", "required": True},
        {"name": "data", "in": "formData", "type": "string", "required": False},
        {"name": "permissions", "in": "formData", "type": "string", "required": False},
    ]
    remove = _op("Attachments", "remove attachment", attachment, {"type": "object"})
    # Removing an attachment answers 204 without a body (as kinto-attachment does).
    remove["responses"] = {"204": {"description": "Removed"}, "default": remove["responses"]["default"]}
    paths["/buckets/{bid}/collections/{cid}/records/{id}/attachment"] = {"post": upload, "delete": remove}
    return {
        "swagger": "2.0",
        "info": {"title": "kinto", "version": __version__},
        "host": host,
        "basePath": base_path,
        "schemes": ["http", "https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {"basicAuth": {"type": "basic"}},
        "security": [{"basicAuth": []}],
        "paths": paths,
        "definitions": {
            "Object": {
                "type": "object",
                "properties": {"data": {"type": "object"}, "permissions": {"type": "object"}},
            },
            "List": {
                "type": "object",
                "properties": {"data": {"type": "array", "items": {"type": "object"}}},
            },
            "Error": {
                "type": "object",
                "properties": {
                    "code": {"type": "integer"},
                    "errno": {"type": "integer"},
                    "error": {"type": "string"},
                    "message": {"type": "string"},
                    "info": {"type": "string"},
                    "details": {},
                },
            },
        },
    }


async def openapi(call: KintoCall) -> KintoResponse:
    origin = call.request.origin
    host = origin.split("://", 1)[-1]
    return json_response(document(call.request.prefix, host))
