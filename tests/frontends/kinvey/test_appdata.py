"""Entities through HTTP: CRUD, versions, metadata, multi-insert, errors, on every engine."""

from __future__ import annotations

import re

import pytest

from .conftest import Kinvey, error_of

pytestmark = pytest.mark.anyio

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_post_get_put_delete(kv: Kinvey) -> None:
    alice = await kv.user()
    r = await kv.post("/appdata/{k}/books", alice, json={"title": "Dune", "year": 1965})
    assert r.status_code == 201, r.text
    book = r.json()
    assert re.fullmatch(r"[0-9a-f]{24}", book["_id"])
    assert book["title"] == "Dune" and book["_acl"] == {"creator": alice.id}
    assert ISO.match(book["_kmd"]["lmt"]) and book["_kmd"]["ect"] == book["_kmd"]["lmt"]
    assert r.headers["location"].endswith(f"/appdata/{kv.key}/books/{book['_id']}")
    assert list(book) == ["_id", "title", "year", "_acl", "_kmd"]

    r = await kv.get(f"/appdata/{{k}}/books/{book['_id']}", alice)
    assert r.status_code == 200 and r.json() == book
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["x-kinvey-api-version"] == "6"
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-kinvey-request-id"])

    updated = {**book, "title": "Dune Messiah", "_kmd": {"ect": "2000-01-01T00:00:00.000Z"}}
    r = await kv.put(f"/appdata/{{k}}/books/{book['_id']}", alice, json=updated)
    assert r.status_code == 200
    after = r.json()
    assert after["title"] == "Dune Messiah" and "year" in after
    assert after["_kmd"]["ect"] == book["_kmd"]["ect"], "only the master may set _kmd"
    assert after["_kmd"]["lmt"] > book["_kmd"]["lmt"] or after["_kmd"]["lmt"] >= book["_kmd"]["lmt"]

    r = await kv.delete(f"/appdata/{{k}}/books/{book['_id']}", alice)
    assert r.status_code == 200 and r.json() == {"count": 1}
    r = await kv.get(f"/appdata/{{k}}/books/{book['_id']}", alice)
    assert r.status_code == 404 and error_of(r) == "EntityNotFound"
    r = await kv.delete(f"/appdata/{{k}}/books/{book['_id']}", alice)
    assert r.status_code == 404 and error_of(r) == "EntityNotFound"


async def test_supplied_id_put_create_and_reserved_ids(kv: Kinvey) -> None:
    r = await kv.post("/appdata/{k}/things", json={"_id": "my-id", "n": 1})
    assert r.status_code == 201 and r.json()["_id"] == "my-id"
    assert r.json()["_acl"]["creator"] == kv.key
    r = await kv.post("/appdata/{k}/things", json={"_id": "my-id", "n": 2})
    assert r.status_code == 409 and error_of(r) == "EntityAlreadyExists"
    r = await kv.put("/appdata/{k}/things/new-id", json={"n": 3})
    assert r.status_code == 201 and r.json()["_id"] == "new-id"
    assert r.headers["location"].endswith("/things/new-id")
    r = await kv.put("/appdata/{k}/things/new-id", json={"_id": "other", "n": 4})
    assert r.status_code == 200 and r.json() == {**r.json(), "_id": "new-id", "n": 4}
    for bad in ({"_id": "_reserved"}, {"_id": 12}, {"_id": ""}):
        r = await kv.post("/appdata/{k}/things", json=bad)
        assert r.status_code == 400 and error_of(r) == "InvalidIdentifier"
    r = await kv.put("/appdata/{k}/things/_nope", json={})
    assert r.status_code == 400 and error_of(r) == "InvalidIdentifier"


async def test_master_may_set_kmd_and_creator(kv: Kinvey) -> None:
    kmd = {"ect": "2013-03-14T15:55:00.329Z", "lmt": "2013-03-14T15:55:00.329Z", "llt": "x"}
    r = await kv.post("/appdata/{k}/things", json={"_kmd": kmd, "_acl": {"creator": "someone"}})
    assert r.status_code == 201
    assert r.json()["_kmd"] == {"ect": kmd["ect"], "lmt": kmd["lmt"]}
    assert r.json()["_acl"]["creator"] == "someone"


async def test_list_count_and_items_count(kv: Kinvey) -> None:
    for i in range(5):
        assert (await kv.post("/appdata/{k}/nums", json={"i": i})).status_code == 201
    r = await kv.get("/appdata/{k}/nums")
    assert r.status_code == 200 and [e["i"] for e in r.json()] == [0, 1, 2, 3, 4]
    assert ISO.match(r.headers["x-kinvey-request-start"])
    r = await kv.get("/appdata/{k}/nums", params={"limit": "2", "skip": "1"})
    assert [e["i"] for e in r.json()] == [1, 2]
    r = await kv.get(
        "/appdata/{k}/nums/", params={"limit": "2"}, headers={"X-Kinvey-Include-Items-Count": "true"}
    )
    assert r.headers["x-kinvey-items-count"] == "5" and len(r.json()) == 2
    r = await kv.get("/appdata/{k}/nums/_count")
    assert r.json() == {"count": 5} and ISO.match(r.headers["x-kinvey-request-start"])
    r = await kv.get("/appdata/{k}/missing/_count")
    assert r.status_code == 200 and r.json() == {"count": 0}
    r = await kv.get("/appdata/{k}/missing")
    assert r.status_code == 200 and r.json() == []
    r = await kv.get("/appdata/{k}/nums", params={"fields": "i"})
    assert all(set(e) == {"_id", "i", "_acl", "_kmd"} for e in r.json())


async def test_delete_versions(kv: Kinvey) -> None:
    ids = [(await kv.post("/appdata/{k}/c", json={"n": n})).json()["_id"] for n in range(3)]
    r = await kv.delete(f"/appdata/{{k}}/c/{ids[0]}", version="1")
    assert r.status_code == 204 and r.content == b""
    r = await kv.delete("/appdata/{k}/c", version="1")
    assert r.status_code == 204
    assert (await kv.get("/appdata/{k}/c/_count")).json() == {"count": 0}
    await kv.post("/appdata/{k}/c", json={"n": 9})
    r = await kv.delete("/appdata/{k}/c", version="2")
    assert r.status_code == 200 and r.json() == {"count": 1}


async def test_api_version_default_and_echo(kv: Kinvey) -> None:
    r = await kv.http.get(f"/appdata/{kv.key}/c", headers=kv.master)
    assert r.headers["x-kinvey-api-version"] == "3"
    r = await kv.get("/appdata/{k}/c", version="99")
    assert r.status_code == 400 and error_of(r) == "APIVersionNotAvailable"


async def test_multi_insert(kv: Kinvey) -> None:
    r = await kv.post("/appdata/{k}/m", json=[{"a": 1}], version="4")
    assert r.status_code == 400 and error_of(r) == "FeatureUnavailable"
    assert (await kv.get("/appdata/{k}/m/_count")).json() == {"count": 0}
    r = await kv.post("/appdata/{k}/m", json=[{"a": 1}, {"_id": "x", "a": 2}], version="5")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["errors"] == [] and [e["a"] for e in body["entities"]] == [1, 2]
    r = await kv.post("/appdata/{k}/m", json=[{"a": 3}, {"_id": "x"}, "nope", {"_id": "_bad"}], version="5")
    assert r.status_code == 207
    body = r.json()
    assert body["entities"][0]["a"] == 3 and body["entities"][1:] == [None, None, None]
    assert [e["index"] for e in body["errors"]] == [1, 2, 3]
    dup = body["errors"][0]
    assert dup["error"] == "KinveyInternalErrorRetry" and dup["code"] == 11000
    assert "description" in dup and "debug" in dup and "errmsg" in dup
    assert (await kv.get("/appdata/{k}/m/_count")).json() == {"count": 3}
    r = await kv.post("/appdata/{k}/m", json=[], version="5")
    assert r.status_code == 400


async def test_bad_input_changes_nothing(kv: Kinvey) -> None:
    await kv.post("/appdata/{k}/b", json={"_id": "keep", "v": 1})
    cases = [
        ("POST", "/appdata/{k}/b", b"{not json", "JSONParseError", 400),
        ("PUT", "/appdata/{k}/b/keep", b"[1, 2]", "BadRequest", 400),
        ("PUT", "/appdata/{k}/b/keep", b'"text"', "BadRequest", 400),
        ("POST", "/appdata/{k}/b", b"42", "BadRequest", 400),
        ("PUT", "/appdata/{k}/b/keep", b'{"_acl": []}', "BadRequest", 400),
        ("PUT", "/appdata/{k}/b/keep", b'{"_acl": {"r": "x"}}', "BadRequest", 400),
    ]
    for method, path, content, error, status in cases:
        r = await kv.request(method, path, content=content, headers={"Content-Type": "application/json"})
        assert r.status_code == status and error_of(r) == error, (content, r.text)
    big = b'{"x": "' + b"a" * (50 * 1024 * 1024) + b'"}'
    r = await kv.request("POST", "/appdata/{k}/b", content=big)
    assert r.status_code == 413 and error_of(r) == "RequestEntityTooLarge"
    for params in ({"query": "{bad"}, {"query": '{"$where": "1"}'}, {"limit": "-1"}, {"sort": "{x"}):
        r = await kv.get("/appdata/{k}/b", params=params)
        assert r.status_code == 400 and error_of(r) == "InvalidQuerySyntax", params
        r = await kv.delete("/appdata/{k}/b", params=params)
        assert r.status_code == 400 and error_of(r) == "InvalidQuerySyntax", params
    r = await kv.get("/appdata/{k}/b/keep")
    assert r.json()["v"] == 1 and (await kv.get("/appdata/{k}/b/_count")).json() == {"count": 1}


async def test_reserved_collections_and_names(kv: Kinvey) -> None:
    r = await kv.get("/appdata/{k}/user")
    assert r.status_code == 403 and error_of(r) == "IndirectCollectionAccessDisallowed"
    r = await kv.get("/appdata/{k}/_weird")
    assert r.status_code == 400 and error_of(r) == "InvalidIdentifier"


async def test_credentials(kv: Kinvey) -> None:
    r = await kv.get("/appdata/{k}/c", kv.appauth)
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    r = await kv.get("/appdata/{k}/c", {"Authorization": "Kinvey nope"})
    assert r.status_code == 401 and error_of(r) == "InvalidCredentials"


async def test_remove_collection(kv: Kinvey) -> None:
    await kv.post("/appdata/{k}/gone", json={})
    body = {"collectionName": "gone"}
    r = await kv.post("/rpc/{k}/remove-collection", json=body)
    assert r.status_code == 400 and error_of(r) == "MissingRequestHeader"
    user = await kv.user()
    headers = {"X-Kinvey-Delete-Entire-Collection": "true"}
    r = await kv.post("/rpc/{k}/remove-collection", user, json=body, headers=headers)
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    r = await kv.post("/rpc/{k}/remove-collection", json=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"count": 1}
    r = await kv.post("/rpc/{k}/remove-collection", json=body, headers=headers)
    assert r.status_code == 404 and error_of(r) == "CollectionNotFound"
    assert (await kv.get("/appdata/{k}/gone/_count")).json() == {"count": 0}
