"""One HTTP request as both front-ends see it: parsed once from the ASGI scope, no framework.

The server (:mod:`kinbase.http.server`) builds it after the edge checks of
:mod:`kinbase.http.limits`; a front-end reads the method, the path, the verbatim query string or
its parsed pairs, the headers (names in lower case) and, when it needs one, the body, read with a
size limit or streamed.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from kinbase.errors import BodyTimeout, BodyTooLarge
from kinbase.numerals import uint
from kinbase.types_asgi import Receive, Scope

__all__ = ["BodyDeadline", "ClientDisconnected", "HttpRequest", "origin_of"]

logger = logging.getLogger("kinbase.http")


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


@dataclass(frozen=True, slots=True)
class BodyDeadline:
    """How long a body read whole may take: ``seconds`` after the head, plus one second per
    ``min_rate`` bytes received (a large body on a slow link is served; a drip is not)."""

    seconds: float
    min_rate: float

    def allowed(self, received: int) -> float:
        return self.seconds + received / self.min_rate


WATCH_SECONDS = 0.25
"""How often the body reads in progress are checked against their deadlines (a read past its
deadline is cancelled at most this late)."""


class _Read:
    """One body read in progress: its task, when it must be done, whether the watch cancelled it."""

    __slots__ = ("at", "cancelling", "fired", "task")

    def __init__(self, task: asyncio.Task[object], at: float) -> None:
        self.task = task
        self.at = at
        self.cancelling = task.cancelling()
        self.fired = False


class _BodyWatch:
    """The deadlines of one event loop's body reads, checked by one timer every
    :data:`WATCH_SECONDS` while reads are in progress: a read past its deadline has its task
    cancelled, which :meth:`HttpRequest.body` turns into :class:`BodyTimeout`. (An
    ``asyncio.timeout`` per read armed and cancelled a loop timer twice per body, ~25 us: 8 % of
    the CPU of a Kinto POST.)"""

    __slots__ = ("_armed", "_reads")

    def __init__(self) -> None:
        self._reads: set[_Read] = set()
        self._armed = False

    def add(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[object], at: float) -> _Read:
        read = _Read(task, at)
        self._reads.add(read)
        if not self._armed:
            self._armed = True
            loop.call_later(WATCH_SECONDS, self._check, loop)
        return read

    def discard(self, read: _Read) -> None:
        self._reads.discard(read)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for read in [r for r in self._reads if r.at <= now and not r.fired]:
            read.fired = True
            read.task.cancel()
        if self._reads:
            loop.call_later(WATCH_SECONDS, self._check, loop)
        else:
            self._armed = False


_WATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _BodyWatch] = weakref.WeakKeyDictionary()


def _watch(loop: asyncio.AbstractEventLoop) -> _BodyWatch:
    watch = _WATCHES.get(loop)
    if watch is None:
        watch = _WATCHES[loop] = _BodyWatch()
    return watch


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
        body_deadline: the limit on the time :meth:`body` may take (None: no limit).
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
    body_deadline: BodyDeadline | None = None
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
        """The whole body, refusing more than ``limit`` bytes (declared or streamed), within
        :attr:`body_deadline` (uploads stream their bodies instead, under their own stall limit).

        Raises:
            BodyTooLarge: past ``limit``.
            BodyTimeout: past the deadline.
        """
        deadline = self.body_deadline
        if deadline is None:
            return b"".join([chunk async for chunk in self.stream(limit)])
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        start = loop.time()
        watch = _watch(loop)
        read = watch.add(loop, task, start + deadline.allowed(0))
        chunks: list[bytes] = []
        received = 0
        try:
            async for chunk in self.stream(limit):
                received += len(chunk)
                chunks.append(chunk)
                read.at = start + deadline.allowed(received)
        except asyncio.CancelledError:
            # the watch's cancel, and no other (as asyncio.timeout tells them apart)
            if not read.fired or task.uncancel() > read.cancelling:
                raise
            logger.warning(
                "request body too slow: %d bytes in %.0f s from %s (request id %s)",
                received,
                loop.time() - start,
                self.client or "a client",
                self.request_id,
            )
            raise BodyTimeout(
                f"The request body did not arrive in time ({received} bytes in "
                f"{deadline.allowed(received):.0f} s)."
            ) from None
        finally:
            watch.discard(read)
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
