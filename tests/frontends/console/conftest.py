"""The console over HTTP: a core and an ASGI client on each engine's storage, and the helpers
that read a page's forms."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from kinbase.app import create_app
from kinbase.core.services import Core
from kinbase.core.throttle import LoginThrottle, ThrottlePolicy
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend
from kinbase.storage.blobs import BlobStore

OPERATOR = "operator-s3cret"


@pytest.fixture
async def console(
    storage: StorageBackend, local_blob_store: BlobStore, tmp_path: Path
) -> AsyncIterator[tuple[Core, httpx.AsyncClient]]:
    settings = Settings(data_dir=str(tmp_path), console_operator_secret=OPERATOR, login_delay_after=3)
    core = Core(settings, storage, blobs=local_blob_store)
    await core.load_secret()
    # The operator's failed logins are counted under the server's record, which every test on
    # this database shares (apps are per test): each test starts with none.
    await LoginThrottle(storage, ThrottlePolicy(), "console").clear((await core.apps.server()).id)
    transport = httpx.ASGITransport(app=create_app(settings, core), client=("10.1.2.3", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://kinbase.test") as http:
        yield core, http
    await core.flex.close()
    await core.files.ledger.close()


def hidden(html: str, name: str) -> str:
    """The value of the first hidden field ``name`` of a page."""
    found = re.search(rf'name="{re.escape(name)}" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def csrf(html: str) -> str:
    return hidden(html, "csrf")


async def login(http: httpx.AsyncClient, app_key: str, secret: str) -> str:
    r = await http.post("/console/login", data={"app_key": app_key, "secret": secret})
    assert r.status_code == 303, r.text
    page = await http.get(r.headers["location"], follow_redirects=True)
    assert page.status_code == 200
    return csrf(page.text)
