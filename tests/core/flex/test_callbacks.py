"""The Flex modules' calls back into kinbase, end to end: a kinbase server process, the test
service written with kinbase-flex and with the official Node kinvey-flex-sdk (real processes),
custom endpoints whose functions use ``dataStore`` (master secret, ``useBl``, ``useUserContext``),
``userStore``, ``groupStore``, ``roleStore``, ``endpointRunner``, ``email`` (a real SMTP server)
and ``push`` (a webhook receiver); circular and too deep callback chains refused with
``BLViolationError``; on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kinbase.core.flex.chain import MAX_DEPTH
from tests.core.kinvey.test_flex_email import Inbox
from tests.core.kinvey.test_flex_email import smtp as smtp
from tests.support.databases import database_args
from tests.support.flex_services import FLEX_SECRET, FlexProcess
from tests.support.flexauth import serve_asgi
from tests.support.push_servers import FakeWebhook
from tests.support.server import ServerProcess, run_server

pytestmark = pytest.mark.slow

HOPS = ["hopA", "hopB", *(f"hop{i}" for i in range(1, MAX_DEPTH + 2))]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    yield from database_args(request.param, tmp_path)


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[FakeWebhook, str]]:
    receiver = FakeWebhook()
    with serve_asgi(receiver) as url:
        yield receiver, url


def _config(service: FlexProcess, webhook_url: str) -> str:
    endpoints = ["cbData", "cbStores", "cbEmail", "cbPush", *HOPS]
    text = f'[flex_services.svc]\nurl = "{service.url}"\nsecret = "{FLEX_SECRET}"\ntimeout_seconds = 30\n'
    for name in endpoints:
        function = "hop" if name.startswith("hop") else name
        text += f'\n[endpoints.{name}]\nservice = "svc"\nfunction = "{function}"\n'
    text += '\n[collections.notes.hooks]\npre_save = { service = "svc", function = "stamp" }\n'
    text += '\n[collections.diary]\npermissions = "private"\n'
    for loop in ("loopA", "loopB"):
        text += f'\n[collections.{loop}.hooks]\npre_save = {{ service = "svc", function = "bounce" }}\n'
    text += f'\n[push.webhook]\nurl = "{webhook_url}/hook"\nsecret = "hook-secret"\n'
    return text


class Client:
    """A kinbase server's app, over HTTP."""

    def __init__(self, server: ServerProcess) -> None:
        found = re.search(
            r"^app key:\s+(\S+)$.*^app secret:\s+(\S+)$.*^master secret:\s+(\S+)$", server.log(), re.M | re.S
        )
        assert found is not None, server.log()
        self.key, app_secret, master = found.groups()
        self.http = httpx.Client(base_url=server.url, timeout=60)
        self.app = self._basic(self.key, app_secret)
        self.master = self._basic(self.key, master)

    @staticmethod
    def _basic(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, who: dict[str, str], **kw: Any) -> httpx.Response:
        headers = {"X-Kinvey-API-Version": "5", **who, **kw.pop("headers", {})}
        return self.http.request(method, path.replace("{k}", self.key), headers=headers, **kw)

    def user(self, name: str) -> tuple[str, dict[str, str]]:
        body = {"username": name, "password": "pw"}
        assert self.call("POST", "/user/{k}", self.app, json=body).status_code == 201
        login = self.call("POST", "/user/{k}/login", self.app, json=body).json()
        return login["_id"], {"Authorization": f"Kinvey {login['_kmd']['authtoken']}"}

    def endpoint(self, name: str, who: dict[str, str], body: Any) -> Any:
        reply = self.call("POST", f"/rpc/{{k}}/custom/{name}", who, json=body)
        assert reply.status_code == 200, reply.text
        return reply.json()


def test_modules_call_back_into_kinbase(
    tmp_path: Path,
    database: list[str],
    service: FlexProcess,
    smtp: tuple[Inbox, int],
    webhook: tuple[FakeWebhook, str],
) -> None:
    inbox, smtp_port = smtp
    receiver, webhook_url = webhook
    env = {
        "KINBASE_APP_CACHE_SECONDS": "1",
        "KINBASE_SMTP_HOST": "127.0.0.1",
        "KINBASE_SMTP_PORT": str(smtp_port),
        "KINBASE_PASSWORD_HASH_TIME_COST": "1",
        "KINBASE_PASSWORD_HASH_MEMORY_KIB": "8",
    }
    with (
        run_server(*database, workdir=tmp_path, env=env, startup_timeout=150) as server,
        contextlib.closing(Client(server)) as kb,
    ):
        applied = kb.call("PUT", "/appconfig/{k}", kb.master, content=_config(service, webhook_url).encode())
        assert applied.status_code == 200 and applied.json()["applied"], applied.text
        ann_id, ann = kb.user(f"ann{time.monotonic_ns()}")
        _, bob = kb.user(f"bob{time.monotonic_ns()}")
        assert kb.call("POST", "/appdata/{k}/diary", ann, json={"text": "ann's"}).status_code == 201
        assert kb.call("POST", "/appdata/{k}/diary", bob, json={"text": "bob's"}).status_code == 201

        # dataStore: the master secret skips the hooks, useBl runs them, useUserContext acts as the
        # caller (its ACLs, and its skip of business logic honoured on a callback).
        data = kb.endpoint("cbData", ann, {"collection": "notes", "private": "diary"})
        assert "error" not in data, data
        assert data["saved"]["_id"] == "plain" and "stampedBy" not in data["saved"]
        assert data["hooked"]["stampedBy"] == "notes"
        assert data["asUser"]["_id"] == "user" and "stampedBy" not in data["asUser"]
        assert data["asUser"]["_acl"]["creator"] == ann_id
        assert [e["_id"] for e in data["found"]] == ["plain"] and data["count"] == {"count": 3}
        assert [e["text"] for e in data["mine"]] == ["ann's"]
        assert sorted(e["text"] for e in data["all"]) == ["ann's", "bob's"]
        stored = kb.call("GET", "/appdata/{k}/notes", kb.master).json()
        assert sorted(e["_id"] for e in stored) == ["hooked", "plain", "user"]
        # A client's own skip, or a forged chain header, does not skip the hooks of a user request.
        for extra in ({"X-Kinvey-Skip-Business-Logic": "true"}, {"X-Kinbase-Flex-Chain": "[]"}):
            own = kb.call("POST", "/appdata/{k}/notes", ann, json={"n": 4}, headers=extra)
            assert own.json()["stampedBy"] == "notes", extra

        stores = kb.endpoint("cbStores", ann, {"userId": ann_id})
        assert "error" not in stores, stores
        assert stores["username"].startswith("ann") and stores["users"] == {"count": 2}
        assert (stores["group"], stores["fetched"], stores["role"]) == ("crew", "Crew", "editors")
        assert ann_id in json.dumps(stores["members"])
        assert kb.call("GET", "/group/{k}/crew", kb.master).json()["name"] == "Crew"

        # endpointRunner: a chain of endpoints runs; one that comes back to itself is refused.
        assert kb.endpoint("hopA", ann, {"path": ["hopB"]}) == {
            "via": "hopA",
            "result": {"via": "hopB", "end": True},
        }
        loop = kb.endpoint("hopA", ann, {"path": ["hopB", "hopA"]})
        inner = loop["result"]
        assert loop["via"] == "hopA" and inner["via"] == "hopB" and inner["error"] == "BLViolationError"
        assert "Circular request" in inner["debug"] and "hopA" in inner["debug"]
        deep = kb.endpoint("hop1", kb.master, {"path": [f"hop{i}" for i in range(2, MAX_DEPTH + 2)]})
        for level in range(1, MAX_DEPTH):
            assert deep["via"] == f"hop{level}" and "result" in deep, deep
            deep = deep["result"]
        assert deep["via"] == f"hop{MAX_DEPTH}" and deep["error"] == "BLViolationError"
        assert "Too many nested Flex callbacks" in deep["debug"]

        # Hooks whose writes (useBl) run each other's hook: the third one would be the first again.
        first = kb.call("POST", "/appdata/{k}/loopA", ann, json={"n": 1})
        assert first.status_code == 201, first.text
        assert "refused" not in first.json() and first.json()["saved"]
        (bounced,) = kb.call("GET", "/appdata/{k}/loopB", kb.master).json()
        assert bounced["from"] == "loopA" and bounced["refused"]["error"] == "BLViolationError"
        assert (
            "Circular request" in bounced["refused"]["debug"] and "pre loopA" in bounced["refused"]["debug"]
        )
        assert [e["n"] for e in kb.call("GET", "/appdata/{k}/loopA", kb.master).json()] == [1]

        # email: through the SMTP server of the settings.
        before = len(inbox.received)
        mail = {
            "from": "shop@example.test",
            "to": "buyer@example.test",
            "subject": "From Flex",
            "text": "Sent by a Flex function",
            "replyTo": "help@example.test",
            "html": "<p>Sent by a Flex function</p>",
        }
        sent = kb.endpoint("cbEmail", kb.master, mail)
        assert "error" not in sent, sent
        deadline = time.monotonic() + 30
        while len(inbox.received) == before:
            assert time.monotonic() < deadline, "the mail never arrived"
            time.sleep(0.05)
        recipients, message = inbox.received[-1]
        assert recipients == ["buyer@example.test"] and message["Subject"] == "From Flex"

        # push: to the user's devices, through the app's providers (here the signed webhook).
        device = {"platform": "android", "deviceId": f"tok-{ann_id}"}
        assert kb.call("POST", "/push/{k}/register-device", ann, json=device).status_code == 204
        calls = len(receiver.calls)
        pushed = kb.endpoint("cbPush", kb.master, {"userId": ann_id, "message": "Hello from Flex"})
        assert "error" not in pushed, pushed
        assert pushed["report"]["sent"] == 1, pushed
        hooked = [json.loads(body) for _, body in receiver.calls[calls:]]
        assert [(h["userId"], h["deviceId"], h["message"]) for h in hooked] == [
            (ann_id, f"tok-{ann_id}", "Hello from Flex")
        ]
