"""Every Kinto error has the same shape: {code, errno, error, message[, info][, details]}, the
status in ``code``, and the security headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kinbase.app import create_app
from kinbase.core.services import Core

pytestmark = pytest.mark.anyio

R = "/buckets/b/collections/c/records"
JSON = "application/json"


def assert_error(response, status: int, errno: int) -> None:
    body = response.json()
    assert response.status_code == status, response.text
    assert set(body) <= {"code", "errno", "error", "message", "info", "details"}
    assert {"code", "errno", "error", "message"} <= set(body)
    assert body["code"] == status and body["errno"] == errno
    assert isinstance(body["message"], str) and isinstance(body["error"], str)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_error_shapes(kinto) -> None:
    await kinto.tree("alice")
    await kinto.put(f"{R}/r", "alice", json={"data": {}})
    cases = [
        (kinto.get(f"{R}/r"), 401, 104),
        (kinto.get(f"{R}/r", "bob"), 403, 121),
        (kinto.get(f"{R}/missing", "alice"), 404, 110),
        (kinto.get("/buckets/b/collections/nope/records", "alice"), 404, 111),
        (kinto.get("/unknown", "alice"), 404, 111),
        (kinto.http.get(f"/kinto/{kinto.app.key}/v9/"), 404, 116),
        (kinto.put("/buckets", "alice"), 405, 115),
        (kinto.put(f"{R}/r", "alice", content=b"nope", headers={"Content-Type": JSON}), 400, 106),
        (kinto.put(f"{R}/r", "alice", json={"data": 1}), 400, 107),
        (kinto.get(f"{R}?_limit=x", "alice"), 400, 107),
        (kinto.put(f"{R}/r", "alice", json={"data": {}}, headers={"If-Match": '"1"'}), 412, 114),
        (kinto.put(f"{R}/r", "alice", content=b"{}", headers={"Content-Type": "text/csv"}), 415, 107),
        (kinto.get(R, "alice", headers={"Accept": "image/png"}), 406, 107),
    ]
    for request, status, errno in cases:
        assert_error(await request, status, errno)


async def test_invalid_parameter_details(kinto) -> None:
    r = await kinto.get("/buckets?_limit=-3", "alice")
    body = r.json()
    assert body["error"] == "Invalid parameters"
    (detail,) = body["details"]
    assert detail["location"] == "querystring" and detail["name"] == "_limit" and detail["description"]
    assert body["message"] == f"_limit in querystring: {body['details'][0]['description']}"


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("gt_last_modified=abc", "gt_last_modified"),
        ("_since=-1", "_since"),
        ("has_x=maybe", "has_x"),
        ("in_id=[1,2]", "in_id"),
        ("contains_id=x", "contains_id"),
        ("_sort=a..b", "_sort"),
        ("_token=!!!", "_token"),
        ("x=%00", "x"),
    ],
)
async def test_querystring_errors_name_the_parameter(kinto, query: str, name: str) -> None:
    await kinto.tree("alice")
    r = await kinto.get(f"{R}?{query}", "alice")
    assert_error(r, 400, 107)
    (detail,) = r.json()["details"]
    assert detail["location"] == "querystring" and detail["name"] == name
    assert r.json()["message"] == f"{name} in querystring: {detail['description']}"


async def test_body_too_large(kinto, core) -> None:
    big = b'{"data": {"x": "' + b"a" * (core.settings.max_body_bytes + 10) + b'"}}'
    r = await kinto.put("/buckets/b", "alice", content=big, headers={"Content-Type": "application/json"})
    assert_error(r, 413, 113)


async def test_head_object(kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.head("/buckets/b", "alice")
    assert r.status_code == 200 and r.content == b"" and r.headers["etag"]


async def test_unexpected_errors_are_kinto_500s(kinto, monkeypatch) -> None:
    async def broken(self) -> bool:
        raise RuntimeError("boom")

    from kinbase.core.kinto.service import KintoService

    monkeypatch.setattr(KintoService, "heartbeat", broken)
    r = await kinto.get("/__heartbeat__")
    assert_error(r, 500, 999)
    assert r.json()["info"]
    assert "boom" not in r.text


async def test_last_resort_500_body_follows_the_path(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception nothing caught: a 500 in the protocol of the path, without its message."""

    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail")

    monkeypatch.setattr(core.apps, "get", boom)
    monkeypatch.setattr(core.apps, "require", boom)
    transport = httpx.ASGITransport(app=create_app(core.settings, core))
    async with httpx.AsyncClient(transport=transport, base_url="http://kinbase.test") as http:
        for path in ("/kinto/kid_x/v1/", "/kinto/kid_x/v1/buckets"):
            r = await http.get(path)
            assert_error(r, 500, 999)
            assert "internal detail" not in r.text
        r = await http.get("/appdata/kid_x")
        assert r.status_code == 500 and r.json()["error"] == "KinveyInternalErrorRetry"
        assert r.json()["debug"] == f"request id {r.headers['x-kinvey-request-id']}"
        assert "internal detail" not in r.text
