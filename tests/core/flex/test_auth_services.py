"""The ``[auth.<id>]`` tables of the app configuration drive the MIC authorization server, and
its FlexAuth logins go through the app's Flex client (both test services, both engines)."""

from __future__ import annotations

import pytest

from kinbase.core.appconfig import parse_toml
from kinbase.core.mic.errors import OAuthError
from kinbase.core.mic.model import FlexAuthSource, UserStoreSource
from kinbase.core.mic.server import TokenRequest
from kinbase.core.services import Core
from kinbase.storage.base import AppRecord
from tests.support.flex_services import FLEX_SECRET, FlexProcess

pytestmark = pytest.mark.anyio


async def test_auth_services_come_from_the_configuration(
    core: Core, app: AppRecord, service: FlexProcess
) -> None:
    text = f"""
[flex_services.accounts]
url = "{service.url}"
secret = "{FLEX_SECRET}"

[auth.default]
flex_auth = {{ service = "accounts", handler = "login" }}
redirect_uris = ["https://app.example.test/callback"]

[auth.local]
user_store = true
"""
    assert await core.mic.oauth.client(app.key) is None
    await core.appconfig.apply(app, parse_toml(text))
    await core.apps.changed(app.key)
    found = await core.mic.oauth.client(app.key)
    assert found is not None
    assert found[1].source == FlexAuthSource("accounts", "login")
    assert found[1].redirect_uris == ("https://app.example.test/callback",)
    local = await core.mic.oauth.client(f"{app.key}.local")
    assert local is not None and local[1].source == UserStoreSource() and local[1].redirect_uris == ()

    def password_grant(password: str) -> TokenRequest:
        return TokenRequest(
            grant_type="password", basic=(app.key, app.app_secret), username="flexuser", password=password
        )

    pair = await core.mic.oauth.token(password_grant("flexpass"))
    assert pair.access_token and pair.refresh_token
    fresh = await core.apps.require(app.key)
    identity = await core.mic.oauth.identity_for_access_token(fresh, pair.access_token)
    assert identity is not None and identity.attributes.get("email") == "flexuser@example.test"
    with pytest.raises(OAuthError) as refused:
        await core.mic.oauth.token(password_grant("wrong"))
    assert refused.value.error == "invalid_grant"
