"""One pooled HTTP client per Flex service, with a deadline per call and bounded concurrency.

The client is created on the first call (no service needs to be up when kinbase starts) and keeps
its connections alive between calls (aiohttp), for at most ``KEEPALIVE_SECONDS``: less than the
idle timeout of the servers Flex services run on (Node's ``http`` and uvicorn close an idle
connection after 5 s). A service that restarts costs nothing special: a connection it closed is
dropped by the pool. A call is sent once more, on a new connection, when its first try was refused
(nothing was sent) or failed before any answer on a connection taken from the pool: the service
closed that connection while it sat idle, the race every keep-alive client has with its server (the
request reached no handler; a service that died while handling it is the exception, and the second
try then finds it refused). A call that fails on a connection it opened itself is not sent again:
the service may have acted on it (a service killed mid-request). Each call has one
deadline (``timeout_seconds``) that covers waiting for a free slot, connecting, sending and
reading; at most ``max_concurrency`` calls to one service are in flight per worker, so a slow or
dead service holds a bounded number of requests, each for a bounded time, and never the event
loop or another service's callers.

Failures become Kinvey errors at once (``core/kinvey/errors.py``):

=========================================  ===============================================
what happened                              error
=========================================  ===============================================
no answer within the deadline              ``BLTimeoutError`` (550)
refused, reset, or closed mid-request      ``BLInternalError`` (550) "did not complete"
an answer that is not JSON, or too large   ``BLRuntimeError`` (400)
=========================================  ===============================================
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from yarl import URL

from kinbase.core.appconfig.model import FlexServiceConfig
from kinbase.core.kinvey.errors import KinveyError

__all__ = ["KEEPALIVE_SECONDS", "MAX_REPLY_BYTES", "CallObserver", "FlexHttpClient", "HttpReply"]

logger = logging.getLogger("kinbase.flex")

MAX_REPLY_BYTES = 64 * 1024 * 1024
"""The largest reply kinbase reads from a Flex service."""

KEEPALIVE_SECONDS = 4.0
"""How long an idle connection to a service stays in the pool (below the servers' 5 s)."""

CallObserver = Callable[[str, str, float], None]
"""Told of every call: the service name, ``ok``/``error`` (a status ≥ 400)/``failure``, seconds."""


class _Try:
    """One try of a call: whether it was given a connection from the pool."""

    __slots__ = ("reused",)

    def __init__(self) -> None:
        self.reused = False


_TRY: ContextVar[_Try | None] = ContextVar("kinbase_flex_try", default=None)


class _Connector(aiohttp.TCPConnector):
    """Tells the current try whether its connection had served a request before.

    (A ``TraceConfig`` hook would tell the same, at about 45 µs of CPU per call.)
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._served: weakref.WeakSet[ResponseHandler] = weakref.WeakSet()

    async def connect(
        self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        connection = await super().connect(req, traces, timeout)
        protocol = connection.protocol
        if protocol is not None:
            try_ = _TRY.get()
            if protocol in self._served:
                if try_ is not None:
                    try_.reused = True
            else:
                self._served.add(protocol)
        return connection


class _NoAnswer(Exception):
    """A try that failed before the service's answer began."""

    def __init__(self, cause: BaseException, reused: bool) -> None:
        super().__init__(cause)
        self.cause = cause
        self.reused = reused


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    body: Any
    """The JSON body (None when empty)."""


class FlexHttpClient:
    """HTTP calls to one Flex service (one per app, service and configuration)."""

    def __init__(self, name: str, config: FlexServiceConfig, on_call: CallObserver | None = None) -> None:
        self.name = name
        self.config = config
        self._on_call = on_call
        self._client: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(config.concurrency)
        self.in_flight = 0
        self._closing = False
        self._close_task: asyncio.Task[None] | None = None

    def _http(self) -> aiohttp.ClientSession:
        # aiohttp rather than httpx: on the request path its pool costs a fraction of httpx's
        # under concurrency (benchmarks/flex_bench.py).
        if self._client is None:
            connector = _Connector(limit=self.config.concurrency, keepalive_timeout=KEEPALIVE_SECONDS)
            self._client = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=min(self.config.timeout, 5.0)),
                trust_env=False,
                auto_decompress=True,
            )
        return self._client

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        body: Any = None,
        query: str = "",
        timeout: float | None = None,
    ) -> HttpReply:
        """Send one request (``query`` is appended verbatim) and read its JSON answer.

        Raises:
            KinveyError: BLTimeoutError, BLInternalError or BLRuntimeError (see the module).
        """
        deadline = timeout if timeout is not None else self.config.timeout
        url = path + (f"?{query}" if query else "")
        content = orjson.dumps(body) if body is not None else None
        self.in_flight += 1
        started = time.perf_counter()
        outcome = "failure"
        try:
            async with asyncio.timeout(deadline):
                async with self._slots:
                    reply = await self._send(method, url, headers, content)
            outcome = "ok" if reply.status < 400 else "error"
            return reply
        except TimeoutError:
            raise KinveyError(
                "BLTimeoutError", f"The Flex service {self.name!r} did not answer within {deadline:g} s."
            ) from None
        finally:
            self.in_flight -= 1
            if self._on_call is not None:
                self._on_call(self.name, outcome, time.perf_counter() - started)
            if self._closing and self.in_flight == 0:
                await self.aclose()

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str], content: bytes | None
    ) -> HttpReply:
        # The query string travels verbatim (``encoded=True``: yarl re-quotes nothing).
        target = URL(self.config.url.rstrip("/") + url, encoded=True)
        for attempt in (1, 2):
            try:
                status, chunks = await self._exchange(method, target, headers, content)
                break
            except TimeoutError:
                raise  # the deadline of request(), or the connect timeout: BLTimeoutError
            except _NoAnswer as failed:
                # Refused (nothing sent), or a pooled connection the service had closed meanwhile
                # (the request reached no handler): once more, on a new connection.
                refused = isinstance(failed.cause, aiohttp.ClientConnectorError)
                if attempt == 2 or not (refused or failed.reused):
                    raise self._unreachable(failed.cause) from None
            except (aiohttp.ClientError, OSError) as exc:
                raise self._unreachable(exc) from None
        raw = b"".join(chunks)
        if not raw.strip():
            return HttpReply(status, None)
        try:
            return HttpReply(status, orjson.loads(raw))
        except orjson.JSONDecodeError:
            raise KinveyError(
                "BLRuntimeError",
                f"The Flex service {self.name!r} answered {status} with a body that is not JSON: "
                f"{raw[:200]!r}",
            ) from None

    async def _exchange(
        self, method: str, target: URL, headers: Mapping[str, str], content: bytes | None
    ) -> tuple[int, list[bytes]]:
        try_ = _Try()
        token = _TRY.set(try_)
        try:
            response = await self._http().request(method, target, headers=headers, data=content)
        except TimeoutError:
            raise
        except (aiohttp.ClientError, OSError) as exc:
            raise _NoAnswer(exc, try_.reused) from exc
        finally:
            _TRY.reset(token)
        async with response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > MAX_REPLY_BYTES:
                    raise KinveyError(
                        "BLRuntimeError",
                        f"The Flex service {self.name!r} sent more than {MAX_REPLY_BYTES} bytes.",
                    )
                chunks.append(chunk)
            return response.status, chunks

    def _unreachable(self, exc: BaseException) -> KinveyError:
        logger.warning("Flex service %r at %s: %s", self.name, self.config.url, exc)
        return KinveyError(
            "BLInternalError",
            f"The Flex service {self.name!r} could not be reached or closed the connection "
            f"({type(exc).__name__}).",
        )

    def retire(self) -> None:
        """Close once the calls in flight are done (the configuration changed)."""
        self._closing = True
        if self.in_flight == 0 and self._client is not None:
            self._close_task = asyncio.get_running_loop().create_task(self.aclose())

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
