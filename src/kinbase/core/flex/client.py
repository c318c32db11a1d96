"""One pooled HTTP client per Flex service, with a deadline per call and bounded concurrency.

The client is created on the first call (no service needs to be up when kinbase starts) and keeps
its connections alive between calls. A service that restarts costs nothing special: a connection
it closed is dropped by the pool, and a refused connection is retried once. Each call has one
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from kinbase.core.appconfig.model import FlexServiceConfig
from kinbase.core.kinvey.errors import KinveyError

__all__ = ["MAX_REPLY_BYTES", "CallObserver", "FlexHttpClient", "HttpReply"]

logger = logging.getLogger("kinbase.flex")

MAX_REPLY_BYTES = 64 * 1024 * 1024
"""The largest reply kinbase reads from a Flex service."""

CallObserver = Callable[[str, str, float], None]
"""Told of every call: the service name, ``ok``/``error`` (a status ≥ 400)/``failure``, seconds."""


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
        self._client: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(config.concurrency)
        self.in_flight = 0
        self._closing = False
        self._close_task: asyncio.Task[None] | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(
                max_connections=self.config.concurrency,
                max_keepalive_connections=self.config.concurrency,
                keepalive_expiry=30,
            )
            self._client = httpx.AsyncClient(
                base_url=self.config.url,
                transport=httpx.AsyncHTTPTransport(retries=1, limits=limits),
                timeout=httpx.Timeout(self.config.timeout, connect=min(self.config.timeout, 5.0)),
                trust_env=False,
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
        try:
            raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
            async with self._http().stream(method, url, headers=raw_headers, content=content) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_REPLY_BYTES:
                        raise KinveyError(
                            "BLRuntimeError",
                            f"The Flex service {self.name!r} sent more than {MAX_REPLY_BYTES} bytes.",
                        )
                    chunks.append(chunk)
                status = response.status_code
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.TransportError as exc:
            logger.warning("Flex service %r at %s: %s", self.name, self.config.url, exc)
            raise KinveyError(
                "BLInternalError",
                f"The Flex service {self.name!r} could not be reached or closed the connection "
                f"({type(exc).__name__}).",
            ) from None
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

    def retire(self) -> None:
        """Close once the calls in flight are done (the configuration changed)."""
        self._closing = True
        if self.in_flight == 0 and self._client is not None:
            self._close_task = asyncio.get_running_loop().create_task(self.aclose())

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
