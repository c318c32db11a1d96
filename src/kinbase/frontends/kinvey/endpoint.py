"""What every Kinvey endpoint shares: app lookup, API version, authentication, headers, errors, CORS.

A handler is ``async def handler(call: KinveyCall) -> Response``; :func:`endpoint` wraps it into a
Starlette endpoint that resolves the app from the path, applies the API version, authenticates the
request with the credentials the endpoint accepts, renders any :class:`~kinbase.errors.BaaSError`
in Kinvey's format, and adds the headers every Kinvey response carries.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from kinbase import jsonutil
from kinbase.core.clock import iso_from_ms
from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.services import KinveyServices
from kinbase.core.kinvey.wire import check_no_nul
from kinbase.core.services import Core
from kinbase.errors import BaaSError
from kinbase.frontends.kinvey.auth import Auth, AuthKind, authenticate
from kinbase.frontends.kinvey.errors import KinveyError, error_body
from kinbase.http.body import read_body
from kinbase.http.responses import JSON_MEDIA_TYPE
from kinbase.storage.base import AppRecord

__all__ = [
    "DEFAULT_API_VERSION",
    "LATEST_API_VERSION",
    "KinveyCall",
    "cors_headers",
    "endpoint",
    "iso_ms",
    "preflight",
]

logger = logging.getLogger("kinbase.kinvey")

LATEST_API_VERSION = 6
DEFAULT_API_VERSION = 3
"""The version applied when a request sends none and the app sets no ``default_api_version``."""

EXPOSED_HEADERS = (
    "Location, X-Kinvey-Request-Id, X-Kinvey-Request-Start, X-Kinvey-API-Version, X-Kinvey-Items-Count, "
    "X-Kinvey-Content-Type"
)
DEFAULT_ALLOWED_HEADERS = (
    "Authorization, Content-Type, Accept, X-Kinvey-API-Version, X-Kinvey-Api-Version, "
    "X-Kinvey-Client-App-Version, X-Kinvey-Custom-Request-Properties, X-Kinvey-Device-Information, "
    "X-Kinvey-Device-Info, X-Kinvey-Content-Type, X-Kinvey-Include-Items-Count, "
    "X-Kinvey-Skip-Business-Logic, X-Kinvey-Delete-Entire-Collection, X-Requested-With"
)


def iso_ms(moment: dt.datetime) -> str:
    """``2019-02-12T14:41:41.432Z``: the format of ``_kmd`` times and ``X-Kinvey-Request-Start``."""
    return iso_from_ms(int(moment.timestamp()) * 1000 + moment.microsecond // 1000)


@dataclass(slots=True)
class KinveyCall:
    """One Kinvey request, resolved."""

    request: Request
    core: Core
    app: AppRecord
    auth: Auth
    api_version: int
    request_id: str
    started: dt.datetime

    @property
    def path_params(self) -> dict[str, Any]:
        return self.request.path_params

    @property
    def caller(self) -> Caller:
        return self.auth.caller

    @property
    def kinvey(self) -> KinveyServices:
        return self.core.kinvey

    @property
    def params(self) -> Mapping[str, str]:
        return self.request.query_params

    def base_url(self) -> str:
        """The externally visible base URL (``public_url`` or the request's)."""
        return self.core.settings.public_url.rstrip("/") or str(self.request.base_url).rstrip("/")

    def url(self, *segments: str) -> str:
        """The absolute URL of a resource (``Location``), each path segment percent-encoded."""
        return self.base_url() + "".join("/" + quote(segment, safe="") for segment in segments)

    async def json_body(self) -> Any:
        """The request body as JSON (None when empty).

        Raises:
            KinveyError: JSONParseError if the body is not JSON, RequestEntityTooLarge, BadRequest
                for U+0000 in a string.
        """
        raw = await read_body(self.request, self.core.settings.max_body_bytes)
        if not raw.strip():
            return None
        value = jsonutil.loads(raw)
        check_no_nul(raw, value)
        return value


Handler = Callable[[KinveyCall], Awaitable[Response]]


def cors_headers(request: Request) -> dict[str, str]:
    """CORS headers for a browser request: the origin is reflected, with credentials."""
    origin = request.headers.get("origin")
    if not origin:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Expose-Headers": EXPOSED_HEADERS,
        "Vary": "Origin",
    }


async def preflight(request: Request) -> Response:
    """Answer a CORS preflight on any Kinvey path."""
    headers = cors_headers(request)
    headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS"
    headers["Access-Control-Allow-Headers"] = (
        request.headers.get("access-control-request-headers") or DEFAULT_ALLOWED_HEADERS
    )
    headers["Access-Control-Max-Age"] = "86400"
    return Response(b"", status_code=204, headers=headers)


def parse_api_version(request: Request, app: AppRecord | None) -> int:
    """The API version of a request: its ``X-Kinvey-API-Version`` header or the app's default.

    Raises:
        KinveyError: APIVersionNotAvailable for a malformed or unsupported version,
            APIVersionNotImplemented for a version newer than this server knows.
    """
    raw = request.headers.get("x-kinvey-api-version")
    if raw is None or raw.strip() == "":
        default = app.settings.get("default_api_version") if app is not None else None
        return int(default) if isinstance(default, int) else DEFAULT_API_VERSION
    value = raw.strip()
    if not value.isdigit():
        raise KinveyError("APIVersionNotAvailable", f"X-Kinvey-API-Version {raw!r} is not a version number.")
    version = int(value)
    if version > LATEST_API_VERSION:
        raise KinveyError(
            "APIVersionNotImplemented", f"This server implements API versions up to {LATEST_API_VERSION}."
        )
    return version


def _finish(
    response: Response, request: Request, request_id: str, started: dt.datetime, version: int | None
) -> Response:
    headers = response.headers
    headers["X-Kinvey-Request-Id"] = request_id
    if "x-kinvey-request-start" not in headers:
        headers["X-Kinvey-Request-Start"] = iso_ms(started)
    if version is not None:
        headers["X-Kinvey-API-Version"] = str(version)
    for name, value in cors_headers(request).items():
        headers[name] = value
    return response


def error_response(exc: BaaSError) -> Response:
    status, body = error_body(exc)
    return Response(jsonutil.dumps(body), status_code=status, media_type=JSON_MEDIA_TYPE)


def _check_path(request: Request) -> None:
    """Refuse path segments that no identifier can hold (U+0000)."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise KinveyError("InvalidIdentifier", f"The {name} in the path contains the character U+0000.")


def endpoint(
    accepts: Collection[AuthKind] | None,
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a Kinvey handler.

    Args:
        accepts: the credential kinds the endpoint accepts (``"app"``, ``"master"``, ``"user"``), or
            None for an endpoint that needs no credentials (the ping).
    """

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            started = dt.datetime.now(dt.UTC)
            request_id: str = request.scope.get("state", {}).get("request_id", "")
            version: int | None = None
            core: Core = request.app.state.core
            try:
                app = await core.apps.require(request.path_params["app_key"])
                version = parse_api_version(request, app)
                _check_path(request)
                auth = await authenticate(core, request, app, accepts, version)
                call = KinveyCall(request, core, app, auth, version, request_id, started)
                response = await handler(call)
            except BaaSError as exc:
                response = error_response(exc)
            except Exception:
                logger.exception("unhandled error (request id %s)", request_id)
                response = error_response(KinveyError("KinveyInternalErrorRetry", f"request id {request_id}"))
            return _finish(response, request, request_id, started, version)

        run.__name__ = handler.__name__
        run.__doc__ = handler.__doc__
        return run

    return wrap


async def not_found(request: Request) -> Response:
    """Any path of a Kinvey namespace that no route serves."""
    started = dt.datetime.now(dt.UTC)
    request_id: str = request.scope.get("state", {}).get("request_id", "")
    exc = KinveyError(
        "BadRequest", f"{request.method} {request.url.path} is not an endpoint of this API.", status=404
    )
    return _finish(error_response(exc), request, request_id, started, None)
