"""Bad input on every endpoint family gets the right Kinvey error and changes nothing.

Each endpoint that takes a body gets a body that is not JSON, a JSON array where an object
belongs, and a body over the size limit (declared and streamed); each endpoint that takes a query
gets malformed and refused queries. After every request a snapshot of the app (entities,
collection settings, users, groups, roles) read with the master secret must be unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kinbase.settings import Settings

from .conftest import Kinvey, User, error_of

pytestmark = pytest.mark.anyio

LIMIT = 64 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A small body limit, so oversized bodies stay cheap (the 50 MB case is in test_appdata)."""
    return dataclasses.replace(settings, max_body_bytes=LIMIT)


@dataclass
class World:
    kv: Kinvey
    ann: User
    since: str

    def who(self, name: str) -> dict[str, str] | User:
        return {"master": self.kv.master, "app": self.kv.appauth, "ann": self.ann}[name]

    def path(self, template: str) -> str:
        return template.replace("{ann}", self.ann.id)

    async def snapshot(self) -> list[Any]:
        reads = [
            "/appdata/{k}/b",
            "/appdata/{k}/b/_settings",
            "/user/{k}",
            "/group/{k}/g1",
            "/roles/{k}",
        ]
        out: list[Any] = []
        for path in reads:
            r = await self.kv.get(path)
            assert r.status_code == 200, (path, r.text)
            out.append(r.json())
        return out


@pytest.fixture
async def world(kv: Kinvey) -> World:
    assert (await kv.post("/appdata/{k}/b", json={"_id": "keep", "v": 1})).status_code == 201
    r = await kv.put("/appdata/{k}/b/_settings", json={"deltaSet": {"enabled": True}})
    assert r.status_code == 200, r.text
    ann = await kv.user("ann", "pw", age=30)
    r = await kv.post("/group/{k}", json={"_id": "g1", "users": {"list": [ann.id]}})
    assert r.status_code == 201, r.text
    assert (await kv.post("/roles/{k}", json={"_id": "r1", "name": "editor"})).status_code == 201
    since = (await kv.get("/appdata/{k}/b")).headers["x-kinvey-request-start"]
    return World(kv, ann, since)


@dataclass(frozen=True)
class Target:
    method: str
    path: str
    who: str
    array_error: str
    headers: dict[str, str] = field(default_factory=dict)


BODY_TARGETS = {
    "appdata-put": Target("PUT", "/appdata/{k}/b/keep", "master", "BadRequest"),
    "appdata-put-new": Target("PUT", "/appdata/{k}/b/new", "ann", "BadRequest"),
    "appdata-post-v4": Target(
        "POST", "/appdata/{k}/b", "ann", "FeatureUnavailable", {"X-Kinvey-API-Version": "4"}
    ),
    "group-aggregate": Target("POST", "/appdata/{k}/b/_group", "ann", "BadRequest"),
    "collection-settings": Target("PUT", "/appdata/{k}/b/_settings", "master", "BadRequest"),
    "user-signup": Target("POST", "/user/{k}", "app", "BadRequest"),
    "user-login": Target("POST", "/user/{k}/login", "app", "BadRequest"),
    "user-put": Target("PUT", "/user/{k}/{ann}", "ann", "BadRequest"),
    "user-lookup": Target("POST", "/user/{k}/_lookup", "ann", "InvalidQuerySyntax"),
    "group-post": Target("POST", "/group/{k}", "ann", "BadRequest"),
    "group-put": Target("PUT", "/group/{k}/g1", "master", "BadRequest"),
    "role-post": Target("POST", "/roles/{k}", "master", "BadRequest"),
    "role-put": Target("PUT", "/roles/{k}/r1", "master", "BadRequest"),
    "rpc-check-username": Target("POST", "/rpc/{k}/check-username-exists", "app", "IncompleteRequestBody"),
    "rpc-forgot-username": Target("POST", "/rpc/{k}/user-forgot-username", "app", "IncompleteRequestBody"),
    "rpc-remove-collection": Target(
        "POST",
        "/rpc/{k}/remove-collection",
        "master",
        "IncompleteRequestBody",
        {"X-Kinvey-Delete-Entire-Collection": "true"},
    ),
}


def _oversized() -> bytes:
    return b'{"x": "' + b"a" * LIMIT + b'"}'


async def _streamed(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 8192):
        yield data[start : start + 8192]


@pytest.mark.parametrize("name", list(BODY_TARGETS))
async def test_bad_bodies(world: World, name: str) -> None:
    target = BODY_TARGETS[name]
    kv = world.kv
    before = await world.snapshot()
    cases: list[tuple[str, Any, str, int]] = [
        ("not JSON", b"{not json", "JSONParseError", 400),
        ("truncated JSON", b'{"a": [1, 2', "JSONParseError", 400),
        ("array", b"[1, 2]", target.array_error, 400),
        ("too large", _oversized(), "RequestEntityTooLarge", 413),
        ("too large, streamed", None, "RequestEntityTooLarge", 413),
    ]
    for label, content, error, status in cases:
        headers = {"Content-Type": "application/json", **target.headers}
        auth = world.who(target.who)
        url = world.path(target.path).replace("{k}", kv.key)
        if content is None:
            all_headers = {**kv.headers(auth), **headers}
            r = await kv.http.request(
                target.method, url, content=_streamed(_oversized()), headers=all_headers
            )
        else:
            r = await kv.request(target.method, url, auth, content=content, headers=headers)
        assert r.status_code == status and error_of(r) == error, (label, r.status_code, r.text)
        assert r.headers["x-kinvey-request-id"]
        assert await world.snapshot() == before, label


QUERY_TARGETS = {
    "appdata-list": ("GET", "/appdata/{k}/b", "ann"),
    "appdata-count": ("GET", "/appdata/{k}/b/_count", "ann"),
    "appdata-delete": ("DELETE", "/appdata/{k}/b", "master"),
    "deltaset": ("GET", "/appdata/{k}/b/_deltaset", "ann"),
    "user-list": ("GET", "/user/{k}", "ann"),
    "user-count": ("GET", "/user/{k}/_count", "ann"),
}

BAD_FILTERS: list[Any] = [
    {"$where": "function() { return true; }"},
    {"$or": [{"v": 1}, {"$where": "true"}]},
    {"v": {"$where": "1"}},
    {"$query": {"v": 1}},
    {"v": {"$unknown": 1}},
    {"v": {"$regex": "unanchored"}},
    {"v": {"$in": 5}},
    {"_geoloc": {"$nearSphere": [500, 0]}},
    {"$and": {"v": 1}},
]
BAD_PARAMS: list[dict[str, str]] = [
    {"query": "{bad"},
    {"query": "[1, 2]"},
    {"query": '"text"'},
    {"sort": "{x"},
    {"sort": "[1]"},
    *({"query": json.dumps(f)} for f in BAD_FILTERS),
]
BAD_PAGING: list[dict[str, str]] = [{"limit": "-1"}, {"limit": "ten"}, {"skip": "x"}]


@pytest.mark.parametrize("name", list(QUERY_TARGETS))
async def test_bad_queries(world: World, name: str) -> None:
    method, path, who = QUERY_TARGETS[name]
    kv = world.kv
    before = await world.snapshot()
    extra = {"since": world.since} if name == "deltaset" else {}
    cases = BAD_PARAMS if name == "deltaset" else [*BAD_PARAMS, *BAD_PAGING]
    for params in cases:
        r = await kv.request(method, path, world.who(who), params={**params, **extra})
        assert r.status_code == 400 and error_of(r) == "InvalidQuerySyntax", (params, r.text)
        assert await world.snapshot() == before, params


async def test_bad_filters_in_bodies(world: World) -> None:
    """``_lookup`` takes the filter as its body, ``_group`` as its ``condition``."""
    kv = world.kv
    before = await world.snapshot()
    for bad in [*BAD_FILTERS, [1], "text"]:
        r = await kv.post("/user/{k}/_lookup", world.ann, json=bad)
        assert r.status_code == 400 and error_of(r) == "InvalidQuerySyntax", (bad, r.text)
        body = {
            "key": {"v": True},
            "initial": {"n": 0},
            "reduce": "function(d, o) { o.n++; }",
            "condition": bad,
        }
        r = await kv.post("/appdata/{k}/b/_group", world.ann, json=body)
        assert r.status_code == 400 and error_of(r) == "InvalidQuerySyntax", (bad, r.text)
    assert await world.snapshot() == before


async def test_reduce_that_never_ends(world: World) -> None:
    kv = world.kv
    before = await world.snapshot()
    body = {"key": {}, "initial": {"n": 0}, "reduce": "function(doc, out) { for (;;) { out.n++; } }"}
    r = await kv.post("/appdata/{k}/b/_group", world.ann, json=body)
    assert r.status_code == 550 and error_of(r) == "BLTimeoutError", r.text
    assert await world.snapshot() == before
    body["reduce"] = "function(doc, out) { out.n += doc.v; }"
    r = await kv.post("/appdata/{k}/b/_group", world.ann, json=body)
    assert r.status_code == 200 and r.json() == [{"n": 1}], "the sandbox still works afterwards"


NUL_BODIES = {
    "appdata-put": ("PUT", "/appdata/{k}/b/keep", "master", b'{"v": "a\\u0000b"}'),
    "appdata-post": ("POST", "/appdata/{k}/b", "ann", b'{"k\\u0000": 1}'),
    "appdata-post-id": ("POST", "/appdata/{k}/b", "ann", b'{"_id": "x\\u0000"}'),
    "appdata-multi": ("POST", "/appdata/{k}/b", "ann", b'[{"v": 1}, {"v": ["\\u0000"]}]'),
    "user-signup": ("POST", "/user/{k}", "app", b'{"username": "n\\u0000", "password": "p"}'),
    "user-login": ("POST", "/user/{k}/login", "app", b'{"username": "ann\\u0000", "password": "pw"}'),
    "user-put": ("PUT", "/user/{k}/{ann}", "ann", b'{"username": "ann", "bio": {"x": "\\u0000"}}'),
    "group-post": ("POST", "/group/{k}", "ann", b'{"_id": "g\\u0000"}'),
    "rpc-check-username": ("POST", "/rpc/{k}/check-username-exists", "app", b'{"username": "\\u0000"}'),
}


@pytest.mark.parametrize("name", list(NUL_BODIES))
async def test_nul_characters_are_refused(world: World, name: str) -> None:
    """PostgreSQL cannot store U+0000: both engines refuse it the same way, before any write."""
    method, path, who, content = NUL_BODIES[name]
    before = await world.snapshot()
    headers = {"Content-Type": "application/json", "X-Kinvey-API-Version": "5"}
    r = await world.kv.request(method, world.path(path), world.who(who), content=content, headers=headers)
    assert r.status_code == 400 and error_of(r) == "BadRequest", r.text
    assert await world.snapshot() == before
    r = await world.kv.get("/appdata/{k}/b/x%00", world.ann)
    assert r.status_code == 400 and error_of(r) == "InvalidIdentifier"


async def test_ids_outside_ascii_get_an_encoded_location(world: World) -> None:
    kv = world.kv
    r = await kv.put("/appdata/{k}/b/日本", world.ann, json={"v": 2})
    assert r.status_code == 201, r.text
    assert r.headers["location"].endswith(f"/appdata/{kv.key}/b/%E6%97%A5%E6%9C%AC")
    r = await kv.post("/appdata/{k}/b", world.ann, json={"_id": "a/b é", "v": 3})
    assert r.status_code == 201 and r.headers["location"].endswith("/b/a%2Fb%20%C3%A9")
    r = await kv.get("/appdata/{k}/b/%E6%97%A5%E6%9C%AC", world.ann)
    assert r.status_code == 200 and r.json()["_id"] == "日本"
    r = await kv.put("/group/{k}/équipe", json={})
    assert r.status_code == 201 and r.headers["location"].endswith("/group/" + kv.key + "/%C3%A9quipe")
