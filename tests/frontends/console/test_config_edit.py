"""The app configuration edited as TOML in the console, on SQLite and PostgreSQL: applied as
``kinbase apply`` does; a refused file keeps what was typed and changes nothing; a file based on a
configuration changed meanwhile answers 409 and changes nothing."""

from __future__ import annotations

import httpx
import pytest

from kinbase.core.appconfig import parse_toml
from kinbase.core.services import Core
from kinbase.storage.base import AppRecord
from tests.frontends.console.conftest import hidden, login

pytestmark = pytest.mark.anyio

SERVICE = '[flex_services.logic]\nurl = "http://127.0.0.1:9"\nsecret = "s"\n'


async def test_config_edited(console: tuple[Core, httpx.AsyncClient], app: AppRecord) -> None:
    core, http = console
    csrf = await login(http, app.key, app.master_secret)
    url = f"/console/apps/{app.key}/config"
    version = hidden((await http.get(url)).text, "version")
    wanted = SERVICE + "\n[collections.notes]\ndelta_set = true\n"
    r = await http.post(url, data={"csrf": csrf, "version": version, "toml": wanted})
    assert r.status_code == 200 and "Applied" in r.text, r.text
    fresh = await core.apps.require(app.key)
    assert set((await core.appconfig.current(fresh)).flex_services) == {"logic"}
    assert (await core.kinvey.collections.describe(fresh, "notes"))["deltaSet"]["enabled"] is True
    version = hidden(r.text, "version")

    # A refused file: the validator's message, the text kept, nothing changed.
    bad = SERVICE + '\n[endpoints.hello]\nservice = "nowhere"\nfunction = "f"\n'
    r = await http.post(url, data={"csrf": csrf, "version": version, "toml": bad})
    assert r.status_code == 400 and "nothing was applied" in r.text and "nowhere" in r.text
    assert hidden(r.text, "version") == version
    assert (await core.appconfig.export(await core.apps.require(app.key))).endpoints == {}

    # Someone applies another configuration meanwhile: the stale form changes nothing.
    other = SERVICE + '\n[endpoints.hello]\nservice = "logic"\nfunction = "hi"\n'
    await core.appconfig.apply(await core.apps.require(app.key), parse_toml(other))
    r = await http.post(url, data={"csrf": csrf, "version": version, "toml": wanted})
    assert r.status_code == 409 and "changed meanwhile" in r.text
    assert set((await core.appconfig.export(await core.apps.require(app.key))).endpoints) == {"hello"}
    # Without the CSRF token: refused.
    r = await http.post(url, data={"version": hidden(r.text, "version"), "toml": wanted})
    assert r.status_code == 403
    assert set((await core.appconfig.export(await core.apps.require(app.key))).endpoints) == {"hello"}
