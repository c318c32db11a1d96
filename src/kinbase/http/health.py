"""The server's own routes, outside both APIs: health (``/healthz``, ``/healthz/live``,
``/healthz/ready``) and the metrics (``/metrics``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kinbase import __version__
from kinbase.core.metrics import CONTENT_TYPE
from kinbase.core.services import Core
from kinbase.errors import BaaSError
from kinbase.http.request import HttpRequest
from kinbase.http.response import HttpResponse, json_response

__all__ = ["NAMESPACES", "ServerRoutes"]

NAMESPACES = ("healthz", "metrics")
"""The first path segments the server keeps for itself."""

Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]

_NO_STORE = {"Cache-Control": "no-store"}


class ServerRoutes:
    """A front-end for the server's own paths: an exact path and method table."""

    api = "server"

    def __init__(self, core: Core) -> None:
        self.core = core
        self.routes: dict[str, dict[str, Handler]] = {
            "/healthz": {"GET": self.ready, "HEAD": self.ready},
            "/healthz/ready": {"GET": self.ready, "HEAD": self.ready},
            "/healthz/live": {"GET": self.live, "HEAD": self.live},
        }
        if core.settings.metrics_enabled:
            self.routes["/metrics"] = {"GET": self.metrics, "HEAD": self.metrics}

    async def handle(self, request: HttpRequest) -> HttpResponse:
        methods = self.routes.get(request.path)
        if methods is None:
            return json_response({"error": "not_found", "message": f"No resource at {request.path}."}, 404)
        request.route = request.path
        handler = methods.get(request.method)
        if handler is None:
            allow = ", ".join(sorted(methods))
            body = {"error": "method_not_allowed", "message": f"Allowed: {allow}."}
            return json_response(body, 405, {"Allow": allow})
        return await handler(request)

    def refuse(self, request: HttpRequest, error: BaaSError | None) -> HttpResponse:
        if error is None:
            body = {"error": "internal_error", "message": f"request id {request.request_id}"}
            return json_response(body, 500)
        return json_response({"error": error.code, "message": error.message}, error.status_code)

    async def ready(self, request: HttpRequest) -> HttpResponse:
        """Readiness: 200 when the database answers, 503 otherwise (take the worker out of the
        load balancer, do not restart it). ``invalidations`` says whether the worker hears the
        others' changes (Redis or the database feed): while false it caches nothing, which costs
        reads but serves nothing stale, so it does not make the worker unready."""
        storage_ok = await self.core.storage.ping()
        body = {
            "status": "ok" if storage_ok else "unavailable",
            "storage": storage_ok,
            "invalidations": self.core.invalidations.connected,
            "version": __version__,
        }
        return json_response(body, 200 if storage_ok else 503, _NO_STORE)

    async def live(self, request: HttpRequest) -> HttpResponse:
        """Liveness: 200 whenever the process serves HTTP (the database is not asked)."""
        return json_response({"status": "ok", "version": __version__}, 200, _NO_STORE)

    async def metrics(self, request: HttpRequest) -> HttpResponse:
        """Every metric of this worker in the Prometheus text format."""
        body = self.core.metrics.exposition()
        return HttpResponse(200, body, {"Content-Type": CONTENT_TYPE, **_NO_STORE})
