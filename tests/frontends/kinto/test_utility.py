"""Utility endpoints, redirects, CORS, headers, settings-driven behaviour, tenancy."""

from __future__ import annotations

import pytest

from kinbase.core.services import DEFAULT_APP_KEY

pytestmark = pytest.mark.anyio

SECURITY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none';"


async def test_hello(kinto) -> None:
    r = await kinto.get("/")
    body = r.json()
    assert r.status_code == 200 and "user" not in body
    assert body["http_api_version"] == "1.23"
    assert body["settings"] == {"batch_max_requests": 25, "readonly": False, "explicit_permissions": True}
    assert body["url"] == f"http://kinbase.test{kinto.base}/"
    assert {"default_bucket", "accounts", "history", "permissions_endpoint", "flush_endpoint"} <= set(
        body["capabilities"]
    )
    assert body["capabilities"]["accounts"]["validation_enabled"] is False
    assert (
        r.headers["content-security-policy"] == SECURITY and r.headers["x-content-type-options"] == "nosniff"
    )
    r = await kinto.get("/", "alice")
    user = r.json()["user"]
    assert user["id"] == "account:alice"
    assert user["principals"] == ["account:alice", "system.Authenticated", "system.Everyone"]
    assert len(user["bucket"]) == 36


async def test_heartbeats_version_api(kinto) -> None:
    r = await kinto.get("/__heartbeat__")
    assert r.status_code == 200
    assert r.json() == {"storage": True, "permission": True, "cache": True, "attachments": True}
    r = await kinto.get("/__lbheartbeat__")
    assert r.status_code == 200 and r.json() == {}
    r = await kinto.get("/__version__")
    assert set(r.json()) == {"name", "version", "source", "commit", "build"}
    r = await kinto.get("/__api__")
    api = r.json()
    assert api["swagger"] == "2.0" and "/buckets" in api["paths"] and api["basePath"] == kinto.base
    r = await kinto.get("/contribute.json")
    assert r.status_code == 200


async def test_unknown_path_and_method(kinto) -> None:
    r = await kinto.get("/nope", "alice")
    assert r.status_code == 404 and r.json()["errno"] == 111
    r = await kinto.put("/buckets", "alice", json={})
    assert r.status_code == 405 and r.json() == {
        "code": 405,
        "errno": 115,
        "error": "Method Not Allowed",
        "message": "Method not allowed on this endpoint.",
    }


async def test_redirects(kinto) -> None:
    r = await kinto.http.get(f"/kinto/{kinto.app.key}/buckets?x=1")
    assert r.status_code == 307 and r.headers["location"] == f"/kinto/{kinto.app.key}/v1/buckets?x=1"
    r = await kinto.http.get(kinto.base)
    assert r.status_code == 307 and r.headers["location"] == kinto.base + "/"
    r = await kinto.http.get(kinto.base + "/buckets/")
    assert r.status_code == 307 and r.headers["location"] == kinto.base + "/buckets"
    assert r.headers["cache-control"] == "max-age=3600"
    r = await kinto.http.get(f"/kinto/{kinto.app.key}/v2/buckets")
    assert r.status_code == 404 and r.json()["errno"] == 116
    r = await kinto.http.get("/buckets/b")
    assert r.status_code == 307 and r.headers["location"] == "/v1/buckets/b"
    r = await kinto.http.post("/__flush__")
    assert r.status_code == 307 and r.headers["location"] == "/v1/__flush__"


async def test_kinvey_paths_are_not_redirected(http) -> None:
    r = await http.get("/appdata")
    assert r.status_code == 200 and r.json()["kinvey"] == "hello"
    r = await http.get("/healthz")
    assert r.status_code == 200
    r = await http.get("/user/kid_x/login")
    assert r.status_code != 307


async def test_cors(kinto) -> None:
    r = await kinto.get("/buckets", "alice", headers={"Origin": "http://app.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    exposed = r.headers["access-control-expose-headers"]
    for name in ("Next-Page", "ETag", "Total-Objects", "Backoff", "Alert", "Retry-After"):
        assert name in exposed
    r = await kinto.request(
        "OPTIONS",
        "/buckets",
        headers={"Origin": "http://app.example", "Access-Control-Request-Method": "GET"},
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-methods"] == "DELETE,GET,HEAD,OPTIONS,POST"
    assert "If-Match" in r.headers["access-control-allow-headers"]
    assert r.headers["access-control-max-age"] == "3600"
    r = await kinto.http.options("/buckets")
    assert r.status_code == 200


async def test_flush(kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.post("/__flush__")
    assert r.status_code == 202 and r.json() == {}
    r = await kinto.get("/buckets/b", "alice")
    assert r.status_code == 401
    await kinto.account("alice")
    assert (await kinto.get("/buckets/b", "alice")).status_code == 403


async def test_flush_disabled(make_kinto) -> None:
    kinto = await make_kinto(flush_endpoint=False)
    assert (await kinto.post("/__flush__")).status_code == 404


async def test_readonly(make_kinto) -> None:
    kinto = await make_kinto(readonly=True, with_accounts=False)
    r = await kinto.put("/buckets/b")
    assert r.status_code == 405 and r.json()["errno"] == 115
    r = await kinto.get("/")
    assert r.json()["settings"]["readonly"] is True and r.headers["cache-control"] == "max-age=86400"


async def test_backoff_and_eos(make_kinto) -> None:
    kinto = await make_kinto(backoff=60, eos="2999-01-01", eos_message="Bye", eos_url="http://x")
    r = await kinto.get("/")
    assert r.headers["backoff"] == "60"
    assert r.json()["eos"] == "2999-01-01"
    assert '"soft-eol"' in r.headers["alert"]
    kinto = await make_kinto(eos="2000-01-01", with_accounts=False)
    r = await kinto.get("/buckets")
    assert r.status_code == 410 and r.json()["errno"] == 202 and '"hard-eol"' in r.headers["alert"]


async def test_cache_control_for_authenticated_reads(kinto) -> None:
    r = await kinto.get("/buckets", "alice")
    assert r.headers["cache-control"] == "no-cache, no-store"


async def test_apps_are_isolated(make_kinto) -> None:
    one = await make_kinto()
    two = await make_kinto()
    await one.tree("alice")
    assert (await two.get("/buckets/b", "alice")).status_code == 403
    assert (await two.get("/buckets", "alice")).json()["data"] == []


async def test_unknown_app(http) -> None:
    r = await http.get("/kinto/kid_nope/v1/")
    assert r.status_code == 404 and r.json()["errno"] == 111


async def test_default_app_at_v1(kinto, storage) -> None:
    async with storage.writer() as w:
        previous = await w.get_meta(DEFAULT_APP_KEY)
        await w.set_meta(DEFAULT_APP_KEY, kinto.app.key)
    try:
        from tests.frontends.kinto.conftest import basic

        r = await kinto.http.get("/v1/", headers=basic("alice"))
        assert r.status_code == 200 and r.json()["user"]["id"] == "account:alice"
        assert r.json()["url"] == "http://kinbase.test/v1/"
        r = await kinto.http.get("/v1")
        assert r.status_code == 307 and r.headers["location"] == "/v1/"
    finally:
        async with storage.writer() as w:
            await w.set_meta(DEFAULT_APP_KEY, previous or "")


async def test_not_acceptable(kinto) -> None:
    r = await kinto.get("/buckets", "alice", headers={"Accept": "text/html"})
    assert r.status_code == 406
    r = await kinto.get("/buckets", "alice", headers={"Accept": "text/html, application/json;q=0.9"})
    assert r.status_code == 200


async def test_anonymous_record_reads_honour_cache_expires(kinto) -> None:
    await kinto.put("/buckets/b", "alice", json={"permissions": {"read": ["system.Everyone"]}})
    await kinto.put("/buckets/b/collections/c", "alice", json={"data": {"cache_expires": 60}})
    await kinto.put("/buckets/b/collections/c/records/r", "alice", json={"data": {}})
    for path in ("/buckets/b/collections/c/records", "/buckets/b/collections/c/records/r"):
        r = await kinto.get(path)
        assert r.headers["cache-control"] == "max-age=60" and "expires" in r.headers
        r = await kinto.get(path, "alice")
        assert r.headers["cache-control"] == "no-cache, no-store"
