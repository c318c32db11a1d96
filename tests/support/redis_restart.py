"""Redis restarted under load (issue 16): two server processes on one database with ``redis_url``
pointing at a private Redis, a read/write load on both, and the Redis killed (SIGKILL) and started
again. Used by ``tests/reliability/test_faults.py`` (one round) and ``python -m benchmarks.faults
--only redis`` (several).

What is checked: no request fails and no 5xx while Redis is down or coming back (the servers' own
counts at shutdown included); a change made through one worker (the app configuration, whose app
record each worker caches, and a user's password) is seen through the other at once, with Redis
up, while it is down (the workers cache nothing then) and once it is back.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from tests.support.databases import database_args
from tests.support.faults import FaultReport, _App, _Load, _seed
from tests.support.server import ServerProcess, free_port, kinbase_cli, run_server

__all__ = ["PrivateRedis", "RedisReport", "restart_redis_under_load"]

OLD_API = {"X-Kinvey-API-Version": "3"}  # Basic username:password is accepted before version 6


class PrivateRedis:
    """A ``redis-server`` of the test's own on a free port (never the machine's shared one), with
    no persistence: a restart starts empty, as a restarted cache would."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._log = workdir / f"redis-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._hold: socket.socket | None = None

    def start(self) -> None:
        if self._hold is not None:
            self._hold.close()
            self._hold = None
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with redis.Redis.from_url(self.url, socket_connect_timeout=1) as client:
                    client.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self, *, hold: bool = True) -> None:
        """Kill the server; with ``hold`` its port stays bound (never listening) until
        :meth:`start`, so a connection is refused and no other test's server takes the port
        meanwhile (a client reconnecting to another test's Redis saw that Redis as this one)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=30)
            self._process = None
            if hold:
                held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    held.bind(("127.0.0.1", self.port))
                except OSError:  # taken already: nothing to hold
                    held.close()
                else:
                    self._hold = held

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill(hold=False)
        if self._hold is not None:
            self._hold.close()
            self._hold = None


@dataclass
class RedisReport(FaultReport):
    restarts: int = 0
    checks: int = 0
    stale: list[str] = field(default_factory=list)
    server_counts: list[str] = field(default_factory=list)
    server_5xx: int = 0

    def summary(self) -> str:
        return (
            f"{self.seconds:.0f} s, {self.restarts} Redis restarts: {self.reads} reads "
            f"({len(self.failed_reads)} failed), {self.acknowledged} writes acknowledged, "
            f"{self.refused_writes + len(self.unclean_writes)} failed; {self.checks} changes through "
            f"one worker checked on the other, {len(self.stale)} stale; servers' 5xx: {self.server_5xx}; "
            f"{len(self.lost)} acknowledged writes lost"
        )


def _feeds(servers: list[ServerProcess], up: bool, timeout: float = 60) -> None:
    """Wait until every server's readiness says its invalidation feed is ``up`` (or not)."""
    deadline = time.monotonic() + timeout
    while True:
        states = [httpx.get(f"{s.url}/healthz", timeout=10).json().get("invalidations") for s in servers]
        if all(state is up for state in states):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"invalidation feeds {states}, expected all {up}")
        time.sleep(0.05)


class _Changes:
    """Changes made through worker A and looked at through worker B."""

    def __init__(self, a: ServerProcess, b: ServerProcess, app: _App, report: RedisReport) -> None:
        self.a, self.b, self.app, self.report = a, b, app, report
        self.http = httpx.Client(timeout=60)
        self.n = 0
        self.password = "pw-0"
        made = self.http.post(
            f"{a.url}/user/{app.key}/", auth=app.master, json={"username": "ann", "password": self.password}
        )
        assert made.status_code == 201, made.text
        self.ann = made.json()["_id"]

    def schedules(self, server: ServerProcess) -> list[str]:
        r = self.http.get(f"{server.url}/appconfig/{self.app.key}/schedules", auth=self.app.master)
        assert r.status_code == 200, r.text
        return [s["name"] for s in r.json()]

    def check(self, phase: str) -> None:
        """B caches the app (its configuration version); A applies a new configuration; B must
        list the new schedule at once. Then A changes ann's password; B must refuse the old one."""
        self.schedules(self.b)  # B's copy of the app record, cached (with Redis up: for 600 s)
        self.n += 1
        document = {
            "flex_services": {"svc": {"url": "http://127.0.0.1:9", "secret": "s"}},
            "schedules": {
                f"s{i}": {"service": "svc", "function": "f", "cron": "0 3 * * *", "enabled": False}
                for i in range(self.n)
            },
        }
        put = self.http.put(f"{self.a.url}/appconfig/{self.app.key}", auth=self.app.master, json=document)
        assert put.status_code == 200 and put.json()["applied"], put.text
        seen = self.schedules(self.b)
        self.report.checks += 1
        if len(seen) != self.n:
            self.report.stale.append(f"{phase}: B lists {len(seen)} schedules after A applied {self.n}")
        old, self.password = self.password, f"pw-{self.n}"
        changed = self.http.put(
            f"{self.a.url}/user/{self.app.key}/{self.ann}",
            auth=self.app.master,
            json={"username": "ann", "password": self.password},
        )
        assert changed.status_code == 200, changed.text
        me = f"{self.b.url}/user/{self.app.key}/_me"
        before = self.http.get(me, auth=("ann", old), headers=OLD_API).status_code
        after = self.http.get(me, auth=("ann", self.password), headers=OLD_API).status_code
        self.report.checks += 1
        if (before, after) != (401, 200):
            self.report.stale.append(f"{phase}: B answered {before} to the old password, {after} to the new")


_COUNTS = re.compile(r"responses: .*")


@contextlib.contextmanager
def _two_servers(
    engine: str, workdir: Path, redis_url: str
) -> Iterator[tuple[ServerProcess, ServerProcess, _App]]:
    env = {
        "KINBASE_REDIS_URL": redis_url,
        "KINBASE_APP_CACHE_SECONDS": "600",  # without invalidations B would keep its copy for 10 min
    }
    for args in database_args(engine, workdir):
        key = "kid_redis" + secrets.token_hex(4)
        master = secrets.token_hex(16)
        made = kinbase_cli(
            *args, "apps", "create", "redis", "--app-key", key, "--master-secret", master, env=env
        )
        assert made.returncode == 0, made.stderr + made.stdout
        with (
            run_server(*args, workdir=workdir, env=env, startup_timeout=300) as a,
            run_server(*args, workdir=workdir, env=env, startup_timeout=300) as b,
        ):
            yield a, b, _App(key, (key, master))


def restart_redis_under_load(
    workdir: Path,
    *,
    engine: str = "sqlite",
    rounds: int = 1,
    down_seconds: float = 4.0,
    up_seconds: float = 3.0,
) -> RedisReport:
    """``rounds`` times: Redis killed for ``down_seconds`` and started again, then up for
    ``up_seconds``, under two readers and a writer per server; a change through A checked on B
    before the first kill, while Redis is down, and once every worker is subscribed again."""
    report = RedisReport()
    servers: list[ServerProcess] = []
    with PrivateRedis(workdir) as private, _two_servers(engine, workdir, private.url) as (a, b, app):
        servers = [a, b]
        _feeds(servers, up=True)
        changes = _Changes(a, b, app, report)
        load = _Load(a, app, report, _seed(a, app), servers=servers)
        started = time.monotonic()
        threads = load.start(readers=4, writers=2)
        try:
            changes.check("redis up")
            for _ in range(rounds):
                private.kill()
                _feeds(servers, up=False)
                changes.check("redis down")
                # Once more later: the subscriber's reconnection attempts, which also drop the
                # caches, are seconds apart by then, so only the check of every request protects.
                time.sleep(down_seconds)
                changes.check("redis still down")
                private.start()
                report.restarts += 1
                _feeds(servers, up=True)
                changes.check("redis back")
                time.sleep(up_seconds)
        finally:
            load.finish(threads)
            changes.http.close()
        report.seconds = time.monotonic() - started
        load.check_acknowledged()
    for server in servers:
        for line in _COUNTS.findall(server.log()):
            report.server_counts.append(line)
            report.server_5xx += int(re.search(r"5xx=(\d+)", line).group(1))  # type: ignore[union-attr]
    return report
