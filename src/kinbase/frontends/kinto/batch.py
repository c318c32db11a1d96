"""``POST /batch``: up to ``batch_max_requests`` sub-requests in one transaction.

Sub-requests run through the same dispatcher as ordinary requests, with the batch's transaction in
their context (so they see each other's writes). A 4xx answer is returned inline and does not undo
anything (Kinto's handlers check everything before writing); a 5xx or a 409 aborts the whole
transaction and becomes the answer of the batch.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from kinbase import jsonutil
from kinbase.core.kinto.context import transaction
from kinbase.errors import InvalidPath
from kinbase.frontends.kinto.call import KintoCall, KintoRequest, KintoResponse
from kinbase.frontends.kinto.errors import invalid
from kinbase.http.limits import check_path
from kinbase.storage.base import Writer

__all__ = ["SubRunner", "batch"]

SubRunner = Callable[[KintoCall, KintoRequest, Writer], Awaitable[KintoResponse]]
_METHODS = ("GET", "HEAD", "DELETE", "TRACE", "POST", "PUT", "PATCH")
_KEYS = ("method", "path", "headers", "body")
_CONTROL = re.compile("[\x00-\x1f\x7f]")


class _Abort(Exception):
    def __init__(self, response: KintoResponse) -> None:
        super().__init__("batch aborted")
        self.response = response


def _merge(defaults: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    out = dict(defaults)
    for key, value in request.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _validate(index: int, sub: Any) -> dict[str, Any]:
    where = f"requests.{index}"
    if not isinstance(sub, dict):
        raise invalid("body", where, "Should be an object")
    for key in sub:
        if key not in _KEYS:
            raise invalid("body", f"{where}.{key}", "Unknown field")
    method = str(sub.get("method", "GET")).upper()
    if method not in _METHODS:
        raise invalid("body", f"{where}.method", f"{method!r} is not one of {', '.join(_METHODS)}")
    path = sub.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise invalid("body", f"{where}.path", "Required, and must start with /")
    if "/batch" in path:
        raise invalid("body", f"{where}.path", "Recursive call on /batch endpoint is forbidden.")
    try:
        check_path(path)
    except InvalidPath as exc:
        raise invalid("body", f"{where}.path", exc.message) from None
    headers = sub.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise invalid("body", f"{where}.headers", "Header values must be strings")
    if any(_CONTROL.search(f"{k}{v}") for k, v in headers.items()):
        raise invalid("body", f"{where}.headers", "Headers may not contain control characters")
    body = sub.get("body")
    if body is not None and not isinstance(body, dict | list):
        raise invalid("body", f"{where}.body", "Should be an object")
    return {"method": method, "path": path, "headers": headers, "body": body}


def _subrequest(outer: KintoRequest, sub: dict[str, Any]) -> tuple[KintoRequest, str]:
    raw_path, _, query = sub["path"].partition("?")
    path = raw_path
    for prefix in (outer.prefix, "/v1"):
        if path == prefix or path.startswith(prefix + "/"):
            path = path[len(prefix) :]
            break
    path = path.rstrip("/") if path != "/" else ""
    headers = dict(outer.headers)
    headers.pop("content-length", None)
    headers.update({k.lower(): v for k, v in sub["headers"].items()})
    body = jsonutil.dumps(sub["body"]) if sub["body"] is not None else b""
    if body and "content-type" not in {k.lower() for k in sub["headers"]}:
        headers["content-type"] = "application/json"
    request = KintoRequest(
        sub["method"],
        path,
        parse_qsl(query, keep_blank_values=True),
        headers,
        body,
        outer.prefix,
        outer.origin,
        outer.request_id,
    )
    return request, "/v1" + path + (f"?{query}" if query else "")


async def batch(call: KintoCall, run: SubRunner) -> KintoResponse:
    payload = call.json()
    if not isinstance(payload, dict):
        raise invalid("body", "body", "Should be an object")
    for key in payload:
        if key not in ("defaults", "requests"):
            raise invalid("body", key, "Unknown field")
    defaults = payload.get("defaults", {})
    if not isinstance(defaults, dict):
        raise invalid("body", "defaults", "Should be an object")
    requests = payload.get("requests")
    if not isinstance(requests, list):
        raise invalid("body", "requests", "Required")
    limit = call.ctx.config.batch_max_requests
    if len(requests) > limit:
        raise invalid("body", "requests", f"Number of requests is limited to {limit}")
    subs = [_validate(i, _merge(defaults, r) if isinstance(r, dict) else r) for i, r in enumerate(requests)]
    parts: list[bytes] = []
    try:
        async with transaction(call.core.storage) as tx:
            for sub in subs:
                request, shown_path = _subrequest(call.request, sub)
                response = await run(call, request, tx)
                if response.status >= 500 or response.status == 409:
                    raise _Abort(response)
                body = response.body if response.body and request.method != "HEAD" else b'""'
                parts.append(
                    b'{"status":'
                    + str(response.status).encode()
                    + b',"path":'
                    + jsonutil.dumps(shown_path)
                    + b',"headers":'
                    + jsonutil.dumps(response.headers)
                    + b',"body":'
                    + body
                    + b"}"
                )
    except _Abort as abort:
        return abort.response
    return KintoResponse(200, b'{"responses":[' + b",".join(parts) + b"]}")
