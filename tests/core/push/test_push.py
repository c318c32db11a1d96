"""Push: the FCM (HTTP v1 + OAuth token exchange), APNs (HTTP/2, TLS, ES256 provider token) and
webhook providers against local servers that speak their protocols, and device registration and
sending through the app configuration on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from kinbase.core.appconfig import parse_toml
from kinbase.core.appconfig.model import ApnsConfig, FcmConfig, WebhookConfig
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.push import Device, PushMessage, PushService, parse_device, recipient_ids
from kinbase.core.push.apns import ApnsProvider
from kinbase.core.push.fcm import FcmProvider
from kinbase.core.push.webhook import WebhookProvider
from kinbase.core.services import Core
from kinbase.storage.base import AppRecord
from tests.support.flexauth import serve_asgi
from tests.support.push_servers import FakeApns, FakeFcm, FakeWebhook, ec_key, rsa_key, serve_h2_tls

pytestmark = pytest.mark.anyio

EMAIL = "push@demo-project.iam.gserviceaccount.com"


@dataclass
class Servers:
    fcm: FakeFcm
    fcm_url: str
    fcm_key: str
    apns: FakeApns
    apns_url: str
    apns_key: str
    webhook: FakeWebhook
    webhook_url: str
    trust: Any


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    fcm_private, fcm_public = rsa_key()
    apns_private, apns_public = ec_key()
    fcm = FakeFcm(fcm_public, EMAIL)
    apns = FakeApns(apns_public, "TEAM123456", "KEY1234567")
    webhook = FakeWebhook()
    with (
        serve_asgi(fcm) as fcm_url,
        serve_asgi(webhook) as webhook_url,
        serve_h2_tls(apns, tmp_path_factory.mktemp("apns")) as (apns_url, trust),
    ):
        fcm.url = fcm_url
        yield Servers(fcm, fcm_url, fcm_private, apns, apns_url, apns_private, webhook, webhook_url, trust)


def _fcm_config(s: Servers) -> FcmConfig:
    return FcmConfig("demo-project", EMAIL, s.fcm_key, token_uri=f"{s.fcm_url}/token", endpoint=s.fcm_url)


def _apns_config(s: Servers) -> ApnsConfig:
    return ApnsConfig("TEAM123456", "KEY1234567", s.apns_key, "com.example.app", endpoint=s.apns_url)


async def test_fcm_http_v1(servers: Servers) -> None:
    servers.fcm.gone.add("old-token")
    provider = FcmProvider(_fcm_config(servers))
    try:
        a, b = Device("u1", "android", "fresh-token"), Device("u1", "android", "old-token")
        before = len(servers.fcm.token_requests)
        first = await provider.send([a, b], PushMessage.parse("Hello"))
        assert [(d.ok, d.gone) for d in first] == [(True, False), (False, True)]
        payload = PushMessage.parse({"androidPayload": {"title": "Hi", "count": 2}, "iOSAps": {"alert": "x"}})
        second = await provider.send([a], payload)
        assert second[0].ok
    finally:
        await provider.aclose()
    assert len(servers.fcm.token_requests) == before + 1  # the access token is reused
    claims = servers.fcm.token_requests[-1]["claims"]
    assert claims["iss"] == EMAIL and claims["exp"] - claims["iat"] == 3600
    sent = [m for m in servers.fcm.messages if m["token"] == "fresh-token"][-2:]
    assert sent[0]["data"] == {"msg": "Hello"}
    assert sent[1]["data"] == {"title": "Hi", "count": "2"}


async def test_apns_http2(servers: Servers) -> None:
    servers.apns.gone.add("dead-device")
    provider = ApnsProvider(_apns_config(servers), verify=servers.trust)
    try:
        alive, dead = Device("u1", "ios", "a1b2c3"), Device("u1", "ios", "dead-device")
        result = await provider.send([alive, dead], PushMessage.parse("Hello"))
        assert [(d.ok, d.gone) for d in result] == [(True, False), (False, True)]
        silent = PushMessage.parse({"iOSAps": {"content-available": 1}, "iOSExtras": {"sync": "now"}})
        assert (await provider.send([alive], silent))[0].ok
    finally:
        await provider.aclose()
    seen = [r for r in servers.apns.requests if r["token"] == "a1b2c3"][-2:]
    assert all(r["http_version"] == "2" for r in seen)
    assert seen[0]["body"] == {"aps": {"alert": "Hello"}}
    assert (seen[0]["headers"]["apns-topic"], seen[0]["headers"]["apns-push-type"]) == (
        "com.example.app",
        "alert",
    )
    assert seen[1]["body"] == {"aps": {"content-available": 1}, "sync": "now"}
    assert (seen[1]["headers"]["apns-push-type"], seen[1]["headers"]["apns-priority"]) == ("background", "5")


async def test_apns_refuses_a_wrong_key(servers: Servers) -> None:
    other_key, _ = ec_key()
    config = ApnsConfig("TEAM123456", "KEY1234567", other_key, "com.example.app", endpoint=servers.apns_url)
    provider = ApnsProvider(config, verify=servers.trust)
    try:
        (result,) = await provider.send([Device("u", "ios", "t")], PushMessage.parse("x"))
    finally:
        await provider.aclose()
    assert not result.ok and not result.gone and result.error == "apns: 403 InvalidProviderToken"


async def test_webhook_is_signed(servers: Servers) -> None:
    provider = WebhookProvider(WebhookConfig(f"{servers.webhook_url}/push", "hook-secret"), "kid_x")
    try:
        (result,) = await provider.send([Device("u9", "ios", "tok", "apns")], PushMessage.parse("Hi"))
    finally:
        await provider.aclose()
    assert result.ok
    headers, body = servers.webhook.calls[-1]
    expected = "sha256=" + hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
    assert headers["x-kinbase-signature"] == expected
    assert json.loads(body) == {
        "appKey": "kid_x",
        "userId": "u9",
        "platform": "ios",
        "deviceId": "tok",
        "service": "apns",
        "message": "Hi",
    }


def test_messages_and_devices_are_validated() -> None:
    for bad in ("", 3, {"other": 1}, {"iOSAps": "x"}, None):
        with pytest.raises(KinveyError):
            PushMessage.parse(bad)
    for bad_body in (
        {"platform": "web", "deviceId": "x"},
        {"platform": "ios"},
        [],
        {"platform": "ios", "deviceId": ""},
    ):
        with pytest.raises(KinveyError):
            parse_device("u", bad_body)
    device = parse_device(
        "u", {"platform": "iOS", "deviceId": "abc", "service": "apns", "framework": "nativescript"}
    )
    assert device == Device("u", "ios", "abc", "apns", "nativescript")
    assert recipient_ids([{"_id": "a", "username": "x"}, "b"]) == ["a", "b"]
    with pytest.raises(KinveyError):
        recipient_ids([{"username": "no id"}])


def _push_toml(s: Servers, *, apns: bool = True) -> str:
    text = f"""
[push.fcm]
project_id = "demo-project"
client_email = "{EMAIL}"
private_key = {json.dumps(s.fcm_key)}
token_uri = "{s.fcm_url}/token"
endpoint = "{s.fcm_url}"

[push.webhook]
url = "{s.webhook_url}/hook"
secret = "hook-secret"
"""
    if apns:
        text += f"""
[push.apns]
team_id = "TEAM123456"
key_id = "KEY1234567"
private_key = {json.dumps(s.apns_key)}
topic = "com.example.app"
endpoint = "{s.apns_url}"
"""
    return text


async def test_register_and_send_through_the_configuration(
    core: Core, app: AppRecord, servers: Servers
) -> None:
    push = PushService(core.storage, core.appconfig, verify=servers.trust)
    try:
        devices = push.devices
        await devices.register(app, parse_device("alice", {"platform": "ios", "deviceId": "alice-phone"}))
        await devices.register(app, parse_device("alice", {"platform": "android", "deviceId": "alice-tab"}))
        await devices.register(app, parse_device("bob", {"platform": "android", "deviceId": "bob-old"}))
        await devices.register(app, parse_device("bob", {"platform": "ios", "deviceId": "shared"}))
        await devices.register(app, parse_device("alice", {"platform": "ios", "deviceId": "shared"}))  # moved
        await devices.register(
            app, parse_device("alice", {"platform": "ios", "deviceId": "shared"})
        )  # idempotent
        assert sorted(d.token for d in await devices.of_users(app, ["alice"])) == [
            "alice-phone",
            "alice-tab",
            "shared",
        ]
        assert [d.token for d in await devices.of_users(app, ["bob"])] == ["bob-old"]
        # No provider configured yet: nothing is sent, and the report says why.
        nothing = await push.send(app, ["alice"], PushMessage.parse("hi"))
        assert (nothing.sent, nothing.failed) == (0, 3) and "no push provider" in nothing.errors[0]
        await core.appconfig.apply(app, parse_toml(_push_toml(servers)))
        await core.apps.changed(app.key)
        app = await core.apps.require(app.key)
        servers.fcm.gone.add("bob-old")
        report = await push.send(app, recipient_ids([{"_id": "alice"}]), PushMessage.parse("For Alice"))
        assert (report.sent, report.failed, report.removed) == (3, 0, 0), report
        assert {
            r["token"] for r in servers.apns.requests if r["body"] == {"aps": {"alert": "For Alice"}}
        } == {
            "alice-phone",
            "shared",
        }
        everyone = await push.broadcast(app, PushMessage.parse("For everyone"))
        assert (everyone.sent, everyone.failed, everyone.removed) == (3, 1, 1)
        assert await devices.of_users(app, ["bob"]) == []  # the gone token was forgotten
        assert not await devices.unregister(
            app, parse_device("bob", {"platform": "ios", "deviceId": "shared"})
        )
        assert await devices.unregister(app, parse_device("alice", {"platform": "ios", "deviceId": "shared"}))
        # Without APNs, iOS devices go to the webhook.
        await core.appconfig.apply(app, parse_toml(_push_toml(servers, apns=False)))
        await core.apps.changed(app.key)
        app = await core.apps.require(app.key)
        calls = len(servers.webhook.calls)
        via_hook = await push.send(app, ["alice"], PushMessage.parse("Via hook"))
        assert (via_hook.sent, via_hook.failed) == (2, 0)
        hooked = [json.loads(body) for _, body in servers.webhook.calls[calls:]]
        assert [(h["platform"], h["deviceId"], h["message"]) for h in hooked] == [
            ("ios", "alice-phone", "Via hook")
        ]
    finally:
        await push.close()
