"""Helpers for the Kinvey front-end tests: a client bound to one app, users, sessions."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kinbase.settings import Settings
from kinbase.storage.base import AppRecord


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Cheap password hashing and a small login budget, so the tests stay fast."""
    return Settings(
        data_dir=str(tmp_path / "data"),
        password_hash_time_cost=1,
        password_hash_memory_kib=8,
        login_max_failures=4,
        login_delay_after=4,
        login_address_max_failures=4,
        login_lockout_seconds=60,
    )


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@dataclass
class User:
    id: str
    username: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Kinvey {self.token}"}


@dataclass
class Kinvey:
    """A client for one app: ``kv.get(path, as_=...)`` with the app key filled in."""

    http: httpx.AsyncClient
    app: AppRecord
    version: str = "6"

    @property
    def key(self) -> str:
        return self.app.key

    @property
    def master(self) -> dict[str, str]:
        return _basic(self.app.key, self.app.master_secret)

    @property
    def appauth(self) -> dict[str, str]:
        return _basic(self.app.key, self.app.app_secret)

    def headers(self, as_: dict[str, str] | User | None, version: str | None = None) -> dict[str, str]:
        auth = as_.auth if isinstance(as_, User) else (as_ if as_ is not None else self.master)
        return {**auth, "X-Kinvey-API-Version": version or self.version}

    async def request(
        self,
        method: str,
        path: str,
        as_: dict[str, str] | User | None = None,
        *,
        version: str | None = None,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        url = path.replace("{k}", self.app.key)
        all_headers = {**self.headers(as_, version), **(headers or {})}
        return await self.http.request(
            method, url, json=json, params=params, headers=all_headers, content=content
        )

    async def get(self, path: str, as_: Any = None, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, as_, **kw)

    async def post(self, path: str, as_: Any = None, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, as_, **kw)

    async def put(self, path: str, as_: Any = None, **kw: Any) -> httpx.Response:
        return await self.request("PUT", path, as_, **kw)

    async def delete(self, path: str, as_: Any = None, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", path, as_, **kw)

    async def user(self, username: str | None = None, password: str = "pw", **fields: Any) -> User:
        """Sign up and log in a new user."""
        name = username or "u_" + secrets.token_hex(4)
        body = {"username": name, "password": password, **fields}
        response = await self.post("/user/{k}", self.appauth, json=body)
        assert response.status_code == 201, response.text
        login = await self.post(
            "/user/{k}/login", self.appauth, json={"username": name, "password": password}
        )
        assert login.status_code == 200, login.text
        data = login.json()
        return User(data["_id"], name, password, data["_kmd"]["authtoken"])


@pytest.fixture
def kv(client: httpx.AsyncClient, app: AppRecord) -> Kinvey:
    return Kinvey(client, app)


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error", "description", "debug"}, body
    assert response.headers["content-type"].startswith("application/json")
    return str(body["error"])
