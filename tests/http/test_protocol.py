"""The request-head deadline of :class:`GuardedHttpToolsProtocol` on its own: a protocol over a
fake transport on a real event loop, with a short deadline (the server-level test with a real
socket is ``tests/reliability/test_faults.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from kinbase.http.protocol import GuardedHttpToolsProtocol

pytestmark = pytest.mark.anyio

DEADLINE = 0.3
HEAD = b"GET / HTTP/1.1\r\nHost: kinbase\r\n\r\n"


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _connect() -> tuple[GuardedHttpToolsProtocol, FakeTransport]:
    config = Config(_answer, http="httptools", lifespan="off", log_level="critical")
    config.load()
    protocol = GuardedHttpToolsProtocol(
        config=config, server_state=ServerState(), app_state={}, header_timeout=DEADLINE
    )
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def _served(transport: FakeTransport, count: int) -> None:
    for _ in range(100):
        if transport.written.count(b"HTTP/1.1 200") >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{count} answers expected, got {transport.written!r}")


async def test_a_busy_keep_alive_connection_outlives_the_deadline_and_a_late_head_is_dropped() -> None:
    """Heads that each arrive at once, for several deadlines in a row, keep the connection open
    (the one timer of the connection must not close it); a head that then drips past the deadline
    closes it."""
    protocol, transport = _connect()
    loop = asyncio.get_running_loop()
    started, served = loop.time(), 0
    while loop.time() - started < DEADLINE * 4:
        protocol.data_received(HEAD)
        served += 1
        await _served(transport, served)
        assert not transport.closed
        await asyncio.sleep(DEADLINE / 5)
    # Idle longer than the deadline between two requests: not a late head.
    await asyncio.sleep(DEADLINE * 2)
    assert not transport.closed
    protocol.data_received(HEAD)
    await _served(transport, served + 1)
    # A head in pieces, within the deadline: served.
    for part in (b"GET / HTTP/1.1\r\n", b"Host: kinbase\r\n", b"\r\n"):
        protocol.data_received(part)
        await asyncio.sleep(DEADLINE / 5)
    await _served(transport, served + 2)
    assert not transport.closed
    # A head that drips: closed once the deadline of its first byte has passed.
    first = loop.time()
    protocol.data_received(b"GET / HTTP/1.1\r\n")
    while not transport.is_closing() and loop.time() - first < DEADLINE * 5:
        protocol.data_received(b"X-Slow: 1\r\n")
        await asyncio.sleep(DEADLINE / 10)
    assert transport.is_closing()
    assert DEADLINE <= loop.time() - first < DEADLINE * 2.5
    protocol.connection_lost(None)


async def test_a_connection_that_sends_nothing_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    protocol, transport = _connect()
    await asyncio.sleep(DEADLINE * 2)
    assert transport.is_closing()
    assert "no request head within" in caplog.text
    protocol.connection_lost(None)


async def test_a_closed_connection_leaves_no_timer(caplog: pytest.LogCaptureFixture) -> None:
    protocol, _ = _connect()
    protocol.data_received(b"GET / HTTP/1.1\r\n")
    protocol.connection_lost(None)
    await asyncio.sleep(DEADLINE * 2)
    assert "no request head" not in caplog.text  # the timer went with the connection
