"""One HTTP request as both front-ends see it: parsed once from the ASGI scope, no framework.

The server (:mod:`kinbase.http.server`) builds it after the edge checks of
:mod:`kinbase.http.limits`; a front-end reads the method, the path, the verbatim query string or
its parsed pairs, the headers (names in lower case) and, when it needs one, the body, read with a
size limit or streamed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from kinbase.errors import BodyTooLarge
from kinbase.numerals import uint
from kinbase.types_asgi import Receive, Scope

__all__ = ["ClientDisconnected", "HttpRequest", "origin_of"]


class ClientDisconnected(Exception):
    """The client went away before its body was read: there is nobody to answer."""


def origin_of(scope: Scope, public_url: str) -> str:
    """``scheme://host[:port]`` as the client sees the server: ``public_url`` when set, else the
    ``Host`` header (else the address the server listens on)."""
    if public_url:
        return public_url.rstrip("/")
    host = ""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1")
            break
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


@dataclass(slots=True)
class HttpRequest:
    """A request.

    Attributes:
        method: upper-case HTTP method.
        path: the percent-decoded path.
        raw_path: the path as sent (percent-encoded), for routers that split before decoding.
        query_string: the query string exactly as sent (a Flex data link forwards it verbatim).
        headers: header names in lower case (a repeated header keeps its last value).
        client: the client's address, if known.
        request_id: the id logged with the request and sent back in its response headers.
        scope: the ASGI scope (the origin is derived from it on demand).
        receive: the ASGI receive channel (the body).
        route: the route template that served it, set by the front-end (the metrics' label).
    """

    method: str
    path: str
    raw_path: str
    query_string: str
    headers: dict[str, str]
    client: str | None
    request_id: str
    scope: Scope
    receive: Receive
    public_url: str = ""
    route: str = ""
    _pairs: list[tuple[str, str]] | None = field(default=None, repr=False)
    _consumed: bool = field(default=False, repr=False)

    @property
    def query_pairs(self) -> list[tuple[str, str]]:
        """The query string's ``(name, value)`` pairs, in order, blank values kept."""
        if self._pairs is None:
            self._pairs = parse_qsl(self.query_string, keep_blank_values=True) if self.query_string else []
        return self._pairs

    @property
    def params(self) -> dict[str, str]:
        """The query parameters by name (the last value of a repeated name)."""
        return dict(self.query_pairs)

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` as the client sees the server (``public_url`` if set)."""
        return origin_of(self.scope, self.public_url)

    async def body(self, limit: int) -> bytes:
        """The whole body, refusing more than ``limit`` bytes (declared or streamed).

        Raises:
            BodyTooLarge: past ``limit``.
        """
        chunks: list[bytes] = []
        async for chunk in self.stream(limit):
            chunks.append(chunk)
        return b"".join(chunks)

    async def stream(self, limit: int | None = None) -> AsyncIterator[bytes]:
        """The body chunk by chunk as it arrives (for uploads that must not sit in memory).

        Raises:
            BodyTooLarge: once more than ``limit`` bytes are declared or received.
        """
        if self._consumed:
            return
        self._consumed = True
        declared = self.headers.get("content-length")
        if (
            limit is not None
            and declared is not None
            and (size_declared := uint(declared)) is not None
            and size_declared > limit
        ):
            raise BodyTooLarge(f"The request body is larger than {limit} bytes.")
        size = 0
        more = True
        while more:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if limit is not None and size > limit:
                raise BodyTooLarge(f"The request body is larger than {limit} bytes.")
            if chunk:
                yield chunk
            more = message.get("more_body", False)
