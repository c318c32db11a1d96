from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


async def test_smoke(kinto) -> None:
    r = await kinto.get("/", "alice")
    print(r.status_code, r.text)
    r = await kinto.put("/buckets/b", "alice")
    print(r.status_code, r.text, r.headers)
    r = await kinto.put("/buckets/b/collections/c", "alice")
    print(r.status_code, r.text)
    r = await kinto.post("/buckets/b/collections/c/records", "alice", json={"data": {"a": 1}})
    print(r.status_code, r.text)
    rid = r.json()["data"]["id"]
    r = await kinto.get(f"/buckets/b/collections/c/records/{rid}", "alice")
    print(r.status_code, r.text)
    r = await kinto.get(f"/buckets/b/collections/c/records/{rid}", "bob")
    print(r.status_code, r.text)
    r = await kinto.get("/buckets/b/collections/c/records", "alice")
    print(r.status_code, r.text)
    r = await kinto.get("/buckets/b/history", "alice")
    print(r.status_code, r.text)
    assert 0
