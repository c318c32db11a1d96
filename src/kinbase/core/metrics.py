"""What an operator measures: Prometheus metrics of one server process, and the last hour in
memory for the console's dashboard.

One :class:`Metrics` per core (its own ``CollectorRegistry``, so several servers in one process,
as in the tests, never mix their figures). The HTTP layer records every request
(:meth:`Metrics.request`), the Flex client every call to a service, the scheduler every run; the
pool figures are read from the storage when scraped.

Several workers (``kinbase serve --workers N``, N > 1): ``kinbase serve`` creates a directory per
server and names it in ``PROMETHEUS_MULTIPROC_DIR`` before the workers start, so
prometheus_client keeps every counter and histogram in memory-mapped files there
(its multiprocess mode), and a scrape of any worker adds up every worker's
(``MultiProcessCollector``); the pool figures stay the serving worker's. Each worker also writes
its last hour to ``recent-<pid>.json`` there every second, and the dashboard adds them up.

The request path pays one dict lookup, a counter increment, a histogram observation and an
update of the current minute of :class:`RecentWindow`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from kinbase import __version__

__all__ = [
    "CONTENT_TYPE",
    "LATENCY_BUCKETS",
    "MULTIPROC_ENV",
    "Metrics",
    "MinuteFigures",
    "RecentWindow",
    "shared_directory",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client's multiprocess directory (set by ``kinbase serve`` for several workers)."""

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The media type of the Prometheus text format."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Histogram buckets of request latencies, in seconds."""

FLEX_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# The dashboard's percentiles come from finer buckets: 0.1 ms to ~30 s, about 12 % apart.
_FINE = tuple(0.0001 * 1.12**i for i in range(112))


@dataclass(frozen=True, slots=True)
class MinuteFigures:
    """One minute of requests: its start (Unix seconds), count, 5xx count and latency percentiles
    (seconds; None without requests)."""

    start: int
    requests: int
    errors: int
    p50: float | None
    p99: float | None

    @property
    def per_second(self) -> float:
        return self.requests / 60


MinuteState = tuple[int, int, list[int]]
"""One minute of :class:`RecentWindow`: its count, 5xx count and latency buckets."""


class RecentWindow:
    """The requests of the last hour, minute by minute (a ring of 60 slots)."""

    __slots__ = ("_buckets", "_clock", "_counts", "_errors", "_minutes")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._minutes = [-1] * 60
        self._counts = [0] * 60
        self._errors = [0] * 60
        self._buckets: list[list[int] | None] = [None] * 60

    def add(self, seconds: float, error: bool) -> None:
        minute = int(self._clock()) // 60
        slot = minute % 60
        buckets = self._buckets[slot]
        if self._minutes[slot] != minute or buckets is None:
            self._minutes[slot] = minute
            self._counts[slot] = 0
            self._errors[slot] = 0
            buckets = self._buckets[slot] = [0] * (len(_FINE) + 1)
        self._counts[slot] += 1
        if error:
            self._errors[slot] += 1
        buckets[bisect_left(_FINE, seconds)] += 1

    def state(self) -> dict[int, MinuteState]:
        """The minutes of the last hour that had requests: ``{minute: (count, errors, buckets)}``."""
        now = int(self._clock()) // 60
        state = {}
        for minute in range(now - 59, now + 1):
            slot = minute % 60
            buckets = self._buckets[slot]
            if self._minutes[slot] == minute and buckets is not None:
                state[minute] = (self._counts[slot], self._errors[slot], list(buckets))
        return state

    def last_hour(
        self, others: Iterable[Mapping[int, tuple[int, int, list[int]]]] = ()
    ) -> list[MinuteFigures]:
        """The 60 minutes up to the current one, oldest first (empty minutes included), with the
        :meth:`state` of ``others`` (other workers) added."""
        now = int(self._clock()) // 60
        merged = self.state()
        for other in others:
            for minute, (count, errors, buckets) in other.items():
                if now - 59 <= minute <= now and len(buckets) == len(_FINE) + 1:
                    mine = merged.get(minute)
                    if mine is None:
                        merged[minute] = (count, errors, list(buckets))
                    else:
                        added = [a + b for a, b in zip(mine[2], buckets, strict=True)]
                        merged[minute] = (mine[0] + count, mine[1] + errors, added)
        figures = []
        for minute in range(now - 59, now + 1):
            found = merged.get(minute)
            if found is None or found[0] == 0:
                figures.append(MinuteFigures(minute * 60, 0, 0, None, None))
                continue
            count, errors, buckets = found
            figures.append(
                MinuteFigures(
                    minute * 60,
                    count,
                    errors,
                    _percentile(buckets, count, 0.50),
                    _percentile(buckets, count, 0.99),
                )
            )
        return figures


def _percentile(buckets: list[int], count: int, q: float) -> float | None:
    if count == 0:
        return None
    rank = q * count
    seen = 0
    for index, n in enumerate(buckets):
        seen += n
        if seen >= rank and n:
            return _FINE[index] if index < len(_FINE) else _FINE[-1]
    return _FINE[-1]


PoolStats = Callable[[], Mapping[str, int]]


class _PoolCollector(Collector):
    def __init__(self, stats: PoolStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "kinbase_db_pool_connections",
            "Database connections of this worker by state (size, in_use, idle, waiting, max).",
            labels=["state"],
        )
        for state, value in sorted(self._stats().items()):
            family.add_metric([state], value)
        yield family


def shared_directory() -> Path | None:
    """The multiprocess directory, if this process records its metrics there: the variable is
    set and prometheus_client read it when imported (it chooses its value class then)."""
    named = os.environ.get(MULTIPROC_ENV)
    if not named or values.ValueClass is values.MutexValue:
        return None
    return Path(named)


_SHARE_SECONDS = 1.0


class Metrics:
    """The metrics of one server process (of every worker, with a :func:`shared_directory`)."""

    def __init__(
        self,
        pool_stats: PoolStats | None = None,
        clock: Callable[[], float] = time.time,
        shared: Path | None = None,
    ) -> None:
        self.shared = shared
        """The multiprocess directory the workers share (None: this process alone)."""
        self._pool_stats = pool_stats
        self._sharing: asyncio.Task[None] | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self._requests = Counter(
            "kinbase_http_requests",
            "HTTP requests served, by API (kinvey, kinto, server, console), route template, method "
            "and status.",
            ["api", "route", "method", "status"],
            registry=reg,
        )
        self._latency = Histogram(
            "kinbase_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response, by API and route template.",
            ["api", "route"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self._flex_calls = Counter(
            "kinbase_flex_calls",
            "Calls to Flex services, by service and outcome (ok, error: a status of 400 or more, "
            "failure: unreachable, timed out or unreadable).",
            ["service", "outcome"],
            registry=reg,
        )
        self._flex_latency = Histogram(
            "kinbase_flex_call_duration_seconds",
            "Latency of the calls to Flex services, by service.",
            ["service"],
            buckets=FLEX_BUCKETS,
            registry=reg,
        )
        self._schedule_runs = Counter(
            "kinbase_schedule_runs",
            "Scheduled Flex function runs this worker made, by outcome (ok, failed).",
            ["outcome"],
            registry=reg,
        )
        self._schedule_latency = Histogram(
            "kinbase_schedule_run_duration_seconds",
            "Duration of the scheduled runs this worker made.",
            buckets=FLEX_BUCKETS,
            registry=reg,
        )
        info = Gauge(
            "kinbase_build_info",
            "The kinbase version (always 1).",
            ["version"],
            registry=reg,
            multiprocess_mode="max",
        )
        info.labels(__version__).set(1)
        if pool_stats is not None:
            reg.register(_PoolCollector(pool_stats))
        self.recent = RecentWindow(clock)
        self._children: dict[tuple[str, str, str, int], tuple[Counter, Histogram]] = {}

    def request(self, api: str, route: str, method: str, status: int, seconds: float) -> None:
        """Record one HTTP request (``route`` a template, never a raw path)."""
        key = (api, route, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self._requests.labels(api, route, method, str(status)),
                self._latency.labels(api, route),
            )
        children[0].inc()
        children[1].observe(seconds)
        self.recent.add(seconds, status >= 500)

    def flex_call(self, service: str, outcome: str, seconds: float) -> None:
        """Record one call to a Flex service (outcome ``ok``, ``error`` or ``failure``)."""
        self._flex_calls.labels(service, outcome).inc()
        self._flex_latency.labels(service).observe(seconds)

    def schedule_run(self, ok: bool, seconds: float) -> None:
        """Record one scheduled run."""
        self._schedule_runs.labels("ok" if ok else "failed").inc()
        self._schedule_latency.observe(seconds)

    def exposition(self) -> bytes:
        """Everything in the Prometheus text format (every worker's, with a shared directory)."""
        if self.shared is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.shared))  # type: ignore[no-untyped-call]
        if self._pool_stats is not None:
            registry.register(_PoolCollector(self._pool_stats))
        return generate_latest(registry)

    # -- several workers ------------------------------------------------------------------------
    def last_hour(self) -> list[MinuteFigures]:
        """The dashboard's last hour: this worker's, and every other worker's last written."""
        if self.shared is None:
            return self.recent.last_hour()
        others = []
        mine = self._recent_file()
        for path in self.shared.glob("recent-*.json"):
            if path == mine:
                continue
            with contextlib.suppress(OSError, orjson.JSONDecodeError, ValueError, TypeError):
                others.append(
                    {
                        int(k): (int(v[0]), int(v[1]), list(v[2]))
                        for k, v in orjson.loads(path.read_bytes()).items()
                    }
                )
        return self.recent.last_hour(others)

    def _recent_file(self) -> Path:
        assert self.shared is not None
        return self.shared / f"recent-{os.getpid()}.json"

    def write_recent(self) -> None:
        """Write this worker's last hour for the others (atomically: they may read it now)."""
        target = self._recent_file()
        temporary = target.with_suffix(".tmp")
        state = {str(minute): list(figures) for minute, figures in self.recent.state().items()}
        temporary.write_bytes(orjson.dumps(state))
        temporary.replace(target)

    def start_sharing(self) -> None:
        """With a shared directory, write the last hour every second (a worker's lifespan)."""
        if self.shared is None or self._sharing is not None:
            return

        async def share() -> None:
            while True:
                await asyncio.sleep(_SHARE_SECONDS)
                with contextlib.suppress(OSError):
                    self.write_recent()

        self._sharing = asyncio.get_running_loop().create_task(share(), name="kinbase-metrics-share")

    async def stop_sharing(self) -> None:
        """Stop writing; write the last hour once more and mark this process dead for the gauges."""
        if self._sharing is None or self.shared is None:
            return
        self._sharing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._sharing
        self._sharing = None
        with contextlib.suppress(OSError):
            self.write_recent()
            mark_process_dead(os.getpid(), str(self.shared))  # type: ignore[no-untyped-call]
