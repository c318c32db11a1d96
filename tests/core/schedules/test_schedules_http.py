"""A cron schedule run by two kinbase server processes on one database (SQLite and PostgreSQL):
each tick runs exactly once (the Flex function is called once per recorded run, whichever worker
claimed it), and the run history is read over HTTP with the master secret."""

from __future__ import annotations

import base64
import itertools
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import database_args
from tests.support.flex_services import FLEX_SECRET, FlexProcess
from tests.support.server import run_server

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    yield from database_args(request.param, tmp_path)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[FlexProcess]:
    process = FlexProcess("python", tmp_path).start()  # a fresh tally per test
    yield process
    process.stop()


def _config(url: str, *, enabled: bool) -> str:
    return (
        f'[flex_services.svc]\nurl = "{url}"\nsecret = "{FLEX_SECRET}"\ntimeout_seconds = 30\n\n'
        '[endpoints.tallies]\nservice = "svc"\nfunction = "tallies"\n\n'
        '[schedules.tick]\nservice = "svc"\nfunction = "tally"\ncron = "* * * * * *"\n'
        f"enabled = {'true' if enabled else 'false'}\n"
    )


def _seconds(tick: str) -> float:
    return datetime.strptime(tick, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def test_two_servers_run_each_tick_once_and_serve_the_history(
    tmp_path: Path, database: list[str], service: FlexProcess
) -> None:
    env = {"KINBASE_APP_CACHE_SECONDS": "1"}
    with (
        run_server(*database, workdir=tmp_path, env=env, startup_timeout=150) as one,
        run_server(*database, workdir=tmp_path, env=env, startup_timeout=150) as two,
        httpx.Client(timeout=60) as http,
    ):
        found = re.search(r"^app key:\s+(\S+)$.*^master secret:\s+(\S+)$", one.log(), re.M | re.S)
        assert found is not None, one.log()
        key, master = found.groups()
        headers = {"Authorization": "Basic " + base64.b64encode(f"{key}:{master}".encode()).decode()}

        def runs(server: Any) -> list[dict[str, Any]]:
            reply = http.get(f"{server.url}/appconfig/{key}/runs", params={"limit": "1000"}, headers=headers)
            assert reply.status_code == 200, reply.text
            return list(reply.json())

        toml = {**headers, "Content-Type": "application/toml"}
        applied = http.put(
            f"{one.url}/appconfig/{key}", content=_config(service.url, enabled=True).encode(), headers=toml
        )
        assert applied.status_code == 200 and applied.json()["applied"], applied.text
        deadline = time.monotonic() + 120
        while len([r for r in runs(two) if r["status"] == "succeeded"]) < 6:
            assert time.monotonic() < deadline, runs(two)
            time.sleep(0.5)
        paused = http.put(
            f"{two.url}/appconfig/{key}", content=_config(service.url, enabled=False).encode(), headers=toml
        )
        assert paused.status_code == 200 and paused.json()["changes"], paused.text
        # Both schedulers see the pause within app_cache_seconds; wait for the runs to settle.
        settled: list[dict[str, Any]] = []
        deadline = time.monotonic() + 120
        while True:
            time.sleep(3)
            current = runs(one)
            if current == settled and all(r["status"] != "running" for r in current):
                break
            assert time.monotonic() < deadline, current
            settled = current

        assert runs(two) == settled  # one history, whichever process serves it
        assert all(r["schedule"] == "tick" for r in settled)
        assert all((r["status"], r["statusCode"]) == ("succeeded", 200) for r in settled), settled
        ticks = sorted(r["tick"] for r in settled)
        assert len(set(ticks)) == len(ticks) >= 6
        workers = {r["worker"] for r in settled}
        pids = (f":{one.process.pid}:", f":{two.process.pid}:")
        assert all(any(pid in worker for pid in pids) for worker in workers), workers
        seconds = [_seconds(t) for t in ticks]
        assert all(b - a >= 1 for a, b in itertools.pairwise(seconds))

        called = http.post(f"{one.url}/rpc/{key}/custom/tallies", json={}, headers=headers)
        assert called.status_code == 200, called.text
        calls = called.json()["calls"]
        assert len(calls) == len(settled), (calls, settled)  # once per tick, not once per worker
