"""Object endpoints of buckets, collections, groups and records: status codes, envelope, ETags,
preconditions, PATCH flavours and permission semantics."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.anyio

R = "/buckets/b/collections/c/records"


async def test_put_creates_then_replaces(kinto) -> None:
    r = await kinto.put("/buckets/b", "alice", json={"data": {"title": "B"}})
    assert r.status_code == 201
    body = r.json()
    assert body["data"]["id"] == "b" and body["data"]["title"] == "B"
    assert body["permissions"] == {"write": ["account:alice"]}
    assert r.headers["etag"] == f'"{body["data"]["last_modified"]}"'
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", r.headers["last-modified"])
    r = await kinto.put("/buckets/b", "alice", json={"data": {"other": 1}})
    assert r.status_code == 200
    assert r.json()["data"] == {"id": "b", "other": 1, "last_modified": r.json()["data"]["last_modified"]}


async def test_put_without_data_keeps_data(kinto) -> None:
    await kinto.put("/buckets/b", "alice", json={"data": {"x": 1}})
    r = await kinto.put("/buckets/b", "alice", json={"permissions": {"read": ["account:bob"]}})
    assert r.status_code == 200
    assert r.json()["data"]["x"] == 1
    assert r.json()["permissions"] == {"read": ["account:bob"], "write": ["account:alice"]}


async def test_post_generates_ids_and_returns_existing(kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.post("/buckets", "alice", json={"data": {}})
    assert r.status_code == 201 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{7}", r.json()["data"]["id"])
    r = await kinto.post(R, "alice", json={"data": {"title": "x"}})
    assert r.status_code == 201
    rid = r.json()["data"]["id"]
    assert re.fullmatch(r"[0-9a-f-]{36}", rid)
    r = await kinto.post(R, "alice", json={"data": {"id": rid, "title": "ignored"}})
    assert r.status_code == 200 and r.json()["data"]["title"] == "x"
    r = await kinto.post(R, "alice", json={"data": {"id": "new-id", "title": "y"}})
    assert r.status_code == 201 and r.json()["data"]["id"] == "new-id"


async def test_get_delete_and_tombstone(kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {"a": 1}})
    stamp = r.json()["data"]["last_modified"]
    r = await kinto.get(f"{R}/r1", "alice")
    assert r.status_code == 200 and r.json()["data"]["a"] == 1 and r.headers["etag"] == f'"{stamp}"'
    r = await kinto.delete(f"{R}/r1", "alice")
    assert r.status_code == 200
    tomb = r.json()["data"]
    assert tomb["deleted"] is True and tomb["id"] == "r1" and tomb["last_modified"] > stamp
    assert "permissions" not in r.json()
    r = await kinto.get(f"{R}/r1", "alice")
    assert r.status_code == 404 and r.json()["errno"] == 110
    assert r.json()["details"] == {"id": "r1", "resource_name": "record"}
    r = await kinto.delete(f"{R}/r1", "alice")
    assert r.status_code == 404 and r.json()["errno"] == 110
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {"b": 2}})
    assert r.status_code == 201


async def test_delete_with_requested_last_modified(kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {}})
    later = r.json()["data"]["last_modified"] + 100_000
    r = await kinto.delete(f"{R}/r1?last_modified={later}", "alice")
    assert r.json()["data"]["last_modified"] == later


async def test_client_last_modified_rules(kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {"last_modified": 1234}})
    assert r.json()["data"]["last_modified"] == 1234
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {"last_modified": 1000}})
    assert r.json()["data"]["last_modified"] > 1234
    future = r.json()["data"]["last_modified"] + 50_000
    r = await kinto.put(f"{R}/r2", "alice", json={"data": {"last_modified": future}})
    assert r.json()["data"]["last_modified"] == future
    r = await kinto.head(R, "alice")
    assert r.headers["etag"] == f'"{future}"'


async def test_invalid_ids_and_parents(kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.put("/buckets/b/collections/c/records/in%20valid", "alice", json={"data": {}})
    assert r.status_code == 400 and r.json()["errno"] == 107
    assert r.json()["details"][0]["location"] == "path"
    r = await kinto.get("/buckets/b/collections/in%20valid/records", "alice")
    assert r.status_code == 404 and r.json()["errno"] == 111
    r = await kinto.get("/buckets/b/collections/nope/records", "alice")
    assert r.status_code == 404 and r.json()["errno"] == 111
    assert r.json()["details"] == {"id": "nope", "resource_name": "collection"}
    r = await kinto.get("/buckets/b/collections/nope", "alice")
    assert r.status_code == 404 and r.json()["errno"] == 110
    r = await kinto.put("/buckets/nope/collections/c", "alice", json={})
    assert r.status_code == 403


async def test_body_validation(kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {}, "extra": 1})
    assert r.status_code == 400 and r.json()["errno"] == 107 and r.json()["error"] == "Invalid parameters"
    r = await kinto.put(f"{R}/r1", "alice", json={"data": []})
    assert r.status_code == 400
    r = await kinto.put(
        f"{R}/r1", "alice", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["errno"] == 106
    r = await kinto.put(f"{R}/r1", "alice", content=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {"id": "other"}})
    assert r.status_code == 400 and r.json()["details"][0]["name"] == "data.id"
    r = await kinto.put(f"{R}/r1", "alice", json={"permissions": {"bogus": []}})
    assert r.status_code == 400 and '"bogus" is not one of read, write' in r.json()["message"]
    r = await kinto.patch(f"{R}/r1", "alice", json={})
    assert r.status_code in (400, 404)


async def test_not_found_vs_forbidden_vs_unauthenticated(kinto) -> None:
    await kinto.tree("alice")
    await kinto.put(f"{R}/r1", "alice", json={"data": {}})
    r = await kinto.get(f"{R}/r1")
    assert r.status_code == 401 and r.json()["errno"] == 104
    assert r.headers["www-authenticate"] == 'Basic realm="Realm"'
    r = await kinto.get(f"{R}/r1", "bob")
    assert r.status_code == 403 and r.json()["errno"] == 121
    r = await kinto.get("/buckets/missing", "bob")
    assert r.status_code == 403
    r = await kinto.get(f"{R}/missing", "alice")
    assert r.status_code == 404
    r = await kinto.get(f"{R}/r1", headers={"Authorization": "Basic YWxpY2U6d3Jvbmc="})
    assert r.status_code == 401


async def test_if_match_and_if_none_match(kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {"v": 1}})
    stamp = r.json()["data"]["last_modified"]
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {"v": 2}}, headers={"If-Match": '"1"'})
    assert r.status_code == 412 and r.json()["errno"] == 114
    assert r.json()["details"]["existing"]["v"] == 1
    assert r.headers["etag"] == f'"{stamp}"'
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {"v": 2}}, headers={"If-Match": f'"{stamp}"'})
    assert r.status_code == 200
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {}}, headers={"If-None-Match": "*"})
    assert r.status_code == 412
    r = await kinto.put(f"{R}/r2", "alice", json={"data": {}}, headers={"If-None-Match": "*"})
    assert r.status_code == 201
    r = await kinto.put(f"{R}/r3", "alice", json={"data": {}}, headers={"If-Match": '"123"'})
    assert r.status_code == 412 and r.json()["details"] == {}
    r = await kinto.get(f"{R}/r2", "alice")
    etag = r.headers["etag"]
    r = await kinto.get(f"{R}/r2", "alice", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    r = await kinto.get(f"{R}/r2", "alice", headers={"If-Match": "bad"})
    assert r.status_code == 400 and r.json()["details"][0]["location"] == "header"
    r = await kinto.delete(f"{R}/r2", "alice", headers={"If-Match": '"1"'})
    assert r.status_code == 412
    r = await kinto.delete(f"{R}/r2", "alice", headers={"If-Match": etag})
    assert r.status_code == 200


async def test_patch_flavours(kinto) -> None:
    await kinto.tree("alice")
    await kinto.put(f"{R}/r1", "alice", json={"data": {"a": 1, "n": {"x": 1, "y": 2}, "z": 0}})
    r = await kinto.patch(f"{R}/r1", "alice", json={"data": {"n": {"x": 5}, "z": None}})
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["n"] == {"x": 5} and data["z"] is None and data["a"] == 1
    r = await kinto.patch(
        f"{R}/r1",
        "alice",
        content=b'{"data": {"n": {"y": 9}, "z": null}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    data = r.json()["data"]
    assert data["n"] == {"x": 5, "y": 9} and "z" not in data
    ops = [
        {"op": "add", "path": "/data/tags", "value": ["t"]},
        {"op": "replace", "path": "/data/a", "value": 2},
        {"op": "add", "path": "/permissions/read/account:bob"},
    ]
    r = await kinto.patch(
        f"{R}/r1",
        "alice",
        content=__import__("json").dumps(ops),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["tags"] == ["t"] and r.json()["data"]["a"] == 2
    assert r.json()["permissions"]["read"] == ["account:bob"]
    r = await kinto.patch(
        f"{R}/r1",
        "alice",
        content=b'[{"op": "test", "path": "/data/a", "value": 3}]',
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 400 and "JSON Patch operation failed" in r.json()["message"]
    r = await kinto.patch(f"{R}/missing", "alice", json={"data": {"a": 1}})
    assert r.status_code == 404 and r.json()["errno"] == 110
    r = await kinto.patch(f"{R}/r1", "alice", json={})
    assert r.status_code == 400 and "Provide at least one of data or permissions" in r.json()["message"]


async def test_response_behavior(kinto) -> None:
    await kinto.tree("alice")
    await kinto.put(f"{R}/r1", "alice", json={"data": {"a": 1, "b": 2}})
    r = await kinto.patch(f"{R}/r1", "alice", json={"data": {"a": 5}}, headers={"Response-Behavior": "light"})
    assert r.json()["data"] == {"a": 5}
    r = await kinto.patch(f"{R}/r1", "alice", json={"data": {"a": 6}}, headers={"Response-Behavior": "diff"})
    assert r.json()["data"] == {}
    r = await kinto.patch(f"{R}/r1", "alice", json={"data": {"a": 7}}, headers={"Response-Behavior": "bogus"})
    assert r.status_code == 400


async def test_permission_update_semantics(kinto) -> None:
    await kinto.tree("alice")
    perms = {"read": ["account:bob"], "write": ["account:carol"]}
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {}, "permissions": perms})
    assert r.json()["permissions"] == {"read": ["account:bob"], "write": ["account:alice", "account:carol"]}
    r = await kinto.patch(f"{R}/r1", "alice", json={"permissions": {"read": ["system.Authenticated"]}})
    assert r.json()["permissions"] == {
        "read": ["system.Authenticated"],
        "write": ["account:alice", "account:carol"],
    }
    r = await kinto.patch(f"{R}/r1", "alice", json={"permissions": {"read": None}})
    assert r.json()["permissions"]["read"] == ["system.Authenticated"]
    r = await kinto.patch(
        f"{R}/r1",
        "alice",
        content=b'{"permissions": {"read": null}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert "read" not in r.json()["permissions"]
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {}, "permissions": {"read": ["account:bob"]}})
    assert r.json()["permissions"] == {"read": ["account:bob"], "write": ["account:alice"]}


async def test_explicit_permissions_off(make_kinto) -> None:
    kinto = await make_kinto(explicit_permissions=False, bucket_create_principals=["system.Authenticated"])
    r = await kinto.put("/buckets/b", "alice")
    assert r.status_code == 201 and r.json()["permissions"] == {}


async def test_groups_members_validation(kinto) -> None:
    await kinto.tree("alice", collection=None)
    r = await kinto.put("/buckets/b/groups/g", "alice", json={"data": {"members": ["account:bob"]}})
    assert r.status_code == 201 and r.json()["data"]["members"] == ["account:bob"]
    r = await kinto.put("/buckets/b/groups/h", "alice", json={"data": {}})
    assert r.json()["data"]["members"] == []
    for bad in (["system.Everyone"], ["/buckets/b/groups/g"], "x", [1]):
        r = await kinto.put("/buckets/b/groups/g", "alice", json={"data": {"members": bad}})
        assert r.status_code == 400, bad


async def test_bucket_delete_cascades(kinto) -> None:
    await kinto.tree("alice")
    await kinto.put(f"{R}/r1", "alice", json={"data": {}})
    await kinto.put("/buckets/b/groups/g", "alice", json={"data": {"members": ["account:bob"]}})
    r = await kinto.delete("/buckets/b", "alice")
    assert r.status_code == 200 and r.json()["data"]["deleted"] is True
    await kinto.tree("alice")
    r = await kinto.get(R, "alice")
    assert r.json()["data"] == []
    r = await kinto.get("/buckets/b/groups", "alice")
    assert r.json()["data"] == []
    r = await kinto.get("/", "bob")
    assert "/buckets/b/groups/g" not in r.json()["user"]["principals"]


async def test_collection_delete_cascades(kinto) -> None:
    await kinto.tree("alice")
    await kinto.put(f"{R}/r1", "alice", json={"data": {}})
    await kinto.delete("/buckets/b/collections/c", "alice")
    r = await kinto.get(R, "alice")
    assert r.status_code == 404 and r.json()["errno"] == 111
    await kinto.put("/buckets/b/collections/c", "alice")
    r = await kinto.get(R, "alice")
    assert r.status_code == 200 and r.json()["data"] == []


async def test_strictly_increasing_timestamps(kinto) -> None:
    await kinto.tree("alice")
    stamps = []
    for i in range(20):
        r = await kinto.post(R, "alice", json={"data": {"i": i}})
        stamps.append(r.json()["data"]["last_modified"])
    assert stamps == sorted(set(stamps))


async def test_concurrent_writers_serialise(kinto) -> None:
    import asyncio

    await kinto.tree("alice")
    responses = await asyncio.gather(*(kinto.post(R, "alice", json={"data": {"i": i}}) for i in range(20)))
    assert [r.status_code for r in responses] == [201] * 20
    stamps = [r.json()["data"]["last_modified"] for r in responses]
    assert len(set(stamps)) == 20
    r = await kinto.head(R, "alice")
    assert r.headers["total-records"] == "20" and r.headers["etag"] == f'"{max(stamps)}"'
