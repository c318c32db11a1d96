"""Metrics of every worker: ``kinbase serve --workers 2`` (prometheus_client's multiprocess mode in
a directory the server creates and removes), N requests, one scrape of ``/metrics`` shows N; the
dashboard's last hour adds up the workers' too."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from kinbase.core.metrics import Metrics, RecentWindow
from tests.support.server import run_server

ROUTE = "/healthz/live"


def _served(text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "kinbase_http_requests_total" and sample.labels.get("route") == ROUTE:
                total += sample.value
    return total


def test_two_workers_one_scrape(tmp_path: Path) -> None:
    env = {"TMPDIR": str(tmp_path), "KINBASE_WORKERS": "2"}  # the metrics directory goes to TMPDIR
    n = 60
    with run_server("--data-dir", str(tmp_path / "data"), workdir=tmp_path, env=env) as server:
        shared = list(tmp_path.glob("kinbase-metrics-*"))
        assert len(shared) == 1
        for _ in range(n):  # a new connection each: the workers share the listening socket
            assert httpx.get(f"{server.url}{ROUTE}", headers={"Connection": "close"}).status_code == 200
        scrapes = [httpx.get(f"{server.url}/metrics").text for _ in range(4)]
        assert all(_served(text) == n for text in scrapes), [_served(t) for t in scrapes]
        info = [
            s
            for f in text_string_to_metric_families(scrapes[0])
            for s in f.samples
            if s.name == "kinbase_build_info"
        ]
        assert len(info) == 1 and info[0].value == 1
    assert not shared[0].exists()  # removed with the server


def test_dashboard_adds_up_workers(tmp_path: Path) -> None:
    """Each worker writes its last hour to the shared directory; any worker's dashboard adds them."""
    now = 1_800_000_000.0
    one = Metrics(clock=lambda: now, shared=tmp_path)
    two = Metrics(clock=lambda: now, shared=tmp_path)
    for _ in range(5):
        one.recent.add(0.002, error=False)
    for _ in range(3):
        two.recent.add(0.2, error=True)
    # As another process would have written it (the file is named after the writer's pid).
    written = {str(m): list(v) for m, v in two.recent.state().items()}
    (tmp_path / "recent-999999.json").write_bytes(orjson.dumps(written))
    minute = one.last_hour()[-1]
    assert (minute.requests, minute.errors) == (8, 3)
    assert minute.p50 is not None and minute.p50 < 0.01 and minute.p99 is not None and minute.p99 > 0.1
    alone = RecentWindow(clock=lambda: now)
    assert alone.last_hour()[-1].requests == 0
