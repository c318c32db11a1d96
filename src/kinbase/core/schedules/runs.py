"""The run history of scheduled Flex functions, and the election of the one runner of a tick.

Each schedule of an app has a private parent ``kinbase.schedule_runs/<schedule>``; a tick is one
object in it whose id is the tick's time (``2026-12-06T03:00:00Z``). :meth:`ScheduleRuns.claim`
inserts it: the storage serializes the writers of one parent (SQLite's write lock, PostgreSQL's
row lock on the parent) and the builder refuses when the tick already exists, so of all the
workers and machines that try, exactly one gets the tick; the others learn it at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from kinbase.errors import Conflict
from kinbase.query.ast import Query, SortKey
from kinbase.storage.base import AppRecord, NewVersion, StorageBackend, WriteContext

__all__ = ["RUNS", "RunStatus", "ScheduleRun", "ScheduleRuns", "tick_id"]

RUNS = "kinbase.schedule_runs"
KEEP = 100
"""Runs kept per schedule (the oldest are forgotten)."""
_ABANDON_GRACE_MS = 30_000

RunStatus = Literal["running", "succeeded", "failed", "abandoned"]


def tick_id(tick: datetime) -> str:
    """The id of a tick: its UTC time to the second, ISO 8601."""
    return tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    """One run of a schedule (times in ms since the epoch)."""

    schedule: str
    tick: str
    status: RunStatus
    started: int
    ended: int | None
    error: str | None
    status_code: int | None
    worker: str

    def as_json(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "tick": self.tick,
            "status": self.status,
            "started": _iso(self.started),
            "ended": _iso(self.ended) if self.ended is not None else None,
            "durationMs": self.ended - self.started if self.ended is not None else None,
            "statusCode": self.status_code,
            "error": self.error,
            "worker": self.worker,
        }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


class ScheduleRuns:
    """Claim, finish and list runs."""

    def __init__(self, storage: StorageBackend) -> None:
        self._storage = storage

    async def claim(self, app: AppRecord, schedule: str, tick: str, worker: str, deadline_ms: int) -> bool:
        """Record the run of ``tick`` as started by ``worker``; False if another runner has it."""
        record: dict[str, Any] = {
            "status": "running",
            "started": _now_ms(),
            "worker": worker,
            "deadline": deadline_ms,
        }

        def build(ctx: WriteContext) -> NewVersion:
            if ctx.current is not None:
                raise Conflict("claimed")
            return NewVersion(record)

        try:
            async with self._storage.writer() as writer:
                parent = await writer.ensure_parent(app.id, RUNS, schedule)
                await writer.put(parent, tick, build)
        except Conflict:
            return False
        return True

    async def finish(
        self,
        app: AppRecord,
        schedule: str,
        tick: str,
        *,
        ok: bool,
        status_code: int | None,
        error: str | None,
    ) -> None:
        """Record the end of a run, and forget the oldest runs beyond :data:`KEEP`."""

        def build(ctx: WriteContext) -> NewVersion:
            previous = orjson.loads(ctx.current.data) if ctx.current is not None else {}
            return NewVersion(
                {
                    **previous,
                    "status": "succeeded" if ok else "failed",
                    "ended": _now_ms(),
                    "statusCode": status_code,
                    "error": error,
                }
            )

        async with self._storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, RUNS, schedule)
            await writer.put(parent, tick, build)
            fresh = await writer.get_parent(app.id, RUNS, schedule)
            if fresh is not None and fresh.live > KEEP + 20:
                oldest_first = Query(sort=(SortKey(("started",)),), limit=fresh.live - KEEP)
                await writer.delete_matching(fresh, oldest_first)
                await writer.purge_tombstones(fresh)

    async def list(self, app: AppRecord, schedule: str | None = None, limit: int = 20) -> list[ScheduleRun]:
        """The latest runs, newest first (of one schedule, or of all)."""
        async with self._storage.reader() as reader:
            if schedule is None:
                parents = await reader.list_parents(app.id, RUNS)
            else:
                found = await reader.get_parent(app.id, RUNS, schedule)
                parents = [found] if found is not None else []
            newest = Query(sort=(SortKey(("started",), descending=True),), limit=limit)
            runs = [(p.name, o) for p in parents for o in await reader.find(p, newest)]
        now = _now_ms()
        out = []
        for name, obj in runs:
            data = orjson.loads(obj.data)
            status = data.get("status", "running")
            if status == "running" and now > int(data.get("deadline", now)) + _ABANDON_GRACE_MS:
                status = "abandoned"  # its runner died before recording the end
            out.append(
                ScheduleRun(
                    name,
                    obj.id,
                    status,
                    int(data.get("started", 0)),
                    data.get("ended"),
                    data.get("error"),
                    data.get("statusCode"),
                    str(data.get("worker", "")),
                )
            )
        out.sort(key=lambda r: r.started, reverse=True)
        return out[:limit]
