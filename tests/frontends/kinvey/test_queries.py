"""Queries through HTTP beyond appdata basics: user lists, counts and lookups with every modifier
and access control, and location queries with ``$maxDistance`` in miles, on every engine."""

from __future__ import annotations

import json

import pytest

from .conftest import Kinvey, User

pytestmark = pytest.mark.anyio

CAMBRIDGE = [
    ("atlantic", [-71.056416, 42.351018]),
    ("broadway", [-71.085438, 42.362688]),
    ("main", [-71.083934, 42.362474]),
]
HERE = [-71.0837, 42.3623]


def q(value: object) -> str:
    return json.dumps(value)


async def test_near_sphere_max_distance_is_in_miles(kv: Kinvey) -> None:
    """``Query.near('_geoloc', coord, miles)`` sends ``$nearSphere`` + ``$maxDistance`` in miles."""
    alice = await kv.user()
    for name, loc in CAMBRIDGE:
        r = await kv.post("/appdata/{k}/listings", alice, json={"_id": name, "_geoloc": loc})
        assert r.status_code == 201, r.text
    await kv.post("/appdata/{k}/listings", alice, json={"_id": "nowhere"})

    def near(miles: float) -> dict[str, str]:
        return {"query": q({"_geoloc": {"$nearSphere": HERE, "$maxDistance": miles}})}

    r = await kv.get("/appdata/{k}/listings", alice, params=near(1))
    assert r.status_code == 200, r.text
    assert [e["_id"] for e in r.json()] == ["main", "broadway"], "1.3 miles away is left out"
    r = await kv.get("/appdata/{k}/listings", alice, params=near(2))
    assert [e["_id"] for e in r.json()] == ["main", "broadway", "atlantic"]
    r = await kv.get("/appdata/{k}/listings", alice, params=near(0.05))
    assert [e["_id"] for e in r.json()] == ["main"]
    r = await kv.get("/appdata/{k}/listings/_count", alice, params=near(1))
    assert r.json() == {"count": 2}
    r = await kv.get("/appdata/{k}/listings", alice, params={**near(2), "limit": "1", "skip": "1"})
    assert [e["_id"] for e in r.json()] == ["broadway"]
    r = await kv.get("/appdata/{k}/listings", alice, params={"query": q({"_geoloc": {"$nearSphere": HERE}})})
    assert [e["_id"] for e in r.json()] == ["main", "broadway", "atlantic"]


async def _people(kv: Kinvey) -> dict[str, User]:
    people = {}
    for name, age in (("ann", 30), ("bob", 20), ("cid", 40), ("dee", 35)):
        people[name] = await kv.user(name, "pw", age=age, city="x" if age < 40 else "y")
    return people


async def test_user_list_query_modifiers(kv: Kinvey) -> None:
    p = await _people(kv)
    bob = p["bob"]
    params = {"query": q({"age": {"$gte": 25}}), "sort": q({"age": -1})}
    r = await kv.get("/user/{k}", bob, params=params)
    assert r.status_code == 200, r.text
    assert [u["username"] for u in r.json()] == ["cid", "dee", "ann"]
    r = await kv.get("/user/{k}", bob, params={**params, "limit": "1", "skip": "1"})
    assert [u["username"] for u in r.json()] == ["dee"]
    r = await kv.get(
        "/user/{k}", bob, params={**params, "limit": "2"}, headers={"X-Kinvey-Include-Items-Count": "true"}
    )
    assert len(r.json()) == 2 and r.headers["x-kinvey-items-count"] == "3"
    r = await kv.get("/user/{k}", bob, params={"sort": "username", "fields": "age"})
    assert [u["age"] for u in r.json()] == [30, 20, 40, 35]
    assert all(set(u) == {"_id", "age", "_acl", "_kmd"} for u in r.json())
    r = await kv.get("/user/{k}/_count", bob, params={"query": q({"city": "x"})})
    assert r.json() == {"count": 3}
    r = await kv.post("/user/{k}/_lookup", bob, json={"age": {"$lt": 35}})
    assert r.status_code == 200 and sorted(u["username"] for u in r.json()) == ["ann", "bob"]
    assert all("password" not in u and "authtoken" not in u["_kmd"] for u in r.json())
    r = await kv.post("/user/{k}/_lookup", bob, json={})
    assert len(r.json()) == 4


async def test_user_reads_follow_acls_and_status(kv: Kinvey) -> None:
    """A user hidden by its ``_acl`` or disabled is absent from lists, counts, pages and lookups."""
    p = await _people(kv)
    ann, bob = p["ann"], p["bob"]
    me = (await kv.get("/user/{k}/_me", bob)).json()
    r = await kv.put(f"/user/{{k}}/{bob.id}", bob, json={**me, "_acl": {"gr": False}})
    assert r.status_code == 200, r.text
    assert (await kv.delete(f"/user/{{k}}/{p['dee'].id}")).status_code == 204
    r = await kv.get("/user/{k}", ann, params={"sort": "age"})
    assert [u["username"] for u in r.json()] == ["ann", "cid"]
    r = await kv.get("/user/{k}", ann, params={"sort": "age", "limit": "1"})
    assert [u["username"] for u in r.json()] == ["ann"], "the page is cut after the filter"
    r = await kv.get(
        "/user/{k}", ann, params={"limit": "1"}, headers={"X-Kinvey-Include-Items-Count": "true"}
    )
    assert r.headers["x-kinvey-items-count"] == "2"
    assert (await kv.get("/user/{k}/_count", ann)).json() == {"count": 2}
    r = await kv.post("/user/{k}/_lookup", ann, json={"age": {"$lte": 35}})
    assert [u["username"] for u in r.json()] == ["ann"]
    assert (await kv.get(f"/user/{{k}}/{bob.id}", ann)).status_code == 401
    r = await kv.get("/user/{k}", bob, params={"sort": "age"})
    assert [u["username"] for u in r.json()] == ["bob", "ann", "cid"], "bob still sees himself"
    assert (await kv.get("/user/{k}/_count")).json() == {"count": 4}, "the master sees everyone"
    r = await kv.get("/user/{k}", params={"query": q({"_kmd.status.val": "disabled"})})
    assert [u["username"] for u in r.json()] == ["dee"]
