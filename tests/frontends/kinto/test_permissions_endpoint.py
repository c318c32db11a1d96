"""``GET /permissions``: settings-level principals expanded into the objects they apply to, and
filters, sorting and paging on the derived list."""

from __future__ import annotations

import pytest

from tests.frontends.kinto.conftest import basic

pytestmark = pytest.mark.anyio

ROOT = {
    "bucket_write_principals": ["account:bob"],
    "collection_create_principals": ["system.Authenticated"],
    "record_create_principals": ["account:bob"],
    "group_read_principals": ["account:bob"],
}
ALL_BUCKET = ["collection:create", "group:create", "read", "write"]


async def _world(kinto) -> None:
    for bucket in ("b1", "b2"):
        await kinto.tree("alice", bucket=bucket)
        r = await kinto.put(f"/buckets/{bucket}/groups/g", "alice", json={"data": {"members": []}})
        assert r.status_code == 201


async def _by_uri(kinto, user: str, query: str = "") -> dict[str, list[str]]:
    r = await kinto.get(f"/permissions{query}", user)
    assert r.status_code == 200, r.text
    return {e["uri"]: e["permissions"] for e in r.json()["data"]}


async def test_settings_principals_are_expanded(make_kinto) -> None:
    kinto = await make_kinto(root_principals=ROOT)
    await _world(kinto)
    assert await _by_uri(kinto, "bob") == {
        "/": ["account:create", "bucket:create"],
        "/accounts/bob": ["read", "write"],
        "/buckets/b1": ALL_BUCKET,
        "/buckets/b2": ALL_BUCKET,
        "/buckets/b1/collections/c": ["record:create"],
        "/buckets/b2/collections/c": ["record:create"],
        "/buckets/b1/groups/g": ["read"],
        "/buckets/b2/groups/g": ["read"],
    }
    alice = await _by_uri(kinto, "alice", "?resource_name=bucket")
    assert alice == {"/buckets/b1": ALL_BUCKET, "/buckets/b2": ALL_BUCKET}
    r = await kinto.get("/permissions?resource_name=bucket", "admin")
    assert {e["uri"]: e["permissions"] for e in r.json()["data"]} == {
        "/buckets/b1": ["collection:create"],
        "/buckets/b2": ["collection:create"],
    }
    entry = next(e for e in r.json()["data"] if e["uri"] == "/buckets/b1")
    assert entry == {
        "uri": "/buckets/b1",
        "resource_name": "bucket",
        "permissions": ["collection:create"],
        "id": "b1",
        "bucket_id": "b1",
    }


async def test_anonymous_sees_only_what_everyone_holds(make_kinto) -> None:
    kinto = await make_kinto(root_principals={"bucket_read_principals": ["system.Everyone"]})
    await _world(kinto)
    assert await _by_uri(kinto, None) == {  # type: ignore[arg-type]
        "/": ["account:create"],
        "/buckets/b1": ["read"],
        "/buckets/b2": ["read"],
    }
    kinto = await make_kinto(
        accounts=False, with_accounts=False, bucket_create_principals=["system.Everyone"]
    )
    assert await _by_uri(kinto, None) == {"/": ["bucket:create"]}  # type: ignore[arg-type]


async def test_filters_sort_and_pages(make_kinto) -> None:
    kinto = await make_kinto(root_principals=ROOT)
    await _world(kinto)
    r = await kinto.get("/permissions", "bob")
    assert [e["uri"] for e in r.json()["data"]] == sorted((e["uri"] for e in r.json()["data"]), reverse=True)
    assert "total-objects" not in r.headers
    r = await kinto.get("/permissions?in_resource_name=collection,group&_sort=id,-bucket_id", "bob")
    assert [e["uri"] for e in r.json()["data"]] == [
        "/buckets/b2/collections/c",
        "/buckets/b1/collections/c",
        "/buckets/b2/groups/g",
        "/buckets/b1/groups/g",
    ]
    r = await kinto.get("/permissions?exclude_resource_name=root&bucket_id=b2&_sort=uri", "bob")
    assert [e["uri"] for e in r.json()["data"]] == [
        "/buckets/b2",
        "/buckets/b2/collections/c",
        "/buckets/b2/groups/g",
    ]
    r = await kinto.head("/permissions?bucket_id=b1", "bob")
    assert r.status_code == 200 and r.headers["total-objects"] == r.headers["total-records"] == "3"
    seen: list[str] = []
    url = kinto.url("/permissions?_limit=3&has_bucket_id=true&_since=5")
    while url:
        r = await kinto.http.get(url, headers=basic("bob"))
        assert r.status_code == 200, r.text
        seen += [e["uri"] for e in r.json()["data"]]
        assert len(r.json()["data"]) <= 3
        url = r.headers.get("next-page", "")
        if url:
            assert url.startswith("http://kinbase.test/") and "has_bucket_id=true" in url
    assert seen == sorted((u for u in seen if u.startswith("/buckets/")), reverse=True) and len(seen) == 6


async def test_bad_querystring(kinto) -> None:
    r = await kinto.get("/permissions?_limit=x", "alice")
    assert r.status_code == 400 and r.json()["details"][0]["name"] == "_limit"
    r = await kinto.get("/permissions?_token=abc", "alice")
    assert r.status_code == 400 and r.json()["errno"] == 107
