"""Every Kinvey route against odd bodies and parameters, with each kind of credential: never a 5xx
(other than the 550 of business logic) and every error in Kinvey's ``{error, description, debug}``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from kinbase.frontends.kinvey import ROUTES

from .conftest import Kinvey, error_of

pytestmark = pytest.mark.anyio

BODIES: list[bytes] = [
    b"",
    b"null",
    b"{}",
    b"[]",
    b"[{}]",
    b'"x"',
    b"0",
    b"{bad",
    b"\xff\xfe",
    b'{"a": 1e999}',
    b'{"a": 123456789012345678901234567890}',
    b'{"_id": {"a": 1}}',
    b'{"_acl": 5}',
    b'{"_acl": {"r": [5], "groups": {"r": "g"}}}',
    b'{"_kmd": []}',
    b'{"username": 5, "password": []}',
    b'{"users": {"list": "x"}}',
    b'{"users": {"list": [{"_id": 5}]}}',
    b'{"groups": 5}',
    b'{"key": {"a": 1}, "reduce": 5}',
    b'{"key": {"a": true}, "reduce": "function(d, o) {}", "condition": 5}',
    b'{"deltaSet": {"enabled": "yes", "deletedTtlDays": -1}, "permissions": {"level": "nope"}}',
    b'{"collectionName": 5}',
    b'{"collectionName": "_x"}',
    b'{"email": 5}',
    b'{"name": 5}',
    b'{"a": {"$where": "1"}}',
]
HUGE = "9" * 30
PARAMS: list[dict[str, str]] = [
    {"query": "5"},
    {"query": json.dumps({"a": {"$in": [[[[[]]]]]}})},
    {"query": json.dumps({"_geoloc": {"$nearSphere": [0, 0], "$maxDistance": -1}})},
    {"since": "x"},
    {"since": "9999-99-99T99:99:99.999Z"},
    {"limit": HUGE},
    {"skip": HUGE},
    {"limit": "9" * 5000},
    {"limit": "٣"},
    {"hard": "true"},
    {"soft": "true"},
    {"fields": ",,,"},
    {"fields": "a..b"},
    {"sort": json.dumps({"a": 5})},
    {"token": "x"},
]


def _endpoints(kv: Kinvey, ids: dict[str, str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in ROUTES:
        path = route.path.replace("{app_key}", kv.key)
        for name, value in ids.items():
            path = path.replace("{" + name + "}", value)
        found.append((route.method, path))
    # Deletes last, so that the other endpoints meet the seeded entity, group, role and user.
    return sorted(found, key=lambda endpoint: endpoint[0] == "DELETE")


def _bad(response: Any) -> bool:
    if response.status_code >= 500 and response.status_code != 550:
        return True
    is_json = response.headers.get("content-type", "").startswith("application/json")
    if response.status_code >= 400 and is_json:
        if "/oauth/" in str(response.request.url):  # the auth host answers OAuth's error format
            body = response.json()
            return set(body) != {"error", "error_description", "description", "debug"}
        try:
            error_of(response)
        except AssertionError:
            return True
    return False


async def test_no_input_breaks_an_endpoint(kv: Kinvey) -> None:
    ann = await kv.user("ann", "pw")
    assert (await kv.post("/appdata/{k}/c", ann, json={"_id": "e1", "a": 1})).status_code == 201
    assert (await kv.post("/group/{k}", ann, json={"_id": "g"})).status_code == 201
    assert (await kv.post("/roles/{k}", json={"_id": "r", "name": "r"})).status_code == 201
    await kv.put("/appdata/{k}/c/_settings", json={"deltaSet": {"enabled": True}})
    ids = {
        "collection": "c",
        "entity_id": "e1",
        "user_id": ann.id,
        "group_id": "g",
        "role_id": "r",
        "login": "ann",
        "endpoint": "e",
        "authenticator_id": "a1",
    }
    failures = []
    for method, path in _endpoints(kv, ids):
        for who in (kv.master, kv.appauth, ann):
            inputs: list[dict[str, Any]] = (
                [{"content": b, "headers": {"Content-Type": "application/json"}} for b in BODIES]
                if method in ("POST", "PUT")
                else [{"params": p} for p in PARAMS]
            )
            for extra in inputs:
                r = await kv.request(method, path, who, **extra)
                if _bad(r):
                    failures.append((method, path, extra, r.status_code, r.text[:300]))
    assert not failures, failures[:20]


SEGMENTS = ["%00", "a%00b", "%FF", "%C3%A9", "%E6%97%A5%E6%9C%AC", "x" * 3000, "..", "a%2Fb", "%20"]


async def test_no_path_segment_breaks_an_endpoint(kv: Kinvey) -> None:
    """Odd path segments, in every position of every route: a Kinvey error or a success."""
    ann = await kv.user("ann", "pw")
    ids = {"collection": "c", "entity_id": "e", "user_id": ann.id, "group_id": "g", "role_id": "r"}
    ids["login"] = "ann"
    ids["endpoint"] = "e"
    ids["authenticator_id"] = "a1"
    failures = []
    for route in ROUTES:
        for method in (route.method,):
            for name in ("app_key", *ids):
                if "{" + name + "}" not in route.path:
                    continue
                for segment in SEGMENTS:
                    path = route.path.replace("{" + name + "}", segment).replace("{app_key}", kv.key)
                    for other, value in ids.items():
                        path = path.replace("{" + other + "}", value)
                    content = b"{}" if method in ("POST", "PUT") else None
                    r = await kv.request(method, path, content=content)
                    if _bad(r):
                        failures.append((method, path[:100], r.status_code, r.text[:300]))
    assert not failures, failures[:20]
