"""Helpers of the authorization-server tests: client credentials, grant requests, codes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from kinbase.core.mic.errors import OAuthError
from kinbase.core.mic.server import TokenRequest
from tests.core.conftest import Stack
from tests.core.mic.conftest import REDIRECT

__all__ = ["_basic", "_code", "_oauth_error", "_password"]


def _basic(stack: Stack, service: str = "default", secret: str | None = None) -> tuple[str, str]:
    client = stack.app.key if service == "default" else f"{stack.app.key}.{service}"
    return client, secret if secret is not None else stack.app.app_secret


def _password(stack: Stack, username: str, password: str, service: str = "default") -> TokenRequest:
    return TokenRequest(
        grant_type="password", basic=_basic(stack, service), username=username, password=password
    )


async def _oauth_error(coro: object) -> OAuthError:
    with pytest.raises(OAuthError) as err:
        await coro
    return err.value


async def _code(mic: Stack, service: str = "default", username: str = "", password: str = "pw-secret") -> str:
    client_id = _basic(mic, service)[0]
    page = await mic.oauth.authorize(client_id, REDIRECT, "code", "xyz")
    location = await mic.oauth.login(page.state, username, password)
    return parse_qs(urlsplit(location).query)["code"][0]
