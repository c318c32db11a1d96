"""The endpointRunner, email and push modules: the exact requests they send (URL, method, headers
with credentials, body)."""

from __future__ import annotations

from typing import Any

from flex_probe import MASTER, USER, B, run, sent
from kinbase_flex.testing import FakeBackend, FlexTestClient


def test_endpoint_runner(client: FlexTestClient, flex: Any, flex_backend: FakeBackend) -> None:
    async def calls(modules: Any, context: Any) -> Any:
        return [
            await modules.endpointRunner().endpoint("other").execute({"a": 1}),
            await modules.endpoint_runner({"useUserContext": True}).endpoint("x").execute(),
        ]

    body = run(client, flex, calls)
    assert body["value"] == [{"a": 1}, {}]
    assert sent(flex_backend) == [
        ("POST", f"{B}/rpc/kid_test/custom/other", MASTER, "3", None, {"a": 1}),
        ("POST", f"{B}/rpc/kid_test/custom/x", USER, "3", None, {}),
    ]


def test_email(client: FlexTestClient, flex: Any, flex_backend: FakeBackend) -> None:
    flex_backend.respond(
        "POST",
        "/rpc/kid_test/send-email",
        reply=lambda r: {"mailServerResponse": "250 OK"} if r.json["html"] else {},
    )

    async def calls(modules: Any, context: Any) -> Any:
        email = modules.email
        return [
            await email.send("app@x.test", "friend@x.test", "Join", "You've been invited"),
            await email.send(
                "app@x.test", "friend@x.test", "Join", "text", None, "<b>html</b>", "cc@x.test", "bcc@x.test"
            ),
        ]

    body = run(client, flex, calls)
    assert body["value"] == [{"success": True}, "250 OK"]
    assert [
        (r.method, r.url, r.headers["authorization"], r.headers["x-kinvey-api-version"], r.json)
        for r in flex_backend.requests
    ] == [
        (
            "POST",
            f"{B}/rpc/kid_test/send-email",
            MASTER,
            "3",
            {
                "from": "app@x.test",
                "to": "friend@x.test",
                "cc": None,
                "bcc": None,
                "subject": "Join",
                "replyTo": None,
                "body": "You've been invited",
                "html": None,
            },
        ),
        (
            "POST",
            f"{B}/rpc/kid_test/send-email",
            MASTER,
            "3",
            {
                "from": "app@x.test",
                "to": "friend@x.test",
                "cc": "cc@x.test",
                "bcc": "bcc@x.test",
                "subject": "Join",
                "replyTo": None,
                "body": "text",
                "html": "<b>html</b>",
            },
        ),
    ]


def test_push(client: FlexTestClient, flex: Any, flex_backend: FakeBackend) -> None:
    async def calls(modules: Any, context: Any) -> Any:
        push = modules.push
        await push.sendMessage({"_id": "u1"}, "hello")
        await push.send([{"_id": "u1"}, {"_id": "u2"}], "hi")
        await push.broadcastMessage("all")
        await push.sendPayload({"_id": "u1"}, {"alert": "a", "badge": 2}, {"from": "k"}, {"message": "m"})
        await push.broadcastPayload({"alert": "b"}, None, {"m": 2})

    run(client, flex, calls)
    p = f"{B}/push/kid_test/"
    assert [
        (r.method, r.url, r.headers["authorization"], r.headers["x-kinvey-api-version"], r.json)
        for r in flex_backend.requests
    ] == [
        ("POST", f"{p}sendMessage", MASTER, "3", {"recipients": [{"_id": "u1"}], "messageContent": "hello"}),
        (
            "POST",
            f"{p}sendMessage",
            MASTER,
            "3",
            {"recipients": [{"_id": "u1"}, {"_id": "u2"}], "messageContent": "hi"},
        ),
        ("POST", f"{p}sendBroadcast", MASTER, "3", {"messageContent": "all"}),
        (
            "POST",
            f"{p}sendMessage",
            MASTER,
            "3",
            {
                "recipients": [{"_id": "u1"}],
                "messageContent": {
                    "iOSAps": {"alert": "a", "badge": 2},
                    "iOSExtras": {"from": "k"},
                    "androidPayload": {"message": "m"},
                },
            },
        ),
        (
            "POST",
            f"{p}sendBroadcast",
            MASTER,
            "3",
            {"messageContent": {"iOSAps": {"alert": "b"}, "iOSExtras": None, "androidPayload": {"m": 2}}},
        ),
    ]
