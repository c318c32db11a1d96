"""The example service of the README (examples/widgets_service.py) does what it says."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kinbase_flex.testing import FakeBackend, FlexTestClient, task_headers

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setenv("FLEX_SHARED_SECRET", "example-secret")
    sys.modules.pop("widgets_service", None)
    import widgets_service  # type: ignore[import-not-found]

    yield widgets_service
    sys.modules.pop("widgets_service", None)


@pytest.fixture
def tc(example: Any, flex_client: Callable[..., FlexTestClient]) -> FlexTestClient:
    return flex_client(example.flex)


def test_widgets_crud(tc: FlexTestClient) -> None:
    created = tc.data("POST", "widgets", body={"name": "gear", "color": "red"})
    assert created.status_code == 201
    gear = created.json()
    assert gear["_acl"] == {"creator": "kid_test", "r": ["testuser-id"]}
    tc.data("POST", "widgets", body={"name": "cog", "color": "blue"})
    assert tc.data("POST", "widgets", body={"color": "none"}).status_code == 400
    assert len(tc.data("GET", "widgets").json()) == 2
    assert tc.data("GET", "widgets", gear["_id"]).json()["name"] == "gear"
    assert tc.data("GET", "widgets", "nope").status_code == 404
    assert [w["name"] for w in tc.data("GET", "widgets", query={"query": '{"color":"blue"}'}).json()] == [
        "cog"
    ]
    assert tc.data("GET", "widgets", query={"query": "{bad"}).status_code == 400
    assert tc.data("GET", "widgets", count=True).json() == {"count": 2}
    assert tc.data("GET", "widgets", count=True, query={"query": '{"color":"red"}'}).json() == {"count": 1}
    updated = tc.data("PUT", "widgets", gear["_id"], body={"name": "gear", "color": "green"})
    assert updated.json()["color"] == "green"
    assert tc.data("PUT", "widgets", "nope", body={}).status_code == 404
    assert tc.data("DELETE", "widgets", query={"query": '{"color":"blue"}'}).json() == {"count": 1}
    assert tc.data("DELETE", "widgets", gear["_id"]).json() == {"count": 1}
    assert tc.data("DELETE", "widgets").json() == {"count": 0}


def test_hooks(tc: FlexTestClient) -> None:
    pre = tc.function("stampPreSave", {"name": "n"}, hook_type="pre", object_name="widgets").json()
    assert pre["response"]["continue"] is True
    assert pre["request"]["body"]["stampedBy"] == "testuser"
    assert pre["request"]["body"]["stampedAt"].startswith('ISODate("')
    assert tc.function("stampPreSave", {}, hook_type="customEndpoint").status_code == 400
    response = {"status": 200, "body": [{"_id": "1", "secret": "s", "v": 1}]}
    post = tc.function("hideSecrets", None, hook_type="post", response=response).json()
    assert post["response"]["body"] == [{"_id": "1", "v": 1}]
    master = {"authorization": "Basic " + base64.b64encode(b"kid_test:test-master-secret").decode()}
    kept = tc.function(
        "hideSecrets", None, hook_type="post", response=response, original_headers=master
    ).json()
    assert kept["response"]["body"] == response["body"]


def test_low_stock_endpoint(tc: FlexTestClient, flex_backend: FakeBackend) -> None:
    flex_backend.respond(
        "GET", "/appdata/kid_test/inventory/", json=[{"_id": "i1", "name": "bolt", "stock": 2}]
    )
    r = tc.function("lowStock", {"threshold": 5}, object_name="lowStock")
    assert r.json()["response"]["body"] == {
        "threshold": 5,
        "items": [{"_id": "i1", "name": "bolt", "stock": 2}],
    }
    find, email = flex_backend.requests
    assert find.params == {"query": '{"stock":{"$lt":5}}', "fields": "name,stock", "sort": '{"stock":1}'}
    assert email.json["body"] == "Reorder: bolt"
    flex_backend.respond(
        "GET",
        "/appdata/kid_test/inventory/",
        status=500,
        json={"error": "KinveyInternalErrorRetry", "description": "d", "debug": ""},
    )
    failed = tc.function("lowStock", {}, object_name="lowStock")
    assert failed.status_code == 550
    assert failed.json()["response"]["body"]["debug"]["message"] == "KinveyInternalErrorRetry"


def test_fixed_auth(tc: FlexTestClient) -> None:
    ok = tc.auth("fixedAuth", "flexuser", "flexpass")
    assert ok.json() == {
        "token": {"access_token": "flex-fixed-token-flexuser", "issuer": "fixedAuth"},
        "authenticated": True,
        "email": "flexuser@example.test",
    }
    denied = tc.auth("fixedAuth", "flexuser", "wrong")
    assert (denied.status_code, denied.json()) == (
        401,
        {"error": "access_denied", "error_description": "Wrong username or password"},
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("how", ["flex.run", "kinbase-flex"])
def test_the_example_runs_as_a_server(how: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "FLEX_SHARED_SECRET": "example-secret", "FLEX_PORT": str(port)}
    if how == "flex.run":
        command = [sys.executable, str(EXAMPLES / "widgets_service.py")]
    else:
        command = [
            str(Path(sys.executable).parent / "kinbase-flex"),
            "run",
            "widgets_service:flex",
            "--app-dir",
            str(EXAMPLES),
            "--port",
            str(port),
        ]
    log = (tmp_path / "service.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/healthcheck", timeout=1)
                break
            except httpx.HTTPError:
                assert process.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "service.log"
                ).read_text()
                time.sleep(0.05)
        with httpx.Client(base_url=url) as client:
            assert client.post("/_command/discover").json() == {
                "dataLink": {"serviceObjects": ["widgets"]},
                "businessLogic": {"handlers": ["stampPreSave", "hideSecrets", "lowStock"]},
                "auth": {"handlers": ["fixedAuth"]},
            }
            headers = task_headers(auth_key="example-secret")
            created = client.post("/widgets", content=json.dumps({"name": "gear"}), headers=headers)
            assert created.status_code == 201
            assert client.get("/widgets/_count", headers=headers).json() == {"count": 1}
            assert client.get("/widgets", headers={**headers, "X-Auth-Key": "wrong"}).status_code == 401
    finally:
        process.terminate()
        process.wait(10)
        log.close()
    # SIGTERM shuts uvicorn down gracefully, then it re-raises the signal (-15).
    assert process.returncode in (0, -15)
    assert "Finished server process" in (tmp_path / "service.log").read_text()
