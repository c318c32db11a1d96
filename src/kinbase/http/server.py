"""The ASGI application: lifespan, request ids, the edge checks, one dispatch, the last guard.

Every HTTP request goes through :meth:`Server.__call__`:

1. a request id (logged, and sent back by each front-end);
2. the front-end that owns the path, chosen by its first segment from one table (Kinvey's
   namespaces, the server's own routes; anything else is Kinto's, whose version-prefix redirect
   therefore never sees a Kinvey path);
3. the edge checks of :mod:`kinbase.http.limits` (header block size, control characters in the
   path), refused by that front-end in its protocol's format;
4. the front-end's ``handle``; an exception nothing caught is logged with the request id and
   answered by the front-end's internal error, never with a stack trace.

The server counts what it answered (:attr:`Server.responses`: by status class, ``failed`` for a
response that could not be sent whole, ``disconnected`` for a client gone before its answer) and
logs the counts when its lifespan ends: the fuzz campaign (issue 16) checks them against what its
clients received.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote

from kinbase.core.invalidation import IN_REQUEST
from kinbase.core.services import Core
from kinbase.errors import BaaSError, BodyTimeout
from kinbase.http.limits import check_headers, check_path
from kinbase.http.request import BodyDeadline, ClientDisconnected, HttpRequest
from kinbase.http.response import HttpResponse, send_response
from kinbase.logs import REQUEST_ID
from kinbase.types_asgi import Receive, Scope, Send

__all__ = ["Frontend", "Server"]

logger = logging.getLogger("kinbase.http")

_PATH_SAFE = "/:@!$&'()*+,;=-._~"

_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


class Frontend(Protocol):
    """A protocol served by the server (Kinvey, Kinto, the server's own routes)."""

    api: str
    """Its name in the metrics (``kinvey``, ``kinto``, ``server``)."""

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Serve one request; errors of the protocol are rendered, not raised."""

    def refuse(self, request: HttpRequest, error: BaaSError | None) -> HttpResponse:
        """The response to a request refused at the edge (``error``), or to an internal error
        (None), in the protocol's format."""


class Server:
    """The kinbase ASGI app.

    Args:
        core: started and stopped with the ASGI lifespan.
        namespaces: the front-end of each first path segment (``appdata`` → Kinvey...).
        nested: the front-end of two-segment prefixes (``("v3", "oauth")`` → Kinvey).
        default: the front-end of every other path (Kinto: ``/v1``, ``/kinto/...`` and its redirects).
        max_header_bytes: the largest header block accepted.
    """

    def __init__(
        self,
        core: Core,
        namespaces: Mapping[str, Frontend],
        default: Frontend,
        *,
        nested: Mapping[tuple[str, str], Frontend] | None = None,
        max_header_bytes: int,
    ) -> None:
        self.core = core
        self.namespaces = dict(namespaces)
        self.nested = dict(nested or {})
        self.default = default
        self.max_header_bytes = max_header_bytes
        settings = core.settings
        self.body_deadline = BodyDeadline(settings.body_timeout_seconds, settings.body_min_rate)
        self.responses: Counter[str] = Counter()

    def frontend_of(self, path: str) -> Frontend:
        """The front-end that owns ``path`` (by its first segment, or its first two)."""
        first, _, rest = path[1:].partition("/")
        found = self.namespaces.get(first)
        if found is not None:
            return found
        if self.nested:
            found = self.nested.get((first, rest.partition("/")[0]))
        return found if found is not None else self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path: str = scope["path"]
        raw_path = scope.get("raw_path")
        request = HttpRequest(
            method=scope["method"],
            path=path,
            raw_path=raw_path.decode("latin-1") if raw_path else quote(path, safe=_PATH_SAFE),
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers={},
            client=(scope.get("client") or (None,))[0],
            request_id=os.urandom(16).hex(),
            scope=scope,
            receive=receive,
            public_url=self.core.settings.public_url,
            body_deadline=self.body_deadline,
        )
        REQUEST_ID.set(request.request_id)
        in_request = [True]
        IN_REQUEST.set(in_request)
        frontend = self.frontend_of(path)
        try:
            raw_headers = scope.get("headers", [])
            check_headers(raw_headers, self.max_header_bytes)
            request.headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw_headers}
            check_path(path)
            response = await frontend.handle(request)
        except BaaSError as exc:
            response = frontend.refuse(request, exc)
            if isinstance(exc, BodyTimeout):
                # The rest of the body may still be dripping in: no keep-alive after this answer.
                response.headers["Connection"] = "close"
        except ClientDisconnected:
            in_request[0] = False
            self.responses["disconnected"] += 1
            return
        except Exception:
            logger.exception(
                "unhandled error in %s %s (request id %s)", request.method, path, request.request_id
            )
            response = frontend.refuse(request, None)
        try:
            await send_response(send, response, head=request.method == "HEAD")
        except Exception:
            # A streamed body failed after the status went out: all that is left is to drop the
            # connection (the server does when this propagates).
            self.responses["failed"] += 1
            logger.exception("error while sending the response (request id %s)", request.request_id)
            raise
        finally:
            in_request[0] = False
            method = request.method if request.method in _METHODS else "other"
            self.core.metrics.request(
                frontend.api,
                request.route or "(unmatched)",
                method,
                response.status,
                time.perf_counter() - started,
            )
        self.responses[f"{response.status // 100}xx"] += 1

    def response_counts(self) -> str:
        """``responses: 2xx=… 4xx=…`` (every class, in order; ``failed`` and ``disconnected`` too)."""
        names = ["1xx", "2xx", "3xx", "4xx", "5xx", "failed", "disconnected"]
        names += sorted(set(self.responses) - set(names))
        return "responses: " + " ".join(f"{name}={self.responses[name]}" for name in names)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.core.start(background=True)
                except Exception as exc:
                    logger.exception("the server could not start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                logger.info("pid %d %s", os.getpid(), self.response_counts())
                await self.core.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
