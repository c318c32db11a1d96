"""``/appconfig/:appKey``: the app configuration over HTTP with the master secret, on both
engines: GET as JSON and TOML, PUT of TOML and JSON, idempotence, export -> apply, dry run,
refusals with key and line that change nothing, the schedules and their run history, and a
change applied through one server process seen by another on the same database."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kinbase.core.services import Core
from tests.core.appconfig.test_validate import EXAMPLE
from tests.support.databases import database_args
from tests.support.server import run_server

from .conftest import Kinvey, error_of

pytestmark = pytest.mark.anyio

TOML = {"Content-Type": "application/toml"}


async def _put(kv: Kinvey, text: str, *, dry_run: bool = False) -> httpx.Response:
    params = {"dry_run": "true"} if dry_run else None
    return await kv.put("/appconfig/{k}", content=text.encode(), headers=TOML, params=params)


async def test_apply_twice_export_and_apply_back(kv: Kinvey) -> None:
    empty = await kv.get("/appconfig/{k}")
    assert empty.status_code == 200 and empty.json() == {}
    first = await _put(kv, EXAMPLE)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["applied"] is True and body["dryRun"] is False and isinstance(body["version"], int)
    assert "+ endpoints.checkout = " in "\n".join(body["changes"])
    assert not any("s3cret" in change for change in body["changes"])
    assert sorted(body["indexesBuilt"]) == ["orders: owner.id", "orders: status, n"]
    again = (await _put(kv, EXAMPLE)).json()
    assert again["changes"] == [] and again["applied"] is False and again["version"] == body["version"]

    toml = await kv.get("/appconfig/{k}", params={"format": "toml"})
    assert toml.status_code == 200 and toml.headers["content-type"].startswith("application/toml")
    assert 'secret = "s3cret"' in toml.text and "[endpoints.checkout]" in toml.text
    negotiated = await kv.get("/appconfig/{k}", headers={"Accept": "application/toml"})
    assert negotiated.text == toml.text
    back = (await _put(kv, toml.text)).json()
    assert back["changes"] == [] and back["applied"] is False

    document = (await kv.get("/appconfig/{k}")).json()
    assert document["endpoints"] == {"checkout": {"service": "billing", "function": "checkout"}}
    assert document["collections"]["orders"]["permissions"] == "shared"
    as_json = await kv.put("/appconfig/{k}", json=document)
    assert as_json.status_code == 200 and as_json.json()["changes"] == []


async def test_dry_run_changes_nothing(kv: Kinvey) -> None:
    await _put(kv, EXAMPLE)
    changed = EXAMPLE.replace('function = "checkout"', 'function = "checkout2"')
    planned = await _put(kv, changed, dry_run=True)
    assert planned.status_code == 200
    assert planned.json()["changes"] == ['~ endpoints.checkout.function: "checkout" -> "checkout2"']
    assert planned.json()["applied"] is False and planned.json()["dryRun"] is True
    assert (await kv.get("/appconfig/{k}")).json()["endpoints"]["checkout"]["function"] == "checkout"


async def test_a_refused_file_names_key_and_line_and_changes_nothing(kv: Kinvey) -> None:
    await _put(kv, EXAMPLE)
    before = (await kv.get("/appconfig/{k}", params={"format": "toml"})).text
    broken = EXAMPLE.replace('permissions = "shared"', 'permissions = "public"').replace(
        'function = "checkout"', 'function = "checkout"\nservice_typo = 1'
    )
    refused = await _put(kv, broken)
    assert refused.status_code == 400 and error_of(refused) == "BadRequest"
    debug = refused.json()["debug"]
    assert "nothing was applied" in debug["message"]
    problems = {(p["line"], p["key"]) for p in debug["problems"]}
    assert (8, "collections.orders.permissions") in problems
    assert (21, "endpoints.checkout.service_typo") in problems
    assert (await kv.get("/appconfig/{k}", params={"format": "toml"})).text == before

    not_toml = await _put(kv, "[flex_services\nurl=")
    assert error_of(not_toml) == "BadRequest" and not_toml.json()["debug"]["problems"][0]["line"] == 1
    not_utf8 = await kv.put("/appconfig/{k}", content=b"\xff\xfe", headers=TOML)
    assert error_of(not_utf8) == "BadRequest"
    not_object = await kv.put("/appconfig/{k}", json=[1])
    assert error_of(not_object) == "BadRequest"
    bad_json = await kv.put("/appconfig/{k}", json={"flex_services": {"x": {"url": 1}}})
    assert error_of(bad_json) == "BadRequest" and bad_json.json()["debug"]["problems"]
    assert error_of(await kv.get("/appconfig/{k}", params={"format": "yaml"})) == "BadRequest"
    assert (await kv.get("/appconfig/{k}", params={"format": "toml"})).text == before


async def test_only_the_master_secret(kv: Kinvey) -> None:
    user = await kv.user()
    for who in (user, kv.appauth):
        refused = await kv.get("/appconfig/{k}", who)
        assert refused.status_code == 401 and error_of(refused) == "InsufficientCredentials"
        assert error_of(await _put_as(kv, who)) == "InsufficientCredentials"
    assert error_of(await kv.get("/appconfig/{k}", {"Authorization": "Basic eDp5"})) == "InvalidCredentials"
    assert (await kv.get("/appconfig/kid_nope", headers={})).status_code == 404
    assert error_of(await kv.get("/appconfig/{k}/nothing")) == "EntityNotFound"


async def _put_as(kv: Kinvey, who: object) -> httpx.Response:
    return await kv.put("/appconfig/{k}", who, content=EXAMPLE.encode(), headers=TOML)


async def test_schedules_and_their_runs(kv: Kinvey, core: Core) -> None:
    config = EXAMPLE + '\n[schedules.paused]\nservice = "billing"\nfunction = "x"\ncron = "* * * * *"\n'
    config += "enabled = false\n"
    await _put(kv, config)
    listed = await kv.get("/appconfig/{k}/schedules")
    assert listed.status_code == 200
    nightly, paused = listed.json()
    assert nightly["name"] == "nightly" and nightly["cron"] == "0 3 * * *" and nightly["enabled"] is True
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT03:00:00Z", nightly["nextRun"])
    assert paused["name"] == "paused" and paused["enabled"] is False and paused["nextRun"] is None

    assert (await kv.get("/appconfig/{k}/runs")).json() == []
    runs = core.schedules.runs
    far = int(time.time() * 1000) + 3_600_000
    for tick in ("2026-01-01T03:00:00Z", "2026-01-02T03:00:00Z"):
        assert await runs.claim(kv.app, "nightly", tick, "w1", far)
        await runs.finish(kv.app, "nightly", tick, ok=True, status_code=200, error=None)
        await asyncio.sleep(0.01)  # distinct start times: newest first
    assert await runs.claim(kv.app, "other", "2026-01-03T03:00:00Z", "w2", far)
    every = (await kv.get("/appconfig/{k}/runs")).json()
    assert [(r["schedule"], r["tick"], r["status"]) for r in every] == [
        ("other", "2026-01-03T03:00:00Z", "running"),
        ("nightly", "2026-01-02T03:00:00Z", "succeeded"),
        ("nightly", "2026-01-01T03:00:00Z", "succeeded"),
    ]
    one = (await kv.get("/appconfig/{k}/runs", params={"schedule": "nightly", "limit": "1"})).json()
    assert [(r["tick"], r["statusCode"], r["worker"]) for r in one] == [("2026-01-02T03:00:00Z", 200, "w1")]
    assert (await kv.get("/appconfig/{k}/runs", params={"schedule": "none"})).json() == []
    for bad in ("0", "1001", "x"):
        refused = await kv.get("/appconfig/{k}/runs", params={"limit": bad})
        assert error_of(refused) == "BadRequest"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    yield from database_args(request.param, tmp_path)


@pytest.mark.slow
def test_a_change_through_one_server_is_seen_by_another(tmp_path: Path, database: list[str]) -> None:
    env = {"KINBASE_APP_CACHE_SECONDS": "1"}
    with (
        run_server(*database, workdir=tmp_path, env=env, startup_timeout=150) as one,
        run_server(*database, workdir=tmp_path, env=env, startup_timeout=150) as two,
    ):
        found = re.search(r"^app key:\s+(\S+)$.*^master secret:\s+(\S+)$", one.log(), re.M | re.S)
        assert found is not None, one.log()
        master = httpx.BasicAuth(found.group(1), found.group(2))
        path = f"/appconfig/{found.group(1)}"
        assert httpx.get(two.url + path, auth=master).json() == {}
        # The second process reads the configuration through its per-worker cache.
        assert httpx.get(f"{two.url}{path}/schedules", auth=master).json() == []
        put = httpx.put(one.url + path, content=EXAMPLE.encode(), headers=TOML, auth=master)
        assert put.status_code == 200 and put.json()["applied"], put.text
        assert [s["name"] for s in httpx.get(f"{one.url}{path}/schedules", auth=master).json()] == ["nightly"]
        deadline = time.monotonic() + 30  # app_cache_seconds is 1: seen within about a second
        while not (seen := httpx.get(f"{two.url}{path}/schedules", auth=master).json()):
            assert time.monotonic() < deadline, seen
            time.sleep(0.1)
        assert [s["name"] for s in seen] == ["nightly"]
        exported = httpx.get(two.url + path, auth=master).json()
        assert exported["endpoints"]["checkout"]["function"] == "checkout"
        again = httpx.put(two.url + path, content=EXAMPLE.encode(), headers=TOML, auth=master)
        assert again.json()["changes"] == []


async def test_the_answers_match_the_openapi_document(kv: Kinvey, core: Core) -> None:
    from tests.frontends.kinvey.test_openapi import _check

    doc = (await kv.http.get("/kinvey/__api__")).json()
    c = "/appconfig/{app_key}"
    _check(doc, c, "get", await kv.get("/appconfig/{k}"))
    _check(doc, c, "put", await _put(kv, EXAMPLE, dry_run=True))
    _check(doc, c, "put", await _put(kv, EXAMPLE))
    _check(doc, c, "get", await kv.get("/appconfig/{k}"))
    _check(doc, c, "put", await _put(kv, "nope = 1"))
    _check(doc, c + "/schedules", "get", await kv.get("/appconfig/{k}/schedules"))
    far = int(time.time() * 1000) + 3_600_000
    assert await core.schedules.runs.claim(kv.app, "nightly", "2026-01-01T03:00:00Z", "w", far)
    _check(doc, c + "/runs", "get", await kv.get("/appconfig/{k}/runs"))
