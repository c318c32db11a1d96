"""The server's own routes (``/healthz``; later ``/metrics``, ``/console/``), outside both APIs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from kinbase import __version__
from kinbase.core.services import Core
from kinbase.errors import BaaSError
from kinbase.http.request import HttpRequest
from kinbase.http.response import HttpResponse, json_response

__all__ = ["NAMESPACES", "ServerRoutes"]

NAMESPACES = ("healthz",)
"""The first path segments the server keeps for itself."""

Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class ServerRoutes:
    """A front-end for the server's own paths: an exact path and method table."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.routes: dict[str, dict[str, Handler]] = {"/healthz": {"GET": self.healthz, "HEAD": self.healthz}}

    async def handle(self, request: HttpRequest) -> HttpResponse:
        methods = self.routes.get(request.path)
        if methods is None:
            return json_response({"error": "not_found", "message": f"No resource at {request.path}."}, 404)
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

    async def healthz(self, request: HttpRequest) -> HttpResponse:
        """200 when the storage answers, 503 otherwise."""
        storage_ok = await self.core.storage.ping()
        body = {
            "status": "ok" if storage_ok else "unavailable",
            "storage": storage_ok,
            "version": __version__,
        }
        return json_response(body, 200 if storage_ok else 503, {"Cache-Control": "no-store"})
