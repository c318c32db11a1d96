"""The request envelope: reading a task's body and headers as the Node SDK does, and JSON replies."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from kinbase_flex._context import Context
from kinbase_flex._jsutil import dumps, loads, truthy
from kinbase_flex.protocol import (
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
)

__all__ = [
    "JSON_MEDIA_TYPE",
    "BadBody",
    "base_task",
    "first",
    "json_response",
    "kinvey_error",
    "parse_header_json",
    "read_body",
    "runtime_error_body",
]

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


class BadBody(Exception):
    """A body the service refuses: answered with ``status`` and ``body`` as is."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("debug"))
        self.status = status
        self.body = body


def json_response(status: int, body: Any) -> Response:
    return Response(dumps(body), status_code=status, media_type=JSON_MEDIA_TYPE)


def kinvey_error(error: str, description: str, debug: Any) -> dict[str, Any]:
    return {"error": error, "description": description, "debug": debug}


def runtime_error_body(debug: str) -> dict[str, Any]:
    _status, error, description = ERROR_BODIES["runtimeError"]
    return kinvey_error(error, description, debug)


def parse_header_json(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        parsed = loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def first(*values: Any) -> Any:
    """JavaScript's ``a || b || c``: the first truthy value, else the last one."""
    for value in values:
        if truthy(value):
            return value
    return values[-1]


async def read_body(request: Request, limit: int) -> Any:
    """The JSON body as ``body-parser.json`` gives it: ``{}`` unless it is ``application/json``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BadBody(
            413, kinvey_error("BadRequest", "Unable to understand the request", "Request body too large")
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadBody(
                413,
                kinvey_error("BadRequest", "Unable to understand the request", "Request body too large"),
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" or not raw.strip():
        return {}
    try:
        body = loads(raw)
    except ValueError:
        raise BadBody(
            400,
            kinvey_error(
                "BadRequest", "Unable to understand the request", "Request body contains invalid JSON"
            ),
        ) from None
    if not isinstance(body, dict | list):
        raise BadBody(
            400,
            kinvey_error(
                "BadRequest",
                "Unable to understand the request",
                "Request body must be a JSON object or array",
            ),
        )
    return body


def base_task(request: Request, method: str, body: Any) -> dict[str, Any]:
    """The task fields every kind shares, from the headers (and a posted ``response``)."""
    headers = request.headers
    posted_response = body.get("response") if isinstance(body, dict) else None
    response_in_body: dict[str, Any] = posted_response if isinstance(posted_response, dict) else {}
    status_header = headers.get(HEADER_RESPONSE_STATUS)
    status: Any = first(status_header, response_in_body.get("status"), 0)
    if isinstance(status, str) and status.strip().isdigit():
        status = int(status)
    headers_header = headers.get(HEADER_RESPONSE_HEADERS)
    response_headers: Any = parse_header_json(headers_header) if headers_header else None
    return {
        "appId": headers.get(HEADER_ENVIRONMENT_ID) or "",
        "appMetadata": parse_header_json(headers.get(HEADER_APP_METADATA)),
        "authKey": headers.get(HEADER_AUTH_KEY),
        "requestId": headers.get(HEADER_REQUEST_ID) or "",
        "method": method.upper(),
        "request": Context(
            method=method,
            headers=parse_header_json(headers.get(HEADER_ORIGINAL_REQUEST_HEADERS)),
            username=headers.get(HEADER_USERNAME) or "",
            userId=headers.get(HEADER_USER_ID) or "",
        ),
        "response": {
            "status": status,
            "headers": first(response_headers, response_in_body.get("headers"), {}),
            "body": first(headers.get(HEADER_RESPONSE_BODY), response_in_body.get("body"), {}),
        },
    }
