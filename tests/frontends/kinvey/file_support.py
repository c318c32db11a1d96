"""Helpers of the Kinvey file tests over HTTP: a core over each byte store, raw ASGI uploads
(a broken connection is an ``http.disconnect`` the app receives mid-body), link tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from kinbase.types_asgi import ASGIApp


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def path_of(url: str) -> str:
    """The path and query of an absolute link (the in-process client takes them)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def tampered(url: str) -> str:
    """``url`` with the last character of its signature changed."""
    token = token_of(url)
    other = token[:-1] + ("B" if token[-1] == "A" else "A")
    return url.replace(token, other)


async def raw_put(
    app: ASGIApp,
    url: str,
    chunks: Sequence[bytes],
    headers: dict[str, str],
    *,
    disconnect: bool = False,
    stall: float | None = None,
    method: str = "PUT",
    drained: asyncio.Event | None = None,
    hold: asyncio.Event | None = None,
) -> tuple[int | None, dict[str, str], bytes]:
    """PUT (or ``method``) ``chunks`` to ``url`` through the ASGI interface. With ``disconnect``,
    the client goes away after the last chunk (the connection breaks); with ``stall``, it then
    sends nothing for that long; with ``hold``, it sets ``drained`` once its chunks are read and
    goes away when ``hold`` is set. Returns the status (None: nothing was answered), headers and body."""
    parts = urlsplit(url)
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": [(b"host", b"kinbase.test")]
        + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("kinbase.test", 80),
    }
    queue = list(chunks)
    answered: dict[str, Any] = {"status": None, "headers": {}, "body": b""}

    async def receive() -> dict[str, Any]:
        if queue:
            return {"type": "http.request", "body": queue.pop(0), "more_body": True}
        if drained is not None:
            drained.set()
        if hold is not None:  # the client keeps the request open until told to go away
            await hold.wait()
            return {"type": "http.disconnect"}
        if stall is not None:
            await asyncio.sleep(stall)
        if disconnect or stall is not None:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answered["status"] = message["status"]
            answered["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answered["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answered["status"], answered["headers"], answered["body"]


async def read_all(response: httpx.Response) -> bytes:
    return response.content


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
