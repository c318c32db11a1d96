"""The Kinvey front-end: route, resolve the app and the API version, authenticate, run the
handler, render errors, and add the headers every Kinvey response carries.

The server (:mod:`kinbase.http.server`) hands it every path of Kinvey's namespaces
(:data:`~.routes.NAMESPACES`). A handler gets a :class:`~.call.KinveyCall` whose app, API version
and caller are resolved; a ``page`` route (the ping, the pages mail links open) gets the bare
request.
"""

from __future__ import annotations

import time

from kinbase.core.flex.chain import CHAIN_HEADER, CHAIN_SEGMENT, encode_header, verify
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.wire import iso_of
from kinbase.core.services import Core
from kinbase.errors import BaaSError
from kinbase.frontends.kinvey.auth import ANONYMOUS, authenticate
from kinbase.frontends.kinvey.call import KinveyCall
from kinbase.frontends.kinvey.errors import error_body
from kinbase.frontends.kinvey.router import Match, MethodNotAllowed, Router, split
from kinbase.frontends.kinvey.routes import NOT_FOUND, ROUTES
from kinbase.http.cors import CorsPolicy
from kinbase.http.request import HttpRequest
from kinbase.http.response import HttpResponse, json_response
from kinbase.storage.base import AppRecord

__all__ = ["CORS", "DEFAULT_API_VERSION", "LATEST_API_VERSION", "KinveyFrontend", "parse_api_version"]

LATEST_API_VERSION = 6
DEFAULT_API_VERSION = 3
"""The version applied when a request sends none and the app sets no ``default_api_version``."""

CORS = CorsPolicy(
    allow_origin=None,
    credentials=True,
    expose=(
        "Location, X-Kinvey-Request-Id, X-Kinvey-Request-Start, X-Kinvey-API-Version, "
        "X-Kinvey-Items-Count, X-Kinvey-Content-Type"
    ),
    allow_methods="GET, POST, PUT, DELETE, OPTIONS",
    allow_headers=None,
    default_allow_headers=(
        "Authorization, Content-Type, Accept, X-Kinvey-API-Version, X-Kinvey-Api-Version, "
        "X-Kinvey-Client-App-Version, X-Kinvey-Custom-Request-Properties, X-Kinvey-Device-Information, "
        "X-Kinvey-Device-Info, X-Kinvey-Content-Type, X-Kinvey-Include-Items-Count, "
        "X-Kinvey-Skip-Business-Logic, X-Kinvey-Delete-Entire-Collection, X-Requested-With"
    ),
    max_age=86400,
)
"""Kinvey's CORS: the browser's origin reflected, with credentials; the requested headers allowed."""


def parse_api_version(raw: str | None, app: AppRecord | None) -> int:
    """The API version of a request: its ``X-Kinvey-API-Version`` header or the app's default.

    Raises:
        KinveyError: APIVersionNotAvailable for a malformed or unsupported version, and for a
            version newer than this server knows (the specification allows ``400
            APIVersionNotAvailable`` or ``501 APIVersionNotImplemented``: a client's choice is a 4xx).
    """
    if raw is not None:
        known = _VERSIONS.get(raw)
        if known is not None:
            return known
    if raw is None or raw.strip() == "":
        default = app.settings.get("default_api_version") if app is not None else None
        return int(default) if isinstance(default, int) else DEFAULT_API_VERSION
    value = raw.strip()
    if not value.isascii() or not value.isdigit() or len(value.lstrip("0")) > 3:
        raise KinveyError("APIVersionNotAvailable", f"X-Kinvey-API-Version {raw[:20]!r} is not a version.")
    version = int(value)
    if version > LATEST_API_VERSION:
        raise KinveyError(
            "APIVersionNotAvailable", f"This server implements API versions up to {LATEST_API_VERSION}."
        )
    return version


_VERSIONS = {str(v): v for v in range(LATEST_API_VERSION + 1)}
"""The versions a client usually sends, as sent (any other spelling takes the checks)."""

_CALLBACK_PREFIX = f"/{CHAIN_SEGMENT}/"


def _now_ms() -> int:
    return int(time.time() * 1000)


class KinveyFrontend:
    """The Kinvey REST API of the server."""

    api = "kinvey"

    def __init__(self, core: Core) -> None:
        self.core = core
        self.router = Router(ROUTES)

    async def handle(self, request: HttpRequest) -> HttpResponse:
        started = _now_ms()
        if request.method == "OPTIONS":
            headers = CORS.preflight(
                request.headers.get("origin"), request.headers.get("access-control-request-headers")
            )
            return HttpResponse(204, b"", headers)
        version: int | None = None
        try:
            request.headers.pop(CHAIN_HEADER, None)  # only a signed callback URL sets it
            if request.path.startswith(_CALLBACK_PREFIX):
                self._callback(request)
            found = self.router.match(request.method, split(request.raw_path))
            if not isinstance(found, Match):
                raise self._unrouted(request, found)
            route, params = found.route, found.params
            request.route = route.path
            if route.page:
                response: HttpResponse = await route.handler(self.core, request, params)
            else:
                app = await self.core.apps.require(params["app_key"])
                version = parse_api_version(request.headers.get("x-kinvey-api-version"), app)
                auth = (
                    await authenticate(self.core, request, app, route.accepts, version)
                    if route.accepts is not None
                    else ANONYMOUS
                )
                call = KinveyCall(request, self.core, app, auth, version, params, started)
                response = await route.handler(call)
        except BaaSError as exc:
            response = self._error(exc, request)
            if isinstance(exc, _NotAllowed):
                response.headers["Allow"] = exc.allow
        return self._finish(response, request, started, version)

    def _callback(self, request: HttpRequest) -> None:
        """A Flex service's call back into kinbase (``/_flex/<token>/appdata/...``): check the
        token and serve the rest of the path, with the chain of Flex calls in :data:`CHAIN_HEADER`.

        Raises:
            KinveyError: BadRequest for a token this server did not sign.
        """
        token = request.path[len(_CALLBACK_PREFIX) :].partition("/")[0]
        links = verify(self.core.secret, token)
        if links is None:
            raise KinveyError(
                "BadRequest", "This Flex callback URL was not issued by this server (baasUrl is not valid)."
            )
        prefix = f"{_CALLBACK_PREFIX}{token}"
        request.path = request.path[len(prefix) :] or "/"
        request.raw_path = request.raw_path[len(prefix) :] or "/"
        request.headers[CHAIN_HEADER] = encode_header(links)

    def refuse(self, request: HttpRequest, error: BaaSError | None) -> HttpResponse:
        """An edge refusal (or an internal error) in Kinvey's format, with Kinvey's headers."""
        return self._finish(self._error(error, request), request, _now_ms(), None)

    def _unrouted(self, request: HttpRequest, found: MethodNotAllowed | None) -> BaaSError:
        if isinstance(found, MethodNotAllowed):
            return _NotAllowed(", ".join(found.allow), f"{request.method} is not allowed on {request.path}.")
        namespace = request.path[1:].partition("/")[0]
        name = NOT_FOUND.get(namespace, "EntityNotFound")
        return KinveyError(name, f"{request.method} {request.path} is not an endpoint of this API.")

    def _error(self, exc: BaaSError | None, request: HttpRequest) -> HttpResponse:
        status, body = error_body(exc, request.request_id)
        return json_response(body, status)

    def _finish(
        self, response: HttpResponse, request: HttpRequest, started: int, version: int | None
    ) -> HttpResponse:
        headers = response.headers
        headers["X-Kinvey-Request-Id"] = request.request_id
        if "X-Kinvey-Request-Start" not in headers:
            headers["X-Kinvey-Request-Start"] = iso_of(started)
        if version is not None:
            headers["X-Kinvey-API-Version"] = str(version)
        origin = request.headers.get("origin")
        if origin:
            headers.update(CORS.actual(origin))
        return response


class _NotAllowed(KinveyError):
    """A known path with another method: 405 (the name the Flex SDK uses for it)."""

    def __init__(self, allow: str, debug: str) -> None:
        super().__init__("NotAllowed", debug)
        self.allow = allow
