"""Users, sessions and login throttling through HTTP, on every engine."""

from __future__ import annotations

import base64

import httpx
import pytest

from kinbase.app import create_app
from kinbase.core.services import Core

from .conftest import Kinvey, error_of

pytestmark = pytest.mark.anyio


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_signup_versions_and_duplicates(kv: Kinvey) -> None:
    r = await kv.post("/user/{k}", kv.appauth, json={"username": "ann", "password": "s3cret", "age": 3})
    assert r.status_code == 201, r.text
    user = r.json()
    assert user["username"] == "ann" and user["age"] == 3 and "password" not in user
    assert "authtoken" not in user["_kmd"], "API v6: no session on sign-up"
    assert user["_acl"] == {"creator": user["_id"]}
    assert r.headers["location"].endswith(f"/user/{kv.key}/{user['_id']}")
    r = await kv.post("/user/{k}", kv.appauth, json={"username": "bob", "password": "x"}, version="5")
    assert r.status_code == 201 and r.json()["_kmd"]["authtoken"]
    token = r.json()["_kmd"]["authtoken"]
    assert (await kv.get("/user/{k}/_me", {"Authorization": f"Kinvey {token}"})).status_code == 200
    r = await kv.post("/user/{k}", kv.appauth, json={"username": "ann", "password": "other"})
    assert r.status_code == 409 and error_of(r) == "UserAlreadyExists"
    r = await kv.post("/user/{k}", kv.appauth)
    assert r.status_code == 201 and r.json()["username"] and r.json()["password"]
    r = await kv.post("/user/{k}", kv.appauth, json=[1])
    assert r.status_code == 400 and error_of(r) == "BadRequest"
    r = await kv.post("/user/{k}", {"Authorization": f"Kinvey {token}"}, json={"username": "c"})
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"


async def test_login_me_logout(kv: Kinvey) -> None:
    await kv.post("/user/{k}", kv.appauth, json={"username": "ann", "password": "pw"})
    r = await kv.post("/user/{k}/login", kv.appauth, json={"username": "ann", "password": "bad"})
    assert r.status_code == 401 and error_of(r) == "InvalidCredentials"
    r = await kv.post("/user/{k}/login", kv.appauth, json={"username": "nobody", "password": "pw"})
    assert r.status_code == 401 and error_of(r) == "InvalidCredentials"
    r = await kv.post("/user/{k}/login", kv.appauth, json={"username": "ann", "password": "pw"})
    assert r.status_code == 200
    user = r.json()
    token = user["_kmd"]["authtoken"]
    assert user["_kmd"]["llt"] and "password" not in user and len(token) >= 40
    session = {"Authorization": f"Kinvey {token}"}
    r = await kv.get("/user/{k}/_me", session)
    assert r.status_code == 200 and r.json()["_id"] == user["_id"]
    assert r.json()["_kmd"]["authtoken"] == token
    r = await kv.get("/user/{k}/_me", kv.master)
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    r = await kv.post("/user/{k}/_logout", session)
    assert r.status_code == 204
    r = await kv.get("/user/{k}/_me", session)
    assert r.status_code == 401 and error_of(r) == "InvalidCredentials"


async def test_basic_user_auth_before_v6(kv: Kinvey) -> None:
    ann = await kv.user("ann", "pw")
    r = await kv.get("/user/{k}/_me", basic("ann", "pw"), version="5")
    assert r.status_code == 200 and r.json()["_id"] == ann.id
    r = await kv.get("/user/{k}/_me", basic("ann", "pw"), version="5")
    assert r.status_code == 200, "second call served by the verified-credential cache"
    r = await kv.get("/user/{k}/_me", basic("ann", "wrong"), version="5")
    assert r.status_code == 401 and error_of(r) == "InvalidCredentials"
    r = await kv.get("/user/{k}/_me", basic("ann", "pw"), version="6")
    assert r.status_code == 401 and error_of(r) == "InvalidCredentials"


async def test_get_update_list_lookup_count(kv: Kinvey) -> None:
    ann = await kv.user("ann", "pw", email="ann@example.com")
    bob = await kv.user("bob", "pw")
    r = await kv.get(f"/user/{{k}}/{ann.id}", bob)
    assert r.status_code == 200 and r.json()["username"] == "ann"
    r = await kv.get("/user/{k}/nope", bob)
    assert r.status_code == 404 and error_of(r) == "UserNotFound"
    me = (await kv.get("/user/{k}/_me", ann)).json()
    me["color"] = "red"
    r = await kv.put(f"/user/{{k}}/{ann.id}", ann, json=me)
    assert r.status_code == 200 and r.json()["color"] == "red"
    assert r.json()["_kmd"]["authtoken"] == ann.token and "llt" in r.json()["_kmd"]
    social = {"kinveyAuth": {"access_token": "provider-secret", "refresh_token": "r"}}
    r = await kv.put(f"/user/{{k}}/{ann.id}", ann, json={**me, "_socialIdentity": social})
    # Echoed to the user itself (the SDKs keep their MIC session in it), never stored.
    assert r.status_code == 200 and r.json()["_socialIdentity"] == social
    assert "_socialIdentity" not in (await kv.get(f"/user/{{k}}/{ann.id}", bob)).json()
    assert "_socialIdentity" not in (await kv.get("/user/{k}/_me", ann)).json()
    r = await kv.put(f"/user/{{k}}/{ann.id}", json={**me, "_socialIdentity": social})  # master secret
    assert r.status_code == 200 and "_socialIdentity" not in r.json()
    r = await kv.put(f"/user/{{k}}/{ann.id}", bob, json={"username": "ann", "color": "blue"})
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    r = await kv.put(f"/user/{{k}}/{ann.id}", ann, json={**me, "username": "bob"})
    assert r.status_code == 409 and error_of(r) == "UserAlreadyExists"
    r = await kv.put(f"/user/{{k}}/{ann.id}", ann, json={**me, "username": "anna", "password": "new"})
    assert r.status_code == 200 and r.json()["username"] == "anna"
    r = await kv.post("/user/{k}/login", kv.appauth, json={"username": "anna", "password": "new"})
    assert r.status_code == 200
    r = await kv.post("/user/{k}/login", kv.appauth, json={"username": "ann", "password": "pw"})
    assert r.status_code == 401
    r = await kv.get("/user/{k}", bob)
    assert sorted(u["username"] for u in r.json()) == ["anna", "bob"]
    r = await kv.get("/user/{k}/_count", bob)
    assert r.json() == {"count": 2}
    r = await kv.post("/rpc/{k}/check-username-exists", kv.appauth, json={"username": "anna"})
    assert r.json() == {"usernameExists": True}
    r = await kv.post("/rpc/{k}/check-username-exists", kv.appauth, json={"username": "zed"})
    assert r.json() == {"usernameExists": False}


async def test_soft_delete_restore_hard_delete(kv: Kinvey) -> None:
    ann = await kv.user("ann", "pw")
    bob = await kv.user("bob", "pw")
    r = await kv.delete(f"/user/{{k}}/{ann.id}", bob)
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    r = await kv.delete(f"/user/{{k}}/{ann.id}")
    assert r.status_code == 204
    assert (await kv.get("/user/{k}/_me", ann)).status_code == 401
    r = await kv.post("/user/{k}/login", kv.appauth, json={"username": "ann", "password": "pw"})
    assert r.status_code == 401 and error_of(r) == "InvalidCredentials"
    assert [u["username"] for u in (await kv.get("/user/{k}", bob)).json()] == ["bob"]
    r = await kv.get(f"/user/{{k}}/{ann.id}")
    assert r.json()["_kmd"]["status"]["val"] == "disabled"
    r = await kv.post(f"/user/{{k}}/{ann.id}/_restore", bob)
    assert r.status_code == 401
    r = await kv.post(f"/user/{{k}}/{ann.id}/_restore")
    assert r.status_code == 204
    r = await kv.post("/user/{k}/login", kv.appauth, json={"username": "ann", "password": "pw"})
    assert r.status_code == 200 and "status" not in r.json()["_kmd"]
    r = await kv.delete(f"/user/{{k}}/{bob.id}", bob, params={"hard": "true"})
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    r = await kv.delete(f"/user/{{k}}/{bob.id}", params={"hard": "true"})
    assert r.status_code == 204
    assert (await kv.get(f"/user/{{k}}/{bob.id}")).status_code == 404
    r = await kv.post("/user/{k}", kv.appauth, json={"username": "bob", "password": "again"})
    assert r.status_code == 201
    r = await kv.delete(f"/user/{{k}}/{ann.id}", version="1")
    assert r.status_code == 204 and (await kv.get(f"/user/{{k}}/{ann.id}")).status_code == 404


async def test_invalidate_tokens(kv: Kinvey) -> None:
    ann = await kv.user("ann", "pw")
    second = (await kv.post("/user/{k}/login", kv.appauth, json={"username": "ann", "password": "pw"})).json()
    other = {"Authorization": f"Kinvey {second['_kmd']['authtoken']}"}
    bob = await kv.user("bob", "pw")
    r = await kv.delete(f"/user/{{k}}/{ann.id}/tokens", bob)
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    r = await kv.delete(f"/user/{{k}}/{ann.id}/tokens", ann)
    assert r.status_code == 204
    assert (await kv.get("/user/{k}/_me", ann)).status_code == 401
    assert (await kv.get("/user/{k}/_me", other)).status_code == 401
    assert (await kv.get("/user/{k}/_me", bob)).status_code == 200


async def test_login_throttling(kv: Kinvey) -> None:
    await kv.user("ann", "pw")
    for _ in range(4):
        r = await kv.post("/user/{k}/login", kv.appauth, json={"username": "ann", "password": "no"})
        assert r.status_code == 401
    r = await kv.post("/user/{k}/login", kv.appauth, json={"username": "ann", "password": "pw"})
    assert r.status_code == 429 and error_of(r) == "LoginThrottled"


async def test_basic_user_auth_is_throttled_like_login(kv: Kinvey) -> None:
    """Guessing passwords through ``Basic username:password`` (v < 6) counts as failed logins."""
    await kv.user("ann", "pw")
    for _ in range(4):
        r = await kv.get("/user/{k}/_me", basic("ann", "guess"), version="5")
        assert r.status_code == 401 and error_of(r) == "InvalidCredentials"
    r = await kv.get("/user/{k}/_me", basic("ann", "pw"), version="5")
    assert r.status_code == 429 and error_of(r) == "LoginThrottled"
    r = await kv.post("/user/{k}/login", kv.appauth, json={"username": "ann", "password": "pw"})
    assert r.status_code == 429 and error_of(r) == "LoginThrottled"


async def test_login_throttling_by_client_address(kv: Kinvey, core: Core) -> None:
    """Failures spread over many usernames from one address lock that address out, not others."""
    await kv.user("ann", "pw")
    for n in range(4):
        body = {"username": f"guess{n}", "password": "x"}
        assert (await kv.post("/user/{k}/login", kv.appauth, json=body)).status_code == 401
    good = {"username": "ann", "password": "pw"}
    r = await kv.post("/user/{k}/login", kv.appauth, json=good)
    assert r.status_code == 429 and error_of(r) == "LoginThrottled"
    transport = httpx.ASGITransport(app=create_app(core.settings, core), client=("192.0.2.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://kinbase.test") as other:
        r = await Kinvey(other, kv.app).post("/user/{k}/login", kv.appauth, json=good)
        assert r.status_code == 200, "another address is not locked out"


async def test_session_expiry(kv: Kinvey, core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session clock is moved forward instead of waiting (no dependence on wall-clock time)."""
    from kinbase.core.kinvey import sessions

    async with core.storage.writer() as w:
        await w.update_app(kv.app.id, settings={"session_ttl_seconds": 60})
    core.apps._cache.clear()
    ann = await kv.user("ann", "pw")
    assert (await kv.get("/user/{k}/_me", ann)).status_code == 200
    real = sessions.now_ms
    monkeypatch.setattr(sessions, "now_ms", lambda: real() + 50_000)
    assert (await kv.get("/user/{k}/_me", ann)).status_code == 200, "still within the 60 s"
    monkeypatch.setattr(sessions, "now_ms", lambda: real() + 61_000)
    r = await kv.get("/user/{k}/_me", ann)
    assert r.status_code == 401 and error_of(r) == "InvalidCredentials"
