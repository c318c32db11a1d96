"""The handshake: ``GET /appdata/:appKey`` (any credential) and the ``GET /appdata/`` ping."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response

from kinbase import __version__
from kinbase.frontends.kinvey.endpoint import KinveyCall, cors_headers, endpoint, iso_ms
from kinbase.http.responses import json_response

__all__ = ["handshake", "ping"]

KINVEY_VERSION = "3.9"
"""The Kinvey API generation this server implements, as the handshake reports it."""


@endpoint(accepts=("app", "master", "user"))
async def handshake(call: KinveyCall) -> Response:
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


async def ping(request: Request) -> Response:
    """Credential-less ping."""
    started = dt.datetime.now(dt.UTC)
    headers = {
        "X-Kinvey-Request-Id": request.scope.get("state", {}).get("request_id", ""),
        "X-Kinvey-Request-Start": iso_ms(started),
        **cors_headers(request),
    }
    return json_response({"version": KINVEY_VERSION, "kinvey": "hello"}, headers=headers)
