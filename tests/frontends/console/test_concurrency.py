"""Optimistic concurrency of the console's settings forms, on SQLite and PostgreSQL: each form
carries the version of what it was rendered from; a submit based on values someone changed
meanwhile is answered 409 with a clear message and changes nothing, and two concurrent saves
from the same version never both apply."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from kinbase.core.appconfig import parse_toml
from kinbase.core.kinvey.collections import settings_version
from kinbase.core.services import Core
from kinbase.errors import Conflict
from kinbase.storage.base import AppRecord
from tests.frontends.console.conftest import hidden, login

pytestmark = pytest.mark.anyio

SERVICES = (
    '[flex_services.logic]\nurl = "http://127.0.0.1:9"\nsecret = "s"\n\n'
    '[flex_services.store]\nurl = "http://127.0.0.1:9"\nsecret = "t"\n'
)


async def test_stale_settings_form(console: tuple[Core, httpx.AsyncClient], app: AppRecord) -> None:
    core, http = console
    token = await login(http, app.key, app.master_secret)
    base = f"/console/apps/{app.key}/data/notes"
    page = await http.get(f"{base}/settings")
    rendered = hidden(page.text, "settings_version")
    # Someone else makes the collection read-only after the form was rendered.
    await core.kinvey.collections.configure(app, "notes", level="readonly")
    form = {"csrf": token, "settings_version": rendered, "level": "full", "delta_set": "on"}
    r = await http.post(f"{base}/settings", data=form)
    assert r.status_code == 409
    assert "changed meanwhile" in r.text and "nothing was saved" in r.text
    assert 'value="readonly" selected' in r.text  # the form now shows the current values
    described = await core.kinvey.collections.describe(app, "notes")
    assert described["permissions"] == {"level": "readonly"} and described["deltaSet"]["enabled"] is False
    # Submitted again from the page the conflict answered: saved.
    r = await http.post(
        f"{base}/settings", data={**form, "settings_version": hidden(r.text, "settings_version")}
    )
    assert r.status_code == 200 and "Settings saved" in r.text
    described = await core.kinvey.collections.describe(app, "notes")
    assert described["permissions"] == {"level": "full"} and described["deltaSet"]["enabled"] is True
    # A form without its version is refused, nothing changed.
    r = await http.post(f"{base}/settings", data={"csrf": token, "level": "private"})
    assert r.status_code == 400 and "reload the page" in r.text
    assert (await core.kinvey.collections.describe(app, "notes"))["permissions"] == {"level": "full"}


async def test_stale_logic_form(console: tuple[Core, httpx.AsyncClient], app: AppRecord) -> None:
    core, http = console
    await core.appconfig.apply(app, parse_toml(SERVICES))
    token = await login(http, app.key, app.master_secret)
    base = f"/console/apps/{app.key}/data/orders/settings"
    rendered = hidden((await http.get(base)).text, "logic_version")
    # Someone else declares a hook of the collection (kinbase apply) after the form was rendered.
    hook = '[collections.orders.hooks]\npre_save = { service = "logic", function = "theirs" }\n'
    fresh = await core.apps.require(app.key)
    await core.appconfig.apply(fresh, parse_toml(SERVICES + hook))
    form = {
        "csrf": token,
        "logic_version": rendered,
        "post_save.service": "logic",
        "post_save.function": "mine",
    }
    r = await http.post(f"{base}/logic", data=form)
    assert r.status_code == 409 and "changed meanwhile" in r.text and "nothing was saved" in r.text
    assert 'name="pre_save.function" value="theirs"' in r.text  # the current values
    assert 'name="post_save.function" value="mine"' not in r.text

    async def hooks() -> dict[str, object]:
        current = await core.appconfig.export(await core.apps.require(app.key))
        return dict(current.document()["collections"]["orders"]["hooks"])

    assert await hooks() == {"pre_save": {"service": "logic", "function": "theirs"}}
    # A change to another collection is no conflict for this form.
    version = hidden(r.text, "logic_version")
    other = '[collections.books.hooks]\npre_save = { service = "logic", function = "b" }\n'
    await core.appconfig.apply(await core.apps.require(app.key), parse_toml(SERVICES + hook + other))
    mine = {**form, "logic_version": version, "pre_save.service": "logic", "pre_save.function": "theirs"}
    r = await http.post(f"{base}/logic", data=mine)
    assert r.status_code == 200 and "Business logic saved" in r.text
    assert await hooks() == {
        "pre_save": {"service": "logic", "function": "theirs"},
        "post_save": {"service": "logic", "function": "mine"},
    }
    # A refused value keeps the version the form was rendered from: still a conflict afterwards.
    stale = hidden(r.text, "logic_version")
    bad = {**mine, "logic_version": stale, "pre_delete.service": "nowhere", "pre_delete.function": "f"}
    r = await http.post(f"{base}/logic", data=bad)
    assert r.status_code == 400 and hidden(r.text, "logic_version") == stale


async def _two_connections(core: Core) -> None:
    """Open two connections of the pool at once, so that two writers run side by side."""

    async def hold() -> None:
        async with core.storage.reader():
            await asyncio.sleep(0.05)

    await asyncio.gather(hold(), hold())


async def test_concurrent_saves_from_one_version(core: Core, app: AppRecord) -> None:
    """Two saves based on the same version at once: one applies, the other is a Conflict (the
    collection exists: its row is locked before its settings are read)."""
    version = settings_version(await core.kinvey.collections.configure(app, "race", level="shared"))
    await _two_connections(core)

    async def save(level: str) -> str:
        try:
            await core.kinvey.collections.configure(app, "race", level=level, if_version=version)
        except Conflict:
            return "conflict"
        return level

    outcomes = await asyncio.gather(save("readonly"), save("full"))
    assert sorted(outcomes)[0] == "conflict" and sorted(outcomes)[1] in ("full", "readonly")
    applied = next(o for o in outcomes if o != "conflict")
    assert (await core.kinvey.collections.describe(app, "race"))["permissions"] == {"level": applied}

    await core.appconfig.apply(app, parse_toml(SERVICES))
    fresh = await core.apps.require(app.key)
    _, logic = await core.appconfig.collection_logic(fresh, "race")
    await _two_connections(core)

    async def link(service: str) -> str:
        try:
            await core.appconfig.set_collection_logic(
                fresh,
                "race",
                hooks={},
                data_link={"service": service, "service_object": "R"},
                if_version=logic,
            )
        except Conflict:
            return "conflict"
        return service

    outcomes = await asyncio.gather(link("logic"), link("store"))
    assert sorted(outcomes)[0] == "conflict"
    applied = next(o for o in outcomes if o != "conflict")
    declared, _ = await core.appconfig.collection_logic(fresh, "race")
    assert declared is not None and declared.data_link is not None
    assert declared.data_link.service == applied
