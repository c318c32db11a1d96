"""Appdata reads through HTTP: filters and sorts, counts and deletes by query under access control,
the 10,000-entity cap by API version, the app's default version, and the handshake with a session,
on every engine."""

from __future__ import annotations

import json

import pytest

from kinbase.core.kinvey.transfer import import_batch
from kinbase.core.services import Core

from .conftest import Kinvey, error_of

pytestmark = pytest.mark.anyio


def q(value: object) -> str:
    return json.dumps(value)


async def test_query_sort_count_and_delete_by_query(kv: Kinvey) -> None:
    ann, bob = await kv.user(), await kv.user()
    for n, owner in ((5, ann), (3, ann), (9, bob), (1, bob), (7, ann)):
        assert (await kv.post("/appdata/{k}/n", owner, json={"n": n, "odd": n % 2 == 1})).status_code == 201
    await kv.post("/appdata/{k}/n", bob, json={"n": 4, "_acl": {"gr": False}})
    big = {"query": q({"n": {"$gte": 3}}), "sort": q({"n": -1})}
    r = await kv.get("/appdata/{k}/n", ann, params=big)
    assert [e["n"] for e in r.json()] == [9, 7, 5, 3], "bob's private 4 is not readable by ann"
    r = await kv.get("/appdata/{k}/n", bob, params=big)
    assert [e["n"] for e in r.json()] == [9, 7, 5, 4, 3]
    r = await kv.get("/appdata/{k}/n", ann, params={"sort": "n", "limit": "2", "skip": "1"})
    assert [e["n"] for e in r.json()] == [3, 5]
    r = await kv.get("/appdata/{k}/n/_count", ann, params={"query": q({"n": {"$gte": 3}})})
    assert r.json() == {"count": 4}
    r = await kv.get("/appdata/{k}/n/_count", ann)
    assert r.json() == {"count": 5}
    huge = "9" * 30
    r = await kv.get("/appdata/{k}/n", ann, params={"sort": "n", "limit": huge})
    assert r.status_code == 200 and [e["n"] for e in r.json()] == [1, 3, 5, 7, 9], "a huge limit is no limit"
    r = await kv.get("/appdata/{k}/n", ann, params={"skip": huge})
    assert r.status_code == 200 and r.json() == [], "a huge skip skips everything"
    r = await kv.get("/user/{k}", ann, params={"skip": huge})
    assert r.status_code == 200 and r.json() == []
    r = await kv.delete("/appdata/{k}/n", ann, params={"query": q({"n": {"$gte": 3}})})
    assert r.status_code == 200 and r.json() == {"count": 3}, "only what ann may delete: 3, 5, 7"
    r = await kv.get("/appdata/{k}/n", params={"sort": "n"})
    assert [e["n"] for e in r.json()] == [1, 4, 9]


async def test_group_condition(kv: Kinvey) -> None:
    ann = await kv.user()
    for city, age in (("Boston", 30), ("Boston", 50), ("Paris", 40), ("Paris", 20)):
        await kv.post("/appdata/{k}/p", ann, json={"city": city, "age": age})
    body = {
        "key": {"city": True},
        "initial": {"count": 0},
        "reduce": "function(doc, out) { out.count++; }",
        "condition": {"age": {"$gte": 30}},
    }
    r = await kv.post("/appdata/{k}/p/_group", ann, json=body)
    assert r.status_code == 200, r.text
    assert sorted((g["city"], g["count"]) for g in r.json()) == [("Boston", 2), ("Paris", 1)]


async def _seed(core: Core, kv: Kinvey, collection: str, count: int) -> None:
    items = [{"_id": f"e{i:05d}", "i": i} for i in range(count)]
    assert await import_batch(core.storage, kv.app, collection, items) == count


async def test_result_cap_by_version(kv: Kinvey, core: Core) -> None:
    await kv.put("/appdata/{k}/big/_settings", json={"deltaSet": {"enabled": True}})
    since = (await kv.get("/appdata/{k}/big")).headers["x-kinvey-request-start"]
    await _seed(core, kv, "big", 10_001)
    r = await kv.get("/appdata/{k}/big", version="4")
    assert r.status_code == 400 and error_of(r) == "ResultSetSizeExceeded"
    r = await kv.get("/appdata/{k}/big", version="6", params={"limit": "10001"})
    assert r.status_code == 400 and error_of(r) == "ResultSetSizeExceeded"
    r = await kv.get("/appdata/{k}/big", version="3")
    assert r.status_code == 200 and len(r.json()) == 10_000, "before v4 the result is cut silently"
    r = await kv.get("/appdata/{k}/big", version="6", params={"limit": "10000", "skip": "1"})
    assert r.status_code == 200 and len(r.json()) == 10_000 and r.json()[0]["_id"] == "e00001"
    r = await kv.get("/appdata/{k}/big", version="6", params={"query": q({"i": {"$gte": 1}})})
    assert r.status_code == 200 and len(r.json()) == 10_000
    assert (await kv.get("/appdata/{k}/big/_count", version="6")).json() == {"count": 10_001}
    r = await kv.get("/appdata/{k}/big/_deltaset", params={"since": since})
    assert r.status_code == 400 and error_of(r) == "ResultSetSizeExceeded"
    r = await kv.get("/appdata/{k}/big/_deltaset", params={"since": since, "query": q({"i": {"$lt": 3}})})
    assert r.status_code == 200 and len(r.json()["changed"]) == 3


async def test_app_default_api_version(kv: Kinvey, core: Core) -> None:
    async with core.storage.writer() as w:
        await w.update_app(kv.app.id, settings={"default_api_version": 5})
    core.apps._cache.clear()
    headers = kv.master
    r = await kv.http.post(f"/appdata/{kv.key}/m", headers=headers, json=[{"a": 1}, {"a": 2}])
    assert r.status_code == 201 and r.headers["x-kinvey-api-version"] == "5", r.text
    r = await kv.http.delete(f"/appdata/{kv.key}/m", headers=headers)
    assert r.status_code == 200 and r.json() == {"count": 2}
    r = await kv.http.delete(f"/appdata/{kv.key}/m", headers={**headers, "X-Kinvey-API-Version": "1"})
    assert r.status_code == 204 and r.headers["x-kinvey-api-version"] == "1"


async def test_handshake_with_a_user_session(kv: Kinvey) -> None:
    ann = await kv.user()
    r = await kv.get("/appdata/{k}", ann)
    assert r.status_code == 200 and r.json()["kinvey"].startswith("hello ")
    r = await kv.get("/appdata/{k}", {"Authorization": "Kinvey not-a-session"})
    assert r.status_code == 401 and error_of(r) == "InvalidCredentials"


async def test_client_metadata_is_not_stored(kv: Kinvey) -> None:
    """Offline-created entities arrive with ``_kmd.local``; clients echo ``_kmd.authtoken``."""
    ann = await kv.user()
    kmd = {
        "local": True,
        "authtoken": "t",
        "lmt": "2000-01-01T00:00:00.000Z",
        "ect": "2000-01-01T00:00:00.000Z",
    }
    r = await kv.post("/appdata/{k}/off", ann, json={"_id": "x1", "v": 1, "_kmd": kmd})
    assert r.status_code == 201 and set(r.json()["_kmd"]) == {"lmt", "ect"}
    assert r.json()["_kmd"]["lmt"] > "2001"
    r = await kv.put("/appdata/{k}/off/x1", ann, json={"v": 2, "_kmd": kmd})
    stored = (await kv.get("/appdata/{k}/off/x1", ann)).json()
    assert stored["v"] == 2 and set(stored["_kmd"]) == {"lmt", "ect"} and stored["_kmd"]["ect"] > "2001"


async def test_deltaset_honours_fields(kv: Kinvey) -> None:
    await kv.put("/appdata/{k}/d/_settings", json={"deltaSet": {"enabled": True}})
    since = (await kv.get("/appdata/{k}/d")).headers["x-kinvey-request-start"]
    await kv.post("/appdata/{k}/d", json={"_id": "a", "title": "t", "body": "long"})
    r = await kv.get("/appdata/{k}/d/_deltaset", params={"since": since, "fields": "title"})
    assert r.status_code == 200, r.text
    assert [set(e) for e in r.json()["changed"]] == [{"_id", "title", "_acl", "_kmd"}]


@pytest.mark.parametrize(
    ("name", "status", "error"),
    [
        ("group", 403, "IndirectCollectionAccessDisallowed"),
        ("system", 403, "IndirectCollectionAccessDisallowed"),
        ("_blob", 403, "IndirectCollectionAccessDisallowed"),
        ("_private", 400, "InvalidIdentifier"),
        (".hidden", 400, "InvalidIdentifier"),
        ("books%0A", 400, "InvalidIdentifier"),
        ("a" * 129, 400, "InvalidIdentifier"),
    ],
)
async def test_collection_names(kv: Kinvey, name: str, status: int, error: str) -> None:
    r = await kv.post(f"/appdata/{{k}}/{name}", json={"a": 1})
    assert r.status_code == status and error_of(r) == error, r.text
    r = await kv.get(f"/appdata/{{k}}/{name}/_count")
    assert r.status_code == status and error_of(r) == error, r.text
    assert (await kv.post("/appdata/{k}/" + "a" * 128, json={})).status_code == 201
