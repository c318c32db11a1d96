"""The request edge on the Kinvey side (issue 16): control characters in paths, nesting, clause
and size limits checked before parsing, the API version header, U+0000 in credentials, and 503s
that keep database messages to the log."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import pytest

from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend
from kinbase.storage.exceptions import StorageError

from .conftest import Kinvey, _basic, error_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, max_insert_entities=5)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    "path", ["/appdata/{k}/c/a%0Ab", "/appdata/{k}/c%0D%0A/x", "/user/{k}/%1B", "/appdata/%7F"]
)
async def test_control_characters_in_a_path_are_invalid_identifiers(kv: Kinvey, path: str) -> None:
    r = await kv.get(path)
    assert r.status_code == 400 and error_of(r) == "InvalidIdentifier", r.text
    assert r.headers["x-kinvey-request-id"]


async def test_a_body_nested_too_deep_is_a_400_and_changes_nothing(kv: Kinvey) -> None:
    r = await kv.post("/appdata/{k}/c", json={"_id": "deep", "v": nested(300)})
    assert r.status_code == 400 and error_of(r) == "BadRequest", r.text
    assert (await kv.get("/appdata/{k}/c/deep")).status_code == 404
    r = await kv.put("/appdata/{k}/c/deep", json={"v": nested(98)})
    assert r.status_code == 201, r.text
    r = await kv.get("/appdata/{k}/c/deep")
    assert r.status_code == 200 and r.json()["v"] == nested(98)


async def test_a_query_nested_too_deep_is_invalid_query_syntax(kv: Kinvey) -> None:
    deep: Any = {"a": 1}
    for _ in range(255):
        deep = {"$and": [deep]}
    for path in ("/appdata/{k}/c", "/appdata/{k}/c/_count", "/user/{k}"):
        r = await kv.get(path, params={"query": json.dumps(deep)})
        assert r.status_code == 400 and error_of(r) == "InvalidQuerySyntax", r.text
    r = await kv.get("/appdata/{k}/c", params={"sort": "[" * 300 + "]" * 300})
    assert r.status_code == 400 and error_of(r) == "InvalidQuerySyntax"
    r = await kv.post("/user/{k}/_lookup", json=deep)
    assert r.status_code == 400 and error_of(r) == "BadRequest", r.text


async def test_a_filter_of_too_many_clauses_is_a_400_on_every_engine(kv: Kinvey) -> None:
    for i in range(3):
        await kv.user(f"u{i}")
    many = {"$and": [{"username": {"$ne": f"x{i}"}} for i in range(5000)]}
    r = await kv.post("/user/{k}/_lookup", json=many)
    assert r.status_code == 400 and error_of(r) == "InvalidQuerySyntax", r.text
    assert "500" in r.json()["debug"]
    reduce = "function(doc, out) { return out; }"
    group = {"key": {}, "initial": {}, "reduce": reduce, "condition": many}
    r = await kv.post("/appdata/{k}/c/_group", json=group)
    assert r.status_code == 400 and error_of(r) == "InvalidQuerySyntax", r.text
    enough = {"$and": [{"username": {"$ne": f"x{i}"}} for i in range(500)]}
    r = await kv.post("/user/{k}/_lookup", json=enough)
    assert r.status_code == 200 and len(r.json()) == 3, r.text
    r = await kv.get(
        "/appdata/{k}/c/_count", params={"query": json.dumps({"$or": [{"a": i} for i in range(500)]})}
    )
    assert r.status_code == 200 and r.json() == {"count": 0}


async def test_an_oversized_header_block_is_a_400(kv: Kinvey) -> None:
    r = await kv.get("/appdata/{k}", headers={"X-Kinvey-Custom-Request-Properties": "x" * 20_000})
    assert r.status_code == 400 and error_of(r) == "BadRequest", r.text


@pytest.mark.parametrize(
    ("version", "status", "name"),
    [
        ("9" * 5000, 400, "APIVersionNotAvailable"),
        ("0" * 4000 + "5", 200, None),
        ("1000", 400, "APIVersionNotAvailable"),
    ],
)
async def test_api_version_header_of_any_length(
    kv: Kinvey, version: str, status: int, name: str | None
) -> None:
    r = await kv.get("/appdata/{k}", version=version)
    assert r.status_code == status, r.text
    if name is not None:
        assert error_of(r) == name


async def test_multi_insert_over_the_limit_is_a_400_and_stores_nothing(kv: Kinvey) -> None:
    r = await kv.post("/appdata/{k}/c", version="5", json=[{"n": i} for i in range(6)])
    assert r.status_code == 400 and error_of(r) == "BadRequest", r.text
    assert (await kv.get("/appdata/{k}/c/_count")).json() == {"count": 0}
    r = await kv.post("/appdata/{k}/c", version="5", json=[{"n": i} for i in range(5)])
    assert r.status_code == 201, r.text
    assert (await kv.get("/appdata/{k}/c/_count")).json() == {"count": 5}


async def test_nul_in_basic_credentials_is_invalid_credentials(kv: Kinvey) -> None:
    await kv.user("ann", "pw")
    for user, password in (("ann\x00", "pw"), ("ann", "p\x00w"), (kv.key, kv.app.app_secret + "\x00")):
        r = await kv.get("/appdata/{k}/c", _basic(user, password), version="5")
        assert r.status_code == 401 and error_of(r) == "InvalidCredentials", r.text


async def test_a_503_keeps_the_database_message_in_the_log(
    kv: Kinvey, storage: StorageBackend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ann = await kv.user("ann", "pw")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StorageError('SQLite read failed: no such table: "objects"')

    monkeypatch.setattr(type(storage), "reader", broken)
    with caplog.at_level(logging.WARNING, logger="kinbase"):
        r = await kv.get("/appdata/{k}/c/x", kv.master)
    assert r.status_code == 503 and error_of(r) == "ServiceUnavailable"
    request_id = r.headers["x-kinvey-request-id"]
    assert r.json()["debug"] == f"request id {request_id}" and "objects" not in r.text
    assert any("objects" in rec.getMessage() and request_id in rec.getMessage() for rec in caplog.records)
    assert ann.token
