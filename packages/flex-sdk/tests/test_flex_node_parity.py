"""The same service written with the official Node ``kinvey-flex-sdk`` (node/service.js) and with
kinbase-flex (twin_service.py) gets the same requests; the replies, and the requests their modules
send back to a fake backend, must be the same.

The Node package is installed with ``npm ci`` from node/package-lock.json into the git-ignored
node/node_modules; a failing install fails these tests. Each service is started once per session
(per xdist worker), on a free port (the Python one through ``kinbase-flex run``, which tests the CLI too).
"""

from __future__ import annotations

import difflib
import fcntl
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from kinbase_flex import protocol
from kinbase_flex.testing import FakeBackend, RecordedRequest

# Keep these on one worker where --dist loadgroup works (pytest-xdist 3.8 ignores it under pytest 9;
# the fixtures below are safe on several workers anyway).
pytestmark = pytest.mark.xdist_group("kinbase-flex-node")

HERE = Path(__file__).parent
NODE_DIR = HERE / "node"
SECRET = "parity-secret"
SDK_VERSION = "3.3.0"
APP_KEY = "kid_twin"
USER_TOKEN = "Kinvey user-token"
BACKEND_HEADERS = ("authorization", "content-type", "x-kinvey-api-version", "x-kinvey-skip-business-logic")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _npm_ci() -> None:
    """``npm ci`` once: under a file lock, since every pytest-xdist worker that runs these tests gets
    here (each starts its own pair of services on its own ports)."""
    modules = NODE_DIR / "node_modules"
    with (NODE_DIR / ".npm-ci.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            installed = modules / "kinvey-flex-sdk" / "package.json"
            # npm writes node_modules/.package-lock.json last: its presence means a finished install.
            finished = (modules / ".package-lock.json").exists() and installed.exists()
            if finished and json.loads(installed.read_text())["version"] == SDK_VERSION:
                return
            result = subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class _Service:
    """A twin service in a subprocess on a free port (retried on a new port if the start fails)."""

    def __init__(self, name: str, command: list[str], cwd: Path, log: Path) -> None:
        self.name = name
        self.log = log
        failures = []
        for _attempt in range(3):
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            env = {**os.environ, "FLEX_PORT": str(self.port), "FLEX_SHARED_SECRET": SECRET}
            self._log_file = log.open("w")
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)] if name == "python" else command,
                cwd=cwd,
                env=env,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
            )
            if self._wait_until_serving():
                self.client = httpx.Client(base_url=self.url, timeout=30)
                return
            self.stop()
            failures.append(log.read_text())
        raise RuntimeError(f"the {name} service did not start:\n" + "\n---\n".join(failures))

    def _wait_until_serving(self) -> bool:
        deadline = time.monotonic() + 60
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                # Discovery, not just the health check: it must be our twin on that port.
                reply = httpx.post(f"{self.url}/_command/discover", json={}, timeout=1)
                if "stampPreSave" in reply.json()["businessLogic"]["handlers"]:
                    return True
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if hasattr(self, "client"):
            self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


@pytest.fixture(scope="session")
def parity_backend() -> Iterator[FakeBackend]:
    backend = FakeBackend()
    backend.respond(
        "GET",
        f"/appdata/{APP_KEY}/things/missing",
        status=404,
        json={
            "error": "EntityNotFound",
            "description": "This entity not found in the collection",
            "debug": "",
        },
    )
    backend.respond(
        "POST",
        f"/rpc/{APP_KEY}/send-email",
        reply=lambda r: {"mailServerResponse": "250 OK"} if r.json and r.json.get("html") else {"sent": 1},
    )
    with backend.serve():
        yield backend


@pytest.fixture(scope="session")
def services(
    parity_backend: FakeBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, _Service]]:
    _npm_ci()
    logs = tmp_path_factory.mktemp("parity-logs")
    # The Node SDK's task runner writes an output.log into its working directory: keep it out of the tree.
    node = _Service("node", ["node", str(NODE_DIR / "service.js")], logs, logs / "node.log")
    try:
        python = _Service(
            "python",
            [
                sys.executable,
                "-m",
                "kinbase_flex",
                "run",
                "twin_service:flex",
                "--app-dir",
                str(HERE),
                "--log-level",
                "warning",
            ],
            HERE,
            logs / "python.log",
        )
    except BaseException:
        node.stop()
        raise
    yield {"node": node, "python": python}
    node.stop()
    python.stop()


def _headers(backend_url: str, **overrides: Any) -> dict[str, str]:
    original = {
        "authorization": USER_TOKEN,
        "x-kinvey-client-app-version": "1.0.1-beta",
        "x-kinvey-custom-request-properties": '{"officeLocation":"Paris"}',
        "host": "baas.test",
        "x-forwarded-proto": "http",
    }
    original.update(overrides.pop("original", {}))
    values: dict[str, Any] = {
        "app_metadata": {
            "_id": APP_KEY,
            "appsecret": "app-sec",
            "mastersecret": "master-sec",
            "baasUrl": backend_url,
        },
        "original_request_headers": original,
        "auth_key": SECRET,
        "username": "alice",
        "user_id": "alice-id",
        "request_id": "req-1",
        "environment_id": APP_KEY,
    }
    values.update(overrides)
    return protocol.request_headers(**values)


_OID = re.compile(r"^[0-9a-f]{24}$")
_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _normalize(value: Any, key: str | None = None) -> Any:
    """Blank out what legitimately differs run to run: stacks, generated ids, timestamps."""
    if isinstance(value, dict):
        return {k: _normalize(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if key == "stack" and isinstance(value, str):
        return "<stack>"
    if key == "_id" and isinstance(value, str) and _OID.match(value):
        return "<object id>"
    if key in ("ect", "lmt") and isinstance(value, str) and _ISO.match(value):
        return "<time>"
    return value


def _backend_view(requests: list[RecordedRequest]) -> list[Any]:
    return [
        (r.method, r.path, r.params, {h: r.headers.get(h) for h in BACKEND_HEADERS}, r.json) for r in requests
    ]


Case = tuple[str, str, str, Any, dict[str, Any]]
B64 = "Basic "


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


_counter = iter(range(1000))


def _fn(name: str, task: dict[str, Any], **headers: Any) -> Case:
    return (f"fn-{name}-{next(_counter)}", "POST", f"/_flexFunctions/{name}", task, headers)


STATUS_FUNCTIONS = (
    "notFound",
    "badRequest",
    "unauthorized",
    "forbidden",
    "notAllowed",
    "notImplemented",
    "runtimeError",
    "ok",
    "created",
    "accepted",
)
POST_RESPONSE = {
    "status": 200,
    "headers": {"x-kinvey-api-version": "5", "x-custom": "1"},
    "body": [{"_id": "a"}],
}
Q = quote('{"color":"blue"}')

CASES: list[Case] = [
    # -- discovery and health
    ("discover", "POST", "/_command/discover", {}, {"auth_key": None}),
    ("health", "GET", "/healthcheck", None, {}),
    # -- FlexData: every event
    ("get-all", "GET", "/widgets", None, {}),
    ("get-all-slash", "GET", "/widgets/", None, {}),
    ("get-by-query", "GET", f"/widgets?query={Q}&limit=2&sort=%7B%22a%22%3A1%7D", None, {}),
    ("get-repeated-param", "GET", "/widgets?a=1&a=2&b=", None, {}),
    ("get-by-id", "GET", "/widgets/w1", None, {}),
    ("get-by-id-query", "GET", "/widgets/w1/?fields=a", None, {}),
    ("get-by-id-encoded", "GET", "/widgets/a%20b%C3%A9", None, {}),
    ("count", "GET", "/widgets/_count", None, {}),
    ("count-slash", "GET", "/widgets/_count/", None, {}),
    ("count-by-query", "GET", f"/widgets/_count?query={Q}", None, {}),
    ("insert", "POST", "/widgets", {"name": "gear", "n": 1.5}, {}),
    ("insert-many", "POST", "/widgets/", [{"a": 1}, {"a": 2}], {}),
    ("update", "PUT", "/widgets/w1", {"_id": "w1", "name": "cog"}, {}),
    ("delete-by-id", "DELETE", "/widgets/w1", None, {}),
    ("delete-by-query", "DELETE", f"/widgets?query={Q}", None, {}),
    ("delete-all", "DELETE", "/widgets", None, {}),
    ("no-metadata", "GET", "/widgets", None, {"app_metadata": None, "original_request_headers": None}),
    ("no-user", "GET", "/widgets/w2", None, {"username": None, "user_id": None}),
    # -- FlexData: status functions and bodies
    *[
        (f"status-{i}", "GET", f"/widgets/{i}", None, {})
        for i in ("missing", "bad", "unauth", "forbidden", "notallowed", "notimpl", "runtime", "text")
    ],
    *[
        (f"body-{i}", "GET", f"/widgets/{i}", None, {})
        for i in ("numstr", "jsonstr", "empty", "zero", "list")
    ],
    ("complete-twice", "GET", "/widgets/twice", None, {}),
    # -- FlexData: no handler
    ("so-no-handler-get", "GET", "/sprockets", None, {}),
    ("so-no-handler-id", "GET", "/sprockets/1", None, {}),
    ("so-no-handler-count", "GET", "/sprockets/_count", None, {}),
    ("so-no-handler-post", "POST", "/sprockets", {"a": 1}, {}),
    ("so-no-handler-put", "PUT", "/sprockets/1", {"a": 1}, {}),
    ("so-no-handler-delete", "DELETE", "/sprockets?query=%7B%7D", None, {}),
    ("so-unknown", "GET", "/gizmos/1", None, {}),
    # -- shared secret
    ("data-bad-key", "GET", "/widgets", None, {"auth_key": "wrong"}),
    ("data-no-key", "DELETE", "/widgets/1", None, {"auth_key": None}),
    ("fn-bad-key", "POST", "/_flexFunctions/echo", {"body": {"a": 1}}, {"auth_key": "wrong"}),
    ("auth-bad-key", "POST", "/_auth/fixedAuth", {"username": "u", "password": "p"}, {"auth_key": None}),
    # -- FlexFunctions: envelopes for every hook type
    _fn("echo", {"body": {"a": 1}, "objectName": "ep", "query": {"query": '{"a":1}', "limit": "2"}}),
    _fn("echo", {"body": {"a": 1}, "hookType": "customEndpoint", "method": "GET", "entityId": "e9"}),
    _fn("echo", {"a": 1, "hookType": "pre"}),
    _fn("echo", {"body": '{"x":[1]}', "hookType": "pre", "method": "PUT", "objectName": "things"}),
    _fn("echo", {"body": "not json", "hookType": "pre"}),
    _fn("echo", {"hookType": "post", "method": "GET", "objectName": "things", "response": POST_RESPONSE}),
    _fn("echo", {"body": {"a": 1}, "tempObjectStore": {"k": "v"}, "entityId": ""}),
    (
        "fn-echo-url-query",
        "POST",
        "/_flexFunctions/echo?limit=3",
        {"body": {}, "query": {"skip": "1"}},
        {},
    ),
    _fn("stampPreSave", {"body": {"name": "n"}, "hookType": "pre", "method": "POST", "objectName": "things"}),
    _fn("stampPreSave", {"body": {"name": "n"}, "hookType": "customEndpoint"}),
    _fn("stampPreSave", {"body": {"name": "n"}, "hookType": "post", "response": {"body": {"name": "r"}}}),
    _fn(
        "postCount", {"hookType": "post", "method": "GET", "objectName": "things", "response": POST_RESPONSE}
    ),
    _fn("nextOnly", {"body": {"keep": True}, "hookType": "pre", "query": {"query": "{}"}}),
    _fn("nextOnly", {"hookType": "post", "response": {"status": 201, "body": {"made": 1}}}),
    _fn("tempStore", {"body": {}, "hookType": "pre", "tempObjectStore": {"count": 1}}),
    *[
        _fn("status", {"body": {"status": status, "message": message, "debug": debug, "end": end}})
        for status in STATUS_FUNCTIONS
        for message, debug, end in (("msg", None, "done"), (None, {"d": 1}, "next"), ("", "", "done"))
    ],
    _fn("missingFunction", {"body": {}}),
    # -- modules that work locally
    _fn("moduleInfo", {"body": {}}),
    _fn("moduleInfo", {"body": {"v": 2}}, original={"authorization": _basic(APP_KEY, "master-sec")}),
    _fn("moduleInfo", {"body": {"v": 3}}, original={"authorization": _basic(APP_KEY, "app-sec")}),
    _fn("moduleInfo", {"body": {"v": 4}}, original={"authorization": _basic(APP_KEY, "other")}),
    _fn("moduleInfo", {"body": {"v": 5}}, original={"authorization": _basic("bob", "pw")}),
    _fn("moduleInfo", {"body": {"v": 6}}, original={"authorization": "Bearer"}),
    *[
        _fn("moduleInfo", {"body": {"version": version}}, original={"x-kinvey-client-app-version": version})
        for version in ("2", "v1.2.3", "1.2.3.4", "1..3", "")
    ],
    _fn("moduleInfo", {"body": {"p": 1}}, original={"x-kinvey-custom-request-properties": "not json"}),
    _fn("queryOps", {"body": {}}),
    _fn("entity", {"body": {}}),
    _fn("dates", {"body": {}}),
    # -- modules that call the backend
    _fn("stores", {"body": {}}),
    _fn("userCalls", {"body": {}}),
    _fn("groupCalls", {"body": {}}),
    _fn("pushEmail", {"body": {}}),
    _fn("endpoint", {"body": {}, "objectName": "myEndpoint"}),
    _fn("circular", {"body": {}, "hookType": "pre", "objectName": "things"}),
    _fn("circularUser", {"body": {}, "hookType": "pre", "objectName": "user"}),
    _fn("circularUser", {"body": {}, "hookType": "post", "objectName": "group", "response": {"body": {}}}),
    _fn("backendError", {"body": {}}),
    _fn("storeOptions", {"body": {}, "hookType": "post", "response": POST_RESPONSE}),
    _fn("storeOptions", {"body": {}}, app_metadata=None, original={"host": "127.0.0.1:9"}),
    # -- FlexAuth
    ("auth-fixed", "POST", "/_auth/fixedAuth", {"username": "flexuser", "password": "pw", "extra": 1}, {}),
    *[
        (
            f"auth-{mode}",
            "POST",
            "/_auth/modes",
            {"username": "u", "password": "p", "options": {"mode": mode}},
            {},
        )
        for mode in ("deny", "server", "unavailable", "bare", "notimpl", "nook", "ok")
    ],
    ("auth-echo", "POST", "/_auth/echoAuth", {"username": "u", "password": "p", "options": {"o": 1}}, {}),
    ("auth-missing", "POST", "/_auth/nobody", {"username": "u", "password": "p"}, {}),
]


def _assert_same(python: Any, node: Any) -> None:
    if python != node:
        left = json.dumps(node, indent=1, sort_keys=True).splitlines()
        right = json.dumps(python, indent=1, sort_keys=True).splitlines()
        diff = "\n".join(difflib.unified_diff(left, right, "node", "python", lineterm=""))
        pytest.fail(f"kinbase-flex differs from the Node SDK:\n{diff}")


def _send(service: _Service, method: str, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    content = None if body is None else json.dumps(body).encode()
    return service.client.request(method, path, content=content, headers=headers)


@pytest.mark.parametrize(("name", "method", "path", "body", "overrides"), CASES, ids=[c[0] for c in CASES])
def test_same_reply_as_the_node_sdk(
    services: dict[str, _Service],
    parity_backend: FakeBackend,
    name: str,
    method: str,
    path: str,
    body: Any,
    overrides: dict[str, Any],
) -> None:
    headers = _headers(parity_backend.base_url, **overrides)
    replies = {}
    calls = {}
    for which in ("node", "python"):
        parity_backend.requests.clear()
        replies[which] = _send(services[which], method, path, body, headers)
        calls[which] = _backend_view(parity_backend.requests)
    node, python = replies["node"], replies["python"]
    assert python.status_code == node.status_code
    assert python.headers["content-type"] == node.headers["content-type"] == "application/json; charset=utf-8"
    _assert_same(_normalize(python.json()), _normalize(node.json()))
    _assert_same(calls["python"], calls["node"])


def test_raw_non_json_bodies_read_as_empty_objects(
    services: dict[str, _Service], parity_backend: FakeBackend
) -> None:
    headers = _headers(parity_backend.base_url)
    headers["Content-Type"] = "text/plain"
    replies = [
        services[which].client.post("/widgets", content=b"hello", headers=headers)
        for which in ("node", "python")
    ]
    assert replies[0].status_code == replies[1].status_code == 201
    assert replies[0].json() == replies[1].json()
    assert replies[1].json()["context"]["body"] == {}


def test_geo_queries_differ_only_in_the_operator_name(
    services: dict[str, _Service], parity_backend: FakeBackend
) -> None:
    """Documented deviation: the Node SDK emits MongoDB's deprecated ``$within``; kinbase-flex emits
    ``$geoWithin``, which the kinbase query language accepts."""
    headers = _headers(parity_backend.base_url)
    node = _send(services["node"], "POST", "/_flexFunctions/queryGeo", {"body": {}}, headers).json()
    python = _send(services["python"], "POST", "/_flexFunctions/queryGeo", {"body": {}}, headers).json()
    node_query = node["response"]["body"]["query"].replace('"$within"', '"$geoWithin"')
    assert json.loads(python["response"]["body"]["query"]) == json.loads(node_query)
    assert "$within" in node["response"]["body"]["query"]


def test_both_services_keep_serving(services: dict[str, _Service]) -> None:
    for service in services.values():
        assert service.client.get("/healthcheck").json() == {"healthy": True}
