"""The Kinvey handshake, ping, errors and CORS, through HTTP, on every engine."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from kinbase.storage.base import AppRecord

pytestmark = pytest.mark.anyio

Basic = Callable[[str, str], dict[str, str]]


async def test_handshake_with_app_and_master_secret(
    client: httpx.AsyncClient, app: AppRecord, basic: Basic
) -> None:
    for secret in (app.app_secret, app.master_secret):
        response = await client.get(f"/appdata/{app.key}", headers=basic(app.key, secret))
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        assert response.json() == {
            "version": "3.9",
            "kinvey": "hello Test app",
            "appName": "Test app",
            "environmentName": "Development",
            "server": response.json()["server"],
        }
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-kinvey-request-id"])
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", response.headers["x-kinvey-request-start"]
        )
        assert response.headers["x-kinvey-api-version"] == "3"


async def test_trailing_slash_is_accepted(client: httpx.AsyncClient, app: AppRecord, basic: Basic) -> None:
    response = await client.get(f"/appdata/{app.key}/", headers=basic(app.key, app.app_secret))
    assert response.status_code == 200 and response.json()["appName"] == "Test app"


async def test_ping_needs_no_credentials(client: httpx.AsyncClient) -> None:
    for path in ("/appdata", "/appdata/"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.json() == {"version": "3.9", "kinvey": "hello"}


@pytest.mark.parametrize(
    ("headers", "debug"),
    [
        ({}, "no Authorization"),
        ({"Authorization": "Basic !!!"}, "malformed"),
        ({"Authorization": "Bearer abc"}, "Unsupported"),
        ({"Authorization": "Kinvey not-a-token"}, "invalid or has expired"),
    ],
)
async def test_invalid_credentials(
    client: httpx.AsyncClient, app: AppRecord, headers: dict[str, str], debug: str
) -> None:
    response = await client.get(f"/appdata/{app.key}", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "InvalidCredentials" and debug in body["debug"]
    assert body["description"].startswith("Invalid credentials")


async def test_wrong_secret_and_wrong_app(client: httpx.AsyncClient, app: AppRecord, basic: Basic) -> None:
    response = await client.get(f"/appdata/{app.key}", headers=basic(app.key, "nope"))
    assert response.status_code == 401 and response.json()["error"] == "InvalidCredentials"
    response = await client.get("/appdata/kid_missing", headers=basic("kid_missing", "x"))
    assert response.status_code == 404 and response.json()["error"] == "AppNotFound"
    other_key = app.key + "x"
    response = await client.get(f"/appdata/{app.key}", headers=basic(other_key, app.app_secret))
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("version", "status", "error"),
    [
        ("7", 400, "APIVersionNotAvailable"),
        ("abc", 400, "APIVersionNotAvailable"),
        ("-1", 400, "APIVersionNotAvailable"),
    ],
)
async def test_api_versions(
    client: httpx.AsyncClient, app: AppRecord, basic: Basic, version: str, status: int, error: str
) -> None:
    headers = {**basic(app.key, app.app_secret), "X-Kinvey-API-Version": version}
    response = await client.get(f"/appdata/{app.key}", headers=headers)
    assert response.status_code == status and response.json()["error"] == error


async def test_requested_version_is_echoed(client: httpx.AsyncClient, app: AppRecord, basic: Basic) -> None:
    headers = {**basic(app.key, app.app_secret), "X-Kinvey-Api-Version": "6"}
    response = await client.get(f"/appdata/{app.key}", headers=headers)
    assert response.headers["x-kinvey-api-version"] == "6"


async def test_another_method_on_a_known_path_is_a_kinvey_405(
    client: httpx.AsyncClient, app: AppRecord, basic: Basic
) -> None:
    response = await client.post(f"/appdata/{app.key}", headers=basic(app.key, app.app_secret))
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "NotAllowed"
    assert set(response.json()) == {"error", "description", "debug"}
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert response.headers["x-kinvey-request-id"]


async def test_cors(client: httpx.AsyncClient, app: AppRecord, basic: Basic) -> None:
    origin = "http://localhost:4200"
    preflight = await client.options(
        f"/appdata/{app.key}/books",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-kinvey-api-version",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert (
        preflight.headers["access-control-allow-headers"] == "authorization,content-type,x-kinvey-api-version"
    )
    response = await client.get(
        f"/appdata/{app.key}", headers={**basic(app.key, app.app_secret), "Origin": origin}
    )
    assert response.headers["access-control-allow-origin"] == origin
    exposed = response.headers["access-control-expose-headers"]
    assert "X-Kinvey-Request-Start" in exposed and "Location" in exposed


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json()["storage"] is True
