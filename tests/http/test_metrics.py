"""The operator's view on SQLite and PostgreSQL: ``/metrics`` scraped after a load and parsed
with prometheus_client's parser (requests by API, route template and status, latency histograms,
the database pool, Flex calls, scheduled runs), ``/healthz/live`` and ``/healthz/ready``, and the
JSON log lines with the request id."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kinbase.app import create_app
from kinbase.core.appconfig import parse_toml
from kinbase.core.metrics import Metrics, RecentWindow
from kinbase.core.services import Core
from kinbase.logs import JsonFormatter, RequestIdFilter
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, StorageBackend
from tests.support.flex_services import FLEX_SECRET, FlexProcess
from tests.support.server import free_port

pytestmark = pytest.mark.anyio


def scrape(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample by name: ``{name: [(labels, value), ...]}``."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    found = [v for got, v in samples.get(name, []) if all(got.get(k) == x for k, x in labels.items())]
    assert found, f"no {name} with {labels}: {samples.get(name)}"
    return sum(found)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[FlexProcess]:
    process = FlexProcess("python", tmp_path).start()
    yield process
    process.stop()


@pytest.fixture
async def http(core: Core) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(core.settings, core))
    async with httpx.AsyncClient(transport=transport, base_url="http://kinbase.test") as client:
        yield client
    await core.schedules.stop()
    await core.flex.close()


async def test_metrics_after_a_load(
    core: Core, http: httpx.AsyncClient, app: AppRecord, service: FlexProcess
) -> None:
    auth = (app.key, app.master_secret)
    for i in range(12):
        r = await http.post(f"/appdata/{app.key}/books", json={"_id": f"b{i}", "n": i}, auth=auth)
        assert r.status_code == 201, r.text
    for i in range(5):
        assert (await http.get(f"/appdata/{app.key}/books/b{i}", auth=auth)).status_code == 200
    assert (await http.get(f"/appdata/{app.key}/books/missing", auth=auth)).status_code == 404
    kinto = f"/kinto/{app.key}/v1"
    assert (await http.get(f"{kinto}/")).status_code == 200
    assert (await http.get(f"{kinto}/buckets/b1/collections/c/records/r1")).status_code in (401, 403)
    assert (await http.get("/healthz/live")).status_code == 200
    # Flex calls and scheduled runs: one that works, one whose service is down.
    schedules = (
        f'[flex_services.svc]\nurl = "{service.url}"\nsecret = "{FLEX_SECRET}"\ntimeout_seconds = 5\n\n'
        f'[flex_services.down]\nurl = "http://127.0.0.1:{free_port()}"\nsecret = "x"\n\n'
        '[schedules.good]\nservice = "svc"\nfunction = "tally"\ncron = "* * * * * *"\n\n'
        '[schedules.bad]\nservice = "down"\nfunction = "tally"\ncron = "* * * * * *"\n'
    )
    await core.appconfig.apply(await core.apps.require(app.key), parse_toml(schedules))
    await core.schedules.refresh()
    await asyncio.gather(*core.schedules.run_due(datetime.now(UTC)))

    r = await http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = scrape(r.text)
    requests = "kinbase_http_requests_total"
    route = "/appdata/{app_key}/{collection}"
    assert value(samples, requests, api="kinvey", route=route, method="POST", status="201") == 12
    entity = route + "/{entity_id}"
    assert value(samples, requests, api="kinvey", route=entity, method="GET", status="200") == 5
    assert value(samples, requests, api="kinvey", route=entity, method="GET", status="404") == 1
    assert value(samples, requests, api="kinto", route="/", method="GET", status="200") == 1
    records = "/buckets/{bid}/collections/{cid}/records/{id}"
    assert value(samples, requests, api="kinto", route=records, method="GET") == 1
    assert value(samples, requests, api="server", route="/healthz/live", status="200") == 1
    # No raw path (ids, app keys) ever becomes a label.
    assert not any(app.key in labels["route"] for labels, _ in samples[requests])
    latency = "kinbase_http_request_duration_seconds"
    assert value(samples, latency + "_count", api="kinvey", route=route) == 12
    assert value(samples, latency + "_bucket", api="kinvey", route=route, le="+Inf") == 12
    assert value(samples, latency + "_sum", api="kinvey", route=route) > 0
    pool = {labels["state"]: v for labels, v in samples["kinbase_db_pool_connections"]}
    assert pool["size"] >= 1 and pool["max"] >= pool["size"] and pool["in_use"] >= 0
    assert value(samples, "kinbase_flex_calls_total", service="svc", outcome="ok") >= 1
    assert value(samples, "kinbase_flex_calls_total", service="down", outcome="failure") >= 1
    assert value(samples, "kinbase_flex_call_duration_seconds_count", service="svc") >= 1
    assert value(samples, "kinbase_schedule_runs_total", outcome="ok") >= 1
    assert value(samples, "kinbase_schedule_runs_total", outcome="failed") >= 1
    # The dashboard's window counted the same requests.
    minutes = core.metrics.recent.last_hour()
    assert len(minutes) == 60 and sum(m.requests for m in minutes) >= 22


async def test_live_and_ready(core: Core, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in ("/healthz", "/healthz/ready", "/healthz/live"):
        r = await http.get(path)
        assert r.status_code == 200 and r.json()["status"] == "ok", path
        assert r.headers["cache-control"] == "no-store"
    # Whether the worker hears the others' changes (the database's feed here: no redis_url).
    assert (await http.get("/healthz")).json()["invalidations"] is False  # not started
    await core.invalidations.start()
    try:
        assert (await http.get("/healthz")).json()["invalidations"] is True
    finally:
        await core.invalidations.stop()

    async def down() -> bool:
        return False

    monkeypatch.setattr(core.storage, "ping", down)
    assert (await http.get("/healthz/ready")).status_code == 503
    assert (await http.get("/healthz")).json() == {
        "status": "unavailable",
        "storage": False,
        "invalidations": False,
        "version": ANY,
    }
    assert (await http.get("/healthz/live")).status_code == 200  # alive: do not restart it
    assert (await http.post("/healthz/live")).status_code == 405


class _Any:
    def __eq__(self, other: object) -> bool:
        return True


ANY: Any = _Any()


async def test_metrics_can_be_turned_off(storage: StorageBackend, tmp_path: Path) -> None:
    core = Core(Settings(data_dir=str(tmp_path), metrics_enabled=False), storage)
    await core.load_secret()
    transport = httpx.ASGITransport(app=create_app(core.settings, core))
    async with httpx.AsyncClient(transport=transport, base_url="http://kinbase.test") as client:
        assert (await client.get("/metrics")).status_code == 404


def test_recent_window_minutes_and_percentiles() -> None:
    now = [1_000_000.0]
    window = RecentWindow(lambda: now[0])
    for i in range(100):
        window.add(0.010 if i < 98 else 2.0, error=i == 0)
    now[0] += 60  # the next minute
    window.add(0.001, error=False)
    minutes = window.last_hour()
    assert len(minutes) == 60
    previous, current = minutes[-2], minutes[-1]
    assert (previous.requests, previous.errors) == (100, 1)
    assert previous.p50 is not None and 0.009 <= previous.p50 <= 0.012
    assert previous.p99 is not None and 1.8 <= previous.p99 <= 2.3
    assert current.requests == 1 and current.per_second == 1 / 60
    assert minutes[0].requests == 0 and minutes[0].p50 is None
    now[0] += 3600  # an hour later every slot is stale
    assert sum(m.requests for m in window.last_hour()) == 0


def test_metrics_without_a_pool() -> None:
    metrics = Metrics()
    metrics.request("kinvey", "/x", "GET", 200, 0.01)
    samples = scrape(metrics.exposition().decode())
    assert "kinbase_db_pool_connections" not in samples
    assert value(samples, "kinbase_build_info") == 1


def test_json_log_lines_carry_the_request_id() -> None:
    from kinbase.logs import REQUEST_ID

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("kinbase.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        token = REQUEST_ID.set("abc123")
        logger.warning("hello %s", "world")
        REQUEST_ID.reset(token)
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{"))
    assert first["message"] == "hello world" and first["request_id"] == "abc123"
    assert first["level"] == "warning" and first["logger"] == "kinbase.test.json"
    assert "request_id" not in second and "ValueError: boom" in second["exception"]


def test_configure_logging_json(capsys: pytest.CaptureFixture[str]) -> None:
    from kinbase.logs import configure_logging

    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        configure_logging("info", "json")
        logging.getLogger("kinbase.test.configured").info("configured")
        assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["message"] == "configured"
        configure_logging("warning", "text")
        logging.getLogger("kinbase.test.configured").warning("as text")
        assert "WARNING kinbase.test.configured: as text" in capsys.readouterr().err
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)


def test_a_server_logs_json_lines_with_the_request_id(tmp_path: Path) -> None:
    from tests.support.server import run_server

    env = {"KINBASE_LOG_FORMAT": "json", "KINBASE_ACCESS_LOG": "true"}
    with run_server("--data-dir", str(tmp_path / "data"), workdir=tmp_path, env=env) as server:
        r = httpx.post(f"{server.url}/console/login", data={"app_key": "kid_nobody", "secret": "x"})
        assert r.status_code == 401
        metrics = httpx.get(f"{server.url}/metrics").text
        log = server.log()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    refused = [e for e in lines if "refused a login" in e["message"]]
    assert len(refused) == 1 and len(refused[0]["request_id"]) == 32
    assert refused[0]["logger"] == "kinbase.console" and refused[0]["level"] == "info"
    assert any(e["logger"] == "uvicorn.access" and "/console/login" in e["message"] for e in lines)
    assert (
        'kinbase_http_requests_total{api="console",method="POST",route="/console/login",status="401"} 1.0'
        in metrics
    )
