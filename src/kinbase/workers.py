"""``kinbase serve --workers N``: uvicorn's worker supervisor, each worker accepting connections on a
listening socket of its own.

uvicorn binds one socket and every worker accepts on it: whichever worker's event loop is awake
takes the connections arriving together (a client's pool of keep-alive connections, a load
balancer's), and keeps them. Measured with wrk's 32 connections to two workers: one worker served
88 % of the requests, so two workers were no faster than one. Here each worker gets a socket bound
to the same address with ``SO_REUSEPORT``: the kernel spreads new connections evenly over the
workers' sockets. Where the system has no ``SO_REUSEPORT`` the shared socket is kept.

Sockets bound with ``SO_REUSEPORT`` share their port with any other such socket of the same user,
so a second server started on a busy port would quietly share it: before the workers start, the
port is bound once without the option, which fails with "address already in use" as uvicorn's own
bind does.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from uvicorn import Config
from uvicorn.supervisors import multiprocess

from kinbase.http.listener import Server

__all__ = ["ensure_port_free", "reuse_port_socket", "run_workers"]


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (not listening yet: the worker
    that receives it listens, and only then does the kernel send it connections)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class _Worker(multiprocess.Process):
    """A worker process with a listening socket of its own (the parent closes its copy once the
    worker has it: a worker that dies takes its socket, and its queue, with it)."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        self._own = reuse_port_socket(config.host, config.port)
        super().__init__(config, [self._own])

    def start(self) -> None:
        try:
            super().start()
        finally:
            self._own.close()

    @property
    def server(self) -> uvicorn.Server:
        """The worker's server, which accepts every pending connection at once (kinbase.http.listener)."""
        if self._server is None:
            self._server = Server(config=self.config)
        return self._server


def ensure_port_free(host: str, port: int) -> None:
    """Raise ``OSError`` (address already in use) when another socket holds ``host:port``, even
    one bound with ``SO_REUSEPORT`` (a plain bind never joins such a group)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def run_workers(app: str, **kwargs: Any) -> None:
    """Run ``app`` (an import string) as ``uvicorn.run(app, **kwargs)`` does with ``workers`` > 1,
    each worker on its own ``SO_REUSEPORT`` socket."""
    config = Config(app, **kwargs)
    if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - Linux and the BSDs have it
        multiprocess.Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    ensure_port_free(config.host, config.port)
    # The supervisor creates its workers (at start, after a crash, on SIGHUP/SIGTTIN) through the
    # module's ``Process``: this process does nothing else, so it is replaced for its lifetime.
    multiprocess.Process = _Worker  # type: ignore[misc]
    multiprocess.Multiprocess(config, sockets=[]).run()
