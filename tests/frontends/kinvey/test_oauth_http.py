"""The auth host over HTTP, as a browser and as the SDKs drive it (both engines): the login page,
the form, the 302 with a code, the token endpoint's three grants, the social login that follows,
and every failure as a clean OAuth or Kinvey error."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest

from kinbase.core.appconfig import parse_toml
from kinbase.core.services import Core
from kinbase.storage.base import AppRecord
from kinbase.storage.stamps import now_ms
from tests.core.mic.conftest import FLEX_SECRET, _flex_service, _not_json
from tests.support.flexauth import serve_asgi
from tests.support.server import free_port

from .conftest import Kinvey

pytestmark = pytest.mark.anyio

REDIRECT = "https://app.example.test/callback"


@pytest.fixture(scope="module")
def flex_urls() -> Iterator[dict[str, str]]:
    with serve_asgi(_flex_service()) as real, serve_asgi(_not_json) as garbage:
        yield {"real": real, "garbage": garbage, "down": f"http://127.0.0.1:{free_port()}"}


def _config(urls: dict[str, str]) -> str:
    def flex(name: str, url: str, timeout: float = 10) -> str:
        return (
            f'[flex_services.{name}]\nurl = "{url}"\nsecret = "{FLEX_SECRET}"\ntimeout_seconds = {timeout}\n'
        )

    def auth(name: str, source: str, uris: bool = True) -> str:
        redirect = f'redirect_uris = ["{REDIRECT}"]\n' if uris else ""
        return f"[auth.{name}]\n{source}\n{redirect}"

    return "\n".join(
        [
            flex("accounts", urls["real"]),
            # 0.5 s for a handler that sleeps 3 s: refused at the timeout, with room to spare.
            flex("sluggish", urls["real"], 0.5),
            flex("down", urls["down"]),
            flex("garbage", urls["garbage"]),
            auth("default", "user_store = true"),
            auth("nouri", "user_store = true", uris=False),
            auth("flex", 'flex_auth = { service = "accounts", handler = "fixedAuth" }'),
            auth("slow", 'flex_auth = { service = "sluggish", handler = "slow" }'),
            auth("broken", 'flex_auth = { service = "accounts", handler = "broken" }'),
            auth("down", 'flex_auth = { service = "down", handler = "fixedAuth" }'),
            auth("garbage", 'flex_auth = { service = "garbage", handler = "fixedAuth" }'),
        ]
    )


@pytest.fixture
async def mic(core: Core, app: AppRecord, kv: Kinvey, flex_urls: dict[str, str]) -> AsyncIterator[Kinvey]:
    await core.appconfig.apply(app, parse_toml(_config(flex_urls)))
    await core.apps.changed(app.key)
    kv.app = await core.apps.require(app.key)
    yield kv
    await core.flex.close()


def _client_id(kv: Kinvey, service: str) -> str:
    return kv.key if service == "default" else f"{kv.key}.{service}"


def _client_auth(kv: Kinvey, service: str = "default", secret: str | None = None) -> dict[str, str]:
    pair = f"{_client_id(kv, service)}:{secret if secret is not None else kv.app.app_secret}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def _hidden_state(page: str) -> str:
    found = re.search(r'name="state" value="([^"]+)"', page)
    assert found, page
    return found.group(1).replace("&amp;", "&")


def _query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def _browser_login(
    kv: Kinvey,
    username: str,
    password: str,
    service: str = "default",
    prefix: str = "/v3",
    **extra: str,
) -> httpx.Response:
    """GET the login page, POST its form as a browser would; the answer (a 302 or the page)."""
    page = await kv.http.get(
        f"{prefix}/oauth/auth",
        params={
            "client_id": _client_id(kv, service),
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "openid",
            "state": "st-42",
        },
    )
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text and 'action="login"' in page.text
    form = {"state": _hidden_state(page.text), "username": username, "password": password, **extra}
    return await kv.http.post(f"{prefix}/oauth/login", data=form)


async def _code(kv: Kinvey, username: str, password: str, service: str = "default") -> str:
    answer = await _browser_login(kv, username, password, service)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    query = _query(location)
    assert query["state"] == "st-42"
    return query["code"]


async def _exchange(
    kv: Kinvey, code: str, service: str = "default", path: str = "/v3/oauth/token"
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": _client_id(kv, service),
        "redirect_uri": REDIRECT,
        "code": code,
    }
    return await kv.http.post(path, data=form, headers=_client_auth(kv, service))


async def _social(kv: Kinvey, token: dict[str, Any], path: str = "/user/{k}/login") -> httpx.Response:
    identity = {"identity": "kinveyAuth", "client_id": kv.key, "redirect_uri": REDIRECT, **token}
    return await kv.post(path, kv.appauth, json={"_socialIdentity": {"kinveyAuth": identity}})


# -- the browser flow ---------------------------------------------------------------------------
async def test_authorization_code_flow_as_a_browser_then_the_session_reads_under_its_acls(
    mic: Kinvey,
) -> None:
    alice = await mic.user("alice", "pw-alice")
    bob = await mic.user("bob", "pw-bob")
    mine = await mic.post("/appdata/{k}/notes", alice, json={"text": "alice's", "_acl": {"gr": False}})
    theirs = await mic.post("/appdata/{k}/notes", bob, json={"text": "bob's", "_acl": {"gr": False}})
    assert mine.status_code == theirs.status_code == 201

    code = await _code(mic, "alice", "pw-alice")
    tokens = await _exchange(mic, code)
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["cache-control"] == "no-store"
    pair = tokens.json()
    assert pair["token_type"] == "Bearer" and pair["expires_in"] > 0
    login = await _social(mic, pair)
    assert login.status_code == 200, login.text
    user = login.json()
    assert user["_id"] == alice.id and user["_socialIdentity"]["kinveyAuth"]["access_token"]
    session = {"Authorization": f"Kinvey {user['_kmd']['authtoken']}"}
    notes = await mic.get("/appdata/{k}/notes", session)
    assert [n["text"] for n in notes.json()] == ["alice's"]
    assert (await mic.get(f"/appdata/{{k}}/notes/{theirs.json()['_id']}", session)).status_code == 401

    # A code is single-use: the second exchange is refused, and revokes what the first gave.
    again = await _exchange(mic, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert (await _social(mic, pair)).json()["error"] == "InvalidCredentials"


async def test_refresh_grant_rotates_and_a_replayed_refresh_token_revokes_the_family(mic: Kinvey) -> None:
    await mic.user("carol", "pw-carol")
    first = (await _exchange(mic, await _code(mic, "carol", "pw-carol"))).json()
    form = {"grant_type": "refresh_token", "client_id": mic.key, "refresh_token": first["refresh_token"]}
    rotated = await mic.http.post("/oauth/token", data=form, headers=_client_auth(mic))  # unversioned
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await _social(mic, second)).status_code == 200
    replay = await mic.http.post("/oauth/token", data=form, headers=_client_auth(mic))
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The stolen family is gone: the rotated tokens stop working as well.
    assert (await _social(mic, second)).status_code == 401
    form["refresh_token"] = second["refresh_token"]
    assert (await mic.http.post("/oauth/token", data=form, headers=_client_auth(mic))).status_code == 400


async def test_flexauth_identity_signs_up_once_then_logs_in_and_keeps_its_tokens_private(mic: Kinvey) -> None:
    pair = (await _exchange(mic, await _code(mic, "flexuser", "flexpass", "flex"), "flex")).json()
    first = await _social(mic, pair)
    assert first.status_code == 404 and first.json()["error"] == "UserNotFound"
    created = await _social(mic, pair, "/user/{k}")
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["_kmd"]["authtoken"] and user["_socialIdentity"]["kinveyAuth"]["id"] == "flexuser"
    again = await _social(mic, pair)
    assert again.status_code == 200 and again.json()["_id"] == user["_id"]
    assert (await _social(mic, pair, "/user/{k}")).json()["error"] == "UserAlreadyExists"
    stored = await mic.get(f"/user/{{k}}/{user['_id']}")  # the master secret sees the whole document
    assert "_socialIdentity" not in stored.json() and pair["access_token"] not in stored.text


async def test_the_legacy_api_flow_posts_the_form_to_temp_login_uri(mic: Kinvey) -> None:
    await mic.user("dave", "pw-dave")
    form = {"client_id": mic.key, "redirect_uri": REDIRECT, "response_type": "code"}
    temp = await mic.http.post("/v3/oauth/auth", data=form)
    assert temp.status_code == 200, temp.text
    uri = temp.json()["temp_login_uri"]
    assert uri.startswith("http://kinbase.test/v3/oauth/login?")
    ok = await mic.http.post(uri, data={**form, "username": "dave", "password": "pw-dave", "scope": "openid"})
    assert ok.status_code == 302
    code = _query(ok.headers["location"])["code"]
    assert (await _exchange(mic, code, path="/oauth/token")).status_code == 200
    wrong = await mic.http.post(uri, data={**form, "username": "dave", "password": "nope"})
    assert wrong.status_code == 302
    refused = _query(wrong.headers["location"])
    assert refused["error"] == "access_denied" and "code" not in refused
    bad = await mic.http.post("/v3/oauth/auth", data={**form, "redirect_uri": "https://evil.test/"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


async def test_every_version_prefix_serves_the_login_page(mic: Kinvey) -> None:
    await mic.user("erin", "pw-erin")
    for prefix in ("", "/v2", "/v3"):
        answer = await _browser_login(mic, "erin", "pw-erin", prefix=prefix)
        assert answer.status_code == 302 and "code=" in answer.headers["location"], prefix


async def test_password_grant_over_http(mic: Kinvey) -> None:
    await mic.user("fay", "pw-fay")
    form = {"grant_type": "password", "client_id": mic.key, "username": "fay", "password": "pw-fay"}
    ok = await mic.http.post("/v3/oauth/token", data=form, headers=_client_auth(mic))
    assert ok.status_code == 200 and (await _social(mic, ok.json())).status_code == 200
    wrong = await mic.http.post(
        "/v3/oauth/token", data={**form, "password": "nope"}, headers=_client_auth(mic)
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    flex = {**form, "client_id": f"{mic.key}.flex", "username": "flexuser", "password": "flexpass"}
    assert (
        await mic.http.post("/v3/oauth/token", data=flex, headers=_client_auth(mic, "flex"))
    ).status_code == 200


# -- every failure ------------------------------------------------------------------------------
async def test_untrusted_clients_and_redirects_get_an_error_page_never_a_redirect(mic: Kinvey) -> None:
    base = {"client_id": mic.key, "redirect_uri": REDIRECT, "response_type": "code"}
    for params, text in (
        ({**base, "client_id": "kid_nobody"}, "client_id"),
        ({**base, "client_id": f"{mic.key}.nosuch"}, "client_id"),
        ({**base, "redirect_uri": "https://evil.test/callback"}, "redirect_uri"),
        ({**base, "redirect_uri": REDIRECT + "/"}, "redirect_uri"),
        ({k: v for k, v in base.items() if k != "client_id"}, "client_id"),
    ):
        page = await mic.http.get("/v3/oauth/auth", params=params)
        assert page.status_code == 400 and "location" not in page.headers, params
        assert page.headers["content-type"].startswith("text/html") and text in page.text
    unsupported = await mic.http.get(
        "/v3/oauth/auth", params={**base, "response_type": "token", "state": "s"}
    )
    assert unsupported.status_code == 302
    assert _query(unsupported.headers["location"]) == {"error": "unsupported_response_type", "state": "s"}


async def test_a_wrong_password_shows_the_form_again(mic: Kinvey) -> None:
    await mic.user("gus", "pw-gus")
    refused = await _browser_login(mic, "gus", "wrong")
    assert refused.status_code == 401 and "location" not in refused.headers
    assert 'role="alert"' in refused.text and 'name="state"' in refused.text
    unknown = await _browser_login(mic, "nobody", "x")
    assert unknown.status_code == 401
    forged = await mic.http.post(
        "/v3/oauth/login", data={"state": "abc.def", "username": "gus", "password": "pw-gus"}
    )
    assert forged.status_code == 400 and "location" not in forged.headers
    tampered = await mic.http.post("/v3/oauth/login", content=b"\xff\xfe", headers={"Content-Type": "x"})
    assert tampered.status_code == 400


async def test_flex_auth_services_that_fail_send_the_error_back_to_the_client(mic: Kinvey) -> None:
    for service, error in (
        ("down", "temporarily_unavailable"),
        ("slow", "temporarily_unavailable"),
        ("garbage", "temporarily_unavailable"),
        ("broken", "server_error"),
    ):
        answer = await _browser_login(mic, "flexuser", "flexpass", service)
        assert answer.status_code == 302, (service, answer.text)
        query = _query(answer.headers["location"])
        assert query["error"] == error and query["error_description"] and "code" not in query, service
        form = {"grant_type": "password", "username": "flexuser", "password": "flexpass"}
        token = await mic.http.post("/v3/oauth/token", data=form, headers=_client_auth(mic, service))
        assert token.status_code == 400 and token.json()["error"] == error, service
    denied = await _browser_login(mic, "flexuser", "wrong", "flex")
    assert denied.status_code == 401 and "No account flexuser" in denied.text


async def test_token_endpoint_errors(mic: Kinvey) -> None:
    await mic.user("hal", "pw-hal")
    code = await _code(mic, "hal", "pw-hal")
    form = {"grant_type": "authorization_code", "redirect_uri": REDIRECT, "code": code}
    cases: list[tuple[dict[str, str], dict[str, str], int, str]] = [
        (form, _client_auth(mic, secret="wrong"), 401, "invalid_client"),
        (
            form,
            {"Authorization": "Basic " + base64.b64encode(b"kid_nobody:x").decode()},
            401,
            "invalid_client",
        ),
        (form, {}, 401, "invalid_client"),
        (form, {"Authorization": "Bearer abc"}, 401, "invalid_client"),
        (form, {"Authorization": "Basic !!!"}, 401, "invalid_client"),
        ({**form, "grant_type": ""}, _client_auth(mic), 400, "invalid_request"),
        ({**form, "grant_type": "client_credentials"}, _client_auth(mic), 400, "unsupported_grant_type"),
        ({**form, "code": ""}, _client_auth(mic), 400, "invalid_request"),
        ({**form, "redirect_uri": REDIRECT + "?x=1"}, _client_auth(mic), 400, "invalid_grant"),
        ({**form, "code": "made-up"}, _client_auth(mic), 400, "invalid_grant"),
        ({**form, "client_id": "someone-else"}, _client_auth(mic), 400, "invalid_request"),
        (form, _client_auth(mic, "nouri"), 400, "unauthorized_client"),
        (form, _client_auth(mic, "flex"), 400, "invalid_grant"),  # issued to another client
        (
            {"grant_type": "refresh_token", "refresh_token": "x" * 600},
            _client_auth(mic),
            400,
            "invalid_grant",
        ),
    ]
    for data, headers, status, error in cases:
        answer = await mic.http.post("/v3/oauth/token", data=data, headers=headers)
        assert (answer.status_code, answer.json()["error"]) == (status, error), (data, headers, answer.text)
        assert answer.json()["error_description"]
        if status == 401:
            assert answer.headers["www-authenticate"].startswith("Basic")
    # The refused attempts above did not spend the code.
    assert (await _exchange(mic, code)).status_code == 200
    json_body = await mic.http.post(
        "/v3/oauth/token", content=b"[1]", headers={**_client_auth(mic), "Content-Type": "application/json"}
    )
    assert json_body.status_code == 400 and json_body.json()["error"] == "invalid_request"
    not_json = await mic.http.post(
        "/v3/oauth/token", content=b"{", headers={**_client_auth(mic), "Content-Type": "application/json"}
    )
    assert not_json.status_code == 400 and not_json.json()["error"] == "invalid_request"
    wrong_method = await mic.http.get("/v3/oauth/token")
    assert wrong_method.status_code == 405


async def test_an_expired_code_is_refused(core: Core, mic: Kinvey) -> None:
    await mic.user("ida", "pw-ida")
    code = await _code(mic, "ida", "pw-ida")
    tokens = core.mic.oauth.tokens
    real_clock = tokens._clock
    tokens._clock = lambda: now_ms() + 3_600_000  # an hour later
    try:
        answer = await _exchange(mic, code)
    finally:
        tokens._clock = real_clock
    assert answer.status_code == 400 and answer.json() == {
        "error": "invalid_grant",
        "error_description": "The authorization code expired.",
        "description": "The authorization code expired.",
        "debug": "The authorization code expired.",
    }


async def test_social_login_refusals(mic: Kinvey) -> None:
    unknown = await _social(mic, {"access_token": "never-issued"})
    assert unknown.status_code == 401 and unknown.json()["error"] == "InvalidCredentials"
    other = await mic.post(
        "/user/{k}/login", mic.appauth, json={"_socialIdentity": {"facebook": {"access_token": "x"}}}
    )
    assert other.status_code == 400 and other.json()["error"] == "BadRequest"
    malformed = await mic.post("/user/{k}", mic.appauth, json={"_socialIdentity": "x"})
    assert malformed.status_code == 400


async def test_a_user_with_mfa_adds_a_one_time_code_on_the_login_page(mic: Kinvey) -> None:
    jo = await mic.user("jo", "pw-jo")
    created = (await mic.post(f"/user/{{k}}/{jo.id}/authenticators", jo, json={"name": "phone"})).json()
    totp = pyotp.TOTP(created["config"]["secret"])
    verify = f"/user/{{k}}/{jo.id}/authenticators/{created['id']}/verify"
    assert (await mic.post(verify, jo, json={"code": totp.now()})).status_code == 200
    asked = await _browser_login(mic, "jo", "pw-jo")
    assert (
        asked.status_code == 401
        and 'name="otp"' in asked.text
        and 'autocomplete="one-time-code"' in asked.text
    )
    wrong = await _browser_login(mic, "jo", "pw-jo", otp="000000")
    assert wrong.status_code == 401 and "not valid" in wrong.text
    code = await _browser_login(mic, "jo", "pw-jo", otp=totp.at(time.time() + 30))
    assert code.status_code == 302 and "code=" in code.headers["location"]
    # The password grant cannot carry the second factor: refused, with the reason.
    form = {"grant_type": "password", "username": "jo", "password": "pw-jo"}
    grant = await mic.http.post("/v3/oauth/token", data=form, headers=_client_auth(mic))
    assert grant.status_code == 400 and "one-time code" in grant.json()["error_description"]


async def test_the_login_page_is_throttled_like_the_login_endpoint(mic: Kinvey) -> None:
    await mic.user("kim", "pw-kim")
    for _ in range(4):  # login_max_failures of the Kinvey front-end tests
        assert (await _browser_login(mic, "kim", "wrong")).status_code == 401
    locked = await _browser_login(mic, "kim", "pw-kim")
    assert locked.status_code == 401 and "location" not in locked.headers
    form = {"grant_type": "password", "username": "kim", "password": "pw-kim"}
    grant = await mic.http.post("/v3/oauth/token", data=form, headers=_client_auth(mic))
    assert grant.status_code == 400 and grant.json()["error"] == "invalid_grant"
    assert (
        await mic.post("/user/{k}/login", mic.appauth, json={"username": "kim", "password": "pw-kim"})
    ).status_code == 429
