"""Shared plumbing: work directories, HTTP calls, server processes, PostgreSQL databases, targets."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.wrk import Load

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "benchmarks" / ".work"
"""Git-ignored: installed peers, data directories, logs, generated Lua scripts."""
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PG_ADMIN = os.environ.get("KINBASE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def call(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 300,
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request (loopback only); returns status, lower-cased headers and the decoded JSON."""
    assert url.startswith(("http://127.0.0.1:", "http://localhost:")), url
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status, got = resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        raw, status, got = exc.read(), exc.code, exc.headers
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = raw
    return status, {k.lower(): v for k, v in got.items()}, decoded


def expect(result: tuple[int, dict[str, str], Any], *ok: int) -> Any:
    """The body of ``result``; raises if its status is not one of ``ok``."""
    status, _, body = result
    if status not in ok:
        raise RuntimeError(f"unexpected HTTP {status}: {str(body)[:400]}")
    return body


class Server:
    """A server process (and its children), its log, and how to stop it."""

    def __init__(
        self, name: str, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ):
        self.name = name
        self.log_path = WORK / "logs" / f"{name}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

    def wait_http(self, url: str, timeout: float = 120, ok: tuple[int, ...] = (200,)) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            with contextlib.suppress(OSError):
                if call("GET", url, timeout=5)[0] in ok:
                    return
            time.sleep(0.25)
        raise RuntimeError(f"{self.name} did not answer {url} within {timeout} s; see {self.log_path}")

    def pids(self) -> list[int]:
        """The process and its descendants (uvicorn/uWSGI workers)."""
        found = [self.process.pid]
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
            children: dict[int, list[int]] = {}
            for line in out.splitlines():
                pid, ppid = (int(x) for x in line.split())
                children.setdefault(ppid, []).append(pid)
            index = 0
            while index < len(found):
                found += children.get(found[index], [])
                index += 1
        return found

    def rss_mib(self) -> float:
        return self.rss_parts_mib()["VmRSS"]

    def rss_parts_mib(self) -> dict[str, float]:
        """``VmRSS`` and its parts ``RssAnon`` (the heap: Python's objects, SQLite's page caches)
        and ``RssFile`` (mapped files: the code, and the database pages SQLite reads through
        ``mmap``, which the kernel may drop), summed over the server's processes."""
        total = dict.fromkeys(("VmRSS", "RssAnon", "RssFile"), 0)
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    key, _, value = line.partition(":")
                    if key in total:
                        total[key] += int(value.split()[0])
        return {key: kib / 1024 for key, kib in total.items()}

    def cpu_seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / ticks

    def wait_idle(self, timeout: float = 90) -> float:
        """Wait until the server uses under 10 % of a core (a backlog of slow requests left by the
        previous workload would otherwise be measured with the next); returns the seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            before = self.cpu_seconds()
            time.sleep(0.3)
            if self.cpu_seconds() - before < 0.03:
                break
        return time.monotonic() - started

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def psql(database: str, *statements: str) -> list[tuple[Any, ...]]:
    """Run statements on ``database`` (autocommit); returns the rows of the last one, if any."""
    import psycopg

    rows: list[tuple[Any, ...]] = []
    with psycopg.connect(f"{PG_ADMIN}/{database}", autocommit=True) as conn:
        for statement in statements:
            cur = conn.execute(statement.encode())
            rows = cur.fetchall() if cur.description else []
    return rows


CREATED_DATABASES: list[str] = []


def fresh_database(prefix: str) -> str:
    """A new PostgreSQL database named after this process (dropped at exit by :func:`drop_databases`)."""
    name = f"{prefix}_{os.getpid()}_{len(CREATED_DATABASES)}"
    psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    psql("postgres", f"ALTER DATABASE {name} SET TIMEZONE TO UTC")
    CREATED_DATABASES.append(name)
    return name


def drop_databases() -> None:
    for name in CREATED_DATABASES:
        with contextlib.suppress(Exception):
            psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    CREATED_DATABASES.clear()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


@dataclass
class Target:
    """One server as the rounds see it: its workloads and the hooks around them.

    ``loads`` maps a workload key to the wrk load; ``prepare`` (optional) is called with a workload
    key before each sample (e.g. to drop or create the peers' indexes, or open a fresh collection),
    ``check`` after it with the sample, to add correctness counts (lost writes...). ``database`` and
    ``workers`` describe what the CPU of a sample is measured on and judged against.
    """

    name: str
    server: Server
    base: str
    version: str
    loads: dict[str, Load] = field(default_factory=dict)
    prepare: Callable[[str], None] | None = None
    check: Callable[[str, dict[str, Any]], None] | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    database: str | None = None
    """The PostgreSQL database the server uses (its backends' CPU is measured), if any."""
    workers: int = 1
