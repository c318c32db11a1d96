"""The accounts plugin and Basic authentication."""

from __future__ import annotations

import pytest

from tests.frontends.kinto.conftest import basic

pytestmark = pytest.mark.anyio


async def test_create_with_put_and_post(kinto) -> None:
    r = await kinto.put("/accounts/carol", json={"data": {"password": "s3cret", "name": "Carol"}})
    assert r.status_code == 201
    body = r.json()
    assert body["data"]["password"].startswith("$2b$") and body["data"]["name"] == "Carol"
    assert body["permissions"] == {"write": ["account:carol"]}
    r = await kinto.post("/accounts", json={"data": {"id": "dave", "password": "pw"}})
    assert r.status_code == 201
    r = await kinto.post("/accounts", json={"data": {"password": "pw"}})
    assert r.status_code == 400 and r.json()["message"] == "data.id in body: Required"
    r = await kinto.put("/accounts/eve", json={"data": {}})
    assert r.status_code == 400 and r.json()["details"][0]["name"] == "data.password"
    r = await kinto.put("/accounts/bad%20id", json={"data": {"password": "x"}})
    assert r.status_code == 400


async def test_authentication(kinto) -> None:
    r = await kinto.get("/", headers=basic("alice"))
    assert r.json()["user"]["id"] == "account:alice"
    r = await kinto.get("/", headers=basic("alice", "wrong"))
    assert r.status_code == 200 and "user" not in r.json()
    r = await kinto.get("/", headers=basic("nobody"))
    assert "user" not in r.json()
    r = await kinto.get("/", headers={"Authorization": "Basic !!!"})
    assert "user" not in r.json()
    r = await kinto.get("/accounts/alice", headers=basic("alice", "wrong"))
    assert r.status_code == 401


async def test_users_touch_only_their_account(kinto) -> None:
    r = await kinto.get("/accounts/alice", "alice")
    assert r.status_code == 200
    r = await kinto.get("/accounts/bob", "alice")
    assert r.status_code == 403
    r = await kinto.put("/accounts/alice", json={"data": {"password": "x"}})
    assert r.status_code == 401
    r = await kinto.put("/accounts/zed", "alice", json={"data": {"password": "x"}})
    assert r.status_code == 400 and "Username and account ID do not match." in r.json()["message"]
    r = await kinto.get("/accounts", "alice")
    assert [a["id"] for a in r.json()["data"]] == ["alice"]
    r = await kinto.get("/accounts", "admin")
    assert sorted(a["id"] for a in r.json()["data"]) == ["admin", "alice", "bob"]
    r = await kinto.put("/accounts/bob", "admin", json={"data": {"password": "new"}})
    assert r.status_code == 200


async def test_password_change_invalidates_cache(kinto) -> None:
    assert (await kinto.get("/accounts/alice", "alice")).status_code == 200
    r = await kinto.patch("/accounts/alice", "alice", json={"data": {"password": "changed"}})
    assert r.status_code == 200 and r.json()["data"]["password"].startswith("$2b$")
    assert (await kinto.get("/accounts/alice", "alice")).status_code == 401
    r = await kinto.get("/accounts/alice", headers=basic("alice", "changed"))
    assert r.status_code == 200


async def test_patch_without_password_keeps_it(kinto) -> None:
    r = await kinto.patch("/accounts/alice", "alice", json={"data": {"nick": "al"}})
    assert r.status_code == 200 and r.json()["data"]["nick"] == "al"
    assert (await kinto.get("/accounts/alice", "alice")).status_code == 200


async def test_delete_account_revokes_credentials(kinto) -> None:
    r = await kinto.delete("/accounts/bob", "bob")
    assert r.status_code == 200 and r.json()["data"]["deleted"] is True
    r = await kinto.get("/", "bob")
    assert "user" not in r.json()


async def test_basicauth_policy(make_kinto) -> None:
    kinto = await make_kinto(auth_policies=["account", "basicauth"])
    r = await kinto.get("/", headers=basic("anyone", "anything"))
    user = r.json()["user"]["id"]
    assert user.startswith("basicauth:") and len(user) == len("basicauth:") + 64
    r = await kinto.get("/", headers=basic("alice"))
    assert r.json()["user"]["id"] == "account:alice"
    r = await kinto.put("/buckets/mine", headers=basic("anyone", "anything"))
    assert r.status_code == 201 and r.json()["permissions"] == {"write": [user]}


async def test_accounts_disabled(make_kinto) -> None:
    kinto = await make_kinto(accounts=True)
    r = await kinto.get("/")
    assert "accounts" in r.json()["capabilities"]


async def test_a_cache_hit_extends_the_verified_entry(make_kinto, core, monkeypatch) -> None:
    """As Kinto's ``cache.expire`` on a hit: an account in steady use runs bcrypt once, not once
    per ``account_cache_ttl_seconds``; an unused entry still expires, a new password still misses."""
    kinto = await make_kinto(account_cache_ttl_seconds=30)
    clock = [1000.0]
    monkeypatch.setattr("kinbase.core.kinto.auth.time.monotonic", lambda: clock[0])
    checks: list[str] = []
    hasher = core.kinto.hasher
    check = hasher.check

    async def counted(password: str, hashed: str) -> bool:
        checks.append(password)
        return await check(password, hashed)

    monkeypatch.setattr(hasher, "check", counted)

    async def alice() -> str | None:
        return (await kinto.get("/", "alice")).json().get("user", {}).get("id")

    assert await alice() == "account:alice" and len(checks) == 1
    for _ in range(4):  # 80 s of use, a request every 20 s: always cached
        clock[0] += 20
        assert await alice() == "account:alice"
    assert len(checks) == 1
    clock[0] += 31  # unused for longer than the lifetime: bcrypt again
    assert await alice() == "account:alice" and len(checks) == 2
    r = await kinto.patch("/accounts/alice", "alice", json={"data": {"password": "changed"}})
    assert r.status_code == 200 and len(checks) == 2
    assert "user" not in (await kinto.get("/", "alice")).json() and len(checks) == 3
