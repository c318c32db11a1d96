"""Fault injection against a real server process (issue 16): PostgreSQL connections terminated
under a read/write load, and a full disk. Used by ``tests/reliability/test_faults.py`` (short) and
``python -m benchmarks.faults`` (the long versions, with their figures)."""

from __future__ import annotations

import contextlib
import random
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from kinbase.storage.sqlite.driver import sqlite as sqlite3  # the SQLite kinbase runs on (JSONB)
from tests.conftest import POSTGRES_URL
from tests.support.databases import database_args
from tests.support.server import ServerProcess, kinbase_cli, run_server

__all__ = ["FaultReport", "fill_the_disk", "terminate_under_load"]


_TERMINATE = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s"


@dataclass
class FaultReport:
    seconds: float = 0.0
    terminations: int = 0
    reads: int = 0
    failed_reads: list[str] = field(default_factory=list)
    acknowledged: int = 0
    refused_writes: int = 0
    unclean_writes: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    integrity: str = ""
    writes_after_freeing: int = 0

    def summary(self) -> str:
        return (
            f"{self.seconds:.0f} s, {self.terminations} terminations: {self.reads} reads "
            f"({len(self.failed_reads)} failed), {self.acknowledged} writes acknowledged, "
            f"{self.refused_writes} refused as 503 ({len(self.unclean_writes)} otherwise), "
            f"{len(self.lost)} acknowledged writes lost"
        )


@dataclass
class _App:
    key: str
    master: tuple[str, str]


@contextlib.contextmanager
def _server(args: list[str], workdir: Path) -> Iterator[tuple[ServerProcess, _App]]:
    key = "kid_fault" + secrets.token_hex(4)
    master = secrets.token_hex(16)
    created = kinbase_cli(*args, "apps", "create", "faults", "--app-key", key, "--master-secret", master)
    assert created.returncode == 0, created.stderr + created.stdout
    with run_server(*args, workdir=workdir, startup_timeout=300) as server:
        yield server, _App(key, (key, master))


def _is_clean_503(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return response.status_code == 503 and isinstance(body, dict) and "error" in body


class _Load:
    """Reader and writer threads over HTTP, each with its own connection (to one of ``servers``,
    in turn; by default ``server``)."""

    def __init__(
        self,
        server: ServerProcess,
        app: _App,
        report: FaultReport,
        targets: list[str],
        servers: list[ServerProcess] | None = None,
    ) -> None:
        self.server, self.app, self.report, self.targets = server, app, report, targets
        self.servers = servers or [server]
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.written: dict[str, int] = {}

    def client(self, n: int = 0) -> httpx.Client:
        server = self.servers[n % len(self.servers)]
        return httpx.Client(base_url=server.url, auth=self.app.master, timeout=60)

    def reader(self, n: int) -> None:
        rnd = random.Random(n)
        with self.client(n) as http:
            while not self.stop.is_set():
                target = rnd.choice(self.targets)
                try:
                    r = http.get(f"/appdata/{self.app.key}/seed/{target}")
                    ok = r.status_code == 200 and r.json()["_id"] == target
                    failure = "" if ok else f"GET {target}: {r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    failure = f"GET {target}: {type(exc).__name__}"
                with self.lock:
                    self.report.reads += 1
                    if failure:
                        self.report.failed_reads.append(failure)

    def writer(self, n: int, body_bytes: int = 0) -> None:
        i = 0
        with self.client(n) as http:
            while not self.stop.is_set():
                i += 1
                entity = f"w{n}-{i}"
                try:
                    r = http.put(
                        f"/appdata/{self.app.key}/load/{entity}", json={"v": i, "pad": "x" * body_bytes}
                    )
                    status, text = r.status_code, r.text[:200]
                    clean = _is_clean_503(r)
                except httpx.HTTPError as exc:
                    status, text, clean = 0, type(exc).__name__, False
                with self.lock:
                    if status in (200, 201):
                        self.written[entity] = i
                    elif clean:
                        self.report.refused_writes += 1
                    else:
                        self.report.unclean_writes.append(f"PUT {entity}: {status} {text}")
                if body_bytes and status != 201 and status != 200:
                    time.sleep(0.05)

    def start(self, readers: int, writers: int, body_bytes: int = 0) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.reader, args=(n,)) for n in range(readers)]
        threads += [threading.Thread(target=self.writer, args=(n, body_bytes)) for n in range(writers)]
        for thread in threads:
            thread.start()
        return threads

    def finish(self, threads: list[threading.Thread]) -> None:
        self.stop.set()
        for thread in threads:
            thread.join()
        self.report.acknowledged = len(self.written)

    def check_acknowledged(self) -> None:
        with self.client() as http:
            for entity, value in self.written.items():
                r = http.get(f"/appdata/{self.app.key}/load/{entity}")
                if r.status_code != 200 or r.json().get("v") != value:
                    self.report.lost.append(f"{entity}: {r.status_code} {r.text[:100]}")


def _seed(server: ServerProcess, app: _App, count: int = 20) -> list[str]:
    with httpx.Client(base_url=server.url, auth=app.master, timeout=60) as http:
        for i in range(count):
            r = http.put(f"/appdata/{app.key}/seed/s{i}", json={"n": i})
            assert r.status_code in (200, 201), r.text
    return [f"s{i}" for i in range(count)]


def terminate_under_load(
    workdir: Path, *, seconds: float, interval: float = 2.0, readers: int = 3, writers: int = 2
) -> FaultReport:
    """A server on PostgreSQL; every ``interval`` s each of its connections is terminated."""
    report = FaultReport()
    name = "kbfault_" + secrets.token_hex(4)
    with contextlib.contextmanager(database_args)("postgresql", workdir) as args:
        args = [args[0], f"{args[1]}&application_name={name}"]
        with _server(args, workdir) as (server, app):
            load = _Load(server, app, report, _seed(server, app))
            started = time.monotonic()
            threads = load.start(readers, writers)
            try:
                with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                    while time.monotonic() - started < seconds:
                        time.sleep(interval)
                        conn.execute(_TERMINATE, (name,))
                        report.terminations += 1
            finally:
                load.finish(threads)
            report.seconds = time.monotonic() - started
            load.check_acknowledged()
    return report


@contextlib.contextmanager
def tmpfs(path: Path, size_mb: int) -> Iterator[Path]:
    """A tmpfs of ``size_mb`` at ``path`` (needs root: the test machines and CI run as root)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill_the_disk(workdir: Path, *, size_mb: int, ballast_mb: int = 6) -> FaultReport:
    """SQLite on a small tmpfs: a ballast file, writes of 50 KB entities until the disk is full
    (refused for a while), reads meanwhile, an integrity check, then the ballast removed and
    writes again."""
    report = FaultReport()
    with tmpfs(workdir / "disk", size_mb) as disk:
        ballast = disk / "ballast"
        ballast.write_bytes(b"\0" * ballast_mb * 1024 * 1024)
        args = ["--data-dir", str(disk / "data")]
        with _server(args, workdir) as (server, app):
            load = _Load(server, app, report, _seed(server, app))
            started = time.monotonic()
            threads = load.start(readers=2, writers=2, body_bytes=50_000)
            try:
                deadline = started + 300
                while report.refused_writes < 40 and time.monotonic() < deadline:
                    time.sleep(0.2)
            finally:
                load.finish(threads)
            report.seconds = time.monotonic() - started
            db = disk / "data" / "kinbase.db"
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
                report.integrity = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
            ballast.unlink()
            with httpx.Client(base_url=server.url, auth=app.master, timeout=60) as http:
                for i in range(5):
                    r = http.put(f"/appdata/{app.key}/after/a{i}", json={"v": i})
                    if r.status_code in (200, 201):
                        report.writes_after_freeing += 1
            load.check_acknowledged()
    return report
