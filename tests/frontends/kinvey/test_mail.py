"""Password reset, email verification and forgotten username, delivered over real SMTP."""

from __future__ import annotations

import asyncio
import email
import re
import socket
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from kinbase.settings import Settings

from .conftest import Kinvey, error_of

pytestmark = pytest.mark.anyio


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    async def wait_for(self, to: str, count: int = 1) -> list[Message]:
        for _ in range(200):
            found = [m for m in self.messages if m["To"] == to]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.01)
        raise AssertionError(f"no mail to {to}")


@pytest.fixture(scope="session")
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def settings(tmp_path: Path, smtp: tuple[Inbox, int]) -> Settings:
    return Settings(
        data_dir=str(tmp_path / "data"),
        password_hash_time_cost=1,
        password_hash_memory_kib=8,
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        mail_from="noreply@kinbase.test",
    )


def link_in(message: Message) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(r"http://kinbase\.test(/rpc/\S+)", body.decode())
    assert found, body
    return found.group(1)


async def test_password_reset(kv: Kinvey, smtp: tuple[Inbox, int]) -> None:
    inbox = smtp[0]
    address = f"{kv.key}-ann@example.com"
    ann = await kv.user("ann", "old", email=address)
    r = await kv.post("/rpc/{k}/ann/user-password-reset-initiate", kv.appauth)
    assert r.status_code == 204
    r = await kv.post("/rpc/{k}/nobody/user-password-reset-initiate", kv.appauth)
    assert r.status_code == 204, "unknown users are not revealed"
    (mail,) = await inbox.wait_for(address)
    assert mail["From"] == "noreply@kinbase.test" and "password" in mail["Subject"]
    path = link_in(mail)
    page = await kv.http.get(path)
    assert page.status_code == 200 and "<form" in page.text
    token = path.split("token=")[1]
    r = await kv.http.post(path.split("?")[0], data={"token": token, "password": "new", "confirm": "nope"})
    assert r.status_code == 400
    r = await kv.http.post(path.split("?")[0], data={"token": token, "password": "new", "confirm": "new"})
    assert r.status_code == 200 and "changed" in r.text
    r = await kv.http.post(path.split("?")[0], data={"token": token, "password": "x", "confirm": "x"})
    assert r.status_code == 404, "a reset link works once"
    assert (await kv.get("/user/{k}/_me", ann)).status_code == 401, "sessions revoked"
    r = await kv.post("/user/{k}/login", kv.appauth, json={"username": "ann", "password": "new"})
    assert r.status_code == 200
    r = await kv.post(f"/rpc/{{k}}/{address}/user-password-reset-initiate", kv.appauth)
    assert r.status_code == 204 and len(await inbox.wait_for(address, 2)) == 2


async def test_email_verification_and_forgot_username(kv: Kinvey, smtp: tuple[Inbox, int]) -> None:
    inbox = smtp[0]
    address = f"{kv.key}-bob@example.com"
    bob = await kv.user("bob", "pw", email=address)
    r = await kv.post(f"/rpc/{{k}}/{bob.id}/user-email-verification-initiate", kv.appauth)
    assert r.status_code == 204
    (mail,) = await inbox.wait_for(address)
    page = await kv.http.get(link_in(mail))
    assert page.status_code == 200 and "confirmed" in page.text
    me = (await kv.get("/user/{k}/_me", bob)).json()
    assert me["_kmd"]["emailVerification"]["status"] == "confirmed"
    assert (await kv.http.get(link_in(mail))).status_code == 404
    r = await kv.post("/rpc/{k}/user-forgot-username", kv.appauth, json={"email": address})
    assert r.status_code == 204
    mails = await inbox.wait_for(address, 2)
    body = mails[1].get_payload(decode=True)
    assert isinstance(body, bytes) and "bob" in body.decode()
    r = await kv.post("/rpc/{k}/user-forgot-username", kv.appauth, json={})
    assert r.status_code == 400 and error_of(r) == "IncompleteRequestBody"
    assert (await kv.http.get(f"/rpc/{kv.key}/verify-email?token=bogus")).status_code == 404
