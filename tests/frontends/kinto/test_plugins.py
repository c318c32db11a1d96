"""History, the personal default bucket and JSON-schema validation."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio

R = "/buckets/b/collections/c/records"


async def test_history_entries(kinto) -> None:
    await kinto.tree("alice")
    await kinto.put(f"{R}/r1", "alice", json={"data": {"v": 1}})
    await kinto.patch(f"{R}/r1", "alice", json={"data": {"v": 2}})
    await kinto.delete(f"{R}/r1", "alice")
    r = await kinto.get("/buckets/b/history", "alice")
    assert r.status_code == 200
    entries = r.json()["data"]
    assert [(e["action"], e["resource_name"]) for e in entries] == [
        ("delete", "record"),
        ("update", "record"),
        ("create", "record"),
        ("create", "collection"),
        ("create", "bucket"),
    ]
    update = entries[1]
    assert update["uri"] == f"{R}/r1" and update["user_id"] == "account:alice"
    assert update["bucket_id"] == "b" and update["collection_id"] == "c" and update["record_id"] == "r1"
    assert update["target"]["data"]["v"] == 2 and update["target"]["permissions"] == {
        "write": ["account:alice"]
    }
    assert "T" in update["date"]
    r = await kinto.get("/buckets/b/history?resource_name=collection", "alice")
    assert [e["action"] for e in r.json()["data"]] == ["create"]
    r = await kinto.get("/buckets/b/history?_limit=2", "alice")
    assert len(r.json()["data"]) == 2 and "next-page" in r.headers


async def test_history_read_follows_target_permissions(kinto) -> None:
    await kinto.tree("alice")
    await kinto.put(f"{R}/shared", "alice", json={"data": {}, "permissions": {"read": ["account:bob"]}})
    await kinto.put(f"{R}/private", "alice", json={"data": {}})
    r = await kinto.get("/buckets/b/history", "bob")
    assert r.status_code == 200
    assert [e["uri"] for e in r.json()["data"]] == [f"{R}/shared"]
    r = await kinto.delete("/buckets/b/history", "bob")
    assert r.status_code == 403
    r = await kinto.delete("/buckets/b/history", "alice")
    assert r.status_code == 200
    assert (await kinto.get("/buckets/b/history", "alice")).json()["data"] == []


async def test_history_off(make_kinto) -> None:
    kinto = await make_kinto(history=False)
    await kinto.tree("alice")
    r = await kinto.get("/")
    assert "history" not in r.json()["capabilities"]
    assert (await kinto.get("/buckets/b/history", "alice")).json()["data"] == []


async def test_default_bucket(kinto) -> None:
    bucket = (await kinto.get("/", "alice")).json()["user"]["bucket"]
    r = await kinto.get("/buckets/default", "alice")
    assert r.status_code == 200 and r.json()["data"]["id"] == bucket
    assert r.json()["permissions"] == {"write": ["account:alice"]}
    r = await kinto.post("/buckets/default/collections/tasks/records", "alice", json={"data": {"t": 1}})
    assert r.status_code == 201
    r = await kinto.get(f"/buckets/{bucket}/collections/tasks/records", "alice")
    assert len(r.json()["data"]) == 1
    r = await kinto.get("/buckets/default/collections/tasks/records?_limit=1", "alice")
    assert r.status_code == 200
    other = (await kinto.get("/", "bob")).json()["user"]["bucket"]
    assert other != bucket
    assert (await kinto.get("/buckets/default")).status_code == 401
    r = await kinto.put("/buckets/default/collections/notes", "alice", json={"data": {"x": 1}})
    assert r.status_code == 201
    r = await kinto.post(
        "/batch",
        "bob",
        json={
            "requests": [
                {"method": "PUT", "path": "/buckets/default/collections/c/records/r", "body": {"data": {}}}
            ]
        },
    )
    assert r.json()["responses"][0]["status"] == 201


async def test_schema_validation(make_kinto) -> None:
    kinto = await make_kinto(schema_validation=True)
    await kinto.tree("alice", collection=None)
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    r = await kinto.put("/buckets/b/collections/c", "alice", json={"data": {"schema": schema}})
    assert r.status_code == 201
    collection_stamp = r.json()["data"]["last_modified"]
    r = await kinto.post(R, "alice", json={"data": {"title": 1}})
    assert r.status_code == 400 and r.json()["errno"] == 107 and r.json()["details"][0]["name"] == "title"
    r = await kinto.post(R, "alice", json={"data": {}})
    assert r.status_code == 400 and r.json()["details"][0]["name"] == "title"
    r = await kinto.post(R, "alice", json={"data": {"title": "ok"}})
    assert r.status_code == 201 and r.json()["data"]["schema"] == collection_stamp
    r = await kinto.put("/buckets/b/collections/bad", "alice", json={"data": {"schema": {"type": 12}}})
    assert r.status_code == 400
    assert "schema" in (await kinto.get("/")).json()["capabilities"]


async def test_bucket_level_schemas(make_kinto) -> None:
    kinto = await make_kinto(schema_validation=True)
    schema = {"type": "object", "required": ["name"]}
    await kinto.put("/buckets/b", "alice", json={"data": {"group:schema": schema}})
    r = await kinto.put("/buckets/b/groups/g", "alice", json={"data": {}})
    assert r.status_code == 400
    r = await kinto.put("/buckets/b/groups/g", "alice", json={"data": {"name": "G"}})
    assert r.status_code == 201
