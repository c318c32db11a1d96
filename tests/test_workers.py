"""``kinbase serve --workers N``: each worker accepts on a socket of its own (``SO_REUSEPORT``), so
the kernel spreads connections over the workers instead of the first awake worker taking a burst
of them (kinbase.workers)."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import httpx

from kinbase.workers import ensure_port_free, reuse_port_socket
from tests.support.server import free_port, run_server


def test_connections_are_spread_over_the_sockets_of_one_port() -> None:
    port = free_port()
    listeners = [reuse_port_socket("127.0.0.1", port) for _ in range(2)]
    clients: list[socket.socket] = []
    try:
        for sock in listeners:
            sock.listen(64)
            sock.setblocking(False)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
        accepted = [0, 0]
        deadline = time.monotonic() + 10
        while sum(accepted) < 40 and time.monotonic() < deadline:
            for i, sock in enumerate(listeners):
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    continue
                conn.close()
                accepted[i] += 1
        assert sum(accepted) == 40
        # 40 connections hashed over two sockets: all on one has a probability of 2^-39.
        assert min(accepted) > 0, accepted
    finally:
        for sock in [*clients, *listeners]:
            sock.close()


def test_serve_with_two_workers_starts_both_and_both_serve(tmp_path: Path) -> None:
    with run_server(
        "--data-dir", str(tmp_path / "data"), workdir=tmp_path, env={"KINBASE_WORKERS": "2"}
    ) as server:
        # The kernel sends connections only to sockets already listening: wait until both
        # workers have started (under load the second may start seconds after the first).
        deadline = time.monotonic() + 120
        while server.log().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        clients = [httpx.Client(timeout=30) for _ in range(32)]
        try:
            for client in clients:  # 32 connections, each kept alive
                assert client.get(f"{server.url}/healthz").status_code == 200
            for client in clients:
                assert client.get(f"{server.url}/healthz").status_code == 200
        finally:
            for client in clients:
                client.close()
        server.process.terminate()
        server.process.wait(timeout=30)
        served = [int(n) for n in re.findall(r"pid \d+ responses: 1xx=\d+ 2xx=(\d+)", server.log())]
        assert len(served) == 2, server.log()
        assert min(served) >= 2, served  # each worker accepted some of the 32 connections


def test_a_port_held_by_another_server_is_refused() -> None:
    port = free_port()
    holder = reuse_port_socket("127.0.0.1", port)
    holder.listen(1)
    try:
        try:
            ensure_port_free("127.0.0.1", port)
        except OSError as error:
            assert error.errno is not None
        else:  # pragma: no cover - the failure this test is for
            raise AssertionError("a port in use was taken for free")
    finally:
        holder.close()
    ensure_port_free("127.0.0.1", port)  # free again once the holder is gone
