"""The seam business logic plugs into: a test resolver with a test backend, hooks that rewrite the
body and the query, end a request early and replace a response, and a custom endpoint, all through
HTTP (so the front-end's parsing and rendering are part of what is shown)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import orjson
import pytest

from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.pipeline import (
    CollectionTarget,
    Count,
    Deleted,
    Delta,
    EndpointHandler,
    Entities,
    Entity,
    Inserted,
    KinveyRequest,
    Operation,
    Outcome,
    Reply,
    Resolver,
    Value,
)
from kinbase.core.services import Core
from kinbase.query.ast import Query
from kinbase.storage.base import AppRecord

from .conftest import Kinvey, error_of

pytestmark = pytest.mark.anyio


class MemoryBackend:
    """A collection kept in a dict: what a Flex data link is to the pipeline."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.seen: list[tuple[str, str | None]] = []
        self.ids = itertools.count(1)

    def _text(self, entity_id: str) -> str:
        return orjson.dumps(self.items[entity_id]).decode()

    async def authorize(self, request: KinveyRequest) -> None:
        self.seen.append(("authorize", request.caller.kind))
        if request.body == {"forbidden": True}:
            raise KinveyError("InsufficientCredentials", "The test backend refuses this body.")

    async def list(self, request: KinveyRequest) -> Outcome:
        wanted = orjson.loads(request.params.get("query", "{}"))
        found = [i for i, item in self.items.items() if all(item.get(k) == v for k, v in wanted.items())]
        return Entities([self._text(i) for i in sorted(found)], 0)

    async def get(self, request: KinveyRequest) -> Outcome:
        assert request.entity_id is not None
        if request.entity_id not in self.items:
            return Reply(
                404, {"error": "NotFound", "description": "not in memory", "debug": request.entity_id}
            )
        return Entity(self._text(request.entity_id), request.entity_id)

    async def count(self, request: KinveyRequest) -> Outcome:
        return Count(len(self.items), 0)

    async def group(self, request: KinveyRequest) -> Outcome:
        return Value([{"count": len(self.items)}])

    async def deltaset(self, request: KinveyRequest) -> Outcome:
        return Delta([self._text(i) for i in sorted(self.items)], ["gone"], 0)

    async def create(self, request: KinveyRequest) -> Outcome:
        entity_id = f"m{next(self.ids)}"
        self.items[entity_id] = {"_id": entity_id, **request.body}
        return Entity(self._text(entity_id), entity_id, created=True)

    async def insert_many(self, request: KinveyRequest) -> Outcome:
        texts: list[str | None] = []
        for body in request.body:
            entity_id = f"m{next(self.ids)}"
            self.items[entity_id] = {"_id": entity_id, **body}
            texts.append(self._text(entity_id))
        return Inserted(texts, [])

    async def save(self, request: KinveyRequest) -> Outcome:
        assert request.entity_id is not None
        created = request.entity_id not in self.items
        self.items[request.entity_id] = {**request.body, "_id": request.entity_id}
        return Entity(self._text(request.entity_id), request.entity_id, created=created)

    async def delete(self, request: KinveyRequest) -> Outcome:
        assert request.entity_id is not None
        return Deleted(1 if self.items.pop(request.entity_id, None) is not None else 0)

    async def delete_where(self, request: KinveyRequest) -> Outcome:
        count = len(self.items)
        self.items.clear()
        return Deleted(count)


async def stamp(request: KinveyRequest) -> KinveyRequest | Reply:
    """pre-save: change the body."""
    request.temp["pre"] = "save"
    return request.with_body({**request.body, "stampedBy": "hook"})


async def only_visible(request: KinveyRequest) -> KinveyRequest | Reply:
    """pre-fetch: change the query (as a Flex hook's setQuery does), and leave a note for post."""
    request.temp["pre"] = "fetch"
    if request.operation is Operation.LIST:
        return request.with_params({**request.params, "query": json.dumps({"tag": "visible"})})
    return request


async def no_deletes(request: KinveyRequest) -> KinveyRequest | Reply:
    """pre-delete: end the request with the hook's own answer."""
    return Reply(
        403, {"error": "Forbidden", "description": "Deletes are closed", "debug": ""}, {"X-Hook": "1"}
    )


async def decorate(request: KinveyRequest, outcome: Outcome) -> Outcome:
    """post-fetch: replace the response of a GET by id with a decorated one."""
    if request.operation is not Operation.GET:
        return outcome
    rendered = request.wire.render(request, outcome)
    body = orjson.loads(rendered.body)
    return Reply(rendered.status, {**body, "decorated": True, "temp": request.temp.get("pre")})


async def echo(request: KinveyRequest) -> Outcome:
    return Reply(200, {"body": request.body, "user": request.caller.user_id, "kind": request.caller.kind})


class SeamResolver:
    """``mem`` in memory, ``hooked`` in the storage with hooks, everything else as before."""

    def __init__(self, default: Resolver, memory: MemoryBackend) -> None:
        self.default = default
        self.memory = CollectionTarget(memory)
        self.storage: CollectionTarget | None = None

    async def collection(self, app: AppRecord, name: str) -> CollectionTarget:
        if name == "mem":
            return self.memory
        target = await self.default.collection(app, name)
        if name == "hooked":
            return CollectionTarget(
                target.backend,
                pre={"save": stamp, "fetch": only_visible, "delete": no_deletes},
                post={"fetch": decorate},
            )
        return target

    async def endpoint(self, app: AppRecord, name: str) -> EndpointHandler | None:
        return echo if name == "echo" else await self.default.endpoint(app, name)


@pytest.fixture
def memory(core: Core) -> MemoryBackend:
    backend = MemoryBackend()
    core.kinvey.pipeline.resolver = SeamResolver(core.kinvey.pipeline.resolver, backend)
    return backend


async def test_a_backend_serves_every_operation_of_a_collection(
    kv: Kinvey, memory: MemoryBackend, core: Core
) -> None:
    ann = await kv.user("ann")
    r = await kv.post("/appdata/{k}/mem", ann, json={"name": "a"})
    assert r.status_code == 201 and r.json() == {"_id": "m1", "name": "a"}
    assert r.headers["location"].endswith(f"/appdata/{kv.key}/mem/m1")
    r = await kv.post("/appdata/{k}/mem", ann, version="5", json=[{"name": "b"}, {"name": "c"}])
    assert r.status_code == 201 and r.json()["entities"][1]["_id"] == "m3"
    r = await kv.put("/appdata/{k}/mem/x", ann, json={"name": "x"})
    assert r.status_code == 201
    r = await kv.get("/appdata/{k}/mem", ann, params={"query": json.dumps({"name": "b"})})
    assert r.status_code == 200 and [e["_id"] for e in r.json()] == ["m2"]
    assert (await kv.get("/appdata/{k}/mem/m1", ann)).json()["name"] == "a"
    r = await kv.get("/appdata/{k}/mem/nope", ann)
    assert r.status_code == 404 and r.json()["error"] == "NotFound", (
        "a backend's own answer reaches the client"
    )
    assert (await kv.get("/appdata/{k}/mem/_count", ann)).json() == {"count": 4}
    assert (await kv.post("/appdata/{k}/mem/_group", ann, json={})).json() == [{"count": 4}]
    r = await kv.get("/appdata/{k}/mem/_deltaset", ann, params={"since": "2020-01-01T00:00:00.000Z"})
    assert len(r.json()["changed"]) == 4 and r.json()["deleted"] == [{"_id": "gone"}]
    assert (await kv.delete("/appdata/{k}/mem/m1", ann)).json() == {"count": 1}
    assert (await kv.delete("/appdata/{k}/mem", ann)).json() == {"count": 3}
    r = await kv.post("/appdata/{k}/mem", ann, json={"forbidden": True})
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"
    assert ("authorize", "user") in memory.seen
    stored = await core.kinvey.entities.count(kv.app, Caller.master(), "mem", Query())
    assert stored.count == 0, "the storage never saw these entities"


async def test_a_pre_hook_rewrites_the_body(kv: Kinvey, memory: MemoryBackend) -> None:
    r = await kv.post("/appdata/{k}/hooked", json={"_id": "e1", "tag": "visible"})
    assert r.status_code == 201 and r.json()["stampedBy"] == "hook"
    r = await kv.put("/appdata/{k}/hooked/e2", json={"tag": "hidden"})
    assert r.status_code == 201 and r.json()["stampedBy"] == "hook"


async def test_a_pre_hook_rewrites_the_query(kv: Kinvey, memory: MemoryBackend) -> None:
    skip = {"X-Kinvey-Skip-Business-Logic": "true"}
    for tag in ("visible", "hidden"):
        await kv.post("/appdata/{k}/hooked", json={"tag": tag}, headers=skip)
    r = await kv.get("/appdata/{k}/hooked", params={"query": json.dumps({"tag": "hidden"})})
    assert r.status_code == 200 and [e["tag"] for e in r.json()] == ["visible"]
    r = await kv.get("/appdata/{k}/hooked", headers=skip)
    assert sorted(e["tag"] for e in r.json()) == ["hidden", "visible"]


async def test_a_pre_hook_ends_the_request_and_nothing_changes(kv: Kinvey, memory: MemoryBackend) -> None:
    await kv.post("/appdata/{k}/hooked", json={"_id": "keep", "tag": "visible"})
    for path in ("/appdata/{k}/hooked/keep", "/appdata/{k}/hooked"):
        r = await kv.delete(path)
        assert r.status_code == 403 and r.json()["description"] == "Deletes are closed"
        assert r.headers["x-hook"] == "1" and r.headers["x-kinvey-request-id"]
    assert (await kv.get("/appdata/{k}/hooked/keep")).status_code == 200


async def test_a_post_hook_replaces_the_response_with_the_temp_store(
    kv: Kinvey, memory: MemoryBackend
) -> None:
    await kv.post("/appdata/{k}/hooked", json={"_id": "e", "tag": "visible"})
    r = await kv.get("/appdata/{k}/hooked/e")
    assert r.status_code == 200
    body = r.json()
    assert body["decorated"] is True and body["temp"] == "fetch" and body["stampedBy"] == "hook"


async def test_the_master_secret_may_skip_business_logic_and_users_may_not(
    kv: Kinvey, memory: MemoryBackend
) -> None:
    skip = {"X-Kinvey-Skip-Business-Logic": "true"}
    r = await kv.post(
        "/appdata/{k}/hooked", json={"_id": "raw", "tag": "visible", "_acl": {"gr": True}}, headers=skip
    )
    assert r.status_code == 201 and "stampedBy" not in r.json()
    assert "decorated" not in (await kv.get("/appdata/{k}/hooked/raw", headers=skip)).json()
    ann = await kv.user("ann")
    assert (await kv.get("/appdata/{k}/hooked/raw", ann, headers=skip)).json()["decorated"] is True
    assert (await kv.delete("/appdata/{k}/hooked/raw", headers=skip)).json() == {"count": 1}


async def test_custom_endpoints(kv: Kinvey, memory: MemoryBackend) -> None:
    ann = await kv.user("ann")
    r = await kv.post("/rpc/{k}/custom/echo", ann, json={"x": [1, 2]})
    assert r.status_code == 200 and r.json() == {"body": {"x": [1, 2]}, "user": ann.id, "kind": "user"}
    assert (await kv.post("/rpc/{k}/custom/echo")).json()["kind"] == "master"
    r = await kv.post("/rpc/{k}/custom/nope", ann, json={})
    assert r.status_code == 404 and error_of(r) == "EntityNotFound"
    r = await kv.post("/rpc/{k}/custom/echo", kv.appauth, json={})
    assert r.status_code == 401 and error_of(r) == "InsufficientCredentials"


async def test_without_business_logic_there_are_no_endpoints(kv: Kinvey) -> None:
    r = await kv.post("/rpc/{k}/custom/echo", json={})
    assert r.status_code == 404 and error_of(r) == "EntityNotFound"
