"""uvicorn's httptools protocol with a deadline on each request head (issue 16: slowloris).

uvicorn drops an idle keep-alive connection after ``timeout_keep_alive`` but has no limit on how
long a request's head may take to arrive: a client that sends a header byte now and then holds
its connection (and its slot) for ever, and a few hundred such clients exhaust the server's file
descriptors. :class:`GuardedHttpToolsProtocol` closes a connection whose request line and headers
are not complete within ``header_timeout`` seconds of their first byte (or of the connection,
for the first request). Other connections are served meanwhile: the deadline is a timer on the
event loop, nothing waits for it.

The timer is not set and cancelled per request (a keep-alive connection sends thousands of heads
per second under load, and each ``call_later`` and ``cancel`` costs more than the rest of this
class): a head records when its first byte came, and one timer per connection fires at most every
``header_timeout`` seconds, closes the connection if the head in progress is late, sets itself
again for the rest of the head's time if it is not, and lapses when no head is in progress (the
next head's first byte sets a new one).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["GuardedHttpToolsProtocol"]

logger = logging.getLogger("kinbase.http")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that closes a connection whose request head is too slow."""

    def __init__(self, *args: Any, header_timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._head_started: float | None = None
        """Loop time of the first byte of the head in progress; None between heads."""
        self._head_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._head_started is None:
            self._head_started = self.loop.time()
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._check_head)

    def _disarm(self) -> None:
        self._head_started = None  # the timer, if any, lapses when it fires

    def _check_head(self) -> None:
        self._head_timer = None
        started = self._head_started
        if started is None:
            return
        left = started + self.header_timeout - self.loop.time()
        if left > 0:
            self._head_timer = self.loop.call_later(left, self._check_head)
            return
        self._head_started = None
        if not self.transport.is_closing():
            client = "{}:{}".format(*self.client) if self.client else "a client"
            logger.warning(
                "closing the connection of %s: no request head within %.0f s", client, self.header_timeout
            )
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        # Between requests (keep-alive), the first byte of the next head starts its deadline.
        cycle = getattr(self, "cycle", None)  # None before the first request (typed otherwise)
        if cycle is None or cycle.response_complete:
            self._arm()
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        # Idle until the next request: uvicorn's keep-alive timeout applies, not the head's.
        self._disarm()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_started = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)
