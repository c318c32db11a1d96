# ruff: noqa: E501 - tables of expected values read better on one line
"""Making a service: the keyword, Node and environment forms; the ASGI app; the CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import kinbase_flex
from kinbase_flex.cli import load_service
from kinbase_flex.testing import FakeBackend, FlexTestClient, task_headers


def test_keyword_options() -> None:
    flex = kinbase_flex.service(
        shared_secret="s",
        host="0.0.0.0",
        port=9999,
        request_body_limit=10,
        handler_timeout=2,
        backend_timeout=3,
    )
    assert (flex.sharedSecret, flex.shared_secret, flex.host, flex.port) == ("s", "s", "0.0.0.0", 9999)
    assert (flex.request_body_limit, flex.handler_timeout, flex.backend_timeout) == (10, 2, 3)
    assert flex.dataLink is flex.data and flex.businessLogic is flex.functions


def test_node_style_forms() -> None:
    seen: list[Any] = []
    flex = kinbase_flex.service({"sharedSecret": "abc", "port": 10002}, lambda err, f: seen.append((err, f)))
    assert seen == [(None, flex)]
    assert (flex.sharedSecret, flex.port) == ("abc", 10002)
    other = kinbase_flex.service(lambda err, f: seen.append((err, f)))
    assert seen[-1] == (None, other)


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEX_SHARED_SECRET", "from-env")
    monkeypatch.setenv("FLEX_HOST", "0.0.0.0")
    monkeypatch.setenv("FLEX_PORT", "12345")
    monkeypatch.setenv("FLEX_HANDLER_TIMEOUT", "7.5")
    monkeypatch.setenv("FLEX_BACKEND_TIMEOUT", "2")
    flex = kinbase_flex.service()
    assert (flex.sharedSecret, flex.host, flex.port, flex.handler_timeout, flex.backend_timeout) == (
        "from-env",
        "0.0.0.0",
        12345,
        7.5,
        2.0,
    )
    assert kinbase_flex.service(shared_secret="kw", port=1).sharedSecret == "kw"


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "FLEX_SHARED_SECRET",
        "FLEX_HOST",
        "FLEX_PORT",
        "FLEX_HANDLER_TIMEOUT",
        "FLEX_BACKEND_TIMEOUT",
    ):
        monkeypatch.delenv(name, raising=False)
    flex = kinbase_flex.service()
    assert (flex.sharedSecret, flex.host, flex.port) == (None, "127.0.0.1", 10001)
    assert (flex.handler_timeout, flex.backend_timeout, flex.request_body_limit) == (60.0, 30.0, 26_214_400)


def test_the_service_and_flex_app_are_plain_asgi_apps() -> None:
    flex = kinbase_flex.service(shared_secret="k")
    flex.functions.register(
        "hi", lambda context, complete, modules: complete({"hi": context.body}).ok().done()
    )

    async def main() -> list[Any]:
        out = []
        for app in (flex, flex.app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://x"
            ) as client:
                r = await client.post("/_flexFunctions/hi", json={"body": 1}, headers={"X-Auth-Key": "k"})
                out.append(r.json()["response"]["body"])
        return out

    assert asyncio.run(main()) == [{"hi": 1}, {"hi": 1}]


def test_handlers_must_be_callable() -> None:
    flex = kinbase_flex.service()
    with pytest.raises(TypeError):
        flex.functions.register("x", "not callable")  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        flex.data.serviceObject("so").onGetAll(None)  # type: ignore[arg-type]


def test_load_service(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "svc_mod.py").write_text(
        "import kinbase_flex\nflex = kinbase_flex.service()\ndef make():\n    return flex\nnot_a_service = 5\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import svc_mod  # type: ignore[import-not-found]

    assert load_service("svc_mod:flex") is svc_mod.flex
    assert load_service("svc_mod:make") is svc_mod.flex
    for bad in ("svc_mod", "svc_mod:missing", "svc_mod:not_a_service"):
        with pytest.raises(SystemExit):
            load_service(bad)


def test_cli_version_and_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kinbase_flex", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"kinbase-flex {kinbase_flex.__version__}"
    usage = subprocess.run(
        [sys.executable, "-m", "kinbase_flex", "run", "--help"], capture_output=True, text=True, check=True
    )
    assert "--port" in usage.stdout and "--host" in usage.stdout


def test_task_headers() -> None:
    headers = task_headers(auth_key="k", request_id="r")
    assert headers["X-Auth-Key"] == "k"
    assert headers["X-Kinvey-Request-Id"] == "r"
    assert headers["X-Kinvey-Username"] == "testuser"
    assert '"baasUrl":"http://backend.test"' in headers["X-Kinvey-App-Metadata"]
    assert headers["X-Kinvey-Original-Request-Headers"] == '{"authorization":"Kinvey test-session-token"}'
    assert "X-Kinvey-User-Id" not in task_headers(user_id=None)


def test_fake_backend_rules(flex_backend: FakeBackend) -> None:
    import re

    flex_backend.respond("GET", re.compile(r"/appdata/kid_test/c/\d+"), json={"n": 1}, times=1)
    flex_backend.respond("*", "/x", status=418, json={"error": "Teapot"})
    with httpx.Client(transport=flex_backend.transport, base_url=flex_backend.base_url) as client:
        assert client.get("/appdata/kid_test/c/12").json() == {"n": 1}
        assert client.get("/appdata/kid_test/c/12").json() == []  # the rule was used up
        assert client.delete("/x/").status_code == 418
        assert client.get("/appdata/kid_test/c/_count").json() == {"count": 0}
        assert client.post("/y", content=b"not json").json() == {}
    assert [r.path for r in flex_backend.requests][:2] == ["/appdata/kid_test/c/12"] * 2
    flex_backend.clear()
    assert flex_backend.requests == []


def test_test_client_defaults_can_be_overridden(flex_client: Any) -> None:
    flex = kinbase_flex.service(shared_secret="k")
    flex.functions.register(
        "who",
        lambda context, complete, modules: complete({"u": context.username, "h": context.headers}).done(),
    )
    tc: FlexTestClient = flex_client(flex, username="bob", original_headers={})
    assert tc.function("who", {}).json()["response"]["body"] == {"u": "bob", "h": {}}
    assert tc.function("who", {}, username="eve").json()["response"]["body"]["u"] == "eve"
    assert tc.function("who", {}, auth_key="bad").status_code == 401
