"""A route table walked segment by segment (literal segments before parameters).

Routes are data (:class:`Route`); :class:`Router` compiles them into a tree once. Matching splits
the raw path on ``/`` before percent-decoding each segment, so an id holding ``/`` (sent as
``%2F``, as ``Location`` headers encode it) stays one segment. A trailing slash is optional
everywhere (the SDKs send both). A path that matches with another method answers
:class:`MethodNotAllowed`; a path that matches nothing answers None.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from kinbase.frontends.kinvey.auth import AuthKind

__all__ = ["Match", "MethodNotAllowed", "Route", "Router", "split"]


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint of the Kinvey API.

    Attributes:
        method: the HTTP method (``GET`` routes also answer ``HEAD``).
        path: the template, e.g. ``/appdata/{app_key}/{collection}/{entity_id}``.
        handler: ``async (call) -> response`` for Kinvey endpoints, or ``async (core, request,
            params) -> response`` for a ``page`` (served without Kinvey's envelope).
        name: the operation id (OpenAPI) and the name in logs.
        accepts: the credential kinds accepted, or None for an endpoint that takes none.
        page: the handler renders its own format (HTML pages), outside Kinvey's envelope.
    """

    method: str
    path: str
    handler: Callable[..., Awaitable[Any]]
    name: str
    accepts: tuple[AuthKind, ...] | None = ("user", "master")
    page: bool = False

    @property
    def segments(self) -> list[str]:
        return [s for s in self.path.split("/") if s]


@dataclass(frozen=True, slots=True)
class Match:
    route: Route
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class MethodNotAllowed:
    allow: tuple[str, ...]


@dataclass(slots=True)
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    param_name: str = ""
    routes: dict[str, Route] = field(default_factory=dict)


def split(raw_path: str) -> list[str]:
    """The decoded segments of a raw path, without the empty segments of a leading or trailing
    slash (an empty segment inside the path is kept, and matches no parameter)."""
    inner = raw_path[1:-1] if raw_path.endswith("/") and len(raw_path) > 1 else raw_path[1:]
    return [unquote(s) if "%" in s else s for s in inner.split("/")] if inner else []


class Router:
    """The compiled table."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        self._root = _Node()
        for route in self.routes:
            self._add(route)

    def _add(self, route: Route) -> None:
        node = self._root
        for segment in route.segments:
            if segment.startswith("{") and segment.endswith("}"):
                name = segment[1:-1]
                if node.param is None:
                    node.param, node.param_name = _Node(), name
                elif node.param_name != name:
                    raise ValueError(f"{route.path}: parameter {name!r} where others use {node.param_name!r}")
                node = node.param
            else:
                node = node.literal.setdefault(segment, _Node())
        methods = (route.method, "HEAD") if route.method == "GET" else (route.method,)
        for method in methods:
            if method in node.routes and method != "HEAD":
                raise ValueError(f"two routes for {method} {route.path}")
            node.routes.setdefault(method, route)

    def match(self, method: str, segments: list[str]) -> Match | MethodNotAllowed | None:
        """The route for ``method`` on ``segments`` (the most specific first)."""
        bound: list[tuple[str, str]] = []
        route = self._first(self._root, segments, 0, method, bound)
        if route is not None:
            return Match(route, dict(reversed(bound)))
        found: list[tuple[_Node, dict[str, str]]] = []
        self._walk(self._root, segments, 0, {}, found)
        for node, params in found:
            route = node.routes.get(method)
            if route is not None:
                return Match(route, params)
        if found:
            allow = sorted({m for node, _ in found for m in node.routes} | {"OPTIONS"})
            return MethodNotAllowed(tuple(allow))
        return None

    def _first(
        self, node: _Node, segments: list[str], index: int, method: str, bound: list[tuple[str, str]]
    ) -> Route | None:
        """The first route for ``method`` in :meth:`_walk`'s order, its parameters appended to
        ``bound`` deepest first."""
        if index == len(segments):
            return node.routes.get(method)
        segment = segments[index]
        child = node.literal.get(segment)
        if child is not None:
            route = self._first(child, segments, index + 1, method, bound)
            if route is not None:
                return route
        if node.param is not None and segment:
            route = self._first(node.param, segments, index + 1, method, bound)
            if route is not None:
                bound.append((node.param_name, segment))
                return route
        return None

    def _walk(
        self,
        node: _Node,
        segments: list[str],
        index: int,
        params: dict[str, str],
        found: list[tuple[_Node, dict[str, str]]],
    ) -> None:
        if index == len(segments):
            if node.routes:
                found.append((node, dict(params)))
            return
        segment = segments[index]
        child = node.literal.get(segment)
        if child is not None:
            self._walk(child, segments, index + 1, params, found)
        if node.param is not None and segment:
            params[node.param_name] = segment
            self._walk(node.param, segments, index + 1, params, found)
            del params[node.param_name]
