"""The permission model: inheritance, principals, groups, filtered listings, GET /permissions."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio

C = "/buckets/b/collections/c"
R = C + "/records"


async def test_inheritance_bucket_to_records(kinto) -> None:
    await kinto.tree("alice")
    await kinto.put(f"{R}/r1", "alice", json={"data": {}})
    assert (await kinto.get(f"{R}/r1", "bob")).status_code == 403
    await kinto.patch("/buckets/b", "alice", json={"permissions": {"read": ["account:bob"]}})
    assert (await kinto.get(f"{R}/r1", "bob")).status_code == 200
    assert (await kinto.get(R, "bob")).status_code == 200
    assert (await kinto.put(f"{R}/r1", "bob", json={"data": {}})).status_code == 403
    await kinto.patch(C, "alice", json={"permissions": {"write": ["account:bob"]}})
    r = await kinto.put(f"{R}/r1", "bob", json={"data": {"by": "bob"}})
    assert r.status_code == 200
    assert r.json()["permissions"]["write"] == ["account:alice", "account:bob"]


async def test_record_create_permission(kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.post(R, "bob", json={"data": {}})
    assert r.status_code == 403
    await kinto.patch(C, "alice", json={"permissions": {"record:create": ["system.Authenticated"]}})
    r = await kinto.post(R, "bob", json={"data": {"x": 1}})
    assert r.status_code == 201
    rid = r.json()["data"]["id"]
    assert (await kinto.get(f"{R}/{rid}", "bob")).status_code == 200
    r = await kinto.get(R, "bob")
    assert [d["id"] for d in r.json()["data"]] == [rid]
    assert (await kinto.get(C, "bob")).status_code == 200
    r = await kinto.post(R, json={"data": {}})
    assert r.status_code == 401


async def test_anonymous_everyone_access(kinto) -> None:
    await kinto.tree("alice")
    await kinto.patch(
        C, "alice", json={"permissions": {"record:create": ["system.Everyone"], "read": ["system.Everyone"]}}
    )
    r = await kinto.post(R, json={"data": {"anon": True}})
    assert r.status_code == 201 and r.json()["permissions"] == {}
    r = await kinto.get(R)
    assert r.status_code == 200 and len(r.json()["data"]) == 1


async def test_partially_shared_listing_is_filtered_in_sql(kinto) -> None:
    await kinto.tree("alice")
    for i in range(6):
        perms = {"read": ["account:bob"]} if i % 2 == 0 else {}
        await kinto.put(f"{R}/r{i}", "alice", json={"data": {"i": i}, "permissions": perms})
    r = await kinto.get(R, "bob")
    assert [d["id"] for d in r.json()["data"]] == ["r4", "r2", "r0"]
    r = await kinto.get(f"{R}?_limit=2", "bob")
    assert [d["id"] for d in r.json()["data"]] == ["r4", "r2"] and "next-page" in r.headers
    r = await kinto.head(R, "bob")
    assert r.headers["total-records"] == "3"
    r = await kinto.get(R, "admin")
    assert r.status_code == 403
    r = await kinto.get(R)
    assert r.status_code == 401


async def test_collections_listing_filtered(kinto) -> None:
    await kinto.tree("alice")
    await kinto.put("/buckets/b/collections/shared", "alice", json={"permissions": {"read": ["account:bob"]}})
    r = await kinto.get("/buckets/b/collections", "bob")
    assert [d["id"] for d in r.json()["data"]] == ["shared"]
    r = await kinto.get("/buckets", "bob")
    assert r.status_code == 200 and r.json()["data"] == []
    r = await kinto.get("/buckets", "alice")
    assert [d["id"] for d in r.json()["data"]] == ["b"]


async def test_group_sharing_applies_immediately(kinto) -> None:
    await kinto.tree("alice")
    await kinto.put(f"{R}/r1", "alice", json={"data": {}})
    await kinto.put("/buckets/b/groups/friends", "alice", json={"data": {"members": []}})
    await kinto.patch(C, "alice", json={"permissions": {"read": ["/buckets/b/groups/friends"]}})
    assert (await kinto.get(f"{R}/r1", "bob")).status_code == 403
    await kinto.patch("/buckets/b/groups/friends", "alice", json={"data": {"members": ["account:bob"]}})
    assert (await kinto.get(f"{R}/r1", "bob")).status_code == 200
    r = await kinto.get("/", "bob")
    assert "/buckets/b/groups/friends" in r.json()["user"]["principals"]
    await kinto.delete("/buckets/b/groups/friends", "alice")
    assert (await kinto.get(f"{R}/r1", "bob")).status_code == 403


async def test_authenticated_members(kinto) -> None:
    await kinto.tree("alice")
    await kinto.put("/buckets/b/groups/all", "alice", json={"data": {"members": ["system.Authenticated"]}})
    await kinto.patch(C, "alice", json={"permissions": {"read": ["/buckets/b/groups/all"]}})
    assert (await kinto.get(R, "bob")).status_code == 200
    assert (await kinto.get(R)).status_code == 401


async def test_cannot_drop_own_write(kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {}, "permissions": {"write": ["account:bob"]}})
    assert r.json()["permissions"]["write"] == ["account:alice", "account:bob"]
    r = await kinto.patch(f"{R}/r1", "bob", json={"permissions": {"write": ["account:bob"]}})
    assert r.json()["permissions"]["write"] == ["account:bob"]


async def test_write_on_missing_object_is_404_with_parent_read(kinto) -> None:
    await kinto.tree("alice")
    await kinto.patch(C, "alice", json={"permissions": {"read": ["account:bob"]}})
    assert (await kinto.delete(f"{R}/nope", "bob")).status_code == 404
    assert (await kinto.patch(f"{R}/nope", "bob", json={"data": {}})).status_code == 404
    assert (await kinto.put(f"{R}/nope", "bob", json={"data": {}})).status_code == 403


async def test_settings_principals(make_kinto) -> None:
    kinto = await make_kinto(
        bucket_create_principals=["account:admin"],
        root_principals={"bucket_read_principals": ["account:bob"]},
    )
    assert (await kinto.put("/buckets/x", "alice")).status_code == 403
    assert (await kinto.put("/buckets/x", "admin")).status_code == 201
    assert (await kinto.get("/buckets/x", "bob")).status_code == 200
    r = await kinto.get("/buckets", "bob")
    assert [d["id"] for d in r.json()["data"]] == ["x"]


async def test_permissions_endpoint(kinto) -> None:
    await kinto.tree("alice")
    await kinto.put(f"{R}/r1", "alice", json={"data": {}, "permissions": {"read": ["account:bob"]}})
    r = await kinto.get("/permissions", "bob")
    assert r.status_code == 200
    entries = {e["uri"]: e for e in r.json()["data"]}
    assert entries["/"] == {
        "uri": "/",
        "resource_name": "root",
        "permissions": ["account:create", "bucket:create"],
    }
    assert entries["/accounts/bob"] == {
        "uri": "/accounts/bob",
        "resource_name": "account",
        "permissions": ["read", "write"],
        "id": "bob",
        "account_id": "bob",
    }
    entry = entries[f"{R}/r1"]
    assert entry == {
        "uri": f"{R}/r1",
        "resource_name": "record",
        "permissions": ["read"],
        "id": "r1",
        "bucket_id": "b",
        "collection_id": "c",
        "record_id": "r1",
    }
    r = await kinto.get("/permissions?resource_name=bucket&_sort=id", "alice")
    assert [(e["id"], e["permissions"]) for e in r.json()["data"]] == [
        ("b", ["collection:create", "group:create", "read", "write"])
    ]
    r = await kinto.get("/permissions?_limit=1", "alice")
    assert len(r.json()["data"]) == 1 and "next-page" in r.headers
