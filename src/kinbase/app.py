"""Build the ASGI application: the core over its storage, the front-ends, the middleware."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from kinbase import jsonutil
from kinbase.core.services import Core
from kinbase.frontends.kinto import KintoFrontend, KintoMiddleware, is_kinto_path
from kinbase.frontends.kinto import routes as kinto_routes
from kinbase.frontends.kinto.errors import Errno, KintoError
from kinbase.frontends.kinto.frontend import error_bytes as kinto_error_bytes
from kinbase.frontends.kinvey import NAMESPACES as KINVEY_NAMESPACES
from kinbase.frontends.kinvey import routes as kinvey_routes
from kinbase.http.health import healthz
from kinbase.http.middleware import ServerMiddleware
from kinbase.settings import Settings, load_settings
from kinbase.storage.registry import create_storage
from kinbase.types_asgi import Scope

__all__ = ["create_app", "create_app_from_environment"]

logger = logging.getLogger("kinbase")


def _error_body(scope: Scope, request_id: str) -> bytes:
    """The body of a last-resort 500, in the protocol of the path."""
    if is_kinto_path(scope.get("path", "")):
        return kinto_error_bytes(KintoError(Errno.UNDEFINED))[1]
    return jsonutil.dumps(
        {
            "error": "KinveyInternalErrorRetry",
            "description": "The server encountered an unexpected error. Please retry your request",
            "debug": f"request id {request_id}",
        }
    )


def create_app(settings: Settings, core: Core | None = None) -> Starlette:
    """The kinbase ASGI app. The core (and its storage) starts and stops with the app's lifespan."""
    the_core = core if core is not None else Core(settings, create_storage(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await the_core.start(background=True)
        try:
            yield
        finally:
            await the_core.stop()

    kinto = KintoFrontend(the_core)
    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            *kinvey_routes(),
            *kinto_routes(kinto, exclude=["/healthz", *(f"/{n}" for n in KINVEY_NAMESPACES)]),
        ],
        middleware=[
            Middleware(ServerMiddleware, error_body=_error_body),
            Middleware(KintoMiddleware, frontend=kinto),
        ],
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.core = the_core
    return app


def create_app_from_environment() -> Starlette:
    """Factory for ``uvicorn --factory``: settings from ``KINBASE_*`` (the CLI sets them for workers)."""
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return create_app(settings)
