"""``/push/:appKey/*`` and ``/rpc/:appKey/send-email`` over HTTP on both engines: devices
registered by their users' sessions, messages sent with the master secret that reach local
servers speaking FCM HTTP v1, APNs (HTTP/2, TLS) and the webhook protocol, and an email that
arrives at a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kinbase.core.appconfig import parse_toml
from kinbase.core.push import PushService
from kinbase.core.services import Core
from kinbase.settings import Settings
from tests.core.kinvey.test_flex_email import Inbox
from tests.core.kinvey.test_flex_email import smtp as smtp
from tests.core.push.test_push import Servers, _push_toml
from tests.core.push.test_push import servers as servers

from .conftest import Kinvey, error_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(tmp_path: Path, smtp: tuple[Inbox, int]) -> Settings:
    return Settings(
        data_dir=str(tmp_path / "data"),
        password_hash_time_cost=1,
        password_hash_memory_kib=8,
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
    )


@pytest.fixture
async def push(core: Core, servers: Servers) -> AsyncIterator[PushService]:
    """The core's push service, trusting the local APNs server's certificate."""
    core.push = PushService(core.storage, core.appconfig, verify=servers.trust)
    yield core.push
    await core.push.close()


async def test_devices_and_messages_over_http(
    kv: Kinvey,
    core: Core,
    push: PushService,
    servers: Servers,
) -> None:
    await core.appconfig.apply(kv.app, parse_toml(_push_toml(servers)))
    alice, bob = await kv.user(), await kv.user()
    for who, platform, token in ((alice, "ios", "h-alice-phone"), (alice, "android", "h-alice-tab")):
        body = {"platform": platform, "deviceId": token, "service": "firebase", "framework": "nativescript"}
        registered = await kv.post("/push/{k}/register-device", who, json=body)
        assert registered.status_code == 204, registered.text
    await kv.post("/push/{k}/register-device", bob, json={"platform": "android", "deviceId": "h-bob"})
    assert [d.token for d in await push.devices.of_users(kv.app, [bob.id])] == ["h-bob"]

    fcm_before, apns_before = len(servers.fcm.messages), len(servers.apns.requests)
    sent = await kv.post(
        "/push/{k}/sendMessage",
        json={"recipients": [{"_id": alice.id, "username": alice.username}], "messageContent": "Hi Alice"},
        version="3",
    )
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"sent": 2, "failed": 0, "removed": 0, "errors": []}
    assert [r["token"] for r in servers.apns.requests[apns_before:]] == ["h-alice-phone"]
    assert servers.apns.requests[-1]["body"] == {"aps": {"alert": "Hi Alice"}}
    fcm_sent = servers.fcm.messages[fcm_before:]
    assert [(m["token"], m["data"]) for m in fcm_sent] == [("h-alice-tab", {"msg": "Hi Alice"})]

    servers.fcm.gone.add("h-bob")
    payload = {"iOSAps": {"alert": "All"}, "iOSExtras": {"k": 1}, "androidPayload": {"title": "All"}}
    everyone = await kv.post("/push/{k}/sendBroadcast", json={"messageContent": payload})
    assert (
        everyone.json()
        == {
            "sent": 2,
            "failed": 1,
            "removed": 1,
            "errors": everyone.json()["errors"],
        }
        and len(everyone.json()["errors"]) == 1
    )
    assert servers.apns.requests[-1]["body"] == {"aps": {"alert": "All"}, "k": 1}
    assert await push.devices.of_users(kv.app, [bob.id]) == []  # the gone token was forgotten

    gone = await kv.post(
        "/push/{k}/unregister-device", alice, json={"platform": "ios", "deviceId": "h-alice-phone"}
    )
    assert gone.status_code == 204
    assert [d.token for d in await push.devices.of_users(kv.app, [alice.id])] == ["h-alice-tab"]

    # Without APNs, iOS devices go to the signed webhook.
    no_apns = parse_toml(_push_toml(servers, apns=False))
    await core.appconfig.apply(await core.apps.require(kv.app.key), no_apns)
    await core.apps.changed(kv.app.key)
    await kv.post("/push/{k}/register-device", alice, json={"platform": "ios", "deviceId": "h-alice-new"})
    calls = len(servers.webhook.calls)
    hooked = await kv.post("/push/{k}/sendMessage", json={"recipients": [alice.id], "messageContent": "Hook"})
    assert hooked.json()["sent"] == 2
    delivered = [json.loads(body) for _, body in servers.webhook.calls[calls:]]
    assert [(d["userId"], d["platform"], d["deviceId"], d["message"]) for d in delivered] == [
        (alice.id, "ios", "h-alice-new", "Hook")
    ]


async def test_push_refuses_bad_input_and_wrong_credentials(kv: Kinvey, push: PushService) -> None:
    user = await kv.user()
    device = {"platform": "android", "deviceId": "t1"}
    assert error_of(await kv.post("/push/{k}/register-device", json=device)) == "InsufficientCredentials"
    assert error_of(await kv.post("/push/{k}/register-device", kv.appauth, json=device)) == (
        "InsufficientCredentials"
    )
    for bad, name in (
        ({"platform": "windows", "deviceId": "t"}, "BadRequest"),
        ({"platform": "ios"}, "BadRequest"),
        ([1], "IncompleteRequestBody"),
    ):
        refused = await kv.post("/push/{k}/register-device", user, json=bad)
        assert refused.status_code == 400 and error_of(refused) == name
    assert error_of(await kv.post("/push/{k}/sendMessage", user, json={"messageContent": "x"})) == (
        "InsufficientCredentials"
    )
    for bad, name in (
        ({"messageContent": "x"}, "IncompleteRequestBody"),
        ({"recipients": [{"name": "no id"}], "messageContent": "x"}, "BadRequest"),
        ({"recipients": ["a"], "messageContent": ""}, "BadRequest"),
        ({"recipients": ["a"], "messageContent": 3}, "BadRequest"),
        ({"recipients": ["a"]}, "IncompleteRequestBody"),
    ):
        refused = await kv.post("/push/{k}/sendMessage", json=bad)
        assert refused.status_code == 400 and error_of(refused) == name, bad
    assert error_of(await kv.post("/push/{k}/sendBroadcast", json={})) == "IncompleteRequestBody"
    # Nothing configured: nothing is sent, and the report says why.
    await kv.post("/push/{k}/register-device", user, json=device)
    report = (
        await kv.post("/push/{k}/sendMessage", json={"recipients": [user.id], "messageContent": "x"})
    ).json()
    assert (report["sent"], report["failed"]) == (0, 1) and "no push provider" in report["errors"][0]


async def test_send_email_reaches_the_smtp_server(kv: Kinvey, smtp: tuple[Inbox, int]) -> None:
    inbox, _ = smtp
    body = {
        "from": "shop@example.test",
        "to": "buyer@example.test",
        "cc": None,
        "bcc": None,
        "subject": "Your order",
        "replyTo": "help@example.test",
        "body": "It ships today.",
        "html": None,
    }
    before = len(inbox.received)
    sent = await kv.post("/rpc/{k}/send-email", json=body, version="3")
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"mailServerResponse": "Message accepted for delivery"}
    for _ in range(500):
        if len(inbox.received) > before:
            break
        await asyncio.sleep(0.01)
    recipients, message = inbox.received[-1]
    assert recipients == ["buyer@example.test"]
    assert (message["From"], message["Subject"], message["Reply-To"]) == (
        "shop@example.test",
        "Your order",
        "help@example.test",
    )
    assert message.get_payload(decode=True).decode().strip() == "It ships today."
    user = await kv.user()
    assert error_of(await kv.post("/rpc/{k}/send-email", user, json=body)) == "InsufficientCredentials"
    injected = await kv.post("/rpc/{k}/send-email", json={**body, "subject": "a\r\nBcc: x@y.test"})
    assert injected.status_code == 400 and error_of(injected) == "BadRequest"
    assert len(inbox.received) == before + 1


async def test_the_answers_match_the_openapi_document(kv: Kinvey, push: PushService) -> None:
    from tests.frontends.kinvey.test_openapi import _check

    doc = (await kv.http.get("/kinvey/__api__")).json()
    user = await kv.user()
    device = {"platform": "ios", "deviceId": "t-openapi"}
    assert (await kv.post("/push/{k}/register-device", user, json=device)).status_code == 204
    message = {"recipients": [user.id], "messageContent": "x"}
    _check(doc, "/push/{app_key}/sendMessage", "post", await kv.post("/push/{k}/sendMessage", json=message))
    broadcast = await kv.post("/push/{k}/sendBroadcast", json={"messageContent": "x"})
    _check(doc, "/push/{app_key}/sendBroadcast", "post", broadcast)
    _check(doc, "/rpc/{app_key}/send-email", "post", await kv.post("/rpc/{k}/send-email", json={}))
