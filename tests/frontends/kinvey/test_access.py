"""ACLs, groups, roles and collection permission levels through HTTP, on every engine."""

from __future__ import annotations

import pytest

from .conftest import Kinvey, error_of

pytestmark = pytest.mark.anyio


async def test_acl_users_and_global_flags(kv: Kinvey) -> None:
    ann, bob, cat = await kv.user(), await kv.user(), await kv.user()
    r = await kv.post("/appdata/{k}/notes", ann, json={"t": "shared by default"})
    shared = r.json()["_id"]
    r = await kv.post("/appdata/{k}/notes", ann, json={"t": "private", "_acl": {"gr": False, "r": [bob.id]}})
    private = r.json()["_id"]
    assert r.json()["_acl"] == {"creator": ann.id, "gr": False, "r": [bob.id]}
    assert (await kv.get(f"/appdata/{{k}}/notes/{shared}", cat)).status_code == 200
    r = await kv.get(f"/appdata/{{k}}/notes/{private}", cat)
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    assert (await kv.get(f"/appdata/{{k}}/notes/{private}", bob)).status_code == 200
    assert len((await kv.get("/appdata/{k}/notes", cat)).json()) == 1
    assert (await kv.get("/appdata/{k}/notes/_count", bob)).json() == {"count": 2}
    r = await kv.put(f"/appdata/{{k}}/notes/{private}", bob, json={"t": "hijack"})
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    r = await kv.delete(f"/appdata/{{k}}/notes/{shared}", bob)
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    r = await kv.delete("/appdata/{k}/notes", bob)
    assert r.json() == {"count": 0}
    r = await kv.post("/appdata/{k}/notes", ann, json={"t": "open", "_acl": {"gw": True}})
    r = await kv.put(f"/appdata/{{k}}/notes/{r.json()['_id']}", cat, json={"t": "edited"})
    assert r.status_code == 200 and r.json()["_acl"]["creator"] == ann.id
    assert (await kv.get("/appdata/{k}/notes/_count")).json() == {"count": 3}


async def test_groups_and_nesting(kv: Kinvey) -> None:
    ann, bob, cat = await kv.user(), await kv.user(), await kv.user()
    r = await kv.post("/group/{k}", ann, json={"_id": "team", "users": {"list": [{"_id": bob.id}]}})
    assert r.status_code == 201, r.text
    assert r.json()["users"] == {
        "all": False,
        "list": [{"_type": "KinveyRef", "_collection": "user", "_id": bob.id}],
    }
    r = await kv.post(
        "/group/{k}", json={"_id": "org", "groups": [{"_id": "team"}], "users": {"list": [cat.id]}}
    )
    assert r.status_code == 201
    r = await kv.post("/appdata/{k}/docs", ann, json={"_acl": {"gr": False, "groups": {"r": ["org"]}}})
    doc = r.json()["_id"]
    assert (await kv.get(f"/appdata/{{k}}/docs/{doc}", bob)).status_code == 200, "nested group"
    assert (await kv.get(f"/appdata/{{k}}/docs/{doc}", cat)).status_code == 200
    r = await kv.put(f"/appdata/{{k}}/docs/{doc}", bob, json={"x": 1})
    assert r.status_code == 401
    r = await kv.post("/appdata/{k}/docs", ann, json={"_acl": {"gr": False, "groups": {"w": ["team"]}}})
    assert (await kv.put(f"/appdata/{{k}}/docs/{r.json()['_id']}", bob, json={"y": 1})).status_code == 200
    group = (await kv.get("/group/{k}/team", ann)).json()
    group["users"]["list"] = []
    assert (await kv.put("/group/{k}/team", bob, json=group)).status_code == 401
    assert (await kv.put("/group/{k}/team", ann, json=group)).status_code == 200
    assert (await kv.get(f"/appdata/{{k}}/docs/{doc}", bob)).status_code == 401
    r = await kv.put("/group/{k}/everyone", json={"users": {"all": True}})
    assert r.status_code == 201
    await kv.post(
        "/appdata/{k}/docs", ann, json={"_id": "all", "_acl": {"gr": False, "groups": {"r": ["everyone"]}}}
    )
    assert (await kv.get("/appdata/{k}/docs/all", cat)).status_code == 200
    assert (await kv.delete("/group/{k}/everyone", bob)).status_code == 401
    assert (await kv.delete("/group/{k}/everyone")).json() == {"count": 1}
    assert (await kv.get("/appdata/{k}/docs/all", cat)).status_code == 401
    assert error_of(await kv.get("/group/{k}/everyone")) == "EntityNotFound"
    r = await kv.post("/group/{k}", json={"users": {"all": "yes"}})
    assert r.status_code == 400 and error_of(r) == "BadRequest"


async def test_roles(kv: Kinvey) -> None:
    ann, bob = await kv.user(), await kv.user()
    r = await kv.post("/roles/{k}", ann, json={"name": "editor"})
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    r = await kv.post("/roles/{k}", json={"_id": "editor", "name": "Editor"})
    assert r.status_code == 201 and r.json()["name"] == "Editor"
    assert [x["_id"] for x in (await kv.get("/roles/{k}")).json()] == ["editor"]
    acl = {"gr": False, "roles": {"r": ["editor"], "u": ["editor"]}}
    doc = (await kv.post("/appdata/{k}/art", ann, json={"_acl": acl})).json()["_id"]
    assert (await kv.get(f"/appdata/{{k}}/art/{doc}", bob)).status_code == 401
    assert (await kv.put(f"/user/{{k}}/{bob.id}/roles/editor", json={})).status_code == 204
    assert (await kv.put(f"/user/{{k}}/{bob.id}/roles/missing", json={})).status_code == 404
    assert (await kv.get(f"/user/{{k}}/{bob.id}/roles")).json()[0]["roleId"] == "editor"
    assert (await kv.get("/roles/{k}/editor/membership")).json()[0]["userId"] == bob.id
    assert (await kv.get(f"/appdata/{{k}}/art/{doc}", bob)).status_code == 200
    assert (await kv.put(f"/appdata/{{k}}/art/{doc}", bob, json={"v": 2, "_acl": acl})).status_code == 200
    r = await kv.delete(f"/appdata/{{k}}/art/{doc}", bob)
    assert r.status_code == 401, "roles.u does not give delete"
    assert (await kv.delete(f"/user/{{k}}/{bob.id}/roles/editor")).status_code == 204
    assert (await kv.get(f"/appdata/{{k}}/art/{doc}", bob)).status_code == 401
    r = await kv.put("/roles/{k}/editor", json={"name": "Chief editor"})
    assert r.status_code == 200 and r.json()["name"] == "Chief editor"
    assert (await kv.get("/roles/{k}/editor")).json()["name"] == "Chief editor"
    r = await kv.put("/roles/{k}/viewer", json={"name": "Viewer"})
    assert r.status_code == 201 and r.headers["location"].endswith(f"/roles/{kv.key}/viewer")
    assert (await kv.put("/roles/{k}/viewer", ann, json={"name": "x"})).status_code == 401
    assert (await kv.delete("/roles/{k}/editor")).json() == {"count": 1}
    assert error_of(await kv.get("/roles/{k}/editor")) == "EntityNotFound"


async def test_collection_levels(kv: Kinvey) -> None:
    ann, bob = await kv.user(), await kv.user()
    doc = (await kv.post("/appdata/{k}/lv", ann, json={})).json()["_id"]
    r = await kv.put("/appdata/{k}/lv/_settings", ann, json={"permissions": {"level": "private"}})
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    r = await kv.put("/appdata/{k}/lv/_settings", json={"permissions": {"level": "private"}})
    assert r.status_code == 200 and r.json()["permissions"] == {"level": "private"}
    assert (await kv.get(f"/appdata/{{k}}/lv/{doc}", bob)).status_code == 401, "grants recompiled"
    assert (await kv.get("/appdata/{k}/lv/_count", bob)).json() == {"count": 0}
    await kv.put("/appdata/{k}/lv/_settings", json={"permissions": {"level": "full"}})
    assert (await kv.put(f"/appdata/{{k}}/lv/{doc}", bob, json={"b": 1})).status_code == 200
    await kv.put("/appdata/{k}/lv/_settings", json={"permissions": {"level": "readonly"}})
    assert (await kv.get(f"/appdata/{{k}}/lv/{doc}", bob)).status_code == 200
    r = await kv.post("/appdata/{k}/lv", ann, json={})
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    assert (await kv.post("/appdata/{k}/lv", json={})).status_code == 201
    r = await kv.put("/appdata/{k}/lv/_settings", json={"permissions": {"level": "weird"}})
    assert r.status_code == 400 and error_of(r) == "BadRequest"
    assert (await kv.get("/appdata/{k}/lv/_settings")).json()["count"] == 2
