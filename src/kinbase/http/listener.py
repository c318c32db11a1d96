"""Listening sockets whose pending connections are all accepted at once.

uvicorn listens through the event loop's ``create_server``. On uvloop (libuv) a listening socket
that becomes readable yields one accepted connection per loop iteration, and each iteration first
serves every request already received: when 32 clients connect together to a busy server, the
last one waits 31 iterations (about 300 ms at 10 ms an iteration) before its first byte is read,
and a load generator that corrects for coordinated omission reports that wait as the p99 of the
whole run. The standard library's selector loop accepts up to ``backlog`` connections per
readable event; :class:`Acceptor` does the same on any loop: it watches the socket with
``add_reader``, accepts until the kernel has no connection left, and gives each one to
``loop.connect_accepted_socket`` (the same transport ``create_server`` would have made).

:class:`Server` is uvicorn's server with its listening sockets served by acceptors (bound here
for ``host:port``, or given by the worker supervisor); everything else, the protocol, lifespan,
signals and graceful shutdown, is uvicorn's.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import sys
from collections.abc import Callable
from typing import Any, cast

import uvicorn
from uvicorn.config import STARTUP_FAILURE, Config

__all__ = ["Acceptor", "Server", "bind", "run"]

logger = logging.getLogger("kinbase.http")

_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
"""accept() errors that say the process or the system has no room for another connection: the
connection stays queued in the kernel and accepting pauses (retrying at once would spin)."""


class Acceptor(asyncio.AbstractServer):
    """Accepts every pending connection of ``sock`` each time it is readable.

    Args:
        sock: a bound TCP or Unix socket; it is put in the listening state with ``backlog``.
        factory: makes the protocol of each connection.
        pause_seconds: how long accepting stops when the process is out of file descriptors
            (or the system out of memory for sockets).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        factory: Callable[[], asyncio.Protocol],
        *,
        backlog: int = 2048,
        ssl_context: ssl.SSLContext | None = None,
        pause_seconds: float = 1.0,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._factory = factory
        self._backlog = backlog
        self._ssl = ssl_context
        self._pause = pause_seconds
        self._tcp = sock.family in (socket.AF_INET, socket.AF_INET6)
        self._opening: set[asyncio.Task[None]] = set()
        self._serving = False
        self._closed = False
        self._resume: asyncio.TimerHandle | None = None
        sock.setblocking(False)
        sock.listen(backlog)
        self._start()

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._closed else (self._sock,)

    def _start(self) -> None:
        self._resume = None
        if not self._closed and not self._serving:
            self._loop.add_reader(self._sock.fileno(), self.accept_pending)
            self._serving = True

    def _stop(self) -> None:
        if self._serving:
            self._loop.remove_reader(self._sock.fileno())
            self._serving = False

    def accept_pending(self) -> int:
        """Accept every connection the kernel holds (at most ``backlog`` in one call, so a flood
        cannot keep the loop here), and return how many were accepted."""
        accepted = 0
        while accepted < self._backlog:
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionAbortedError:
                continue  # the client gave up while queued: nothing to serve
            except OSError as error:
                if error.errno not in _OUT_OF_RESOURCES:
                    raise
                logger.error("cannot accept connections (%s); pausing for %g s", error, self._pause)
                self._stop()
                self._resume = self._loop.call_later(self._pause, self._start)
                break
            accepted += 1
            if self._tcp:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._open(conn))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)
        return accepted

    async def _open(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn, ssl=self._ssl)
        except Exception as error:  # noqa: BLE001 - one connection's failure must not stop the others
            # The peer reset the connection before it was set up, or its TLS handshake failed.
            logger.debug("connection dropped while it was set up: %r", error)
            conn.close()

    # asyncio.AbstractServer (what uvicorn's shutdown calls)

    def close(self) -> None:
        if self._closed:
            return
        self._stop()
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        self._closed = True
        self._sock.close()

    async def wait_closed(self) -> None:
        """Wait until the connections accepted before :meth:`close` have their protocol (serving
        them is the protocol's business, as it is with ``create_server``)."""
        if self._opening:
            await asyncio.gather(*self._opening, return_exceptions=True)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        self._start()

    async def serve_forever(self) -> None:  # pragma: no cover - uvicorn runs its own main loop
        raise NotImplementedError("uvicorn's Server.main_loop serves")


def bind(host: str | None, port: int) -> list[socket.socket]:
    """Bind a socket for each address ``host`` resolves to (every interface when it is empty), as
    the event loop's ``create_server(host=..., port=...)`` does: ``SO_REUSEADDR``, and IPv6
    sockets limited to IPv6 so that an IPv4 socket can take the same port."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Server(uvicorn.Server):
    """uvicorn's server, its listening sockets served by :class:`Acceptor`."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        config = self.config

        def factory() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        listeners = sockets
        if listeners is None:
            try:
                listeners = bind(config.host, config.port)
            except OSError as error:
                logger.error("cannot listen on %s:%s: %s", config.host, config.port, error)
                await self.lifespan.shutdown()
                sys.exit(STARTUP_FAILURE)
        loop = asyncio.get_running_loop()
        acceptors = [
            Acceptor(loop, sock, factory, backlog=config.backlog, ssl_context=config.ssl)
            for sock in listeners
        ]
        # uvicorn's shutdown needs only close() and wait_closed() of each (asyncio.AbstractServer).
        self.servers = cast(Any, acceptors)
        if sockets is None:
            self._log_started_message(listeners)
        self.started = True


def run(config: Config) -> None:
    """Serve ``config`` in this process, as ``uvicorn.run`` does with one worker."""
    server = Server(config)
    try:
        server.run()
    except KeyboardInterrupt:  # pragma: no cover - Ctrl+C before the signal handlers are set
        pass
    if not server.started:
        sys.exit(STARTUP_FAILURE)
