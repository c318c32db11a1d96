"""The Kinto front-end: API prefix and tenancy, redirects, authentication, the default bucket
alias, dispatch, error rendering and the headers every Kinto response carries.

The server (:mod:`kinbase.http.server`) hands it every path that is not Kinvey's or the server's
own. Tenancy: ``/v1`` serves the server's default app (``kinbase serve`` creates one on the first
start, ``kinbase apps default`` chooses another; without one, ``/v1`` answers 404/111),
``/kinto/{app_key}/v1`` serves any app. Each is an isolated namespace of accounts, buckets and
permissions.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import time
from collections.abc import Callable
from urllib.parse import quote

from kinbase import jsonutil
from kinbase.core.kinto.auth import parse_basic
from kinbase.core.kinto.config import KintoConfig
from kinbase.core.kinto.context import KintoContext, StaleStructure
from kinbase.core.kinto.errors import ObjectChanged
from kinbase.core.services import DEFAULT_APP_KEY, Core
from kinbase.errors import BaaSError, BackendUnavailable, NotAuthenticated
from kinbase.frontends.kinto.admin import AdminPages
from kinbase.frontends.kinto.attachments import FILES_PREFIX, serve_file
from kinbase.frontends.kinto.batch import batch
from kinbase.frontends.kinto.call import KintoCall, KintoRequest, KintoResponse
from kinbase.frontends.kinto.errors import Errno, KintoError, error_body
from kinbase.frontends.kinto.routes import Handler, Resolved, resolve, template
from kinbase.http.cors import CorsPolicy
from kinbase.http.request import ClientDisconnected, HttpRequest
from kinbase.http.response import redirect
from kinbase.storage.base import AppRecord, Writer

# A private generator: jitter and sampling never touch the global `random` state (hypothesis
# checks it around every draw, and the tests run the server in the same process).
_RANDOM = random.Random()

__all__ = ["CORS", "KintoFrontend", "backoff", "error_bytes", "is_kinto_path"]

logger = logging.getLogger("kinbase.kinto")

_VERSIONED = re.compile(r"/v([0-9]+)(/.*)?", re.DOTALL)
_READS = ("GET", "HEAD", "OPTIONS")
_SECURITY = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none';",
    "X-Content-Type-Options": "nosniff",
}
_EXPOSED = "Backoff, Retry-After, Alert, Content-Length, Content-Type"
_EXPOSED_READ = (
    _EXPOSED
    + ", ETag, Last-Modified, Cache-Control, Expires, Pragma, Next-Page, Total-Objects, Total-Records"
)
_ALLOWED_HEADERS = "Authorization, Content-Type, If-Match, If-None-Match, Response-Behavior, " + _EXPOSED_READ
_ALL_METHODS = "GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS"
_URL_SAFE = "/:@!$&'()*+,;=-._~"

CORS = CorsPolicy(
    allow_origin="*",
    credentials=False,
    expose=_EXPOSED_READ,
    allow_methods=_ALL_METHODS,
    allow_headers=_ALLOWED_HEADERS,
    max_age=3600,
)
"""Kinto's CORS: ``*`` unless the app configures ``cors_origins``."""


def backoff(config: KintoConfig, draw: Callable[[], float]) -> str | None:
    """The ``Backoff`` header of one response, if any: as Kinto, sent when ``draw()`` (uniform in
    [0, 1)) falls below ``backoff_percentage`` / 100, so 0 never sends it and 100 always does."""
    if config.backoff <= 0 or draw() >= config.backoff_percentage / 100:
        return None
    return str(config.backoff)


def _draw() -> float:
    return _RANDOM.random()


def is_kinto_path(path: str) -> bool:
    """Whether ``path`` is under a Kinto API prefix (``/v<n>...`` or ``/kinto/...``)."""
    return path.startswith("/kinto/") or _VERSIONED.fullmatch(path) is not None


def error_bytes(exc: BaaSError, config: KintoConfig | None = None) -> tuple[int, bytes, dict[str, str]]:
    status, body, headers = error_body(exc, config.retry_after_seconds if config else 30)
    if isinstance(exc, ObjectChanged) and exc.stamp is not None:
        headers["ETag"] = f'"{exc.stamp}"'
    return status, jsonutil.dumps(body), headers


def _redirect(location: str, query: str, ttl: int | None = None) -> KintoResponse:
    """A 307 to ``location`` (a decoded path, encoded here: a raw path never reaches a header)."""
    target = quote(location, safe=_URL_SAFE) + ("?" + quote(query, safe=_URL_SAFE + "%?") if query else "")
    headers = dict(_SECURITY)
    if ttl is not None:
        headers["Cache-Control"] = f"max-age={ttl}"
    return redirect(target, 307, headers)


def _nul_in_basic(authorization: str | None) -> bool:
    """Whether Basic credentials carry U+0000 (no account can: PostgreSQL cannot even hold one)."""
    if not authorization or authorization[:6].lower() != "basic ":
        return False
    pair = parse_basic(authorization)
    return pair is not None and ("\x00" in pair[0] or "\x00" in pair[1])


class KintoFrontend:
    """The Kinto API of the server."""

    api = "kinto"

    def __init__(self, core: Core) -> None:
        self.core = core
        self._default: tuple[float, str | None] = (0.0, None)
        core.invalidations.on(DEFAULT_APP_KEY, self._default_changed)
        self._extra = {"batch": Resolved({"POST": self._batch})}
        self.admin = AdminPages(core.settings)

    # -- the server's entry ---------------------------------------------------------------------
    async def handle(self, http: HttpRequest) -> KintoResponse:
        method = http.method
        path = http.path
        qs = http.query_string
        base = ""
        remainder = path
        if path.startswith("/kinto/"):
            _, _, key, *rest = path.split("/", 3)
            base, remainder = f"/kinto/{key}", "/" + rest[0] if rest else ""
        app_key = base[7:] if base else None
        if not base and path.startswith(FILES_PREFIX) and method in _READS:
            return await self._attachment_file(http)
        match = _VERSIONED.fullmatch(remainder)
        if match is None:
            return self._unversioned(method, base, remainder, qs)
        if match.group(1) != "1":
            status, body, headers = error_bytes(KintoError(Errno.VERSION_NOT_AVAILABLE))
            return KintoResponse(status, body, {**headers, **_SECURITY, "Content-Type": "application/json"})
        rest_path = match.group(2)
        prefix = f"{base}/v1"
        if rest_path is None:
            return _redirect(prefix + "/", qs)
        if rest_path == "/admin" or rest_path.startswith("/admin/"):
            return self._admin(http, prefix, rest_path)
        if rest_path != "/" and rest_path.endswith("/"):
            return _redirect(prefix + rest_path.rstrip("/"), qs, 3600)
        request = KintoRequest(
            method,
            "" if rest_path == "/" else rest_path,
            http.query_pairs,
            http.headers,
            b"",
            prefix,
            http.origin,
            http.request_id,
        )
        try:
            app = await self._app(app_key)
            if method == "POST" and rest_path.endswith("/attachment"):
                request.http = http  # a multipart upload, streamed by its handler
            elif method not in _READS:
                request.body = await http.body(self.core.settings.max_body_bytes)
        except BaaSError as exc:
            response = self._error(exc, request.request_id)
            self._finish(response, request, None, None)
            return response
        response = await self.dispatch(request, app)
        http.route = request.route
        return response

    async def _attachment_file(self, http: HttpRequest) -> KintoResponse:
        """An attachment file at ``/attachments/{app_key}/{location}`` (no credentials)."""
        key, _, location = http.path[len(FILES_PREFIX) :].partition("/")
        http.route = FILES_PREFIX + "{app_key}/{location}"
        try:
            if http.method == "OPTIONS":
                response = KintoResponse(200, b"", self._preflight_headers(None))
            else:
                app = await self.core.apps.get(key)
                if app is None or not location:
                    raise KintoError(Errno.MISSING_RESOURCE)
                response = await serve_file(self.core, app, http, location)
        except BaaSError as exc:
            response = self._error(exc, http.request_id)
        response.headers.update(_SECURITY)
        if "origin" in http.headers:
            response.headers.update(CORS.actual(http.headers["origin"]))
        return response

    def _admin(self, http: HttpRequest, prefix: str, rest_path: str) -> KintoResponse:
        try:
            http.route, response = self.admin.serve(http.method, quote(prefix, safe=_URL_SAFE), rest_path)
        except BaaSError as exc:
            http.route = "/admin/{file}"
            response = self._error(exc, http.request_id)
            response.headers.update(_SECURITY)
        return response

    def refuse(self, http: HttpRequest, error: BaaSError | None) -> KintoResponse:
        """An edge refusal (or an internal error) in Kinto's format."""
        exc = error if error is not None else KintoError(Errno.UNDEFINED)
        response = self._error(exc, http.request_id)
        response.headers.update(_SECURITY)
        if "origin" in http.headers:
            response.headers.update(CORS.actual(http.headers["origin"]))
        return response

    def _error(self, exc: BaaSError, request_id: str, config: KintoConfig | None = None) -> KintoResponse:
        if isinstance(exc, BackendUnavailable):
            logger.warning("backend unavailable (request id %s): %s", request_id, exc.message)
        status, body, headers = error_bytes(exc, config)
        return KintoResponse(status, body, {**headers, "Content-Type": "application/json"})

    def _unversioned(self, method: str, base: str, remainder: str, qs: str) -> KintoResponse:
        if method == "OPTIONS":
            return KintoResponse(200, b"", {**_SECURITY, **self._preflight_headers(None)})
        return _redirect(f"{base}/v1{remainder or '/'}", qs)

    def _preflight_headers(self, resolved: Resolved | None) -> dict[str, str]:
        return CORS.preflight(None, None, allow_methods=resolved.allow if resolved else None)

    def _default_changed(self, key: str) -> None:
        self._default = (0.0, None)

    async def _app(self, key: str | None) -> AppRecord:
        if key is None:
            await self.core.invalidations.sync()
            expires, cached = self._default
            now = time.monotonic()
            if expires < now:
                cached = await self.core.default_app_key()
                self._default = (now + max(self.core.settings.app_cache_seconds, 0), cached)
            key = cached
            if key is None:
                raise KintoError(
                    Errno.MISSING_RESOURCE,
                    "This server has no default app: use the per-app base URL /kinto/{app_key}/v1/.",
                )
        app = await self.core.apps.get(key)
        if app is None:
            raise KintoError(Errno.MISSING_RESOURCE, f"There is no app {key!r} on this server.")
        return app

    # -- dispatch -------------------------------------------------------------------------------
    async def dispatch(
        self,
        request: KintoRequest,
        app: AppRecord,
        *,
        tx: Writer | None = None,
        outer: KintoContext | None = None,
    ) -> KintoResponse:
        """Serve one request (or one ``/batch`` sub-request inside ``tx``)."""
        kinto = self.core.kinto
        config = kinto.config(app)
        ctx: KintoContext | None = None
        try:
            if not config.enabled:
                raise KintoError(Errno.MISSING_RESOURCE)
            segments = request.path.strip("/").split("/") if request.path.strip("/") else []
            resolved = resolve(segments, self._extra)
            request.route = template(resolved, segments)
            if request.method == "OPTIONS":
                response = KintoResponse(200, b"", self._preflight_headers(resolved))
                self._finish(response, request, config, None)
                return response
            handler = resolved.methods.get(request.method)
            if handler is None:
                raise KintoError(Errno.METHOD_NOT_ALLOWED)
            if request.method in ("GET", "HEAD") and not _accepts_json(request.headers.get("accept")):
                raise KintoError(
                    Errno.INVALID_PARAMETERS,
                    "Accept header should be one of ['application/json']",
                    status=406,
                    details=[{"location": "header", "name": "Accept", "description": "should accept JSON"}],
                )
            if config.readonly and request.method not in _READS:
                raise KintoError(Errno.METHOD_NOT_ALLOWED)
            if config.eos and _past(config.eos):
                raise KintoError(Errno.SERVICE_DEPRECATED)
            authorization = request.headers.get("authorization")
            if outer is not None:
                ctx = outer
            else:
                if _nul_in_basic(authorization):
                    raise NotAuthenticated("The credentials contain the character U+0000.")
                ctx = await kinto.context(app, authorization, presume=_presumes(request, segments, tx))
            if tx is not None:
                ctx = ctx.in_transaction(tx)
            if (
                len(segments) >= 2
                and segments[0] == "buckets"
                and segments[1] == "default"
                and config.default_bucket
            ):
                ctx, handler = await self._default_bucket(ctx, request, segments)
            try:
                response = await handler(KintoCall(request, self.core, ctx, {}))
            except (StaleStructure, BaaSError) as exc:
                # a presumed structure version: an answer stands only if it was the current one
                if not ctx.presumed or (isinstance(exc, BaaSError) and await kinto.confirm(ctx)):
                    raise
                ctx = await kinto.context(app, authorization)
                response = await handler(KintoCall(request, self.core, ctx, {}))
        except BaaSError as exc:
            response = self._error(exc, request.request_id, config)
        except ClientDisconnected:
            raise  # an upload whose client left: nobody to answer (the server drops it)
        except Exception:
            logger.exception(
                "unhandled error in %s %s (request id %s)", request.method, request.path, request.request_id
            )
            status, body, headers = error_bytes(KintoError(Errno.UNDEFINED), config)
            response = KintoResponse(status, body, headers)
        self._finish(response, request, config, ctx)
        return response

    async def _default_bucket(
        self, ctx: KintoContext, request: KintoRequest, segments: list[str]
    ) -> tuple[KintoContext, Handler]:
        bucket = self.core.kinto.default_bucket_id(ctx)
        if bucket is None:
            raise NotAuthenticated()
        segments = [segments[0], bucket, *segments[2:]]
        resolved = resolve(segments, self._extra)
        handler = resolved.methods.get(request.method)
        if handler is None:
            raise KintoError(Errno.METHOD_NOT_ALLOWED)
        creates_bucket = request.method == "PUT" and len(segments) == 2
        creates_collection = request.method == "PUT" and len(segments) == 4
        if not creates_bucket:
            collection = segments[3] if len(segments) >= 4 and segments[2] == "collections" else None
            if creates_collection:
                collection = None
            ctx = await self.core.kinto.ensure_default_bucket(ctx, bucket, collection)
        return ctx, handler

    async def _batch(self, call: KintoCall) -> KintoResponse:
        async def run(outer: KintoCall, request: KintoRequest, tx: Writer) -> KintoResponse:
            same_auth = request.headers.get("authorization") == outer.request.headers.get("authorization")
            response = await self.dispatch(
                request, outer.ctx.app, tx=tx, outer=outer.ctx if same_auth else None
            )
            return response

        return await batch(call, run)

    def _finish(
        self,
        response: KintoResponse,
        request: KintoRequest,
        config: KintoConfig | None,
        ctx: KintoContext | None,
    ) -> None:
        headers = response.headers
        headers.setdefault("Content-Type", "application/json")
        headers.update(_SECURITY)
        if config is not None:
            seconds = backoff(config, _draw)
            if seconds is not None:
                headers["Backoff"] = seconds
            if config.eos:
                code = "hard-eol" if _past(config.eos) else "soft-eol"
                alert = {"code": code, "message": config.eos_message, "url": config.eos_url}
                headers["Alert"] = jsonutil.dumps_str(alert)
        if "origin" in request.headers:
            headers.update(
                CORS.actual(request.headers["origin"], allow_origin=config.cors_origins if config else None)
            )
        if (
            request.method in ("GET", "HEAD")
            and ctx is not None
            and ctx.authenticated
            and response.status < 400
        ):
            headers.setdefault("Cache-Control", "no-cache, no-store")


def _presumes(request: KintoRequest, segments: list[str], tx: Writer | None) -> bool:
    """Whether the request may start from the structure version the worker read last
    (:meth:`~kinbase.core.kinto.service.KintoService.context`): a ``GET`` of a collection's
    records, whose page statement reads the version too when the page is long (a ``_since``
    sync, a page without ``_limit``): one statement fewer. Not in a batch, nor for the personal
    bucket (its creation on first use is a write)."""
    return (
        tx is None
        and request.method == "GET"
        and len(segments) == 5
        and segments[0] == "buckets"
        and segments[1] != "default"
        and segments[2] == "collections"
        and segments[4] == "records"
    )


def _accepts_json(accept: str | None) -> bool:
    if not accept:
        return True
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in ("*/*", "application/*", "application/json") or media.endswith("+json"):
            return True
    return False


def _past(date: str) -> bool:
    try:
        return dt.date.fromisoformat(date) <= dt.datetime.now(dt.UTC).date()
    except ValueError:
        return False
