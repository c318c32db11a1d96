"""Resumable uploads (the protocol of Google Cloud Storage that the Kinvey SDKs speak), over any
byte store.

A client PUTs to a signed upload URL either the whole file, or chunks described by
``Content-Range: bytes <first>-<last>/<total>``; ``bytes */<total>`` asks how much arrived. The
answer is the committed size, which the front-end sends back as ``Range: bytes=0-<committed-1>``
with 308 until the file is complete. What arrived before a broken connection or a stall is kept,
and the client resumes from there (bytes it sends again are skipped).

One request writes to an upload at a time: it holds the ledger's lease, renewed while bytes flow,
so a second worker or machine gets ``UploadBusy`` (a 5xx the SDKs retry with backoff) and a
crashed writer's lease lapses after twice the stall timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kinbase.core.files.errors import BadUploadRange, FileTooLarge, QuotaExceeded, UploadGone, UploadStalled
from kinbase.core.files.ledger import BlobLedger, LedgerEntry
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, Writer
from kinbase.storage.blobs import BlobExists, BlobStore, BlobTooLarge, OffsetMismatch

__all__ = ["Finisher", "ResumableUploads", "UploadProgress", "UploadRange", "stall_guard"]

logger = logging.getLogger("kinbase.files")

Finisher = Callable[[Writer, int], Awaitable[Any]]
"""Called with the file's size inside the transaction that records a finished upload, before the
ledger is written (the owner updates its metadata, locking its parent first: the ledger's lock
order)."""


@dataclass(frozen=True, slots=True)
class UploadRange:
    """What one upload request carries.

    Attributes:
        start: the offset of the body's first byte; None for a status query (``bytes */N``).
        last: the offset of the body's last byte, when the client said it.
        total: the file's size, when known (``/N``; None for ``/*``).
        whole: the body is the whole file (no ``Content-Range``): its end completes the upload.
    """

    start: int | None
    last: int | None = None
    total: int | None = None
    whole: bool = False

    @classmethod
    def status(cls, total: int | None) -> UploadRange:
        return cls(None, None, total)

    @classmethod
    def whole_file(cls) -> UploadRange:
        return cls(0, None, None, whole=True)


@dataclass(frozen=True, slots=True)
class UploadProgress:
    """Where an upload stands: ``committed`` bytes of ``total``; ``result`` is the finisher's answer
    once ``complete``."""

    committed: int
    total: int | None
    complete: bool
    result: Any = None


async def stall_guard(chunks: AsyncIterable[bytes], seconds: float) -> AsyncIterator[bytes]:
    """``chunks``, failing with UploadStalled when the next one takes longer than ``seconds``."""
    iterator = aiter(chunks)
    while True:
        try:
            async with asyncio.timeout(seconds):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UploadStalled() from None
        yield chunk


async def _skip_and_cap(chunks: AsyncIterable[bytes], skip: int, cap: int | None) -> AsyncIterator[bytes]:
    """Drop the first ``skip`` bytes (already committed); refuse more than ``cap`` bytes in all."""
    seen = 0
    async for chunk in chunks:
        seen += len(chunk)
        if cap is not None and seen > cap:
            raise BadUploadRange(f"The body is longer than its Content-Range ({cap} bytes).")
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        yield chunk[skip:] if skip else chunk
        skip = 0


class ResumableUploads:
    """Receive the bytes of uploads whose ledger entry exists (the owner reserved it)."""

    def __init__(self, settings: Settings, ledger: BlobLedger, store: BlobStore) -> None:
        self.settings = settings
        self.ledger = ledger
        self.store = store

    async def receive(
        self,
        app: AppRecord,
        key: str,
        where: UploadRange,
        chunks: AsyncIterable[bytes] | None,
        finish: Finisher,
        *,
        declared: int | None = None,
    ) -> UploadProgress:
        """Append a request's body to the upload ``key`` (or answer a status query).

        Args:
            declared: the size the owner announced (the file's metadata), if any.
            finish: runs in the transaction that records the completed upload.

        Raises:
            UploadGone: the upload no longer exists (replaced, deleted or collected).
            UploadBusy: another request is writing to it.
            BadUploadRange: a total that contradicts the declared size, or a body longer than its range.
            FileTooLarge, QuotaExceeded: the file passes a limit (what fits is kept until collected).
            UploadStalled: the body stopped arriving (what arrived is kept).
        """
        total = where.total if where.total is not None else declared
        if where.total is not None and declared is not None and where.total != declared:
            raise BadUploadRange(f"The upload is {declared} bytes, not {where.total}.")
        entry, holder = await self.ledger.lease(app, key, self.settings.upload_stall_seconds * 2)
        if entry.stored:
            return UploadProgress(entry.size, entry.size, True, await self._finished(app, entry, finish))
        renewal = asyncio.create_task(self._renew(app, key, holder))
        try:
            committed = await self._open(key, entry)
            if where.start is None or chunks is None:
                if total is not None and committed == total:
                    return await self._complete(app, key, finish, total)
                return UploadProgress(committed, total, False)
            if where.start > committed:  # a gap: the client resends from the committed size
                return UploadProgress(committed, total, False)
            cap = where.last - where.start + 1 if where.last is not None else None
            if where.last is not None and total is not None and where.last >= total:
                raise BadUploadRange(f"The range ends at {where.last}, past the file's {total} bytes.")
            body = _skip_and_cap(
                stall_guard(chunks, self.settings.upload_stall_seconds), committed - where.start, cap
            )
            committed = await self._append(app, key, entry, committed, body, total)
            if (total is not None and committed == total) or (total is None and where.whole):
                return await self._complete(app, key, finish, committed)
            return UploadProgress(committed, total, False)
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            await self.ledger.release(app, key, holder)

    async def _renew(self, app: AppRecord, key: str, holder: str) -> None:
        """Keep the lease while bytes flow (a crashed writer stops renewing it)."""
        seconds = self.settings.upload_stall_seconds
        while True:
            await asyncio.sleep(seconds)
            if not await self.ledger.renew(app, key, holder, seconds * 2):
                return

    async def _open(self, key: str, entry: LedgerEntry) -> int:
        info = await self.store.upload_info(key)
        if info is None:
            try:
                info = await self.store.create_upload(key, content_type=entry.content_type)
            except BlobExists:  # completed in the store, the ledger not told (a crash in between)
                blob = await self.store.stat(key)
                return blob.size if blob is not None else 0
        return info.size

    async def _append(
        self,
        app: AppRecord,
        key: str,
        entry: LedgerEntry,
        committed: int,
        body: AsyncIterable[bytes],
        total: int | None,
    ) -> int:
        limits = self.ledger.limits(app)
        # the tightest bound decides the error: past the announced size is the client's mistake
        bounds: list[tuple[int, str]] = []
        if total is not None:
            bounds.append((total, "total"))
        bounds.append((limits.max_file_bytes, "file"))
        if limits.quota_bytes:
            bounds.append(
                (entry.size + max(0, limits.quota_bytes - await self.ledger.usage(app.id)), "quota")
            )
        ceiling, reason = min(bounds, key=lambda b: b[0])
        try:
            return await self.store.append(key, committed, body, max_size=ceiling)
        except BlobTooLarge as exc:
            if reason == "total":
                raise BadUploadRange(f"The body goes past the file's {total} bytes.") from exc
            if reason == "quota":
                raise QuotaExceeded(limits.quota_bytes, await self.ledger.usage(app.id)) from exc
            raise FileTooLarge(limits.max_file_bytes) from exc
        except OffsetMismatch as exc:  # the store moved on under us: the client asks again
            raise UploadGone("The upload changed meanwhile; ask for its status and resume.") from exc

    async def _complete(self, app: AppRecord, key: str, finish: Finisher, size: int) -> UploadProgress:
        info = await self.store.stat(key)
        if info is None:
            info = await self.store.complete(key)
        async with self.ledger.storage.writer() as writer:
            result = await finish(writer, info.size)
            await self.ledger.mark_stored(writer, app, key, info.size, info.sha256)
        return UploadProgress(info.size, info.size, True, result)

    async def _finished(self, app: AppRecord, entry: LedgerEntry, finish: Finisher) -> Any:
        async with self.ledger.storage.writer() as writer:
            return await finish(writer, entry.size)
