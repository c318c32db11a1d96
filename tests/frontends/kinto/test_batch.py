"""POST /batch."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio

R = "/buckets/b/collections/c/records"


async def test_batch_runs_in_order_with_defaults(kinto) -> None:
    await kinto.tree("alice")
    body = {
        "defaults": {"method": "PUT", "path": R + "/x"},
        "requests": [
            {"path": f"{R}/r1", "body": {"data": {"n": 1}}},
            {"path": f"/v1{R}/r2", "body": {"data": {"n": 2}}},
            {"method": "GET", "path": f"{R}/r1"},
            {"method": "GET", "path": f"{R}/missing"},
            {"method": "HEAD", "path": R},
            {"method": "GET", "path": f"{R}?_sort=n"},
            {"method": "PUT", "path": f"{R}/r1", "headers": {"If-None-Match": "*"}, "body": {"data": {}}},
        ],
    }
    r = await kinto.post("/batch", "alice", json=body)
    assert r.status_code == 200
    responses = r.json()["responses"]
    assert [x["status"] for x in responses] == [201, 201, 200, 404, 200, 200, 412]
    assert responses[0]["path"] == f"/v1{R}/r1" and responses[0]["body"]["data"]["n"] == 1
    assert responses[0]["headers"]["ETag"].startswith('"')
    assert responses[4]["body"] == "" and responses[4]["headers"]["Total-Records"] == "2"
    assert [d["id"] for d in responses[5]["body"]["data"]] == ["r1", "r2"]
    assert responses[6]["body"]["details"]["existing"]["id"] == "r1"


async def test_batch_limits_and_validation(kinto) -> None:
    r = await kinto.post("/batch", "alice", json={"requests": [{"path": "/"}] * 26})
    assert r.status_code == 400 and "Number of requests is limited to 25" in r.json()["message"]
    r = await kinto.post("/batch", "alice", json={"requests": [{"path": "/batch"}]})
    assert r.status_code == 400 and "Recursive call on /batch endpoint is forbidden." in r.json()["message"]
    r = await kinto.post("/batch", "alice", json={"requests": [{"path": "nope"}]})
    assert r.status_code == 400
    r = await kinto.post("/batch", "alice", json={"requests": [{"path": "/", "method": "BREW"}]})
    assert r.status_code == 400
    r = await kinto.post("/batch", "alice", json={"requests": [], "other": 1})
    assert r.status_code == 400
    r = await kinto.post("/batch", "alice", json={"requests": [{"path": "/", "headers": {"X": 1}}]})
    assert r.status_code == 400
    r = await kinto.get("/", "alice")
    assert r.json()["settings"]["batch_max_requests"] == 25


async def test_batch_limit_setting(make_kinto) -> None:
    kinto = await make_kinto(batch_max_requests=2)
    r = await kinto.post("/batch", "alice", json={"requests": [{"path": "/"}] * 3})
    assert r.status_code == 400 and "limited to 2" in r.json()["message"]


async def test_batch_sub_requests_see_each_other(kinto) -> None:
    r = await kinto.post(
        "/batch",
        "alice",
        json={
            "requests": [
                {"method": "PUT", "path": "/buckets/bb"},
                {"method": "PUT", "path": "/buckets/bb/collections/cc"},
                {"method": "POST", "path": "/buckets/bb/collections/cc/records", "body": {"data": {"a": 1}}},
                {"method": "GET", "path": "/buckets/bb/collections/cc/records"},
            ]
        },
    )
    statuses = [x["status"] for x in r.json()["responses"]]
    assert statuses == [201, 201, 201, 200]
    assert len(r.json()["responses"][3]["body"]["data"]) == 1


async def test_batch_inherits_and_overrides_authorization(kinto) -> None:
    await kinto.tree("alice")
    from tests.frontends.kinto.conftest import basic

    r = await kinto.post(
        "/batch",
        "alice",
        json={
            "requests": [
                {"method": "GET", "path": "/buckets/b"},
                {"method": "GET", "path": "/buckets/b", "headers": basic("bob")},
            ]
        },
    )
    assert [x["status"] for x in r.json()["responses"]] == [200, 403]


async def test_batch_kinto_js_style_push(kinto) -> None:
    await kinto.tree("alice")
    await kinto.put(f"{R}/old", "alice", json={"data": {"v": 1}})
    r = await kinto.post(
        "/batch",
        "alice",
        json={
            "defaults": {"headers": {}},
            "requests": [
                {
                    "method": "PUT",
                    "path": f"{R}/new",
                    "headers": {"If-None-Match": "*"},
                    "body": {"data": {"v": 1}},
                },
                {
                    "method": "PUT",
                    "path": f"{R}/old",
                    "headers": {"If-Match": '"1"'},
                    "body": {"data": {"v": 2}},
                },
                {"method": "DELETE", "path": f"{R}/old", "headers": {"If-Match": '"2"'}},
            ],
        },
    )
    responses = r.json()["responses"]
    assert [x["status"] for x in responses] == [201, 412, 412]
    assert responses[1]["body"]["details"]["existing"]["v"] == 1
