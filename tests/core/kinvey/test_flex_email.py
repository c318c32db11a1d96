"""The Flex ``email`` module's messages go out through the configured SMTP server (a real one,
aiosmtpd), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import email
import socket
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.services import Core
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend

pytestmark = pytest.mark.anyio


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def test_a_flex_email_reaches_the_smtp_server(
    storage: StorageBackend, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    core = Core(Settings(data_dir=str(tmp_path), smtp_host="127.0.0.1", smtp_port=port), storage)
    body = {
        "from": "shop@example.test",
        "to": "buyer@example.test",
        "cc": ["boss@example.test"],
        "bcc": "audit@example.test",
        "subject": "Low stock",
        "replyTo": None,
        "body": "Reorder: gears",
        "html": "<p>Reorder: <b>gears</b></p>",
    }
    answer = await core.kinvey.mail.send_flex_email(body)
    assert answer == {"mailServerResponse": "Message accepted for delivery"}
    for _ in range(200):
        if inbox.received:
            break
        await asyncio.sleep(0.01)
    recipients, message = inbox.received[-1]
    assert sorted(recipients) == ["audit@example.test", "boss@example.test", "buyer@example.test"]
    assert (message["From"], message["To"], message["Cc"]) == (
        "shop@example.test",
        "buyer@example.test",
        "boss@example.test",
    )
    assert message["Bcc"] is None and message["Reply-To"] == "shop@example.test"
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode().strip()
        for p in message.walk()
        if not p.is_multipart()
    }
    assert parts == {"text/plain": "Reorder: gears", "text/html": "<p>Reorder: <b>gears</b></p>"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"to": "a@b.test", "subject": "s", "body": "b"}, "IncompleteRequestBody"),
        ({"from": "a@b.test", "to": "x", "subject": "s", "body": "b"}, "BadRequest"),
        ({"from": "a@b.test", "to": "c@d.test", "subject": "two\nlines", "body": "b"}, "BadRequest"),
        ({"from": "a@b.test", "to": "c@d.test\r\nBcc: e@f.test", "subject": "s", "body": "b"}, "BadRequest"),
        ({"from": "a@b.test", "to": "c@d.test", "subject": "s"}, "IncompleteRequestBody"),
        ("not an object", "IncompleteRequestBody"),
    ],
)
async def test_bad_messages_are_refused(
    storage: StorageBackend, tmp_path: Path, body: Any, error: str
) -> None:
    core = Core(Settings(data_dir=str(tmp_path), smtp_host="127.0.0.1", smtp_port=1), storage)
    with pytest.raises(KinveyError) as refused:
        await core.kinvey.mail.send_flex_email(body)
    assert refused.value.name == error


async def test_without_smtp_server(storage: StorageBackend, tmp_path: Path) -> None:
    core = Core(Settings(data_dir=str(tmp_path)), storage)
    good = {"from": "a@b.test", "to": "c@d.test", "subject": "s", "body": "b"}
    with pytest.raises(KinveyError) as missing:
        await core.kinvey.mail.send_flex_email(good)
    assert missing.value.name == "MissingConfiguration"
