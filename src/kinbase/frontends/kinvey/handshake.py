"""The handshake: ``GET /appdata/:appKey`` (any credential) and the ``GET /appdata/`` ping."""

from __future__ import annotations

from kinbase import __version__
from kinbase.core.services import Core
from kinbase.frontends.kinvey.call import KinveyCall
from kinbase.http.request import HttpRequest
from kinbase.http.response import HttpResponse, json_response

__all__ = ["handshake", "ping"]

KINVEY_VERSION = "3.9"
"""The Kinvey API generation this server implements, as the handshake reports it."""


async def handshake(call: KinveyCall) -> HttpResponse:
    """Connectivity check with the app's name."""
    return json_response(
        {
            "version": KINVEY_VERSION,
            "kinvey": f"hello {call.app.name}",
            "appName": call.app.name,
            "environmentName": call.app.settings.get("environment_name", "Development"),
            "server": f"kinbase {__version__}",
        }
    )


async def ping(core: Core, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """Credential-less ping."""
    return json_response({"version": KINVEY_VERSION, "kinvey": "hello"})
