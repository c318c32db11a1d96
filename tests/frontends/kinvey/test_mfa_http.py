"""API version 6 MFA over HTTP (both engines): enrolment, the ``mfaRequired`` login, challenge and
complete with a device token, recovery codes, the Basic ``user:password`` bypass closed, and the
session hygiene of password changes, resets and deletions."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import pyotp
import pytest

from kinbase.core.appconfig import parse_toml
from kinbase.core.kinvey.mfa.authenticators import AUTHENTICATORS
from kinbase.core.kinvey.mfa.codes import DEVICES, RECOVERY
from kinbase.core.kinvey.social import IDENTITIES, link
from kinbase.core.kinvey.user_secrets import OAUTH_TOKENS
from kinbase.core.mic.model import Identity
from kinbase.core.permissions import user_principal
from kinbase.core.private import owned
from kinbase.core.services import Core
from kinbase.storage.base import AppRecord

from .conftest import Kinvey, User

pytestmark = pytest.mark.anyio


def _code(secret: str, steps_ahead: int = 0) -> str:
    """A TOTP code of ``secret``, ``steps_ahead`` 30-second steps from now (a code is accepted
    once, one step early or late: each use in a test takes the next step)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def _enrol(kv: Kinvey, user: User) -> tuple[str, list[str]]:
    """Create and verify a TOTP authenticator for ``user``; its secret and the recovery codes."""
    created = await kv.post(
        f"/user/{{k}}/{user.id}/authenticators", user, json={"name": "phone", "type": "totp"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["config"]["uri"].startswith("otpauth://totp/")
    secret = body["config"]["secret"]
    verified = await kv.post(
        f"/user/{{k}}/{user.id}/authenticators/{body['id']}/verify", user, json={"code": _code(secret)}
    )
    assert verified.status_code == 200, verified.text
    codes = verified.json()["recoveryCodes"]
    assert len(codes) == 10
    return secret, codes


async def _login(kv: Kinvey, user: User, version: str = "6", **extra: Any) -> httpx.Response:
    body = {"username": user.username, "password": user.password, **extra}
    return await kv.post("/user/{k}/login", kv.appauth, json=body, version=version)


def _mfa(token: str) -> dict[str, str]:
    return {"Authorization": f"KinveyMFA {token}"}


def _basic(user: User) -> dict[str, str]:
    pair = f"{user.username}:{user.password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


async def test_a_user_without_an_authenticator_keeps_the_classic_answer(kv: Kinvey) -> None:
    ann = await kv.user("ann", "pw-ann")
    answer = await _login(kv, ann)
    assert answer.status_code == 200 and "mfaRequired" not in answer.json()
    assert answer.json()["_id"] == ann.id and answer.json()["_kmd"]["authtoken"]
    assert (await kv.get(f"/user/{{k}}/{ann.id}/authenticators", ann)).json() == []


async def test_enrol_then_log_in_with_a_code_a_device_token_and_a_recovery_code(kv: Kinvey) -> None:
    bea = await kv.user("bea", "pw-bea")
    secret, recovery = await _enrol(kv, bea)
    listed = (await kv.get(f"/user/{{k}}/{bea.id}/authenticators", bea)).json()
    assert [(a["name"], a["type"]) for a in listed] == [("phone", "totp")] and "config" not in listed[0]

    challenge = await _login(kv, bea)
    assert challenge.status_code == 200, challenge.text
    body = challenge.json()
    assert body["mfaRequired"] is True and body["userId"] == bea.id
    assert body["authenticators"] == listed and "_kmd" not in body
    token = body["mfaSessionToken"]
    assert (
        await kv.post("/user/{k}/mfa/challenge", _mfa(token), json={"authenticatorId": listed[0]["id"]})
    ).status_code == 204
    wrong = await kv.post("/user/{k}/mfa/complete", _mfa(token), json={"code": "000000"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "BadRequest"
    done = await kv.post(
        "/user/{k}/mfa/complete", _mfa(token), json={"code": _code(secret, 1), "createDeviceToken": True}
    )
    assert done.status_code == 200, done.text
    opened = done.json()
    assert opened["mfaRequired"] is False and opened["user"]["_id"] == bea.id and opened["deviceToken"]
    session = {"Authorization": f"Kinvey {opened['authToken']}"}
    assert (await kv.get("/user/{k}/_me", session)).json()["_id"] == bea.id
    spent = await kv.post("/user/{k}/mfa/complete", _mfa(token), json={"code": _code(secret, 1)})
    assert spent.status_code == 401 and spent.json()["error"] == "InvalidCredentials"

    trusted = await _login(kv, bea, deviceToken=opened["deviceToken"])
    assert (
        trusted.status_code == 200 and trusted.json()["_id"] == bea.id and "mfaRequired" not in trusted.json()
    )
    untrusted = await _login(kv, bea, deviceToken="forged")
    assert untrusted.json()["mfaRequired"] is True

    rescued = await _login(kv, bea, recoveryCode=recovery[0].upper())
    assert rescued.status_code == 200 and rescued.json()["_id"] == bea.id
    again = await _login(kv, bea, recoveryCode=recovery[0])
    assert again.status_code == 401 and again.json()["error"] == "InvalidCredentials"
    left = await kv.get(f"/user/{{k}}/{bea.id}/recovery-codes", bea)
    assert left.json() == {"recoveryCodes": [], "remaining": 9}
    fresh = await kv.post(f"/user/{{k}}/{bea.id}/recovery-codes", bea)
    assert len(fresh.json()["recoveryCodes"]) == 10
    assert (await _login(kv, bea, recoveryCode=recovery[1])).status_code == 401  # the old set is revoked

    assert (await kv.delete(f"/user/{{k}}/{bea.id}/authenticators/{listed[0]['id']}", bea)).status_code == 204
    assert "mfaRequired" not in (await _login(kv, bea)).json()


async def test_mfa_refusals(kv: Kinvey) -> None:
    cid = await kv.user("cid", "pw-cid")
    dee = await kv.user("dee", "pw-dee")
    await _enrol(kv, cid)
    # Before API version 6 a client cannot answer the challenge: refused, not let in.
    old = await _login(kv, cid, version="5")
    assert old.status_code == 400 and old.json()["error"] == "FeatureUnavailable"
    for path in ("/user/{k}/mfa/challenge", "/user/{k}/mfa/complete"):
        missing = await kv.post(path, kv.appauth, json={"code": "123456", "authenticatorId": "x"})
        assert missing.status_code == 401 and missing.json()["error"] == "InvalidCredentials"
        forged = await kv.post(path, _mfa("forged"), json={"code": "123456", "authenticatorId": "x"})
        assert forged.status_code == 401
    token = (await _login(kv, cid)).json()["mfaSessionToken"]
    unknown = await kv.post("/user/{k}/mfa/challenge", _mfa(token), json={"authenticatorId": "nope"})
    assert unknown.status_code == 404
    bad = await kv.post("/user/{k}/mfa/complete", _mfa(token), json={"code": 7})
    assert bad.status_code == 400
    # Someone else's authenticators are not yours to read, add or remove; an MFA session of a user
    # with an authenticator cannot add another.
    assert (await kv.get(f"/user/{{k}}/{cid.id}/authenticators", dee)).status_code == 401
    assert (await kv.post(f"/user/{{k}}/{cid.id}/authenticators", dee, json={})).status_code == 401
    assert (await kv.post(f"/user/{{k}}/{cid.id}/authenticators", _mfa(token), json={})).status_code == 401
    assert (await kv.post(f"/user/{{k}}/{dee.id}/authenticators", _mfa("forged"), json={})).status_code == 401
    assert (await kv.post(f"/user/{{k}}/{dee.id}/recovery-codes", dee)).status_code == 400  # no MFA
    assert (await kv.delete(f"/user/{{k}}/{dee.id}/authenticators/none", dee)).status_code == 404
    # The master secret manages anyone's.
    assert len((await kv.get(f"/user/{{k}}/{cid.id}/authenticators")).json()) == 1


async def test_basic_user_password_does_not_open_the_data_of_a_user_with_mfa(kv: Kinvey) -> None:
    eve = await kv.user("eve", "pw-eve")
    fred = await kv.user("fred", "pw-fred")
    await _enrol(kv, eve)
    assert (await kv.get("/appdata/{k}/notes", _basic(fred), version="5")).status_code == 200
    refused = await kv.get("/appdata/{k}/notes", _basic(eve), version="5")
    assert refused.status_code == 401 and refused.json()["error"] == "InvalidCredentials"
    assert (await kv.get("/user/{k}/_me", _basic(eve), version="3")).status_code == 401


# -- session hygiene ------------------------------------------------------------------------------
@pytest.fixture
async def local_mic(core: Core, app: AppRecord, kv: Kinvey) -> None:
    """The app's default auth service: kinbase's own users (no redirect URI: password grant)."""
    await core.appconfig.apply(app, parse_toml("[auth.default]\nuser_store = true\n"))
    await core.apps.changed(app.key)
    kv.app = await core.apps.require(app.key)


async def _mic_token(kv: Kinvey, user: User) -> str:
    form = {"grant_type": "password", "username": user.username, "password": user.password}
    answer = await kv.http.post(
        "/oauth/token", data=form, headers={"Authorization": kv.appauth["Authorization"]}
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


async def _social_status(kv: Kinvey, token: str) -> int:
    body = {"_socialIdentity": {"kinveyAuth": {"access_token": token}}}
    return (await kv.post("/user/{k}/login", kv.appauth, json=body)).status_code


async def test_a_password_change_revokes_other_sessions_and_mic_tokens(kv: Kinvey, local_mic: None) -> None:
    gil = await kv.user("gil", "pw-gil")
    other = User(gil.id, gil.username, gil.password, (await _login(kv, gil)).json()["_kmd"]["authtoken"])
    token = await _mic_token(kv, gil)
    assert await _social_status(kv, token) == 200
    changed = await kv.put(f"/user/{{k}}/{gil.id}", gil, json={"username": "gil", "password": "new-pw"})
    assert changed.status_code == 200, changed.text
    assert (await kv.get("/user/{k}/_me", gil)).status_code == 200  # the changing session survives
    assert (await kv.get("/user/{k}/_me", other)).status_code == 401
    assert await _social_status(kv, token) == 401
    # DELETE …/tokens ends the MIC tokens as well.
    gil.password = "new-pw"
    second = await _mic_token(kv, gil)
    assert (await kv.delete(f"/user/{{k}}/{gil.id}/tokens", gil)).status_code == 204
    assert await _social_status(kv, second) == 401


async def test_a_password_reset_revokes_sessions_and_mic_tokens(
    core: Core, kv: Kinvey, local_mic: None
) -> None:
    hal = await kv.user("hal", "pw-hal")
    token = await _mic_token(kv, hal)
    async with core.storage.writer() as writer:
        await core.kinvey.users.set_password(writer, kv.app, hal.id, "reset-pw")
    assert (await kv.get("/user/{k}/_me", hal)).status_code == 401
    assert await _social_status(kv, token) == 401


async def test_deleting_a_user_removes_everything_it_owns(core: Core, kv: Kinvey, local_mic: None) -> None:
    ivy = await kv.user("ivy", "pw-ivy")
    await _enrol(kv, ivy)
    token = (await _login(kv, ivy)).json()["mfaSessionToken"]
    assert token
    async with core.storage.writer() as writer:
        await core.mic.mfa.devices.issue(writer, kv.app.id, ivy.id)
    # A linked identity and a token of the user-store source.
    async with core.storage.writer() as writer:
        await link(writer, kv.app.id, Identity("flex", "ivy-at-flex"), ivy.id)
    await core.mic.oauth.tokens.issue(kv.app, kv.key, Identity("default", ivy.id, local=True))
    kinds = (AUTHENTICATORS, RECOVERY, DEVICES, IDENTITIES, OAUTH_TOKENS, "kinvey.mfa_sessions")

    async def counts() -> dict[str, int]:
        async with core.storage.reader() as reader:
            return {k: len(await owned(reader, kv.app.id, k, user_principal(ivy.id))) for k in kinds}

    before = await counts()
    assert all(before.values()), before
    assert (await kv.delete(f"/user/{{k}}/{ivy.id}", params={"hard": "true"})).status_code == 204
    assert await counts() == dict.fromkeys(kinds, 0)
