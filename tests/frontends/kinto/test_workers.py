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
