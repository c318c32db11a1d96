"""The authorization server at the core: refresh and access tokens, storage, wiring."""

from __future__ import annotations

import pytest

from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.mic.errors import LoginRefused
from kinbase.core.mic.model import AuthService, UserStoreSource
from kinbase.core.mic.server import TokenRequest
from kinbase.core.mic.tokens import CODES, TOKENS
from kinbase.query.ast import Query
from tests.core.conftest import Stack
from tests.core.mic.conftest import REDIRECT
from tests.core.mic.flows import _basic, _code, _oauth_error, _password

pytestmark = pytest.mark.anyio


# -- refresh tokens -----------------------------------------------------------------------------
def _refresh(stack: Stack, token: str, service: str = "default") -> TokenRequest:
    return TokenRequest(
        grant_type="refresh_token", basic=_basic(stack, service), refresh_token=token, redirect_uri=REDIRECT
    )


async def test_refresh_rotates_and_reuse_revokes_the_family(mic: Stack) -> None:
    await mic.user("mia")
    first = await mic.oauth.token(_password(mic, "mia", "pw-secret"))
    second = await mic.oauth.token(_refresh(mic, first.refresh_token))
    assert second.refresh_token != first.refresh_token and second.access_token != first.access_token
    third = await mic.oauth.token(_refresh(mic, second.refresh_token))
    assert await mic.oauth.identity_for_access_token(mic.app, third.access_token) is not None
    # The spent first refresh token comes back: someone else holds the family. All of it dies.
    err = await _oauth_error(mic.oauth.token(_refresh(mic, first.refresh_token)))
    assert err.error == "invalid_grant" and "revoked" in err.description
    for pair in (first, second, third):
        assert await mic.oauth.identity_for_access_token(mic.app, pair.access_token) is None
    assert (await _oauth_error(mic.oauth.token(_refresh(mic, third.refresh_token)))).error == "invalid_grant"
    # Another login's family is untouched.
    other = await mic.oauth.token(_password(mic, "mia", "pw-secret"))
    assert (await mic.oauth.token(_refresh(mic, other.refresh_token))).access_token


async def test_refresh_failures(mic: Stack) -> None:
    await mic.user("ned")
    pair = await mic.oauth.token(_password(mic, "ned", "pw-secret"))
    assert (
        await _oauth_error(mic.oauth.token(_refresh(mic, pair.refresh_token, "flex")))
    ).error == "invalid_grant"
    assert (await _oauth_error(mic.oauth.token(_refresh(mic, pair.access_token)))).error == "invalid_grant"
    assert (await _oauth_error(mic.oauth.token(_refresh(mic, "forged")))).error == "invalid_grant"
    missing = TokenRequest(grant_type="refresh_token", basic=_basic(mic))
    assert (await _oauth_error(mic.oauth.token(missing))).error == "invalid_request"
    # The refused attempts did not spend it.
    assert (await mic.oauth.token(_refresh(mic, pair.refresh_token))).access_token
    later = await mic.oauth.token(_password(mic, "ned", "pw-secret"))
    mic.clock.advance(91 * 86400)
    assert (await _oauth_error(mic.oauth.token(_refresh(mic, later.refresh_token)))).error == "invalid_grant"
    assert await mic.oauth.identity_for_access_token(mic.app, later.access_token) is None


async def test_access_tokens_expire(mic: Stack) -> None:
    await mic.user("oli")
    pair = await mic.oauth.token(_password(mic, "oli", "pw-secret"))
    mic.clock.advance(3601)
    with pytest.raises(KinveyError) as err:
        await mic.logins.login(
            mic.app, {"_socialIdentity": {"kinveyAuth": {"access_token": pair.access_token}}}, address=None
        )
    assert err.value.name == "InvalidCredentials"


async def test_tokens_and_codes_are_stored_as_digests(mic: Stack) -> None:
    await mic.user("pat")
    code = await _code(mic, username="pat")
    pair = await mic.oauth.token(
        TokenRequest(grant_type="authorization_code", basic=_basic(mic), code=code, redirect_uri=REDIRECT)
    )
    text = ""
    async with mic.storage.reader() as reader:
        for kind in (CODES, TOKENS):
            parent = await reader.get_parent(mic.app.id, kind, "")
            assert parent is not None
            text += "".join(o.id + o.data for o in await reader.find(parent, Query(), None))
    for secret in (code, pair.access_token, pair.refresh_token):
        assert secret not in text


async def test_dotted_app_keys_resolve_to_the_app_first(mic: Stack) -> None:
    async with mic.storage.writer() as writer:
        base = "kid_dot" + mic.app.key[-6:]
        plain = await writer.create_app(base, "Plain", "a" * 16, "b" * 16, {})
        dotted = await writer.create_app(f"{base}.web", "Dotted", "c" * 16, "d" * 16, {})
    mic.services([AuthService("default", UserStoreSource())], dotted)
    mic.services([AuthService("web", UserStoreSource())], plain)
    found = await mic.oauth.client(f"{base}.web")
    assert found is not None and found[0].id == dotted.id and found[1].id == "default"
    assert await mic.oauth.client("") is None and await mic.oauth.client("x" * 300) is None


async def test_the_login_throttle_answers_as_an_oauth_refusal(mic: Stack) -> None:
    await mic.user("quin")
    errors = [(await _oauth_error(mic.oauth.token(_password(mic, "quin", "wrong")))) for _ in range(5)]
    assert all(e.error == "invalid_grant" for e in errors)
    assert "Too many failed logins" in errors[-1].description
    # Locked out: even the right password is refused for now, cleanly.
    locked = await _oauth_error(mic.oauth.token(_password(mic, "quin", "pw-secret")))
    assert locked.error == "invalid_grant" and "Too many" in locked.description
    page = await mic.oauth.authorize(mic.app.key, REDIRECT, "code", "s")
    with pytest.raises(LoginRefused) as refused:
        await mic.oauth.login(page.state, "quin", "pw-secret")
    assert "Too many" in refused.value.description


async def test_a_disabled_user_cannot_log_in_through_its_identity(mic: Stack) -> None:
    alice = await mic.user("rae")
    pair = await mic.oauth.token(_password(mic, "rae", "pw-secret"))
    await mic.users.delete(mic.app, Caller.master(), alice.user["_id"], hard=False)
    with pytest.raises(KinveyError) as err:
        await mic.logins.login(
            mic.app, {"_socialIdentity": {"kinveyAuth": {"access_token": pair.access_token}}}, address=None
        )
    assert err.value.name == "InvalidCredentials"


async def test_the_core_wires_the_login_services(core: object) -> None:
    from kinbase.core.services import Core

    assert isinstance(core, Core)
    assert core.mic.oauth is core.mic.logins._tokens
    assert await core.mic.oauth.client("kid_nosuchapp") is None
