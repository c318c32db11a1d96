"""The authorization server at the core: the three grants, the login page, and every failure."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.mic.errors import LoginRefused, OAuthError
from kinbase.core.mic.model import AuthService, UserStoreSource
from kinbase.core.mic.server import TokenRequest
from kinbase.core.mic.tokens import TokenPair
from kinbase.query.ast import Query
from tests.core.conftest import Stack, make_stack
from tests.core.mic.conftest import REDIRECT
from tests.core.mic.flows import _basic, _code, _oauth_error, _password

pytestmark = pytest.mark.anyio


# -- the password grant and social login -------------------------------------------------------
async def test_password_grant_with_the_user_store_logs_in_as_that_user(mic: Stack) -> None:
    alice = await mic.user("alice")
    pair = await mic.oauth.token(_password(mic, "alice", "pw-secret"))
    assert pair.body()["token_type"] == "Bearer" and pair.body()["expires_in"] == 3600
    assert pair.access_token != pair.refresh_token
    opened = await mic.logins.login(
        mic.app, {"_socialIdentity": {"kinveyAuth": {"access_token": pair.access_token}}}, address=None
    )
    assert opened.user["_id"] == alice.user["_id"]
    assert opened.user["_socialIdentity"]["kinveyAuth"]["access_token"] == pair.access_token
    session = await mic.sessions.resolve(mic.app, opened.token)
    assert session is not None and session.user_id == alice.user["_id"]


async def test_password_grant_refusals(mic: Stack) -> None:
    await mic.user("bob")
    wrong = await _oauth_error(mic.oauth.token(_password(mic, "bob", "nope")))
    assert (wrong.error, wrong.status) == ("invalid_grant", 400)
    unknown = await _oauth_error(mic.oauth.token(_password(mic, "nobody", "nope")))
    assert unknown.error == "invalid_grant"
    for missing in (
        TokenRequest(grant_type="password", basic=_basic(mic), password="pw-secret"),
        TokenRequest(grant_type="password", basic=_basic(mic), username="bob"),
        TokenRequest(basic=_basic(mic), username="bob", password="pw-secret"),
    ):
        assert (await _oauth_error(mic.oauth.token(missing))).error == "invalid_request"
    bad_grant = TokenRequest(grant_type="client_credentials", basic=_basic(mic))
    assert (await _oauth_error(mic.oauth.token(bad_grant))).error == "unsupported_grant_type"


@pytest.mark.parametrize(
    "request_of",
    [
        lambda s: TokenRequest(grant_type="password", username="bob", password="pw-secret"),
        lambda s: TokenRequest(grant_type="password", basic=(s.app.key, "wrong"), username="b", password="p"),
        lambda s: TokenRequest(grant_type="password", basic=("kid_nosuchapp", s.app.app_secret)),
        lambda s: TokenRequest(grant_type="password", basic=(f"{s.app.key}.nosuch", s.app.app_secret)),
        lambda s: TokenRequest(grant_type="password", basic=(f"{s.app.key}.default", s.app.app_secret)),
        lambda s: TokenRequest(grant_type="password", client_id=s.app.key, client_secret="wrong"),
    ],
    ids=[
        "no-auth",
        "wrong-secret",
        "unknown-app",
        "unknown-service",
        "explicit-default",
        "form-wrong-secret",
    ],
)
async def test_client_authentication_failures_are_invalid_client(mic: Stack, request_of: object) -> None:
    err = await _oauth_error(mic.oauth.token(request_of(mic)))
    assert (err.error, err.status) == ("invalid_client", 401)


async def test_client_id_must_match_the_authenticated_client(mic: Stack) -> None:
    await mic.user("cid")
    request = TokenRequest(
        grant_type="password",
        basic=_basic(mic),
        client_id=f"{mic.app.key}.flex",
        username="cid",
        password="pw-secret",
    )
    assert (await _oauth_error(mic.oauth.token(request))).error == "invalid_request"
    # The form's client_secret is accepted too, and so is the master secret.
    form = TokenRequest(
        grant_type="password",
        client_id=mic.app.key,
        client_secret=mic.app.master_secret,
        username="cid",
        password="pw-secret",
    )
    assert (await mic.oauth.token(form)).access_token


async def test_an_access_token_is_bound_to_its_app(mic: Stack) -> None:
    await mic.user("dan")
    pair = await mic.oauth.token(_password(mic, "dan", "pw-secret"))
    async with mic.storage.writer() as writer:
        other = await writer.create_app("kid_other" + mic.app.key[-6:], "Other", "s1" * 8, "m1" * 8, {})
    with pytest.raises(KinveyError) as err:
        await mic.logins.login(
            other, {"_socialIdentity": {"kinveyAuth": {"access_token": pair.access_token}}}, address=None
        )
    assert err.value.name == "InvalidCredentials"


@pytest.mark.parametrize(
    ("social", "name"),
    [
        ({"facebook": {"access_token": "x"}}, "BadRequest"),
        ({}, "BadRequest"),
        ("text", "BadRequest"),
        ({"kinveyAuth": {"access_token": 5}}, "BadRequest"),
        ({"kinveyAuth": {"access_token": "forged"}}, "InvalidCredentials"),
    ],
    ids=["other-provider", "empty", "not-an-object", "token-not-a-string", "forged-token"],
)
async def test_bad_social_identities(mic: Stack, social: object, name: str) -> None:
    with pytest.raises(KinveyError) as err:
        await mic.logins.login(mic.app, {"_socialIdentity": social}, address=None)
    assert err.value.name == name
    with pytest.raises(KinveyError) as err:
        await mic.logins.signup_social(mic.app, {"_socialIdentity": social})
    assert err.value.name == name


# -- FlexAuth ---------------------------------------------------------------------------------
async def test_flexauth_identity_signs_up_once_then_logs_in(mic: Stack) -> None:
    pair = await mic.oauth.token(_password(mic, "flexuser", "flexpass", "flex"))
    body = {"_socialIdentity": {"kinveyAuth": {"access_token": pair.access_token, "client_id": "x"}}}
    with pytest.raises(KinveyError) as err:
        await mic.logins.login(mic.app, body, address=None)
    assert err.value.name == "UserNotFound"
    created = await mic.logins.signup_social(mic.app, {**body, "nickname": "Flexy", "password": "ignored"})
    uid = created.user["_id"]
    assert created.user["nickname"] == "Flexy" and "password" not in created.user
    assert created.user["username"] != "flexuser"  # a local name never collides with the identity's
    with pytest.raises(KinveyError) as err:
        await mic.logins.signup_social(mic.app, body)
    assert err.value.name == "UserAlreadyExists"
    again = await mic.logins.login(mic.app, body, address=None)
    assert again.user["_id"] == uid and again.token != created.token
    # The created user has no password anyone could guess.
    with pytest.raises(KinveyError):
        await mic.logins.login(mic.app, {"username": created.user["username"], "password": ""}, address=None)
    # The identity is not in the stored user document.
    stored = await mic.users.stored(mic.app, uid)
    assert (
        stored is not None and "_socialIdentity" not in stored.data and pair.access_token not in stored.data
    )
    # Another Flex account is another user; the same account through a new token is the same user.
    other = await mic.oauth.token(_password(mic, "other", "otherpass", "flex"))
    other_body = {"_socialIdentity": {"kinveyAuth": {"access_token": other.access_token}}}
    assert (await mic.logins.signup_social(mic.app, other_body)).user["_id"] != uid
    fresh = await mic.oauth.token(_password(mic, "flexuser", "flexpass", "flex"))
    relog = await mic.logins.login(
        mic.app, {"_socialIdentity": {"kinveyAuth": {"access_token": fresh.access_token}}}, address=None
    )
    assert relog.user["_id"] == uid


async def test_concurrent_social_signups_create_one_user(mic: Stack) -> None:
    pair = await mic.oauth.token(_password(mic, "flexuser", "flexpass", "flex"))
    body = {"_socialIdentity": {"kinveyAuth": {"access_token": pair.access_token}}}
    results = await asyncio.gather(
        *(mic.logins.signup_social(mic.app, body) for _ in range(4)), return_exceptions=True
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    assert len(made) == 1
    assert all(isinstance(r, KinveyError) and r.name == "UserAlreadyExists" for r in results if r not in made)
    users = await mic.users.find(mic.app, Caller.master(), Query(), api_version=6)
    assert len(users.texts) == 1


async def test_flexauth_wrong_password_carries_the_handlers_message(mic: Stack) -> None:
    err = await _oauth_error(mic.oauth.token(_password(mic, "flexuser", "wrong", "flex")))
    assert err.error == "invalid_grant" and "No account flexuser" in err.description


@pytest.mark.parametrize(
    ("service", "error"),
    [
        ("slow", "temporarily_unavailable"),
        ("down", "temporarily_unavailable"),
        ("missing", "temporarily_unavailable"),
        ("busy", "temporarily_unavailable"),
        ("broken", "server_error"),
        ("garbage", "temporarily_unavailable"),
        ("wrongsecret", "server_error"),
    ],
)
async def test_flexauth_failures_are_clean_oauth_errors(mic: Stack, service: str, error: str) -> None:
    started = time.monotonic()
    err = await _oauth_error(mic.oauth.token(_password(mic, "flexuser", "flexpass", service)))
    assert (err.error, err.status) == (error, 400)
    assert time.monotonic() - started < 2.5  # the slow handler takes 3 s; the client gave up at 0.5 s
    # Through the login page the error goes back to the client's redirect URI.
    page = await mic.oauth.authorize(f"{mic.app.key}.{service}", REDIRECT, "code", "st8")
    with pytest.raises(OAuthError) as redirected:
        await mic.oauth.login(page.state, "flexuser", "flexpass")
    assert redirected.value.location is not None
    query = parse_qs(urlsplit(redirected.value.location).query)
    assert query["error"] == [error] and query["state"] == ["st8"] and "error_description" in query


# -- the authorization-code flow ----------------------------------------------------------------
async def test_authorization_code_flow(mic: Stack) -> None:
    alice = await mic.user("erin")
    page = await mic.oauth.authorize(mic.app.key, REDIRECT, "code", "opaque state")
    assert page.app.id == mic.app.id and page.service.id == "default" and page.redirect_uri == REDIRECT
    location = await mic.oauth.login(page.state, "erin", "pw-secret")
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["opaque state"] and len(query["code"][0]) >= 40
    pair = await mic.oauth.token(
        TokenRequest(
            grant_type="authorization_code", basic=_basic(mic), code=query["code"][0], redirect_uri=REDIRECT
        )
    )
    identity = await mic.oauth.identity_for_access_token(mic.app, pair.access_token)
    assert identity is not None and identity.subject == alice.user["_id"] and identity.local


async def test_a_registered_redirect_uri_keeps_its_query(mic: Stack) -> None:
    await mic.user("fred")
    uri = "http://localhost:8100/cb?keep=1"
    page = await mic.oauth.authorize(mic.app.key, uri, "code", None)
    location = await mic.oauth.login(page.state, "fred", "pw-secret")
    query = parse_qs(urlsplit(location).query)
    assert query["keep"] == ["1"] and "code" in query and "state" not in query
    assert location.startswith("http://localhost:8100/cb?")


@pytest.mark.parametrize(
    ("client", "uri", "response_type", "error", "redirected"),
    [
        (None, REDIRECT, "code", "invalid_request", False),
        ("kid_nosuchapp", REDIRECT, "code", "invalid_request", False),
        ("{key}.nosuch", REDIRECT, "code", "invalid_request", False),
        ("{key}", "https://evil.example.test/callback", "code", "invalid_request", False),
        ("{key}", REDIRECT + "/", "code", "invalid_request", False),
        ("{key}", None, "code", "invalid_request", False),
        ("{key}.nouri", REDIRECT, "code", "invalid_request", False),
        ("{key}", REDIRECT, "token", "unsupported_response_type", True),
        ("{key}", REDIRECT, None, "unsupported_response_type", True),
    ],
    ids=[
        "no-client",
        "unknown-app",
        "unknown-service",
        "foreign-uri",
        "near-uri",
        "no-uri",
        "no-uris",
        "token",
        "none",
    ],
)
async def test_authorization_request_failures(
    mic: Stack, client: str | None, uri: str | None, response_type: str | None, error: str, redirected: bool
) -> None:
    client_id = client.format(key=mic.app.key) if client else None
    err = await _oauth_error(mic.oauth.authorize(client_id, uri, response_type, "s"))
    assert err.error == error
    assert (err.location is not None) == redirected
    if err.location is not None:
        assert err.location.startswith(REDIRECT + "?") and "state=s" in err.location


async def test_login_form_refusals(mic: Stack) -> None:
    await mic.user("gus")
    page = await mic.oauth.authorize(mic.app.key, REDIRECT, "code", "s")
    for username, password in (("gus", "wrong"), ("", "pw-secret"), ("gus", ""), (None, None)):
        with pytest.raises(LoginRefused) as refused:
            await mic.oauth.login(page.state, username, password)
        assert refused.value.location is None and not refused.value.second_factor
    forged = page.state[:-4] + ("AAAA" if not page.state.endswith("AAAA") else "BBBB")
    for state in (forged, "garbage", "", "a.b", page.state + "x"):
        err = await _oauth_error(mic.oauth.login(state, "gus", "pw-secret"))
        assert err.error == "invalid_request" and err.location is None
    mic.clock.advance(16 * 60)
    err = await _oauth_error(mic.oauth.login(page.state, "gus", "pw-secret"))
    assert err.error == "invalid_request"


async def test_a_state_signed_by_another_server_is_refused(mic: Stack) -> None:
    other = make_stack(mic.storage, mic.app)  # another server secret
    other.services([AuthService("default", UserStoreSource(), (REDIRECT,))])
    page = await other.oauth.authorize(mic.app.key, REDIRECT, "code", "s")
    err = await _oauth_error(mic.oauth.login(page.state, "x", "y"))
    assert err.error == "invalid_request"


async def test_login_page_asks_users_with_mfa_for_a_code(mic: Stack) -> None:
    alice = await mic.user("hana")
    _, secret, codes = await mic.enrol(alice.user["_id"])
    page = await mic.oauth.authorize(mic.app.key, REDIRECT, "code", "s")
    with pytest.raises(LoginRefused) as refused:
        await mic.oauth.login(page.state, "hana", "pw-secret")
    assert refused.value.second_factor
    with pytest.raises(LoginRefused) as refused:
        await mic.oauth.login(
            page.state, "hana", "pw-secret", otp="000000" if mic.code(secret) != "000000" else "1"
        )
    assert refused.value.second_factor
    location = await mic.oauth.login(page.state, "hana", "pw-secret", otp=mic.code(secret))
    assert "code=" in location
    assert "code=" in await mic.oauth.login(page.state, "hana", "pw-secret", otp=codes[0])
    # The password grant cannot pass a second factor: refused, with a reason.
    err = await _oauth_error(mic.oauth.token(_password(mic, "hana", "pw-secret")))
    assert err.error == "invalid_grant" and "one-time code" in err.description


async def test_codes_are_single_use_and_reuse_revokes_the_tokens(mic: Stack) -> None:
    await mic.user("ivy")
    code = await _code(mic, username="ivy")
    exchange = TokenRequest(
        grant_type="authorization_code", basic=_basic(mic), code=code, redirect_uri=REDIRECT
    )
    pair = await mic.oauth.token(exchange)
    assert await mic.oauth.identity_for_access_token(mic.app, pair.access_token) is not None
    err = await _oauth_error(mic.oauth.token(exchange))
    assert err.error == "invalid_grant" and "used already" in err.description
    assert await mic.oauth.identity_for_access_token(mic.app, pair.access_token) is None
    refused = await _oauth_error(
        mic.oauth.token(
            TokenRequest(grant_type="refresh_token", basic=_basic(mic), refresh_token=pair.refresh_token)
        )
    )
    assert refused.error == "invalid_grant"


async def test_code_exchange_failures(mic: Stack) -> None:
    await mic.user("jan")
    code = await _code(mic, username="jan")
    for request in (
        TokenRequest(
            grant_type="authorization_code", basic=_basic(mic), code=code, redirect_uri=REDIRECT + "/x"
        ),
        TokenRequest(
            grant_type="authorization_code", basic=_basic(mic, "flex"), code=code, redirect_uri=REDIRECT
        ),
        TokenRequest(
            grant_type="authorization_code", basic=_basic(mic), code="forged", redirect_uri=REDIRECT
        ),
        TokenRequest(
            grant_type="authorization_code", basic=_basic(mic), code="x" * 600, redirect_uri=REDIRECT
        ),
    ):
        assert (await _oauth_error(mic.oauth.token(request))).error == "invalid_grant"
    for request in (
        TokenRequest(grant_type="authorization_code", basic=_basic(mic), redirect_uri=REDIRECT),
        TokenRequest(grant_type="authorization_code", basic=_basic(mic), code=code),
    ):
        assert (await _oauth_error(mic.oauth.token(request))).error == "invalid_request"
    nouri = TokenRequest(
        grant_type="authorization_code", basic=_basic(mic, "nouri"), code=code, redirect_uri=REDIRECT
    )
    assert (await _oauth_error(mic.oauth.token(nouri))).error == "unauthorized_client"
    # None of the failed attempts spent the code: its rightful exchange still works.
    good = TokenRequest(grant_type="authorization_code", basic=_basic(mic), code=code, redirect_uri=REDIRECT)
    assert (await mic.oauth.token(good)).access_token


async def test_codes_expire(mic: Stack) -> None:
    await mic.user("kai")
    code = await _code(mic, username="kai")
    mic.clock.advance(61)
    err = await _oauth_error(
        mic.oauth.token(
            TokenRequest(grant_type="authorization_code", basic=_basic(mic), code=code, redirect_uri=REDIRECT)
        )
    )
    assert err.error == "invalid_grant" and "expired" in err.description


async def test_concurrent_code_exchanges_issue_one_family(mic: Stack) -> None:
    await mic.user("lou")
    code = await _code(mic, username="lou")
    exchange = TokenRequest(
        grant_type="authorization_code", basic=_basic(mic), code=code, redirect_uri=REDIRECT
    )
    results = await asyncio.gather(*(mic.oauth.token(exchange) for _ in range(3)), return_exceptions=True)
    pairs = [r for r in results if isinstance(r, TokenPair)]
    assert len(pairs) <= 1
    assert all(
        isinstance(r, OAuthError) and r.error == "invalid_grant"
        for r in results
        if not isinstance(r, TokenPair)
    )
    # Whatever the interleaving, a reused code leaves no live token behind.
    for pair in pairs:
        assert await mic.oauth.identity_for_access_token(mic.app, pair.access_token) is None
