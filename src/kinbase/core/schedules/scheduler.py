"""Run each app's scheduled Flex functions on their cron (UTC), each tick exactly once.

Every worker of every machine runs a :class:`Scheduler` (started by ``Core.start``). Each one
computes the due ticks of every active schedule and tries to claim them
(:meth:`ScheduleRuns.claim`): the database lets exactly one claim of a tick succeed, and only the
winner calls the function. A tick is tried for :data:`GRACE_SECONDS` after its time, so a worker
that is briefly busy does not lose it, and a worker that (re)starts tries the latest tick of that
window (already run, unless every worker was down then); older ticks that no server saw (every
server down) are skipped, not caught up. The schedules are re-read every
``app_cache_seconds`` and whenever an app's configuration version changes.

The call is a FlexFunctions request (``hookType: "customEndpoint"``, ``objectName``: the
schedule's name, ``body``: its ``body``), with no end user and the master secret as the original
``authorization`` (``requestContext.getSecurityContext()`` is ``"master"``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

from kinbase.core.appconfig import AppConfigService
from kinbase.core.appconfig.model import ScheduleConfig
from kinbase.core.apps import AppService
from kinbase.core.flex import FlexContext, FlexService, FunctionTask
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.schedules.runs import ScheduleRuns, tick_id
from kinbase.storage.base import AppRecord, StorageBackend

__all__ = ["GRACE_SECONDS", "Scheduler"]

logger = logging.getLogger("kinbase.schedules")

GRACE_SECONDS = 60.0


def _iterator(cron: str, start: datetime) -> croniter:
    return croniter(cron, start, second_at_beginning=len(cron.split()) == 6)


def due_ticks(cron: str, after: datetime, until: datetime) -> list[datetime]:
    """The ticks of ``cron`` in ``(after, until]`` (UTC)."""
    ticks: list[datetime] = []
    it = _iterator(cron, after)
    while (tick := it.get_next(datetime)) <= until:
        ticks.append(tick)
        if len(ticks) > 1000:
            break
    return ticks


def next_tick(cron: str, after: datetime) -> datetime:
    tick: datetime = _iterator(cron, after).get_next(datetime)
    return tick


@dataclass(frozen=True, slots=True)
class _Entry:
    app: AppRecord
    name: str
    config: ScheduleConfig


class Scheduler:
    """The scheduling loop of one worker."""

    def __init__(
        self,
        storage: StorageBackend,
        apps: AppService,
        appconfig: AppConfigService,
        flex: FlexService,
        *,
        refresh_seconds: float = 2.0,
        on_run: Callable[[bool, float], None] | None = None,
    ) -> None:
        self._on_run = on_run
        self._storage = storage
        self._apps = apps
        self._appconfig = appconfig
        self._flex = flex
        self.runs = ScheduleRuns(storage)
        self._refresh = max(0.2, refresh_seconds)
        self._entries: list[_Entry] = []
        self._checked: dict[tuple[int, str, str], datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{id(self) % 100000}"

    def start(self) -> None:
        """Start the loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="kinbase-scheduler")

    async def stop(self) -> None:
        """Stop the loop and wait for the runs in progress."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _loop(self) -> None:
        next_refresh = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() >= next_refresh:
                    await self.refresh()
                    next_refresh = loop.time() + self._refresh
                now = datetime.now(UTC)
                self.run_due(now)
                wake = min(
                    [next_tick(e.config.cron, now) for e in self._entries] or [now + timedelta(seconds=60)]
                )
                delay = min((wake - datetime.now(UTC)).total_seconds(), next_refresh - loop.time())
                await asyncio.sleep(max(0.01, delay))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("the scheduler loop failed; retrying in 1 s")
                await asyncio.sleep(1.0)

    async def refresh(self) -> None:
        """Re-read the apps and their active schedules."""
        async with self._storage.reader() as reader:
            apps = await reader.list_apps()
        entries: list[_Entry] = []
        for app in apps:
            if app.settings.get("config_version") is None:
                continue
            config = await self._appconfig.current(app)
            entries.extend(_Entry(app, name, s) for name, s in sorted(config.schedules.items()) if s.active)
        self._entries = entries

    def run_due(self, now: datetime) -> list[asyncio.Task[None]]:
        """Start a claim-and-run task for every tick due up to ``now`` (returned, for tests)."""
        started = []
        for entry in self._entries:
            key = (entry.app.id, entry.name, entry.config.cron)
            window = now - timedelta(seconds=GRACE_SECONDS)
            checked = self._checked.get(key)
            ticks = due_ticks(entry.config.cron, max(checked or window, window), now)
            if checked is None:
                ticks = ticks[-1:]  # first sight: the latest tick only (a restart), not a burst
            for tick in ticks:
                task = asyncio.get_running_loop().create_task(self._run(entry, tick))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
                started.append(task)
            self._checked[key] = now
        return started

    async def _run(self, entry: _Entry, tick: datetime) -> None:
        app, name, schedule = entry.app, entry.name, entry.config
        tick_key = tick_id(tick)
        try:
            service = await self._flex.service(app, schedule.service)
            deadline = int(datetime.now(UTC).timestamp() * 1000 + service.config.timeout * 1000)
            if not await self.runs.claim(app, name, tick_key, self.worker, deadline):
                return
        except Exception:
            logger.exception("schedule %s/%s: could not claim %s", app.key, name, tick_key)
            return
        ok, code, error = False, None, None
        started = time.perf_counter()
        try:
            master = base64.b64encode(f"{app.key}:{app.master_secret}".encode()).decode()
            context = FlexContext(
                app,
                self._flex.baas_url(),
                original_headers={"authorization": f"Basic {master}"},
                request_id=f"schedule:{name}:{tick_key}",
            )
            task = FunctionTask("customEndpoint", "POST", name, body=dict(schedule.body or {}))
            result = await service.function(context, schedule.function, task)
            code = result.status
            ok = result.status < 400
            if not ok:
                body = result.body if isinstance(result.body, dict) else {}
                error = str(body.get("error") or body.get("description") or result.body)
        except KinveyError as exc:
            error = f"{exc.name}: {exc.debug or exc.description}"
        except Exception as exc:
            logger.exception("schedule %s/%s tick %s failed", app.key, name, tick_key)
            error = f"internal error: {type(exc).__name__}"
        if self._on_run is not None:
            self._on_run(ok, time.perf_counter() - started)
        try:
            await self.runs.finish(app, name, tick_key, ok=ok, status_code=code, error=error)
        except Exception:
            logger.exception("schedule %s/%s: could not record the end of %s", app.key, name, tick_key)
