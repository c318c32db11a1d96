"""The Kinto Admin (the real 6.1.1 build, from the PyPI wheel kinto==24.1.1) against kinbase on
SQLite and PostgreSQL in headless Chromium: log in with an account, create a bucket, a collection
and a record, give the collection's read permission to everyone, read the history. Each step is
checked through the API too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Shots
from tests.support.databases import database_args
from tests.support.server import ServerProcess, run_server

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES, scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp(f"admin-{request.param}")
    for args in database_args(request.param, workdir):
        with run_server(*args, workdir=workdir) as running:
            yield running


def _login(page: Page, server: ServerProcess, user: str, password: str) -> None:
    page.goto(f"{server.url}/v1/admin/")
    page.get_by_label("Kinto Account Auth").check()
    page.fill("#root_credentials_username", user)
    page.fill("#root_credentials_password", password)
    page.get_by_role("button", name="Sign in using Kinto Account Auth").click()
    expect(page.get_by_text("Connected as")).to_be_visible()
    expect(page.locator("strong", has_text=f"account:{user}")).to_be_visible()


def test_kinto_admin(page: Page, shots: Shots, server: ServerProcess) -> None:
    api = f"{server.url}/v1"
    r = httpx.put(f"{api}/accounts/alice", json={"data": {"password": "s3cret-pass"}})
    assert r.status_code == 201, r.text
    auth = ("alice", "s3cret-pass")
    admin = f"{server.url}/v1/admin/"

    page.goto(admin)
    expect(page.get_by_label("Kinto Account Auth")).to_be_visible()
    shots("login")
    _login(page, server, *auth)
    shots("home")

    page.get_by_role("link", name="Create bucket").click()
    page.fill("#root_id", "shop")
    page.get_by_role("button", name="Create bucket").click()
    expect(page.get_by_text("Bucket created.")).to_be_visible()
    shots("bucket-created")
    assert httpx.get(f"{api}/buckets/shop", auth=auth).status_code == 200

    # The admin loads the caller's permissions (GET /permissions) once per page load, as with
    # Kinto: a reload lets it see the new bucket's.
    page.goto(admin + "#/buckets/shop/collections/create")
    page.reload()
    page.fill("#root_id", "products")
    page.get_by_role("button", name="Create collection").click()
    expect(page.get_by_text("Collection created.")).to_be_visible()
    shots("collection-created")
    collection = f"{api}/buckets/shop/collections/products"
    assert httpx.get(collection, auth=auth).status_code == 200

    page.get_by_role("link", name="Create record").click()
    page.fill("#root_title", "Kettle")
    page.fill("#root_content", "Boils water")
    page.get_by_role("button", name="Create record").click()
    expect(page.get_by_text("Record created")).to_be_visible()
    expect(page.get_by_role("cell", name="Kettle")).to_be_visible()
    shots("record-created")
    records = httpx.get(f"{collection}/records", auth=auth).json()["data"]
    assert [(r["title"], r["content"]) for r in records] == [("Kettle", "Boils water")]

    # Everyone may read the collection: the record becomes readable without credentials.
    assert httpx.get(f"{collection}/records").status_code in (401, 403)
    page.goto(admin + "#/buckets/shop/collections/products/permissions")
    page.check("#root_anonymous-0")
    shots("permissions")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Permissions updated")).to_be_visible()
    assert "system.Everyone" in httpx.get(collection, auth=auth).json()["permissions"]["read"]
    anonymous = httpx.get(f"{collection}/records")
    assert anonymous.status_code == 200 and anonymous.json()["data"][0]["title"] == "Kettle"

    page.goto(admin + "#/buckets/shop/history")
    history = page.locator("table")
    expect(history).to_contain_text("products")
    expect(history).to_contain_text("account:alice")
    shots("history")
    entries = httpx.get(f"{api}/buckets/shop/history", auth=auth).json()["data"]
    assert {(e["action"], e["resource_name"]) for e in entries} >= {
        ("create", "bucket"),
        ("create", "collection"),
        ("create", "record"),
        ("update", "collection"),
    }
    assert all(Path(p).stat().st_size > 0 for p in shots.dir.iterdir())
