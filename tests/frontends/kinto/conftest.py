"""Fixtures of the Kinto HTTP tests: a fresh app per test with its own Kinto namespace, served at
its per-app base URL, and a client that speaks to it as one user or another."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from kinbase.app import create_app
from kinbase.core.services import Core
from kinbase.storage.base import AppRecord, StorageBackend

KINTO_SETTINGS: dict[str, Any] = {
    "bcrypt_rounds": 4,
    "account_write_principals": ["account:admin"],
    "flush_endpoint": True,
}


def basic(user: str, password: str | None = None) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password or user + '-pw'}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Kinto:
    """An HTTP client bound to one app's Kinto base URL (``/kinto/<key>/v1``)."""

    def __init__(self, http: httpx.AsyncClient, app: AppRecord) -> None:
        self.http = http
        self.app = app
        self.base = f"/kinto/{app.key}/v1"

    def url(self, path: str) -> str:
        return self.base + path

    async def request(self, method: str, path: str, user: str | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", None) or {})
        if user is not None:
            headers.update(basic(user))
        return await self.http.request(method, self.url(path), headers=headers, **kw)

    async def get(self, path: str, user: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, user, **kw)

    async def head(self, path: str, user: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("HEAD", path, user, **kw)

    async def put(self, path: str, user: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("PUT", path, user, **kw)

    async def post(self, path: str, user: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, user, **kw)

    async def patch(self, path: str, user: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", path, user, **kw)

    async def delete(self, path: str, user: str | None = None, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, user, **kw)

    async def account(self, *users: str) -> None:
        """Create accounts whose password is ``<user>-pw``."""
        for user in users:
            r = await self.put(f"/accounts/{user}", json={"data": {"password": f"{user}-pw"}})
            assert r.status_code == 201, r.text

    async def tree(self, user: str, bucket: str = "b", collection: str | None = "c") -> None:
        """Create a bucket (and a collection) as ``user``."""
        r = await self.put(f"/buckets/{bucket}", user)
        assert r.status_code in (200, 201), r.text
        if collection is not None:
            r = await self.put(f"/buckets/{bucket}/collections/{collection}", user)
            assert r.status_code in (200, 201), r.text


async def new_app(storage: StorageBackend, settings: dict[str, Any] | None = None) -> AppRecord:
    async with storage.writer() as w:
        return await w.create_app(
            "kid_" + secrets.token_hex(8),
            "Kinto test app",
            secrets.token_hex(16),
            secrets.token_hex(16),
            {"kinto": {**KINTO_SETTINGS, **(settings or {})}},
        )


@pytest.fixture
async def http(core: Core) -> AsyncIterator[httpx.AsyncClient]:
    asgi = create_app(core.settings, core)
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://kinbase.test") as client:
        yield client


@pytest.fixture
async def kinto(http: httpx.AsyncClient, storage: StorageBackend) -> Kinto:
    """A fresh app's Kinto namespace with accounts alice, bob and admin."""
    client = Kinto(http, await new_app(storage))
    await client.account("alice", "bob", "admin")
    return client


@pytest.fixture
def make_kinto(http: httpx.AsyncClient, storage: StorageBackend):  # type: ignore[no-untyped-def]
    """Build a Kinto namespace with extra settings."""

    async def make(*, with_accounts: bool = True, **settings: Any) -> Kinto:
        client = Kinto(http, await new_app(storage, settings))
        if with_accounts:
            await client.account("alice", "bob", "admin")
        return client

    return make
