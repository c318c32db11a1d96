"""What kinbase sends to a Flex service and what it reads back (``specs/flex-protocol.md``).

Requests: the headers of §2 (:func:`task_headers`), the FlexFunctions envelope of §4
(:class:`FunctionTask`). Replies: a FlexFunctions envelope (:func:`function_result`), a FlexAuth
answer (:func:`auth_result`) and discovery (:func:`discovery`). A reply that does not have the
shape of the protocol is a :class:`KinveyError` ``BLRuntimeError`` naming the service.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kinbase.core.kinvey.errors import KinveyError
from kinbase.storage.base import AppRecord

__all__ = [
    "AuthResult",
    "DataReply",
    "Discovery",
    "FlexContext",
    "FunctionResult",
    "FunctionTask",
    "auth_result",
    "discovery",
    "function_result",
    "task_headers",
]

HookType = Literal["customEndpoint", "pre", "post"]


@dataclass(frozen=True, slots=True)
class FlexContext:
    """Who and what a call is for: the app, kinbase's own URL as the service must call it back
    (``baasUrl``), the end user's request headers, the user, and the request id."""

    app: AppRecord
    baas_url: str
    original_headers: Mapping[str, str] = field(default_factory=dict)
    username: str | None = None
    user_id: str | None = None
    request_id: str = ""


def _ascii_json(value: Any) -> str:
    # Header values travel as ASCII: non-ASCII characters are escaped inside the JSON.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


def task_headers(context: FlexContext, secret: str) -> dict[str, str]:
    """The request headers of every task (§2). Values outside ASCII (a user name) are sent as
    UTF-8 bytes (Node reads them as Latin-1, as from any backend)."""
    app = context.app
    metadata = {
        "_id": app.key,
        "appsecret": app.app_secret,
        "mastersecret": app.master_secret,
        "baasUrl": context.baas_url,
        "name": app.name,
    }
    headers = {
        "Content-Type": "application/json",
        "X-Auth-Key": secret,
        "X-Kinvey-App-Metadata": _ascii_json(metadata),
        "X-Kinvey-Original-Request-Headers": _ascii_json(
            {k.lower(): v for k, v in context.original_headers.items()}
        ),
        "X-Kinvey-Environment-Id": app.key,
        "X-Kinvey-Request-Id": context.request_id,
    }
    if context.user_id is not None:
        headers["X-Kinvey-User-Id"] = context.user_id
        headers["X-Kinvey-Username"] = context.username or ""
    return headers


@dataclass(frozen=True, slots=True)
class FunctionTask:
    """The body of ``POST /_flexFunctions/<name>`` (§4). ``query`` is sent as an object (the SDK
    copies only an object into ``context.query``); ``response`` only for post hooks."""

    hook_type: HookType
    method: str
    object_name: str
    body: Any = None
    entity_id: str | None = None
    query: Mapping[str, str] | None = None
    temp_object_store: Mapping[str, Any] | None = None
    response: Mapping[str, Any] | None = None

    def envelope(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "hookType": self.hook_type,
            "method": self.method,
            "objectName": self.object_name,
            "body": self.body if self.body is not None else {},
            "tempObjectStore": dict(self.temp_object_store or {}),
        }
        if self.entity_id is not None:
            out["entityId"] = self.entity_id
        if self.query is not None:
            out["query"] = dict(self.query)
        if self.response is not None:
            out["response"] = dict(self.response)
        return out


@dataclass(frozen=True, slots=True)
class FunctionResult:
    """A FlexFunctions reply. ``proceed`` is ``response.continue``: for a pre hook, go on with
    ``request_body``/``request_query``; otherwise (``done()``) answer with ``status`` and
    ``body``."""

    status: int
    proceed: bool
    body: Any
    headers: Mapping[str, Any]
    request_body: Any
    request_query: Any
    temp_object_store: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class DataReply:
    """A FlexData reply: the status and the body the handler chose (JSON)."""

    status: int
    body: Any


@dataclass(frozen=True, slots=True)
class AuthResult:
    """A FlexAuth reply: a login succeeds only on 200 with ``authenticated: true``."""

    authenticated: bool
    token: Any = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_description: str | None = None


@dataclass(frozen=True, slots=True)
class Discovery:
    """What a service offers (``POST /_command/discover``)."""

    service_objects: tuple[str, ...]
    functions: tuple[str, ...]
    auth_handlers: tuple[str, ...]


def malformed(service: str, what: str) -> KinveyError:
    return KinveyError("BLRuntimeError", f"The Flex service {service!r} sent a malformed reply: {what}.")


def function_result(service: str, status: int, reply: Any) -> FunctionResult:
    """Read a FlexFunctions envelope.

    Raises:
        KinveyError: BLRuntimeError if it is not one.
    """
    if not isinstance(reply, dict) or not isinstance(reply.get("response"), dict):
        raise malformed(service, "a FlexFunctions reply is an object with a 'response' object")
    response = reply["response"]
    request: dict[str, Any] = reply["request"] if isinstance(reply.get("request"), dict) else {}
    proceed = response.get("continue")
    if not isinstance(proceed, bool):
        raise malformed(service, "'response.continue' must be true or false")
    code = response.get("statusCode", status)
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
        raise malformed(service, f"'response.statusCode' {code!r} is not an HTTP status")
    headers = response["headers"] if isinstance(response.get("headers"), dict) else {}
    store = request["tempObjectStore"] if isinstance(request.get("tempObjectStore"), dict) else {}
    return FunctionResult(
        status=code,
        proceed=proceed,
        body=response.get("body"),
        headers=headers,
        request_body=request.get("body"),
        request_query=request.get("query"),
        temp_object_store=store,
    )


def auth_result(service: str, status: int, reply: Any) -> AuthResult:
    """Read a FlexAuth answer (§5): success, or the OAuth-style error the handler chose.

    Raises:
        KinveyError: BLRuntimeError if the answer is not an object.
    """
    if not isinstance(reply, dict):
        raise malformed(service, "a FlexAuth reply is an object")
    if status == 200 and reply.get("authenticated") is True:
        attributes = {k: v for k, v in reply.items() if k not in ("token", "authenticated")}
        return AuthResult(True, reply.get("token"), attributes)
    error = reply.get("error")
    description = reply.get("error_description")
    return AuthResult(
        False,
        error=error if isinstance(error, str) else "access_denied",
        error_description=description if isinstance(description, str) else None,
    )


def discovery(service: str, reply: Any) -> Discovery:
    """Read a discovery answer (§6).

    Raises:
        KinveyError: BLRuntimeError if it does not have the protocol's shape.
    """

    def names(section: str, key: str) -> tuple[str, ...]:
        part = reply.get(section) if isinstance(reply, dict) else None
        found = part.get(key, []) if isinstance(part, dict) else None
        if not isinstance(found, list) or not all(isinstance(n, str) for n in found):
            raise malformed(service, f"discovery needs '{section}.{key}' as a list of names")
        return tuple(found)

    return Discovery(
        names("dataLink", "serviceObjects"), names("businessLogic", "handlers"), names("auth", "handlers")
    )
