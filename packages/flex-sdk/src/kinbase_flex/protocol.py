"""The wire schema between a Kinvey-compatible backend and a Flex service.

This is what the official Node ``kinvey-flex-sdk`` 3.3 (with its HTTP receiver
``kinvey-code-task-runner`` 2.4) speaks, and what kinbase-flex speaks too. A backend that calls Flex
services can import this module (it has no dependency beyond the standard library) to build requests
and read replies.

Routes (``<so>`` is a service object name)::

    GET    /healthcheck                      -> 200 {"healthy": true}
    POST   /_command/discover                -> 200 DiscoveryReply (no X-Auth-Key needed)
    POST   /_flexFunctions/<handler>         FunctionsTaskBody -> FunctionsReply (status: response.statusCode)
    POST   /_auth/<handler>                  AuthTaskBody -> AuthReply or OAuth error (401)
    GET    /<so>[/<id>] [?query...]          FlexData: onGetAll / onGetById / onGetByQuery
    GET    /<so>/_count [?query...]          onGetCount / onGetCountByQuery
    POST   /<so>                             onInsert (a JSON array: onInsertMany)
    PUT    /<so>/<id>                        onUpdate
    DELETE /<so>[/<id>] [?query...]          onDeleteAll / onDeleteById / onDeleteByQuery

FlexData replies are the handler's body itself with the handler's status.
"""

from __future__ import annotations

import json
from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "DEFAULT_PORT",
    "ERROR_BODIES",
    "HEADER_APP_METADATA",
    "HEADER_AUTH_KEY",
    "HEADER_ENVIRONMENT_ID",
    "HEADER_ORIGINAL_REQUEST_HEADERS",
    "HEADER_REQUEST_ID",
    "HEADER_RESPONSE_BODY",
    "HEADER_RESPONSE_HEADERS",
    "HEADER_RESPONSE_STATUS",
    "HEADER_USERNAME",
    "HEADER_USER_ID",
    "INVALID_AUTH_KEY_BODY",
    "NOT_IMPLEMENTED_DEBUG",
    "AppMetadata",
    "AuthErrorBody",
    "AuthTaskBody",
    "DiscoveryReply",
    "FunctionsReply",
    "FunctionsReplyRequest",
    "FunctionsReplyResponse",
    "FunctionsTaskBody",
    "HookType",
    "KinveyErrorBody",
    "PostHookResponse",
    "request_headers",
]

DEFAULT_PORT = 10001
"""The port the official SDK listens on by default."""

HEADER_AUTH_KEY = "X-Auth-Key"
HEADER_APP_METADATA = "X-Kinvey-App-Metadata"
HEADER_ORIGINAL_REQUEST_HEADERS = "X-Kinvey-Original-Request-Headers"
HEADER_USERNAME = "X-Kinvey-Username"
HEADER_USER_ID = "X-Kinvey-User-Id"
HEADER_REQUEST_ID = "X-Kinvey-Request-Id"
HEADER_ENVIRONMENT_ID = "X-Kinvey-Environment-Id"
HEADER_RESPONSE_STATUS = "X-Kinvey-Response-Status"
HEADER_RESPONSE_HEADERS = "X-Kinvey-Response-Headers"
HEADER_RESPONSE_BODY = "X-Kinvey-Response-Body"

HookType = Literal["customEndpoint", "pre", "post"]


class AppMetadata(TypedDict, total=False):
    """The JSON object in ``X-Kinvey-App-Metadata``."""

    _id: str
    """The app key (environment id); also ``_acl.creator`` of entities made by ``kinveyEntity``."""
    appsecret: str
    mastersecret: str
    baasUrl: str
    """Where the modules call back, e.g. ``http://127.0.0.1:8080`` (no trailing slash)."""
    applicationId: str
    blFlags: dict[str, Any]
    maintenance: dict[str, Any]


class PostHookResponse(TypedDict, total=False):
    """``response`` in a post-hook task: the result the backend is about to return."""

    status: int
    headers: dict[str, Any]
    body: Any


class FunctionsTaskBody(TypedDict, total=False):
    """The JSON body of ``POST /_flexFunctions/<handler>``."""

    body: Any
    hookType: HookType
    method: str
    objectName: str
    entityId: str
    query: dict[str, Any]
    """Kinvey query parameters as strings, e.g. ``{"query": "{\\"a\\":1}", "limit": "2"}``."""
    tempObjectStore: dict[str, Any]
    response: PostHookResponse


class FunctionsReplyRequest(TypedDict):
    """``request`` in a FlexFunctions reply: the (possibly modified) request."""

    method: str
    headers: dict[str, Any]
    username: str
    userId: str
    objectName: str
    tempObjectStore: dict[str, Any]
    body: Any
    query: NotRequired[dict[str, Any]]
    params: NotRequired[dict[str, Any]]
    entityId: NotRequired[str]


FunctionsReplyResponse = TypedDict(
    "FunctionsReplyResponse",
    {
        "status": int,
        "headers": dict[str, Any],
        "body": Any,
        "statusCode": int,
        "continue": NotRequired[bool],
    },
)
"""``response`` in a FlexFunctions reply; ``continue`` is true after ``next()``, false after ``done()``."""


class FunctionsReply(TypedDict):
    """The reply to ``POST /_flexFunctions/<handler>`` (HTTP status = ``response.statusCode``)."""

    request: FunctionsReplyRequest
    response: FunctionsReplyResponse


class AuthTaskBody(TypedDict, total=False):
    """The JSON body of ``POST /_auth/<handler>``."""

    username: str
    password: str
    options: dict[str, Any]


class AuthErrorBody(TypedDict):
    """A FlexAuth failure (status 401): ``server_error``, ``access_denied``, ``temporarily_unavailable``."""

    error: str
    error_description: Any


class KinveyErrorBody(TypedDict):
    """A Kinvey error body."""

    error: str
    description: str
    debug: Any


class _Names(TypedDict):
    serviceObjects: NotRequired[list[str]]
    handlers: NotRequired[list[str]]


class DiscoveryReply(TypedDict):
    """The reply to ``POST /_command/discover``."""

    dataLink: _Names
    businessLogic: _Names
    auth: _Names


ERROR_BODIES: dict[str, tuple[int, str, str]] = {
    # status function: (status, error, description)
    "notFound": (404, "NotFound", "The requested entity or entities were not found in the serviceObject"),
    "badRequest": (400, "BadRequest", "Unable to understand request"),
    "unauthorized": (
        401,
        "InvalidCredentials",
        "Invalid credentials. Please retry your request with correct credentials",
    ),
    "forbidden": (403, "Forbidden", "The request is forbidden"),
    "notAllowed": (405, "NotAllowed", "The request is not allowed"),
    "notImplemented": (501, "NotImplemented", "The request invoked a method that is not implemented"),
    "runtimeError": (
        550,
        "FlexRuntimeError",
        "The Flex Service had a runtime error.  See debug message for details",
    ),
}
"""The error status functions of ``complete()`` for FlexData and FlexFunctions."""

SUCCESS_CODES: dict[str, int] = {"ok": 200, "created": 201, "accepted": 202}

NOT_IMPLEMENTED_DEBUG = "These methods are not implemented"
"""``debug`` of the reply for an event or function that has no handler."""

INVALID_AUTH_KEY_BODY: KinveyErrorBody = {
    "error": "InvalidCredentials",
    "description": "Invalid credentials.  Please retry your request with correct credentials.",
    "debug": "The Authorization Key was not valid or missing.",
}
"""The body of the 401 for a wrong or missing ``X-Auth-Key`` (note the two spaces: it is the wire text)."""


def request_headers(
    *,
    app_metadata: AppMetadata | dict[str, Any] | None = None,
    original_request_headers: dict[str, Any] | None = None,
    auth_key: str | None = None,
    username: str | None = None,
    user_id: str | None = None,
    request_id: str | None = None,
    environment_id: str | None = None,
) -> dict[str, str]:
    """The headers a backend sends with a task. Keys of ``original_request_headers`` are lower-cased."""
    headers: dict[str, str] = {"Content-Type": "application/json"}
    if app_metadata is not None:
        headers[HEADER_APP_METADATA] = json.dumps(app_metadata, separators=(",", ":"))
    if original_request_headers is not None:
        lowered = {str(k).lower(): v for k, v in original_request_headers.items()}
        headers[HEADER_ORIGINAL_REQUEST_HEADERS] = json.dumps(lowered, separators=(",", ":"))
    for name, value in (
        (HEADER_AUTH_KEY, auth_key),
        (HEADER_USERNAME, username),
        (HEADER_USER_ID, user_id),
        (HEADER_REQUEST_ID, request_id),
        (HEADER_ENVIRONMENT_ID, environment_id),
    ):
        if value is not None:
            headers[name] = value
    return headers
