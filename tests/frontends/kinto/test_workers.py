"""Two workers (two cores over one database) see each other's changes at once: password changes,
account deletions, group membership and permission changes invalidate every worker's caches."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from kinbase.app import create_app
from kinbase.core.services import Core
from tests.frontends.kinto.conftest import Kinto, basic, new_app

pytestmark = pytest.mark.anyio

R = "/buckets/b/collections/c/records"


@pytest.fixture
async def pair(core: Core, storage) -> AsyncIterator[tuple[Kinto, Kinto]]:
    other = Core(core.settings, storage)
    await other.load_secret()
    app = await new_app(storage)
    clients = []
    for each in (core, other):
        transport = httpx.ASGITransport(app=create_app(each.settings, each))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://kinbase.test"))
    one, two = Kinto(clients[0], app), Kinto(clients[1], app)
    await one.account("alice", "bob")
    yield one, two
    for client in clients:
        await client.aclose()


async def test_password_change_and_deletion_reach_every_worker(pair) -> None:
    one, two = pair
    assert (await two.get("/accounts/alice", "alice")).status_code == 200
    r = await one.patch("/accounts/alice", "alice", json={"data": {"password": "new"}})
    assert r.status_code == 200
    assert (await two.get("/accounts/alice", "alice")).status_code == 401
    assert (await two.get("/accounts/alice", headers=basic("alice", "new"))).status_code == 200
    assert (await two.get("/", "bob")).json()["user"]["id"] == "account:bob"
    await one.delete("/accounts/bob", "bob")
    assert "user" not in (await two.get("/", "bob")).json()


async def test_group_and_permission_changes_reach_every_worker(pair) -> None:
    one, two = pair
    await one.tree("alice")
    await one.put(f"{R}/r", "alice", json={"data": {}})
    await one.put("/buckets/b/groups/g", "alice", json={"data": {"members": []}})
    await one.patch(
        "/buckets/b/collections/c", "alice", json={"permissions": {"read": ["/buckets/b/groups/g"]}}
    )
    assert (await two.get(f"{R}/r", "bob")).status_code == 403
    await one.patch("/buckets/b/groups/g", "alice", json={"data": {"members": ["account:bob"]}})
    assert (await two.get(f"{R}/r", "bob")).status_code == 200
    await one.patch("/buckets/b/collections/c", "alice", json={"permissions": {"read": []}})
    assert (await two.get(f"{R}/r", "bob")).status_code == 403
    await one.delete("/buckets/b/collections/c", "alice")
    assert (await two.get(R, "alice")).status_code == 404


async def test_a_post_into_a_collection_recreated_by_another_worker_lands_in_the_new_one(
    pair, storage
) -> None:
    # A worker posts into the collection as it last read it, unread (PostgreSQL: the insert checks
    # the collection's row itself); recreated meanwhile by another worker, it is read again.
    app = await new_app(storage, {"history": False})  # with the history on, posts lock first
    one, two = (Kinto(each.http, app) for each in pair)
    await one.account("alice")
    await one.tree("alice")
    first = await two.post(R, "alice", json={"data": {"n": 1}})
    assert first.status_code == 201, first.text
    assert (await one.delete("/buckets/b/collections/c", "alice")).status_code == 200
    assert (await two.post(R, "alice", json={"data": {"n": 2}})).status_code == 404  # gone: no write
    assert (await one.put("/buckets/b/collections/c", "alice", json={})).status_code == 201
    again = await two.post(R, "alice", json={"data": {"n": 3}})
    assert again.status_code == 201, again.text
    listed = (await one.get(R, "alice")).json()["data"]
    assert [r["n"] for r in listed] == [3]
    assert listed[0]["last_modified"] == again.json()["data"]["last_modified"]
    for n in (4, 5):  # and goes on from the new one
        assert (await two.post(R, "alice", json={"data": {"n": n}})).status_code == 201
    assert sorted(r["n"] for r in (await one.get(R, "alice")).json()["data"]) == [3, 4, 5]
