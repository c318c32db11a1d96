"""kinbase.http.listener: every pending connection accepted at once, on uvloop (what ``kinbase
serve`` runs) and on the standard library's loop; running out of file descriptors pauses
accepting instead of spinning; one connection's failure stops no other; ``close`` stops
accepting (the server-level tests are ``tests/test_workers.py`` and ``tests/test_cli.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, cast

import pytest
import uvloop

from kinbase.http.listener import Acceptor, bind

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "uvloop": uvloop.new_event_loop,
    "asyncio": asyncio.new_event_loop,
}


@pytest.fixture(params=list(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, None]], None]:
    def run(main: Coroutine[Any, Any, None]) -> None:
        async def closing() -> None:
            Echo.made = []
            try:
                await asyncio.wait_for(main, 30)
            finally:
                for protocol in list(Echo.made):  # the server side of each connection
                    protocol.transport.close()
                await asyncio.sleep(0)

        with asyncio.Runner(loop_factory=LOOPS[request.param]) as runner:
            runner.run(closing())

    return run


class Echo(asyncio.Protocol):
    """Answers each chunk it receives with the chunk in upper case."""

    made: list[Echo] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport
        Echo.made.append(self)

    def connection_lost(self, exc: Exception | None) -> None:
        Echo.made.remove(self)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data.upper())


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _exchange(port: int, text: bytes) -> bytes:
    reader, writer = await _connect(port)
    try:
        writer.write(text)
        return await reader.readexactly(len(text))
    finally:
        writer.close()


def _listening() -> tuple[socket.socket, int]:
    (sock,) = bind("127.0.0.1", 0)
    port: int = sock.getsockname()[1]
    return sock, port


@contextlib.asynccontextmanager
async def _accepting(
    factory: Callable[[], asyncio.Protocol], **options: Any
) -> AsyncIterator[tuple[Acceptor, int, list[socket.socket]]]:
    """An acceptor on a new port, and a list for the test's client sockets; all closed after."""
    sock, port = _listening()
    acceptor = Acceptor(asyncio.get_running_loop(), sock, factory, **options)
    clients: list[socket.socket] = []
    try:
        yield acceptor, port, clients
    finally:
        for client in clients:
            client.close()
        acceptor.close()
        await acceptor.wait_closed()


def test_every_pending_connection_is_accepted_in_one_call(run: Callable[..., None]) -> None:
    async def main() -> None:
        async with _accepting(Echo, backlog=128) as (acceptor, port, clients):
            # 40 clients connect while the loop is busy here: the kernel completes their
            # handshakes and queues them; one readable event must then take all 40, not one.
            clients += [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
            assert acceptor.accept_pending() == 40
            assert acceptor.accept_pending() == 0
            while len(Echo.made) < 40:
                await asyncio.sleep(0.01)
            loop = asyncio.get_running_loop()
            for client in clients:
                client.setblocking(False)
                await loop.sock_sendall(client, b"hello")
            for client in clients:
                assert await loop.sock_recv(client, 5) == b"HELLO"

    run(main())


def test_a_flood_is_accepted_in_turns_of_at_most_backlog(run: Callable[..., None]) -> None:
    async def main() -> None:
        async with _accepting(Echo, backlog=16) as (acceptor, port, clients):
            clients += [socket.create_connection(("127.0.0.1", port)) for _ in range(12)]
            # listen(16) queues at least 12 on Linux; each call takes at most 16.
            assert acceptor.accept_pending() == 12
            clients += [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
            assert acceptor.accept_pending() == 10

    run(main())


class _OutOfDescriptors(socket.socket):
    """A listening socket whose first ``accept`` fails as when the process has no free file
    descriptor (the connection stays queued in the kernel)."""

    failures = 1

    def accept(self) -> tuple[socket.socket, Any]:
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def test_out_of_file_descriptors_pauses_accepting_then_serves(
    run: Callable[..., None], caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        sock = _OutOfDescriptors(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        acceptor = Acceptor(asyncio.get_running_loop(), sock, Echo, pause_seconds=0.2)
        try:
            client = socket.create_connection(("127.0.0.1", port))
            assert acceptor.accept_pending() == 0
            assert not acceptor.is_serving()  # no busy loop on a readable socket it cannot take
            await asyncio.sleep(0.05)
            assert not acceptor.is_serving()
            # After the pause the queued connection is served, and later ones too.
            client.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_sendall(client, b"queued")
            assert await loop.sock_recv(client, 6) == b"QUEUED"
            assert acceptor.is_serving()
            client.close()
            assert await _exchange(port, b"later") == b"LATER"
        finally:
            acceptor.close()
            await acceptor.wait_closed()

    with caplog.at_level(logging.ERROR, logger="kinbase.http"):
        run(main())
    assert "cannot accept connections" in caplog.text
    assert "Too many open files" in caplog.text


def test_a_connection_whose_setup_fails_is_closed_and_others_are_served(run: Callable[..., None]) -> None:
    failures = [1]

    def factory() -> asyncio.Protocol:
        if failures[0]:
            failures[0] -= 1
            raise RuntimeError("protocol refused")
        return Echo()

    async def main() -> None:
        async with _accepting(factory) as (_, port, _):
            reader, writer = await _connect(port)
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, not left open
            writer.close()
            assert await _exchange(port, b"next") == b"NEXT"

    run(main())


def test_close_stops_accepting_and_keeps_what_was_accepted(run: Callable[..., None]) -> None:
    async def main() -> None:
        sock, port = _listening()
        acceptor = Acceptor(asyncio.get_running_loop(), sock, Echo)
        reader, writer = await _connect(port)
        writer.write(b"a")
        assert await reader.readexactly(1) == b"A"
        assert sock in acceptor.sockets
        acceptor.close()
        acceptor.close()  # twice is harmless, as for asyncio.Server
        await acceptor.wait_closed()
        assert not acceptor.is_serving() and acceptor.sockets == ()
        with pytest.raises(ConnectionRefusedError):
            await _connect(port)
        writer.write(b"b")  # the connection accepted before close is still served
        assert await reader.readexactly(1) == b"B"
        writer.close()
        await acceptor.start_serving()  # a closed acceptor does not start again
        assert not acceptor.is_serving()

    run(main())


def test_bind_refuses_a_port_in_use_and_leaves_nothing_open() -> None:
    holder, port = _listening()
    holder.listen(1)
    try:
        with pytest.raises(OSError) as raised:
            bind("127.0.0.1", port)
        assert raised.value.errno == errno.EADDRINUSE
    finally:
        holder.close()
    (again,) = bind("127.0.0.1", port)  # free again once its holder closed
    again.close()
