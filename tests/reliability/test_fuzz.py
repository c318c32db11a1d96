"""Issue 16, the standing campaign: schemathesis against both OpenAPI documents, in-process (the
ASGI app on schemathesis's own event loop, its storage started by the app's lifespan), on both
engines, a bounded and derandomised number of examples per operation. No response is a 5xx, none
is missing, and the responses conform to the documents (status codes, content types, schemas)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
import schemathesis
from psycopg import sql as pgsql
from schemathesis.python import asgi

from kinbase.app import create_app
from kinbase.core.services import Core
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, StorageBackend
from kinbase.storage.postgresql import PostgreSQLStorage
from kinbase.storage.sqlite import SQLiteStorage
from tests.conftest import ENGINES, POSTGRES_URL
from tests.support import fuzzing

EXAMPLES = {"kinvey": 2, "kinto": 2}
"""Requests generated per operation in the positive mode (half as many, at least one, in the
negative mode). The run's CPU time is the budget (under a minute for the four runs on one core);
on a loaded machine the wall time is longer, hence the generous timeout."""


@dataclass
class Target:
    app: Any
    record: AppRecord
    client: asgi.ASGIClient
    other: AppRecord
    """A second app of the same server (nothing of one may be seen through the other)."""


def _storage(engine: str, tmp: Path, schema: str) -> StorageBackend:
    if engine == "sqlite":
        return SQLiteStorage(tmp / "fuzz.db")
    return PostgreSQLStorage(POSTGRES_URL, min_size=1, max_size=4, schema=schema)


async def _new_apps(engine: str, tmp: Path, schema: str) -> tuple[AppRecord, AppRecord]:
    storage = _storage(engine, tmp, schema)
    await storage.start()
    try:
        return await fuzzing.create_fuzz_app(storage), await fuzzing.create_fuzz_app(storage)
    finally:
        await storage.stop()


@pytest.fixture(params=ENGINES)
def target(request: pytest.FixtureRequest, tmp_path: Path, worker_id_safe: str) -> Iterator[Target]:
    """A server on one engine, started by its lifespan on schemathesis's event loop, with an app."""
    engine: str = request.param
    schema = f"kbfz_{worker_id_safe}"
    record, other = asyncio.run(_new_apps(engine, tmp_path, schema))
    settings = Settings(
        data_dir=str(tmp_path / "data"),
        password_hash_time_cost=1,
        password_hash_memory_kib=8,
        login_max_failures=1000,
        login_delay_after=1000,
        login_address_max_failures=100000,
    )
    app = create_app(settings, Core(settings, _storage(engine, tmp_path, schema)))
    try:
        with asgi.get_client(app) as client:
            yield Target(app, record, client, other)
    finally:
        asgi.shutdown_lifespans()
        if engine == "postgresql":
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema)))


def _report(tally: fuzzing.Tally) -> str:
    lines = [tally.summary(), *tally.server_errors[:20]]
    for name, n in tally.conformance.items():
        lines.append(f"{n} times {name}\n    {tally.conformance_examples[name]}")
    return "\n".join(lines)


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("api", ["kinvey", "kinto"])
def test_schemathesis_finds_no_server_error(target: Target, api: str) -> None:
    http = fuzzing.Http(target.client)
    if api == "kinvey":
        seeds = fuzzing.seed_kinvey(http, target.record)
        schema = schemathesis.openapi.from_asgi("/kinvey/__api__", target.app)
    else:
        base = f"/kinto/{target.record.key}/v1"
        seeds = fuzzing.seed_kinto(http, target.record, base)
        schema = schemathesis.openapi.from_asgi(f"{base}/__api__", target.app)
    tally = fuzzing.fuzz(schema, seeds, examples=EXAMPLES[api], session=target.client)
    report = _report(tally)
    operations = len(list(schema.get_all_operations()))
    negative = max(1, EXAMPLES[api] // 2)
    assert tally.responses >= EXAMPLES[api] * operations + negative * (operations - len(tally.no_negative))
    assert tally.dropped == 0 and tally.classes["5xx"] == 0, report
    # The seeds make requests succeed: the campaign reaches the code behind authentication.
    assert tally.classes["2xx"] >= tally.responses // 5, report
    assert not tally.conformance, report


def test_the_conformance_checks_catch_a_wrong_answer(target: Target) -> None:
    """The checks the campaign relies on fail when an answer breaks the document."""
    schema = schemathesis.openapi.from_asgi("/kinvey/__api__", target.app)
    operation = schema["/appdata/{app_key}/{collection}/{entity_id}"]["GET"]
    case = operation.Case(path_parameters={"app_key": target.record.key, "collection": "c", "entity_id": "e"})
    auth = {"Authorization": fuzzing.basic(target.record.key, target.record.master_secret)}
    answer = case.call(session=target.client, headers=auth)
    assert answer.status_code == 404 and fuzzing.conformance_failures(case, answer, auth) == []
    wrong = requests.Response()
    wrong.status_code, wrong.url, wrong.request = 200, answer.request.url, answer.request  # type: ignore[assignment]
    wrong._content = b"<html>not an entity</html>"
    wrong.headers["Content-Type"] = "text/html"
    titles = [title for title, _ in fuzzing.conformance_failures(case, wrong, auth)]
    assert "JSON deserialization error" in titles, titles
