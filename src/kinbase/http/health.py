"""Health endpoint: ``GET /healthz`` answers 200 when the storage answers, 503 otherwise."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from kinbase import __version__
from kinbase.core.services import Core
from kinbase.http.responses import json_response

__all__ = ["healthz"]


async def healthz(request: Request) -> Response:
    core: Core = request.app.state.core
    storage_ok = await core.storage.ping()
    body = {"status": "ok" if storage_ok else "unavailable", "storage": storage_ok, "version": __version__}
    return json_response(body, status=200 if storage_ok else 503, headers={"Cache-Control": "no-store"})
