"""Build the ASGI application: the core over its storage, and one server for every protocol."""

from __future__ import annotations

from kinbase.core.services import Core
from kinbase.frontends.console import NAMESPACES as CONSOLE_NAMESPACES
from kinbase.frontends.console import ConsoleFrontend
from kinbase.frontends.kinto import KintoFrontend
from kinbase.frontends.kinvey import NAMESPACES as KINVEY_NAMESPACES
from kinbase.frontends.kinvey import NESTED_NAMESPACES as KINVEY_NESTED
from kinbase.frontends.kinvey import KinveyFrontend
from kinbase.http.health import NAMESPACES as SERVER_NAMESPACES
from kinbase.http.health import ServerRoutes
from kinbase.http.server import Frontend, Server
from kinbase.logs import configure_logging
from kinbase.settings import Settings, load_settings
from kinbase.storage.registry import create_storage

__all__ = ["create_app", "create_app_from_environment"]


def create_app(settings: Settings, core: Core | None = None) -> Server:
    """The kinbase ASGI app. The core (and its storage) starts and stops with the app's lifespan.

    Paths are dispatched by their first segment: Kinvey's namespaces (``/appdata``, ``/user``,
    ``/oauth``, ``/v3/oauth``...), the server's own (``/healthz``), and Kinto for the rest.
    """
    the_core = core if core is not None else Core(settings, create_storage(settings))
    kinvey = KinveyFrontend(the_core)
    own = ServerRoutes(the_core)
    namespaces: dict[str, Frontend] = dict.fromkeys(KINVEY_NAMESPACES, kinvey)
    namespaces.update(dict.fromkeys(SERVER_NAMESPACES, own))
    namespaces.update(dict.fromkeys(CONSOLE_NAMESPACES, ConsoleFrontend(the_core)))
    return Server(
        the_core,
        namespaces,
        KintoFrontend(the_core),
        nested=dict.fromkeys(KINVEY_NESTED, kinvey),
        max_header_bytes=settings.max_header_bytes,
    )


def create_app_from_environment() -> Server:
    """Factory for ``uvicorn --factory``: settings from ``KINBASE_*`` (the CLI sets them for workers)."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
