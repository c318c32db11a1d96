"""The response headers of the spec on every kind of answer: ``ETag`` and ``Last-Modified`` (the
same timestamp), ``Retry-After`` on 409 and 503, CORS on errors and preflights, and no
``Content-Length`` requirement."""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator

import pytest

from kinbase.errors import BackendUnavailable, Conflict
from kinbase.frontends.kinto.call import http_date

pytestmark = pytest.mark.anyio

R = "/buckets/b/collections/c/records"


def assert_stamped(response, stamp: int | None = None) -> int:
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"'), etag
    value = int(etag[1:-1])
    if stamp is not None:
        assert value == stamp
    assert response.headers["last-modified"] == email.utils.formatdate(value / 1000, usegmt=True)
    return value


async def test_etag_and_last_modified_on_every_success(kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {"a": 1}})
    assert r.status_code == 201
    created = assert_stamped(r, r.json()["data"]["last_modified"])
    r = await kinto.get(f"{R}/r1", "alice")
    assert_stamped(r, created)
    r = await kinto.patch(f"{R}/r1", "alice", json={"data": {"a": 2}})
    patched = assert_stamped(r, r.json()["data"]["last_modified"])
    assert patched > created
    r = await kinto.post(R, "alice", json={"data": {"id": "r2"}})
    assert r.status_code == 201
    posted = assert_stamped(r, r.json()["data"]["last_modified"])
    r = await kinto.post(R, "alice", json={"data": {"id": "r2"}})
    assert r.status_code == 200
    assert_stamped(r, posted)
    r = await kinto.get(R, "alice")
    assert_stamped(r, posted)
    r = await kinto.head(R, "alice")
    assert_stamped(r, posted)
    r = await kinto.delete(f"{R}/r1", "alice")
    deleted = assert_stamped(r, r.json()["data"]["last_modified"])
    assert deleted > posted
    r = await kinto.delete(R, "alice")
    assert r.status_code == 200 and [t["id"] for t in r.json()["data"]] == ["r2"]
    assert assert_stamped(r) == r.json()["data"][0]["last_modified"]
    r = await kinto.get(f"{R}?_since={posted}", "alice")
    assert [t["id"] for t in r.json()["data"]] == ["r2", "r1"]
    assert_stamped(r, r.json()["data"][0]["last_modified"])


@pytest.mark.parametrize(("error", "status", "errno"), [(Conflict, 409, 122), (BackendUnavailable, 503, 201)])
async def test_retry_after(make_kinto, core, monkeypatch, error, status: int, errno: int) -> None:
    kinto = await make_kinto(retry_after_seconds=7)
    await kinto.tree("alice")

    async def failing(*args: object, **kwargs: object) -> None:
        raise error()

    monkeypatch.setattr(core.kinto.listing, "page", failing)
    r = await kinto.get(R, "alice", headers={"Origin": "http://app.example"})
    assert r.status_code == status and r.json()["errno"] == errno and r.json()["code"] == status
    assert r.headers["retry-after"] == "7"
    assert "Retry-After" in r.headers["access-control-expose-headers"]
    if status >= 500:
        assert r.json()["info"].startswith("https://")
    r = await kinto.get(f"{R}/missing", "alice")
    assert r.status_code == 404 and "retry-after" not in r.headers


async def test_batch_conflict_aborts_with_retry_after(make_kinto, core, monkeypatch) -> None:
    kinto = await make_kinto(retry_after_seconds=9)
    await kinto.tree("alice")

    async def failing(*args: object, **kwargs: object) -> None:
        raise Conflict()

    monkeypatch.setattr(core.kinto.listing, "page", failing)
    body = {"requests": [{"method": "PUT", "path": f"{R}/r1", "body": {"data": {}}}, {"path": R}]}
    r = await kinto.post("/batch", "alice", json=body)
    assert r.status_code == 409 and r.json()["errno"] == 122 and r.headers["retry-after"] == "9"
    monkeypatch.undo()
    assert (await kinto.get(f"{R}/r1", "alice")).status_code == 404


async def test_cors_on_errors_and_preflights(make_kinto) -> None:
    kinto = await make_kinto(cors_origins="http://app.example", backoff=5)
    r = await kinto.get(f"{R}/r1", headers={"Origin": "http://app.example"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Basic realm="Realm"'
    assert r.headers["access-control-allow-origin"] == "http://app.example"
    exposed = {h.strip() for h in r.headers["access-control-expose-headers"].split(",")}
    assert {"Backoff", "Retry-After", "Alert", "Content-Length", "Content-Type"} <= exposed
    assert {"ETag", "Last-Modified", "Next-Page", "Total-Objects", "Total-Records"} <= exposed
    r = await kinto.request(
        "OPTIONS",
        f"{R}/r1",
        headers={"Origin": "http://app.example", "Access-Control-Request-Method": "PATCH"},
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "http://app.example"
    assert set(r.headers["access-control-allow-methods"].split(",")) >= {"GET", "PUT", "PATCH", "DELETE"}
    assert "POST" not in r.headers["access-control-allow-methods"].split(",")
    allowed = r.headers["access-control-allow-headers"]
    for name in ("Authorization", "Content-Type", "If-Match", "If-None-Match", "Response-Behavior"):
        assert name in allowed
    assert r.headers["access-control-max-age"] == "3600"
    r = await kinto.get("/", headers={"Origin": "http://elsewhere.example"})
    assert r.headers["access-control-allow-origin"] == "http://app.example"


async def test_chunked_bodies_need_no_content_length(kinto) -> None:
    await kinto.tree("alice")

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"data": {"ti'
        yield b'tle": "chunked"}}'

    r = await kinto.put(f"{R}/r1", "alice", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.request.headers.get("content-length") is None
    assert r.status_code == 201 and r.json()["data"]["title"] == "chunked"


async def test_not_modified_keeps_the_etag(kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {}})
    etag = r.headers["etag"]
    r = await kinto.get(f"{R}/r1", "alice", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    r = await kinto.get(R, "alice", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.headers["etag"] == etag
    r = await kinto.head(R, "alice", headers={"If-None-Match": etag})
    assert r.status_code == 304
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {}}, headers={"If-Match": '"1"'})
    assert r.status_code == 412 and r.json()["errno"] == 114 and r.headers["etag"] == etag
    assert r.json()["details"]["existing"]["id"] == "r1"
    r = await kinto.put(f"{R}/r9", "alice", json={"data": {}}, headers={"If-Match": '"1"'})
    assert r.status_code == 412 and r.json()["details"] == {}
    r = await kinto.get(f"{R}/r1", "alice", headers={"If-Match": "nope"})
    assert r.status_code == 400 and r.json()["errno"] == 107
    assert r.json()["details"][0]["location"] == "header"


async def test_unexpected_errors_are_kinto_500s(kinto, core, monkeypatch) -> None:
    await kinto.tree("alice")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(core.kinto.listing, "page", broken)
    r = await kinto.get(R, "alice")
    body = r.json()
    assert r.status_code == 500 and body["errno"] == 999 and body["error"] == "Internal Server Error"
    assert body["info"].startswith("https://") and "bug" not in r.text
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_plural_if_match(kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {}})
    etag = r.headers["etag"]
    r = await kinto.post(R, "alice", json={"data": {}}, headers={"If-Match": '"1"'})
    assert r.status_code == 412 and r.json()["errno"] == 114
    r = await kinto.delete(R, "alice", headers={"If-Match": '"1"'})
    assert r.status_code == 412
    assert (await kinto.get(f"{R}/r1", "alice")).status_code == 200
    r = await kinto.post(R, "alice", json={"data": {"id": "r2"}}, headers={"If-Match": etag})
    assert r.status_code == 201
    r = await kinto.delete(R, "alice", headers={"If-Match": r.headers["etag"]})
    assert r.status_code == 200 and len(r.json()["data"]) == 2


async def test_failing_heartbeat_is_a_503(kinto, core, monkeypatch) -> None:
    async def down() -> bool:
        return False

    monkeypatch.setattr(core.kinto, "heartbeat", down)
    r = await kinto.get("/__heartbeat__")
    assert r.status_code == 503
    assert r.json() == {"storage": False, "permission": False, "cache": True, "attachments": True}
    assert (await kinto.get("/__lbheartbeat__")).status_code == 200
    monkeypatch.undo()

    async def store_down() -> bool:
        return False

    monkeypatch.setattr(core.files.store, "ping", store_down)
    r = await kinto.get("/__heartbeat__")
    assert r.status_code == 503 and r.json()["attachments"] is False and r.json()["storage"] is True


@pytest.mark.parametrize("stamp", [0, 1, 999, 1000, 1001, 1_765_000_000_999, 1_765_000_001_000])
def test_last_modified_is_the_stamp_floored_to_its_second(stamp: int) -> None:
    # http_date caches by second; formatdate of the millisecond stamp floors it
    assert http_date(stamp) == email.utils.formatdate(stamp / 1000, usegmt=True)
