"""Logins through the official SDKs against a real kinbase server (both engines):

- ``kinvey-node-sdk`` 3.12.5 ``loginWithMIC`` (the ``AuthorizationCodeAPI`` grant: the SDK posts
  the username and password to the ``temp_login_uri`` itself) through the FlexAuth handlers of two
  Flex services, one written with the official Node ``kinvey-flex-sdk`` and one with
  ``kinbase-flex``: a wrong password refused, then a session that reads data under its ACLs;
- ``kinvey-js-sdk`` 7 ``loginWithMICUsingResourceOwnerCredentials`` (the password grant) through
  the same handlers, and its automatic refresh grant when the Kinvey session is revoked;
- ``kinvey-js-sdk`` 7 MFA: enrol a TOTP authenticator, log in with a code, through a trusted device,
  with a recovery code.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.frontends.kinvey.test_sdk import NODE_DIR, Server, node_modules, server
from tests.support.flex_services import FLEX_SECRET, KINDS, FlexProcess

__all__ = ["node_modules", "server"]

REDIRECT = "http://localhost:8100/mic-callback"


@pytest.fixture(scope="module")
def flex_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, FlexProcess]]:
    """The Flex test service of each kind (its FlexAuth handler ``login`` accepts flexuser/flexpass)."""
    started: dict[str, FlexProcess] = {}
    try:
        for kind in KINDS:
            started[kind] = FlexProcess(kind, tmp_path_factory.mktemp(f"mic-flex-{kind}")).start()
        yield started
    finally:
        for process in started.values():
            process.stop()


def _run(script: str, server: Server, **extra: str) -> list[str]:
    env = {
        **os.environ,
        "KINBASE_URL": server.url,
        "APP_KEY": server.key,
        "APP_SECRET": server.secret,
        "MASTER_SECRET": server.master,
        **extra,
    }
    done = subprocess.run(
        ["node", script], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def test_node_sdk_logs_in_with_mic_through_both_flex_sdks(
    node_modules: Path, server: Server, flex_services: dict[str, FlexProcess]
) -> None:
    _apply(server, flex_services)
    out = _run("mic.js", server, REDIRECT_URI=REDIRECT, MIC_IDS=",".join(flex_services))
    assert out[-1] == '{"name":"done","ok":true}', out
    for kind in KINDS:
        assert any(f'"{kind}: reads under its ACLs","ok":true' in line for line in out), out


def _apply(server: Server, flex_services: dict[str, FlexProcess]) -> None:
    """Auth services ``python`` and ``node``: the FlexAuth handler ``login`` of each test service."""
    lines = [
        "[auth.default]\nuser_store = true\n",
        *(
            f'[flex_services.accounts_{kind}]\nurl = "{p.url}"\nsecret = "{FLEX_SECRET}"\n\n'
            f'[auth.{kind}]\nflex_auth = {{ service = "accounts_{kind}", handler = "login" }}\n'
            f'redirect_uris = ["{REDIRECT}"]\n'
            for kind, p in flex_services.items()
        ),
    ]
    applied = httpx.put(
        f"{server.url}/appconfig/{server.key}",
        content="\n".join(lines).encode(),
        headers={"Content-Type": "application/toml"},
        auth=(server.key, server.master),
        timeout=30,
    )
    assert applied.status_code == 200, applied.text


def test_js_sdk_7_logs_in_with_mic_resource_owner_credentials_and_refreshes(
    node_modules: Path, server: Server, flex_services: dict[str, FlexProcess]
) -> None:
    """The password grant through both FlexAuth handlers, then the automatic refresh grant when
    the Kinvey session is revoked (the configuration is the one the previous test applied)."""
    _apply(server, flex_services)
    out = _run("mic_ropc.js", server, MIC_IDS=",".join(flex_services))
    assert out[-1] == '{"name":"done","ok":true}', out
    for kind in KINDS:
        assert any(f'"{kind}: refreshed by itself","ok":true' in line for line in out), out


def test_js_sdk_7_mfa(node_modules: Path, server: Server) -> None:
    out = _run("mfa.js", server)
    assert out[-1] == '{"name":"done","ok":true}', out
