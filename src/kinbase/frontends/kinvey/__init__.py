"""The Kinvey REST API front-end: parse a Kinvey request, call the core, render Kinvey's format."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kinbase.frontends.kinvey.endpoint import not_found, preflight
from kinbase.frontends.kinvey.handshake import handshake, ping

__all__ = ["NAMESPACES", "routes"]

NAMESPACES = ("appdata", "user", "group", "blob", "rpc", "push")

Endpoint = Callable[[Request], Awaitable[Response]]


def route(path: str, endpoint: Endpoint, methods: list[str]) -> list[BaseRoute]:
    """The route with and without a trailing slash (Kinvey clients send both; no redirect)."""
    return [Route(path, endpoint, methods=methods), Route(path + "/", endpoint, methods=methods)]


def routes() -> list[BaseRoute]:
    """Every Kinvey route, most specific first, then a preflight and a Kinvey-style 404 per namespace."""
    table: list[BaseRoute] = [
        Route("/appdata", ping, methods=["GET"]),
        Route("/appdata/", ping, methods=["GET"]),
        *route("/appdata/{app_key}", handshake, ["GET"]),
    ]
    for namespace in NAMESPACES:
        table.append(Route(f"/{namespace}/{{rest:path}}", preflight, methods=["OPTIONS"]))
        table.append(Route(f"/{namespace}", preflight, methods=["OPTIONS"]))
        table.append(
            Route(f"/{namespace}/{{rest:path}}", not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
        )
    return table
