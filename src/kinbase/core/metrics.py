"""What an operator measures: Prometheus metrics of one server process, and the last hour in
memory for the console's dashboard.

One :class:`Metrics` per core (its own ``CollectorRegistry``, so several servers in one process,
as in the tests, never mix their figures). The HTTP layer records every request
(:meth:`Metrics.request`), the Flex client every call to a service, the scheduler every run; the
pool figures are read from the storage when scraped. Each worker process keeps its own figures:
with several workers, Prometheus scrapes each (or the sum is made by the querying side).

The request path pays one dict lookup, a counter increment, a histogram observation and an
update of the current minute of :class:`RecentWindow`.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kinbase import __version__

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "Metrics", "MinuteFigures", "RecentWindow"]

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

    def last_hour(self) -> list[MinuteFigures]:
        """The 60 minutes up to the current one, oldest first (empty minutes included)."""
        now = int(self._clock()) // 60
        figures = []
        for minute in range(now - 59, now + 1):
            slot = minute % 60
            buckets = self._buckets[slot]
            if self._minutes[slot] != minute or buckets is None:
                figures.append(MinuteFigures(minute * 60, 0, 0, None, None))
                continue
            count = self._counts[slot]
            figures.append(
                MinuteFigures(
                    minute * 60,
                    count,
                    self._errors[slot],
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


class Metrics:
    """The metrics of one server process."""

    def __init__(self, pool_stats: PoolStats | None = None, clock: Callable[[], float] = time.time) -> None:
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
        info = Gauge("kinbase_build_info", "The kinbase version (always 1).", ["version"], registry=reg)
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
        """Everything in the Prometheus text format."""
        return generate_latest(self.registry)
