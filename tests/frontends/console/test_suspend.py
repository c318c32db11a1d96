"""Users suspended (Kinvey's soft delete) and restored from the console's user page, on SQLite and
PostgreSQL: a suspended user's sessions end and its logins are refused; restored, it logs in
again; without the CSRF token nothing changes."""

from __future__ import annotations

import httpx
import pytest

from kinbase.core.services import Core
from kinbase.storage.base import AppRecord
from tests.frontends.console.conftest import login

pytestmark = pytest.mark.anyio


async def test_suspend_and_restore(console: tuple[Core, httpx.AsyncClient], app: AppRecord) -> None:
    core, http = console
    signup = await core.kinvey.users.signup(app, {"username": "sam", "password": "pw-sam-1"}, with_token=True)
    user_id = str(signup.user["_id"])
    token = str(signup.user["_kmd"]["authtoken"])
    as_app = (app.key, app.app_secret)

    async def logs_in() -> int:
        r = await http.post(
            f"/user/{app.key}/login", json={"username": "sam", "password": "pw-sam-1"}, auth=as_app
        )
        return r.status_code

    assert await logs_in() == 200
    csrf = await login(http, app.key, app.master_secret)
    page = f"/console/apps/{app.key}/users/{user_id}"
    r = await http.get(page)
    assert r.status_code == 200 and "Suspend this user" in r.text
    # Without the CSRF token: refused, nothing changed.
    assert (await http.post(f"{page}/suspend", data={})).status_code == 403
    assert await logs_in() == 200

    r = await http.post(f"{page}/suspend", data={"csrf": csrf})
    assert r.status_code == 200 and "Suspended the user" in r.text and "Restore this user" in r.text
    assert await logs_in() == 401
    me = await http.get(f"/user/{app.key}/_me", headers={"Authorization": f"Kinvey {token}"})
    assert me.status_code == 401  # its sessions ended
    assert "suspended" in (await http.get(page)).text

    r = await http.post(f"{page}/restore", data={"csrf": csrf})
    assert r.status_code == 200 and "Restored the user" in r.text and "Suspend this user" in r.text
    assert await logs_in() == 200
    # A user that does not exist: the Kinvey error, no change anywhere.
    r = await http.post(f"/console/apps/{app.key}/users/nobody/suspend", data={"csrf": csrf})
    assert r.status_code == 404
