"""Real Flex services for the MIC tests: one written with kinbase-flex and a broken one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import kinbase_flex
from kinbase.core.mic.model import AuthService, FlexAuthSource, UserStoreSource
from kinbase.storage.base import AppRecord, StorageBackend
from tests.core.conftest import Stack, make_stack
from tests.support.flexauth import HttpFlexAuthClient, serve_asgi
from tests.support.server import free_port

FLEX_SECRET = "flex-shared-secret"
ACCOUNTS = {"flexuser": "flexpass", "other": "otherpass"}
REDIRECT = "https://app.example.test/callback"


def _flex_service() -> kinbase_flex.FlexService:
    flex = kinbase_flex.service(shared_secret=FLEX_SECRET)

    @flex.auth.register("fixedAuth")
    def fixed(context: Any, complete: Any, modules: Any) -> None:
        body = context.body
        if ACCOUNTS.get(body.get("username")) != body.get("password"):
            complete().accessDenied(f"No account {body.get('username')} with this password.").next()
            return
        name = body["username"]
        complete().setToken({"access_token": f"ext-{name}"}).addAttribute(
            "email", f"{name}@example.test"
        ).ok().next()

    @flex.auth.register("slow")
    async def slow(context: Any, complete: Any, modules: Any) -> None:
        await asyncio.sleep(3)
        complete().setToken({}).ok().next()

    @flex.auth.register("broken")
    def broken(context: Any, complete: Any, modules: Any) -> None:
        complete().serverError("the user database is down").done()

    @flex.auth.register("busy")
    def busy(context: Any, complete: Any, modules: Any) -> None:
        complete("come back later").temporarilyUnavailable().done()

    return flex


async def _not_json(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"Internal Server Error"})


@pytest.fixture(scope="module")
def flex_urls() -> Iterator[dict[str, str]]:
    with serve_asgi(_flex_service()) as real, serve_asgi(_not_json) as garbage:
        yield {"real": real, "garbage": garbage, "down": f"http://127.0.0.1:{free_port()}"}


@pytest.fixture
def flex_client(flex_urls: dict[str, str]) -> HttpFlexAuthClient:
    return HttpFlexAuthClient(
        {
            "accounts": (flex_urls["real"], FLEX_SECRET),
            "wrongsecret": (flex_urls["real"], "not-the-secret"),
            "garbage": (flex_urls["garbage"], None),
            "down": (flex_urls["down"], None),
        },
        timeout=0.5,
    )


@pytest.fixture
def mic(storage: StorageBackend, app: AppRecord, flex_client: HttpFlexAuthClient) -> Stack:
    """A stack whose app declares: ``default`` (user store, one redirect URI), ``flex`` (the
    kinbase-flex FlexAuth handler), ``nouri`` (no redirect URI) and services whose Flex side fails."""
    stack = make_stack(storage, app, flex=flex_client)
    stack.services(
        [
            AuthService("default", UserStoreSource(), (REDIRECT, "http://localhost:8100/cb?keep=1")),
            AuthService("flex", FlexAuthSource("accounts", "fixedAuth"), (REDIRECT,)),
            AuthService("nouri", UserStoreSource()),
            AuthService("slow", FlexAuthSource("accounts", "slow"), (REDIRECT,)),
            AuthService("broken", FlexAuthSource("accounts", "broken"), (REDIRECT,)),
            AuthService("busy", FlexAuthSource("accounts", "busy"), (REDIRECT,)),
            AuthService("down", FlexAuthSource("down", "fixedAuth"), (REDIRECT,)),
            AuthService("garbage", FlexAuthSource("garbage", "fixedAuth"), (REDIRECT,)),
            AuthService("wrongsecret", FlexAuthSource("wrongsecret", "fixedAuth"), (REDIRECT,)),
            AuthService("missing", FlexAuthSource("unregistered", "fixedAuth"), (REDIRECT,)),
        ]
    )
    return stack
