"""Issue 16, fault tests against a real server process: a slowloris client, PostgreSQL connections
terminated under a read/write load, a full disk. (kill -9 under load is
``tests/storage/test_durability.py``.)"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support import faults, redis_restart
from tests.support.server import kinbase_cli, run_server


def test_a_slowloris_client_is_dropped_and_others_are_served(tmp_path: Path) -> None:
    """A client that sends its request head a header now and then is disconnected once
    ``header_timeout_seconds`` have passed; meanwhile the server answers everyone else, and a head
    that arrives in pieces within the deadline is served."""
    env = {"KINBASE_HEADER_TIMEOUT_SECONDS": "4"}
    with run_server(
        "--data-dir", str(tmp_path / "data"), workdir=tmp_path, env=env, startup_timeout=300
    ) as server:
        port = int(server.url.rsplit(":", 1)[1])
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: kinbase\r\n")
        closed = threading.Event()

        def drip() -> None:
            # One more header line every 0.5 s, for as long as the server keeps the connection.
            try:
                for i in range(200):
                    slow.sendall(b"X-Slow-%d: 1\r\n" % i)
                    time.sleep(0.5)
            except OSError:
                pass

        def watch() -> None:
            try:
                while slow.recv(1024):
                    pass
            except OSError:
                pass
            closed.set()

        threading.Thread(target=drip, daemon=True).start()
        threading.Thread(target=watch, daemon=True).start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(10):
                assert client.get("/healthz").status_code == 200
                time.sleep(0.1)
        # A head in three pieces, well within the deadline, is served.
        with socket.create_connection(("127.0.0.1", port)) as pieces:
            for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: kinbase\r\n", b"Connection: close\r\n\r\n"):
                pieces.sendall(part)
                time.sleep(0.1)
            answer = b""
            while chunk := pieces.recv(4096):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
        assert closed.wait(60), "the slow connection was never closed"
        slow.close()
        assert "no request head within 4 s" in server.log()


@pytest.mark.postgres
def test_postgres_connections_terminated_under_load_through_http(tmp_path: Path) -> None:
    """Every connection of a server process terminated every 2 s (pg_terminate_backend) under
    readers and writers over HTTP: no read fails, a write fails only as a clean 503, every
    acknowledged write is there afterwards."""
    report = faults.terminate_under_load(tmp_path, seconds=6, interval=2)
    assert report.terminations >= 3, report
    assert report.reads > 10 and report.failed_reads == [], report
    assert report.acknowledged > 5 and report.unclean_writes == [], report
    assert report.lost == [], report


def test_a_full_disk_is_a_clean_503_and_the_server_recovers(tmp_path: Path) -> None:
    """SQLite on a 24 MB tmpfs filled up: writes fail as clean 503s, reads go on, the database
    passes its integrity check, and once space is freed writes succeed again."""
    report = faults.fill_the_disk(tmp_path, size_mb=24)
    assert report.refused_writes > 0 and report.unclean_writes == [], report
    assert report.failed_reads == [] and report.reads > 0, report
    assert report.integrity == "ok", report
    assert report.writes_after_freeing > 0, report
    assert report.lost == [], report


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_redis_restarted_under_load_fails_no_request_and_serves_nothing_stale(
    engine: str, tmp_path: Path
) -> None:
    """Two workers on one database with a private Redis for their invalidations, under a
    read/write load; the Redis killed, then started again: no request fails and no 5xx (the
    servers' own counts too); a change through one worker is seen through the other at once with
    Redis up, while it is down (caches are off) and once it is back (caches on again)."""
    report = redis_restart.restart_redis_under_load(tmp_path, engine=engine, rounds=1)
    assert report.restarts == 1 and report.checks == 8, report
    assert report.reads > 20 and report.failed_reads == [], report
    assert report.acknowledged > 5 and report.refused_writes == 0 and report.unclean_writes == [], report
    assert report.stale == [], report
    assert len(report.server_counts) == 2 and report.server_5xx == 0, report
    assert report.lost == [], report


def _exchange(port: int, head: bytes, pieces: list[bytes], pause: float) -> bytes:
    """Send ``head`` then each piece ``pause`` seconds apart (stopping when the server closes);
    return everything the server answered until it closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as conn:
        conn.sendall(head)
        try:
            for piece in pieces:
                time.sleep(pause)
                conn.sendall(piece)
        except OSError:
            pass
        answer = b""
        try:
            while chunk := conn.recv(4096):
                answer += chunk
        except OSError:
            pass
        return answer


def test_a_slow_request_body_is_refused_and_others_are_served(tmp_path: Path) -> None:
    """A body dripped a byte every 0.5 s is answered 408 in each protocol's format once
    ``body_timeout_seconds`` (3 s) have passed, and the connection is closed; the server answers
    everyone else meanwhile; a large body sent slowly but above ``body_min_rate`` is served."""
    env = {"KINBASE_BODY_TIMEOUT_SECONDS": "3", "KINBASE_BODY_MIN_RATE": "1000"}
    args = ["--data-dir", str(tmp_path / "data")]
    key, master = "kid_slowbody", "m" * 32
    made = kinbase_cli(*args, "apps", "create", "slow", "--app-key", key, "--master-secret", master, env=env)
    assert made.returncode == 0, made.stderr + made.stdout
    auth = "Basic " + base64.b64encode(f"{key}:{master}".encode()).decode()
    with run_server(*args, workdir=tmp_path, env=env, startup_timeout=300) as server:
        port = int(server.url.rsplit(":", 1)[1])
        answers: dict[str, bytes] = {}

        def drip(name: str, head: bytes) -> None:
            answers[name] = _exchange(port, head, [b" "] * 100, 0.5)

        kinvey_head = (
            f"POST /appdata/{key}/docs HTTP/1.1\r\nHost: kinbase\r\nAuthorization: {auth}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        ).encode()
        kinto_head = (
            f"PUT /kinto/{key}/v1/buckets/slow HTTP/1.1\r\nHost: kinbase\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        ).encode()
        threads = [
            threading.Thread(target=drip, args=("kinvey", kinvey_head)),
            threading.Thread(target=drip, args=("kinto", kinto_head)),
        ]
        for thread in threads:
            thread.start()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(10):
                assert client.get("/healthz").status_code == 200
                time.sleep(0.1)
        # 4,000 bytes in four pieces a second apart: 4 s in all, but 3 s + 1 s per 1,000 bytes
        # received is allowed.
        doc = b'{"pad": "' + b"x" * 3989 + b'"}'
        head = (
            f"POST /appdata/{key}/docs HTTP/1.1\r\nHost: kinbase\r\nAuthorization: {auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(doc)}\r\nConnection: close\r\n\r\n"
        ).encode()
        served = _exchange(port, head, [doc[i : i + 1000] for i in range(0, len(doc), 1000)], 1.0)
        assert served.startswith(b"HTTP/1.1 201"), served[:300]
        for thread in threads:
            thread.join(120)
        kinvey, kinto = answers["kinvey"], answers["kinto"]
        assert kinvey.startswith(b"HTTP/1.1 408"), kinvey[:300]
        assert json.loads(kinvey.split(b"\r\n\r\n", 1)[1])["error"] == "RequestTimeout"
        assert kinto.startswith(b"HTTP/1.1 408"), kinto[:300]
        body = json.loads(kinto.split(b"\r\n\r\n", 1)[1])
        assert body["code"] == 408 and body["errno"] == 109, body
        log = server.log()
        assert log.count("request body too slow") == 2, log
        assert re.search(
            r"request body too slow: \d+ bytes in \d+ s from 127\.0\.0\.1 \(request id [0-9a-f]{32}\)", log
        )
