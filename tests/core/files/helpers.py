"""Shared helpers of the core file tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from kinbase.core.files.uploads import UploadProgress, UploadRange
from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.file_links import LinkOptions
from kinbase.core.kinvey.files import FilesApi
from kinbase.core.permissions import Principals
from kinbase.core.services import Core
from kinbase.storage.base import AppRecord
from kinbase.storage.blobs.testing import chunked

OPTIONS = LinkOptions("http://kinbase.test")
MASTER = Caller.master()


def user(user_id: str, *, groups: tuple[str, ...] = ()) -> Caller:
    return Caller("user", Principals.for_user(user_id, groups))


def parse_link(url: str) -> tuple[str, str, str, str]:
    """(app key, file id, action, token) of a kinbase file link."""
    parts = urlsplit(url)
    _, namespace, app_key, file_id, action = parts.path.split("/")
    assert namespace == "blob"
    return unquote(app_key), unquote(file_id), action, parse_qs(parts.query)["token"][0]


async def upload(
    core: Core, app: AppRecord, url: str, data: bytes, *, chunk: int = 64 * 1024
) -> UploadProgress:
    """PUT the whole file to an upload URL in one request, with its Content-Range."""
    _, file_id, action, token = parse_link(url)
    assert action == "_upload"
    where = UploadRange(0, len(data) - 1, len(data)) if data else UploadRange.status(0)
    return await core.files.transfer.upload(
        app, file_id, token, where, chunked(data, chunk) if data else None
    )


async def download(core: Core, app: AppRecord, url: str, start: int = 0, end: int | None = None) -> bytes:
    _, file_id, action, token = parse_link(url)
    assert action == "_download"
    target = await core.files.transfer.download(app, file_id, token)
    reader = await core.files.transfer.open(target, start, end)
    return b"".join([piece async for piece in reader])


async def create_file(
    core: Core, app: AppRecord, caller: Caller, data: bytes, **metadata: Any
) -> dict[str, Any]:
    """POST the metadata, upload the bytes; returns the metadata with its download URL."""
    doc, created = await core.files.kinvey.save(
        app,
        caller,
        {"_filename": "f.bin", "size": len(data), **metadata},
        file_id=None,
        content_type=metadata.get("mimeType", "application/octet-stream"),
        api=FilesApi(6),
        options=OPTIONS,
    )
    assert created
    progress = await upload(core, app, doc["_uploadURL"], data)
    assert progress.complete
    return await core.files.kinvey.get(app, caller, doc["_id"], OPTIONS)


class Paused:
    """A body sent in two halves, paused in between: ``sent`` is set once the first half is
    read; the second follows ``resume()``."""

    def __init__(self, first: bytes, second: bytes) -> None:
        self.first, self.second = first, second
        self.sent, self._resumed = asyncio.Event(), asyncio.Event()

    def resume(self) -> None:
        self._resumed.set()

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.first
        self.sent.set()
        await self._resumed.wait()
        yield self.second


async def eventually(predicate: Any, timeout: float = 15.0) -> None:
    """Wait until ``await predicate()`` is true (background deletions)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.05)
