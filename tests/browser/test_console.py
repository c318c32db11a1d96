"""kinbase's console in headless Chromium against a real server: the operator logs in, creates an
app with explicit keys (the secrets shown once), opens a collection, adds and edits entities,
runs a query, changes a collection setting; a change without the CSRF token is refused. On SQLite
and PostgreSQL, as the Kinto Admin's test (one server per engine for the module)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Shots
from tests.support.databases import database_args
from tests.support.server import ServerProcess, run_server

OPERATOR = "operator-browser-s3cret"
ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=ENGINES, scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp(f"console-{request.param}")
    env = {"KINBASE_CONSOLE_OPERATOR_SECRET": OPERATOR}
    for args in database_args(request.param, workdir):
        with run_server(*args, workdir=workdir, env=env) as running:
            yield running


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, auth=("kid_browser_shop", "browser-master-1")) as client:
        yield client


def test_console(page: Page, shots: Shots, server: ServerProcess, api: httpx.Client) -> None:
    page.goto(f"{server.url}/console/")
    expect(page).to_have_url(re.compile(r"/console/login$"))
    page.fill("input[name=secret]", "wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong app key or secret")
    page.fill("input[name=secret]", OPERATOR)
    shots("login")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Apps")).to_be_visible()

    page.fill("input[name=name]", "Book shop")
    page.fill("input[name=app_key]", "kid_browser_shop")
    page.fill("input[name=master_secret]", "browser-master-1")
    page.get_by_role("button", name="Create app").click()
    expect(page.get_by_text("shown only this once")).to_be_visible()
    expect(page.locator("#master-secret")).to_have_text("browser-master-1")
    app_secret = page.locator("#app-secret").inner_text()
    shots("app-created")
    assert api.get("/appdata/kid_browser_shop").status_code == 200
    assert httpx.get(
        f"{server.url}/appdata/kid_browser_shop", auth=("kid_browser_shop", app_secret)
    ).is_success

    # Browse a collection: add entities through the console, edit one, run a query.
    page.get_by_role("link", name="Open kid_browser_shop").click()
    page.fill("input[name=collection]", "books")
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_text("0 matching")).to_be_visible()
    for title, year in (("Dune", 1965), ("Emma", 1815), ("Ubik", 1969)):
        page.get_by_role("link", name="New entity").click()
        page.fill("#entity-body", f'{{"title": "{title}", "year": {year}}}')
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_contain_text("Saved")
    expect(page.get_by_text("3 matching")).to_be_visible()
    shots("collection")

    page.fill("#query", '{"year": {"$gt": 1900}}')
    page.fill("#sort", '{"year": -1}')
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_text("2 matching")).to_be_visible()
    rows = page.locator("table.data tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Ubik")
    expect(rows.nth(1)).to_contain_text("Dune")
    shots("query")

    rows.nth(0).locator("a").first.click()
    body = page.locator("#entity-body")
    expect(body).to_have_value(re.compile(r'"title": "Ubik"'))  # pretty-printed by the script
    page.fill("#entity-body", '{"title": "Ubik", "year": 1969, "author": "Philip K. Dick"}')
    shots("edit")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    found = api.get("/appdata/kid_browser_shop/books", params={"query": '{"title": "Ubik"}'}).json()
    assert [b["author"] for b in found] == ["Philip K. Dick"]

    # A collection setting.
    page.get_by_role("link", name="Collection settings").click()
    page.select_option("#level", "readonly")
    page.check("#delta_set")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Settings saved")
    expect(page.locator("#described")).to_contain_text('"level": "readonly"')
    shots("settings")
    user = httpx.post(
        f"{server.url}/user/kid_browser_shop",
        json={"username": "reader", "password": "pw-reader-1"},
        auth=("kid_browser_shop", app_secret),
    ).json()
    token = user["_kmd"]["authtoken"]
    refused = httpx.post(
        f"{server.url}/appdata/kid_browser_shop/books",
        json={"title": "x"},
        headers={"Authorization": f"Kinvey {token}"},
    )
    assert refused.status_code == 401  # readonly: users may no longer write

    # The same change without the CSRF token, from the logged-in browser: refused.
    response = page.request.post(
        f"{server.url}/console/apps/kid_browser_shop/data/books/settings",
        form={"level": "full"},
        headers={"Origin": server.url},
    )
    assert response.status == 403 and "CSRF" in response.text()
    assert api.get("/appdata/kid_browser_shop/books/_count").json()["count"] == 3
    described = page.goto(f"{server.url}/console/apps/kid_browser_shop/data/books/settings")
    assert described is not None
    expect(page.locator("#described")).to_contain_text('"level": "readonly"')

    page.goto(f"{server.url}/console/dashboard")
    expect(page.locator("figure.chart svg")).to_have_count(4)
    shots("dashboard")
    assert all(Path(p).stat().st_size > 0 for p in shots.dir.iterdir())
