"""Scheduled Flex functions, on SQLite and PostgreSQL: two workers over one database run each
tick exactly once; failures land in the run history."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kinbase.core.appconfig import parse_toml
from kinbase.core.flex import FlexContext, FunctionTask
from kinbase.core.schedules.runs import ScheduleRuns
from kinbase.core.schedules.scheduler import due_ticks
from kinbase.core.services import Core
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, StorageBackend
from tests.support.flex_services import FLEX_SECRET, FlexProcess
from tests.support.server import free_port
from tests.support.workers import other_worker_storage

pytestmark = pytest.mark.anyio


def test_due_ticks() -> None:
    start = datetime(2026, 1, 1, 2, 59, 30, tzinfo=UTC)
    assert due_ticks("0 3 * * *", start, datetime(2026, 1, 2, 3, 0, tzinfo=UTC)) == [
        datetime(2026, 1, 1, 3, 0, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 0, tzinfo=UTC),
    ]
    every_2s = due_ticks("*/2 * * * * *", start, datetime(2026, 1, 1, 2, 59, 36, tzinfo=UTC))
    assert [t.second for t in every_2s] == [32, 34, 36]
    assert due_ticks("0 3 * * *", start, start) == []


@pytest.fixture
def service(tmp_path: Path) -> Iterator[FlexProcess]:
    process = FlexProcess("python", tmp_path).start()
    yield process
    process.stop()


@pytest.fixture
async def workers(storage: StorageBackend, tmp_path: Path) -> AsyncIterator[tuple[Core, Core]]:
    """Two cores over one database, each with its own connections and caches (two workers)."""
    settings = Settings(data_dir=str(tmp_path / "data"), app_cache_seconds=1)
    async with other_worker_storage(storage) as other:
        one, two = Core(settings, storage), Core(settings, other)
        for core in (one, two):
            await core.load_secret()
        yield one, two
        for core in (one, two):
            await core.schedules.stop()
            await core.flex.close()


def _config(url: str, schedules: str) -> str:
    return f'[flex_services.svc]\nurl = "{url}"\nsecret = "{FLEX_SECRET}"\ntimeout_seconds = 5\n\n{schedules}'


async def test_two_workers_run_each_tick_exactly_once(
    workers: tuple[Core, Core], app: AppRecord, service: FlexProcess
) -> None:
    one, two = workers
    every_second = '[schedules.tick]\nservice = "svc"\nfunction = "tally"\ncron = "* * * * * *"\n'
    await one.appconfig.apply(app, parse_toml(_config(service.url, every_second)))
    one.schedules.start()
    two.schedules.start()
    await asyncio.sleep(5.5)
    await one.schedules.stop()
    await two.schedules.stop()
    runs = await one.schedules.runs.list(app, "tick", limit=100)
    assert len(runs) >= 4, runs
    assert all(r.status == "succeeded" and r.status_code == 200 for r in runs), runs
    ticks = sorted(r.tick for r in runs)
    assert len(set(ticks)) == len(ticks)
    seconds = [datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp() for t in ticks]
    assert all(b - a == 1 for a, b in itertools.pairwise(seconds)), ticks  # no tick skipped
    fresh = await one.apps.require(app.key)
    svc = await one.flex.service(fresh, "svc")
    context = FlexContext(fresh, "http://127.0.0.1:9")
    calls = (await svc.function(context, "tallies", FunctionTask("customEndpoint", "POST", "t"))).body[
        "calls"
    ]
    assert len(calls) == len(runs)  # each tick called the function once, not once per worker
    for run, call in zip(sorted(runs, key=lambda r: r.tick), sorted(calls), strict=True):
        tick = datetime.strptime(run.tick, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        assert 0 <= call - tick < 10  # after its tick (a loaded machine may lag; the count is the point)
    assert {r.worker for r in runs} <= {one.schedules.worker, two.schedules.worker}


async def test_failures_are_recorded(
    workers: tuple[Core, Core], app: AppRecord, service: FlexProcess
) -> None:
    one, _ = workers
    schedules = (
        '[schedules.refused]\nservice = "svc"\nfunction = "fail"\ncron = "* * * * * *"\n\n'
        '[schedules.unreachable]\nservice = "down"\nfunction = "tally"\ncron = "* * * * * *"\n\n'
        '[schedules.paused]\nservice = "svc"\nfunction = "tally"\ncron = "* * * * * *"\nenabled = false\n\n'
        f'[flex_services.down]\nurl = "http://127.0.0.1:{free_port()}"\nsecret = "x"\n'
    )
    await one.appconfig.apply(app, parse_toml(_config(service.url, schedules)))
    await one.schedules.refresh()
    tasks = one.schedules.run_due(datetime.now(UTC))  # (other tests' apps may have schedules too)
    await asyncio.gather(*tasks)
    runs = {r.schedule: r for r in await one.schedules.runs.list(app)}  # the paused one did not run
    assert set(runs) == {"refused", "unreachable"}
    assert (runs["refused"].status, runs["refused"].status_code) == ("failed", 400)
    assert runs["refused"].error == "BadRequest"
    assert runs["unreachable"].status == "failed" and runs["unreachable"].error is not None
    assert runs["unreachable"].error.startswith("BLInternalError")
    shown = runs["refused"].as_json()
    assert shown["durationMs"] is not None and shown["started"].endswith("Z")
    # The same tick again (another worker, or this one later): already claimed, not run twice.
    assert await one.schedules.runs.claim(app, "refused", runs["refused"].tick, "w", 0) is False


async def test_concurrent_claims_of_one_tick(workers: tuple[Core, Core], app: AppRecord) -> None:
    one, two = workers
    runs = [ScheduleRuns(one.storage), ScheduleRuns(two.storage)]
    claims = await asyncio.gather(
        *(runs[i % 2].claim(app, "race", "2026-01-01T00:00:00Z", f"w{i}", 0) for i in range(20))
    )
    assert claims.count(True) == 1
