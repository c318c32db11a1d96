"""The Kinto HTTP API v1 front-end: parse a Kinto request, call the Kinto core, render Kinto's
format. :func:`routes` mounts it into the server's router."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import ASGIApp, Receive, Scope, Send

from kinbase.frontends.kinto.frontend import KintoFrontend, error_bytes, is_kinto_path

__all__ = ["KintoFrontend", "KintoMiddleware", "KintoRoute", "error_bytes", "is_kinto_path", "routes"]


class KintoRoute(BaseRoute):
    """Matches the Kinto paths (``/v<n>...``, ``/kinto/...``) or, with ``catch_all``, any path not
    under ``exclude`` (Kinto's version-prefix redirect: ``/buckets`` → ``/v1/buckets``)."""

    def __init__(
        self, frontend: KintoFrontend, *, catch_all: bool = False, exclude: Sequence[str] = ()
    ) -> None:
        self.frontend = frontend
        self.catch_all = catch_all
        self.exclude = tuple(exclude)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        path: str = scope["path"]
        if is_kinto_path(path):
            return Match.FULL, {}
        if self.catch_all and not any(path == p or path.startswith(p + "/") for p in self.exclude):
            return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.frontend(scope, receive, send)


class KintoMiddleware:
    """Serves the Kinto paths before the router (the hot path skips route matching); everything
    else goes on to the wrapped app."""

    def __init__(self, app: ASGIApp, frontend: KintoFrontend) -> None:
        self.app = app
        self.frontend = frontend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_kinto_path(scope["path"]):
            await self.frontend(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def routes(frontend: KintoFrontend, *, exclude: Sequence[str]) -> list[BaseRoute]:
    """The Kinto route and, last, the redirect of any other path that ``exclude`` does not cover."""
    return [KintoRoute(frontend), KintoRoute(frontend, catch_all=True, exclude=exclude)]
