"""The console over HTTP on SQLite and PostgreSQL: logins (master secret, operator, throttle),
the session cookie, CSRF on every change, apps (secrets shown once, delete with confirmation),
the data browser (query, sort, paging, edit, delete, import, export), collection settings,
users/groups/roles, the configuration TOML, Flex, the dashboard."""

from __future__ import annotations

import re

import httpx
import pytest

from kinbase.app import create_app
from kinbase.core.kinvey.access import Caller
from kinbase.core.services import Core
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord
from tests.frontends.console.conftest import OPERATOR, csrf, hidden, login

pytestmark = pytest.mark.anyio


async def test_logins_and_sessions(console: tuple[Core, httpx.AsyncClient], app: AppRecord) -> None:
    _, http = console
    r = await http.get("/console/apps")
    assert (r.status_code, r.headers["location"]) == (303, "/console/login")
    assert (await http.get("/console")).headers["location"] == "/console/"
    r = await http.get("/console/login")
    assert r.status_code == 200 and "frame-ancestors 'none'" in r.headers["content-security-policy"]
    r = await http.post("/console/login", data={"app_key": app.key, "secret": app.app_secret})
    assert r.status_code == 401 and "Wrong app key or secret" in r.text  # the app secret is not enough
    r = await http.post("/console/login", data={"app_key": app.key, "secret": app.master_secret})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console/" in cookie
    assert app.master_secret not in cookie
    home = await http.get("/console/", follow_redirects=True)
    assert str(home.url).endswith(f"/console/apps/{app.key}") and app.name in home.text
    # The master of one app sees only that app, and manages no app.
    assert (await http.get("/console/apps/kid_someone_else")).status_code == 404
    token = csrf(home.text)
    r = await http.post("/console/apps", data={"csrf": token, "name": "x"})
    assert r.status_code == 403
    # A forged or tampered cookie is no session.
    value = cookie.split(";")[0].split("=", 1)[1]
    http.cookies.clear()
    forged = {"Cookie": f"kinbase_console={value[:-2]}xx"}
    assert (await http.get(f"/console/apps/{app.key}", headers=forged)).status_code == 303
    assert (
        await http.get(f"/console/apps/{app.key}", headers={"Cookie": f"kinbase_console={value}"})
    ).status_code == 200
    # Logging out ends the session in this browser.
    fresh = await login(http, app.key, app.master_secret)
    assert fresh != token  # each login has its own CSRF token
    assert (await http.post("/console/logout", data={"csrf": token})).status_code == 403
    r = await http.post("/console/logout", data={"csrf": fresh})
    assert r.status_code == 303 and "Max-Age=0" in r.headers["set-cookie"]


async def test_login_throttle(console: tuple[Core, httpx.AsyncClient], app: AppRecord) -> None:
    _, http = console
    for _ in range(3):
        r = await http.post("/console/login", data={"app_key": app.key, "secret": "wrong"})
        assert r.status_code == 401 and "Wrong" in r.text
    r = await http.post("/console/login", data={"app_key": app.key, "secret": app.master_secret})
    assert r.status_code == 429 and "retry in" in r.text  # the right secret waits too
    for _ in range(3):
        r = await http.post("/console/login", data={"app_key": "", "secret": "wrong"})
        assert r.status_code == 401
    r = await http.post("/console/login", data={"app_key": "", "secret": OPERATOR})
    assert r.status_code == 429 and "retry in" in r.text


async def test_operator_manages_apps(console: tuple[Core, httpx.AsyncClient]) -> None:
    core, http = console
    token = await login(http, "", OPERATOR)
    r = await http.post(
        "/console/apps",
        data={"csrf": token, "name": "Shop", "app_key": "kid_console_shop", "master_secret": "m-secret-1"},
    )
    assert r.status_code == 201 and "shown only this once" in r.text
    assert "m-secret-1" in r.text
    created = await core.apps.require("kid_console_shop")
    assert created.master_secret == "m-secret-1" and created.app_secret in r.text
    listing = await http.get("/console/apps")
    assert "kid_console_shop" in listing.text and "m-secret-1" not in listing.text
    r = await http.post("/console/apps", data={"csrf": token, "name": "Again", "app_key": "kid_console_shop"})
    assert r.status_code == 400
    # Without the CSRF token nothing changes.
    r = await http.post("/console/apps/kid_console_shop/delete", data={"confirm": "kid_console_shop"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = await http.post("/console/apps/kid_console_shop/delete", data={"csrf": token, "confirm": "nope"})
    assert r.status_code == 400
    assert await core.apps.get("kid_console_shop") is not None
    assert "Type the app key" in (await http.get("/console/apps/kid_console_shop/delete")).text
    r = await http.post(
        "/console/apps/kid_console_shop/delete", data={"csrf": token, "confirm": "kid_console_shop"}
    )
    assert r.status_code == 200 and "Deleted the app" in r.text
    assert await core.apps.get("kid_console_shop") is None
    # A request from another origin is refused whatever it carries.
    r = await http.post("/console/apps", data={"csrf": token, "name": "x"}, headers={"Origin": "http://evil"})
    assert r.status_code == 403


async def test_data_browser(console: tuple[Core, httpx.AsyncClient], app: AppRecord) -> None:
    core, http = console
    for i in range(25):
        body = {"_id": f"b{i:02d}", "n": i, "kind": "even" if i % 2 == 0 else "odd"}
        await core.kinvey.entities.save(app, Caller.master(), "books", f"b{i:02d}", body)
    token = await login(http, app.key, app.master_secret)
    base = f"/console/apps/{app.key}/data/books"
    assert "books" in (await http.get(f"/console/apps/{app.key}")).text
    r = await http.get(base)
    assert "25 matching" in r.text and 'rel="next"' in r.text
    r = await http.get(base, params={"query": '{"kind": "odd", "n": {"$gte": 10}}', "sort": '{"n": -1}'})
    ids = re.findall(r"/entity/(b\d\d)\"", r.text)
    assert ids == ["b23", "b21", "b19", "b17", "b15", "b13", "b11"]
    r = await http.get(base, params={"sort": "-n", "limit": "10", "skip": "20"})
    assert re.findall(r"/entity/(b\d\d)\"", r.text) == ["b04", "b03", "b02", "b01", "b00"]
    assert 'rel="prev"' in r.text and 'rel="next"' not in r.text
    r = await http.get(base, params={"query": "{not json"})
    assert r.status_code == 400 and "Bad query" in r.text
    r = await http.get(base, params={"query": '{"$where": "1"}'})
    assert r.status_code == 400
    # Edit one entity, create one, delete one.
    page = (await http.get(f"{base}/entity/b03")).text
    assert re.search(r"&#34;n&#34;: ?3,", page)  # (escaped in the page)
    r = await http.post(f"{base}/entity/b03", data={"csrf": token, "body": '{"n": 300, "edited": true}'})
    assert r.status_code == 303
    stored = await core.kinvey.entities.get(app, Caller.master(), "books", "b03")
    assert re.search(r'"n": ?300', stored) and re.search(r'"edited": ?true', stored)
    r = await http.post(f"{base}/entity/b03", data={"csrf": token, "body": "[1]"})
    assert r.status_code == 400
    r = await http.post(f"{base}/entity/new", data={"csrf": token, "body": '{"title": "fresh"}'})
    assert r.status_code == 303 and "Saved" in (await http.get(r.headers["location"])).text
    r = await http.post(f"{base}/entity/b04/delete", data={"csrf": token})
    assert r.status_code == 303
    r = await http.post(f"{base}/entity/b05/delete", data={})
    assert r.status_code == 403  # no CSRF token: refused, nothing deleted
    found = await core.kinvey.entities.count(
        app, Caller.master(), "books", __import__("kinbase").query.ast.Query()
    )
    assert found.count == 25  # 25 + 1 created - 1 deleted
    # Export, then import into another collection.
    r = await http.get(f"{base}/export")
    assert r.headers["content-disposition"] == 'attachment; filename="books.json"'
    exported = r.json()
    assert len(exported) == 25
    r = await http.post(
        f"/console/apps/{app.key}/data/copies/import", data={"csrf": token, "entities": r.text}
    )
    assert r.status_code == 303
    assert "Imported 25 entities" in (await http.get(r.headers["location"])).text
    r = await http.post(
        f"/console/apps/{app.key}/data/copies/import", data={"csrf": token, "entities": "{oops"}
    )
    assert r.status_code == 400


async def test_settings_people_config_flex_dashboard(
    console: tuple[Core, httpx.AsyncClient], app: AppRecord
) -> None:
    core, http = console
    token = await login(http, app.key, app.master_secret)
    base = f"/console/apps/{app.key}/data/notes"
    r = await http.get(f"{base}/settings")
    assert r.status_code == 200 and 'value="shared" selected' in r.text
    version = hidden(r.text, "settings_version")
    form = {"csrf": token, "settings_version": version, "level": "readonly", "delta_set": "on"}
    r = await http.post(f"{base}/settings", data=form)
    assert r.status_code == 200 and "Settings saved" in r.text
    version = hidden(r.text, "settings_version")
    described = await core.kinvey.collections.describe(app, "notes")
    assert described["permissions"] == {"level": "readonly"} and described["deltaSet"]["enabled"] is True
    r = await http.post(
        f"{base}/settings", data={"csrf": token, "settings_version": version, "level": "bogus"}
    )
    assert r.status_code == 400
    r = await http.post(f"{base}/settings", data={"settings_version": version, "level": "full"})
    assert r.status_code == 403
    assert (await core.kinvey.collections.describe(app, "notes"))["permissions"] == {"level": "readonly"}

    signup = await core.kinvey.users.signup(app, {"username": "ann", "password": "pw-ann-1"}, with_token=True)
    assert signup is not None
    r = await http.get(f"/console/apps/{app.key}/users")
    assert r.status_code == 200 and "ann" in r.text and "pw-ann-1" not in r.text
    assert (await http.get(f"/console/apps/{app.key}/groups")).status_code == 200
    assert (await http.get(f"/console/apps/{app.key}/roles")).status_code == 200
    r = await http.get(f"/console/apps/{app.key}/config")
    assert r.status_code == 200 and "kinbase apply" in r.text
    r = await http.get(f"/console/apps/{app.key}/config.toml")
    assert r.headers["content-disposition"] == f'attachment; filename="{app.key}.toml"'
    assert "notes" in r.text
    r = await http.get(f"/console/apps/{app.key}/flex")
    assert r.status_code == 200 and "No Flex service declared" in r.text
    r = await http.get("/console/dashboard")
    assert r.status_code == 200 and r.text.count("<svg") == 4 and "Requests/s" in r.text
    assert (await http.get("/console/static/console.js")).status_code == 200
    assert (await http.get("/console/static/nope.js")).status_code == 404
    assert (await http.get("/console/nowhere")).status_code == 404
    assert (await http.delete("/console/dashboard")).status_code == 405


async def test_files_page(console: tuple[Core, httpx.AsyncClient], app: AppRecord) -> None:
    _, http = console
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    master = (app.key, app.master_secret)
    for name, mime, data in (("pic.png", "image/png", png), ("notes.txt", "text/plain", b"hello")):
        r = await http.post(
            f"/blob/{app.key}",
            json={"_filename": name, "mimeType": mime, "size": len(data)},
            headers={"X-Kinvey-Content-Type": mime},
            auth=master,
        )
        assert r.status_code == 201, r.text
        upload = r.json()["_uploadURL"]
        put = await http.put(upload, content=data, headers=r.json().get("_requiredHeaders", {}))
        assert put.status_code in (200, 201), put.text
    await login(http, app.key, app.master_secret)
    r = await http.get(f"/console/apps/{app.key}/files")
    assert r.status_code == 200 and "pic.png" in r.text and "notes.txt" in r.text
    previews = re.findall(r'<img class="preview" src="([^"]+)"', r.text)
    assert len(previews) == 1  # the image only
    shown = await http.get(previews[0].replace("&amp;", "&"))
    assert shown.status_code == 200 and shown.content == png


async def test_edges(console: tuple[Core, httpx.AsyncClient], app: AppRecord) -> None:
    core, http = console
    # Logged out: a POST is refused, a GET goes to the login page.
    assert (await http.post("/console/logout", data={})).status_code == 401
    await login(http, app.key, app.master_secret)
    r = await http.get(f"/console/apps/{app.key}/open", params={"collection": "fresh"})
    assert (r.status_code, r.headers["location"]) == (303, f"/console/apps/{app.key}/data/fresh")
    r = await http.get(f"/console/apps/{app.key}/open", params={"collection": "bad/name"})
    assert r.status_code == 400
    assert (await http.get("/console/login")).headers["location"] == "/console/"  # already in
    # A Flex service that does not answer: the page says discovery failed, it does not fail.
    config = (
        "[flex_services.down]\n"
        'url = "http://127.0.0.1:9"\nsecret = "s"\ntimeout_seconds = 2\n\n'
        '[endpoints.hello]\nservice = "down"\nfunction = "hi"\n\n'
        '[schedules.nightly]\nservice = "down"\nfunction = "hi"\ncron = "0 3 * * *"\n'
    )
    from kinbase.core.appconfig import parse_toml

    await core.appconfig.apply(app, parse_toml(config))
    declared = (
        '[collections.orders]\ndata_link = { service = "down", service_object = "Orders" }\n'
        '[collections.orders.hooks]\npre_save = { service = "down", function = "check" }\n'
    )
    await core.appconfig.apply(app, parse_toml(config + declared))
    r = await http.get(f"/console/apps/{app.key}/data/orders/settings")
    assert 'name="data_link.service_object" value="Orders"' in r.text
    assert 'name="pre_save.service" value="down"' in r.text
    assert 'name="pre_save.function" value="check"' in r.text
    r = await http.get(f"/console/apps/{app.key}/flex", params={"discover": "down"})
    assert r.status_code == 200 and "discovery failed" in r.text
    assert "hello → down / hi" in r.text and "0 3 * * *" in r.text
    # Changing the operator's secret ends the operator's sessions.
    await login(http, "", OPERATOR)
    cookie = {"Cookie": "kinbase_console=" + http.cookies["kinbase_console"]}
    assert (await http.get("/console/apps", headers=cookie)).status_code == 200
    changed = Settings(data_dir=core.settings.data_dir, console_operator_secret="another-one")
    other = Core(changed, core.storage)
    await other.load_secret()
    transport = httpx.ASGITransport(app=create_app(changed, other))
    async with httpx.AsyncClient(transport=transport, base_url="http://kinbase.test") as second:
        r = await second.get("/console/apps", headers=cookie)
        assert (r.status_code, r.headers["location"]) == (303, "/console/login")


async def test_collection_logic(console: tuple[Core, httpx.AsyncClient], app: AppRecord) -> None:
    """Hooks and the data link edited on the settings page go through the app configuration:
    a refused value shows the validator's message and changes nothing; no CSRF token, no change."""
    core, http = console
    from kinbase.core.appconfig import parse_toml

    services = (
        '[flex_services.logic]\nurl = "http://127.0.0.1:9"\nsecret = "s"\n\n'
        '[flex_services.store]\nurl = "http://127.0.0.1:9"\nsecret = "t"\n'
    )
    await core.appconfig.apply(app, parse_toml(services))
    token = await login(http, app.key, app.master_secret)
    url = f"/console/apps/{app.key}/data/orders/settings/logic"
    page = await http.get(f"/console/apps/{app.key}/data/orders/settings")
    form = {
        "csrf": token,
        "logic_version": hidden(page.text, "logic_version"),
        "pre_save.service": "logic",
        "pre_save.function": "check",
        "post_fetch.service": "logic",
        "post_fetch.function": "decorate",
        "data_link.service": "store",
        "data_link.service_object": "Orders",
    }
    r = await http.post(url, data=form)
    assert r.status_code == 200 and "Business logic saved" in r.text
    assert 'name="post_fetch.function" value="decorate"' in r.text

    async def declared() -> dict[str, object]:
        fresh = await core.apps.require(app.key)
        return dict((await core.appconfig.export(fresh)).document()["collections"]["orders"])

    expected = {
        "hooks": {
            "post_fetch": {"service": "logic", "function": "decorate"},
            "pre_save": {"service": "logic", "function": "check"},
        },
        "data_link": {"service": "store", "service_object": "Orders"},
    }
    assert await declared() == expected
    fresh = await core.apps.require(app.key)
    assert set((await core.appconfig.current(fresh)).flex_services) == {"logic", "store"}  # kept
    assert "[collections.orders.hooks]" in (await http.get(f"/console/apps/{app.key}/config.toml")).text
    form["logic_version"] = hidden(r.text, "logic_version")
    # A service the configuration does not declare: refused with the validator's message, nothing changed.
    r = await http.post(url, data={**form, "pre_delete.service": "nowhere", "pre_delete.function": "f"})
    assert r.status_code == 400 and "nothing was applied" in r.text and "nowhere" in r.text
    assert 'name="pre_delete.service" value="nowhere"' in r.text  # the form keeps what was typed
    assert await declared() == expected
    # Half a reference is refused too.
    r = await http.post(url, data={**form, "post_save.function": "only"})
    assert r.status_code == 400 and "service" in r.text
    assert await declared() == expected
    # Without the CSRF token: refused, nothing changed.
    r = await http.post(url, data={k: v for k, v in form.items() if k != "csrf"} | {"pre_save.service": ""})
    assert r.status_code == 403 and await declared() == expected
    # Emptying the fields removes the hooks and the data link.
    r = await http.post(url, data={"csrf": token, "logic_version": form["logic_version"]})
    assert r.status_code == 200 and "Business logic saved" in r.text
    fresh = await core.apps.require(app.key)
    assert "collections" not in (await core.appconfig.export(fresh)).document()
    r = await http.post(url, data={"csrf": token, "logic_version": hidden(r.text, "logic_version")})
    assert r.status_code == 200 and "Nothing changed" in r.text


async def test_users_groups_roles_edited(console: tuple[Core, httpx.AsyncClient], app: AppRecord) -> None:
    """Users, groups and roles created, edited (as JSON) and deleted after a confirmation page,
    through the core Kinvey services: bad JSON and refused values change nothing, no CSRF token
    changes nothing, passwords are never shown."""
    from kinbase.core.kinvey.errors import KinveyError

    core, http = console
    kinvey, master = core.kinvey, Caller.master()
    token = await login(http, app.key, app.master_secret)
    people = f"/console/apps/{app.key}"
    assert (await http.get(f"{people}/users/new")).status_code == 200
    # A user with a password; another without one gets a generated password, shown once.
    body = '{"username": "bob", "password": "pw-bob-1", "age": 3}'
    r = await http.post(f"{people}/users/new", data={"csrf": token, "body": body})
    assert r.status_code == 303
    listing = await http.get(r.headers["location"])
    assert "Created the user" in listing.text and "bob" in listing.text and "pw-bob-1" not in listing.text
    bob = (await kinvey.users.login(app, {"username": "bob", "password": "pw-bob-1"}, None)).user["_id"]
    r = await http.post(f"{people}/users/new", data={"csrf": token, "body": '{"username": "cy"}'})
    generated = re.search(r"generated password (\S+)\.", r.text)
    assert r.status_code == 201 and generated is not None
    await kinvey.users.login(app, {"username": "cy", "password": generated.group(1)}, None)
    # Edit: the JSON without secrets, saved through the user service.
    page = await http.get(f"{people}/users/{bob}")
    assert page.status_code == 200 and "bob" in page.text and "pw-bob-1" not in page.text
    r = await http.post(
        f"{people}/users/{bob}", data={"csrf": token, "body": '{"username": "bob", "age": 4}'}
    )
    assert r.status_code == 303 and "Saved the user" in (await http.get(r.headers["location"])).text
    assert '"age":4' in (await kinvey.users.get(app, master, bob)).replace(" ", "")
    await kinvey.users.login(app, {"username": "bob", "password": "pw-bob-1"}, None)  # password kept
    for refused, status in (('["bob"]', 400), ('{"username": "cy", "age": 5}', 409)):
        r = await http.post(f"{people}/users/{bob}", data={"csrf": token, "body": refused})
        assert r.status_code == status and 'class="error"' in r.text, r.text
    r = await http.post(f"{people}/users/{bob}", data={"body": '{"username": "bob", "age": 6}'})
    assert r.status_code == 403
    assert '"age":4' in (await kinvey.users.get(app, master, bob)).replace(" ", "")
    # Delete after the confirmation page; without the confirmation or the token nothing happens.
    r = await http.get(f"{people}/users/{bob}/delete")
    assert r.status_code == 200 and 'name="confirm" value="yes"' in r.text
    assert (await http.post(f"{people}/users/{bob}/delete", data={"csrf": token})).status_code == 400
    assert (await http.post(f"{people}/users/{bob}/delete", data={"confirm": "yes"})).status_code == 403
    await kinvey.users.get(app, master, bob)
    r = await http.post(f"{people}/users/{bob}/delete", data={"csrf": token, "confirm": "yes"})
    assert r.status_code == 303 and "Deleted the user" in (await http.get(r.headers["location"])).text
    with pytest.raises(KinveyError):
        await kinvey.users.get(app, master, bob)
    assert (await http.get(f"{people}/users/{bob}")).status_code == 404
    # Groups.
    r = await http.post(
        f"{people}/groups/new", data={"csrf": token, "body": '{"_id": "staff", "users": {"all": true}}'}
    )
    assert r.status_code == 303
    assert '"all":true' in (await kinvey.groups.get(app, master, "staff")).replace(" ", "")
    r = await http.post(f"{people}/groups/staff", data={"csrf": token, "body": '{"users": {"all": "x"}}'})
    assert r.status_code == 400 and "users.all" in r.text
    r = await http.post(f"{people}/groups/staff", data={"csrf": token, "body": '{"users": {"all": false}}'})
    assert r.status_code == 303
    assert '"all":false' in (await kinvey.groups.get(app, master, "staff")).replace(" ", "")
    assert "staff" in (await http.get(f"{people}/groups")).text
    r = await http.post(f"{people}/groups/staff/delete", data={"csrf": token, "confirm": "yes"})
    assert r.status_code == 303
    with pytest.raises(KinveyError):
        await kinvey.groups.get(app, master, "staff")
    # Roles.
    r = await http.post(
        f"{people}/roles/new", data={"csrf": token, "body": '{"_id": "admin", "name": "Admins"}'}
    )
    assert r.status_code == 303 and "Admins" in (await http.get(f"{people}/roles")).text
    r = await http.post(f"{people}/roles/new", data={"csrf": token, "body": '{"_id": "admin"}'})
    assert r.status_code == 409  # exists already
    r = await http.post(f"{people}/roles/admin", data={"csrf": token, "body": '{"name": "Chiefs"}'})
    assert r.status_code == 303 and "Chiefs" in (await kinvey.roles.get(app, master, "admin"))[0]
    r = await http.post(f"{people}/roles/admin", data={"csrf": token, "body": '{"name": 7}'})
    assert r.status_code == 400 and "Chiefs" in (await kinvey.roles.get(app, master, "admin"))[0]
    r = await http.post(f"{people}/roles/admin/delete", data={"csrf": token, "confirm": "yes"})
    assert r.status_code == 303 and await kinvey.roles.get(app, master, None) == []
    assert (
        await http.post(f"{people}/roles/admin/delete", data={"csrf": token, "confirm": "yes"})
    ).status_code == 404
