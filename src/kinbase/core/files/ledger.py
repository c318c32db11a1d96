"""The ledger of stored bytes: which blob belongs to whom, how much an app stores, who uploads.

Every blob an app owns has an entry in the private parent ``files.blobs`` (its id is the blob
key), written in the same transaction as the metadata that references it, and **before** the
first byte reaches the store. So the rule of the collector is simple: bytes without a live entry
are garbage. An entry records the owner (a Kinvey file or a Kinto record), the state
(``uploading`` or ``stored``), the size (reserved while uploading, real once stored) and, while a
request writes to it, a lease that keeps a second writer out (several workers or machines).

The app's total is kept in ``files.usage`` and changed in the same transactions, so the quota is
checked under the parent's lock. Dropping an entry (a file deleted or replaced, a record deleted)
tombstones it in the caller's transaction; the bytes go after the commit: :meth:`BlobLedger.discard`
checks the tombstone is committed before it deletes anything, so a rolled-back transaction never
loses bytes, and whatever a crash leaves behind the collector removes.

Lock order. A transaction that writes the ledger locks the owner's parent first (the Kinvey
files, the Kinto record's collection), then the ledger, then the usage: writers of one app on an
engine whose writers run concurrently (PostgreSQL) then never wait on each other in a cycle. An
entry is read for a change with :meth:`~kinbase.storage.base.Writer.get_object_for_update`, so a
lease renewed at the moment an upload completes cannot write the entry back as uploading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from kinbase.core.files.errors import FileTooLarge, QuotaExceeded, UploadGone
from kinbase.query.ast import And, Eq, Node, Query
from kinbase.settings import Settings
from kinbase.storage.base import (
    AppRecord,
    NewVersion,
    Reader,
    StorageBackend,
    StoredObject,
    WriteContext,
    Writer,
)
from kinbase.storage.blobs import BlobExists, BlobStore, UploadBusy
from kinbase.storage.stamps import now_ms
from kinbase.types import Document

__all__ = ["LEDGER", "USAGE", "BlobLedger", "FileLimits", "LedgerEntry"]

LEDGER = "files.blobs"
USAGE = "files.usage"
_TOTAL = "bytes"
logger = logging.getLogger("kinbase.files")


@dataclass(frozen=True, slots=True)
class FileLimits:
    """An app's limits: the largest file and the quota of all its files (0: none)."""

    max_file_bytes: int
    quota_bytes: int

    @classmethod
    def of(cls, settings: Settings, app: AppRecord) -> FileLimits:
        """The server limits, overridden by the app settings `files.max_file_bytes` and `quota_bytes`."""
        own = app.settings.get("files")
        own = own if isinstance(own, Mapping) else {}

        def pick(name: str, default: int) -> int:
            value = own.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default

        return cls(
            pick("max_file_bytes", settings.file_max_bytes), pick("quota_bytes", settings.file_quota_bytes)
        )


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One blob of an app, as the ledger knows it."""

    key: str
    state: str
    size: int
    content_type: str
    owner: Document
    touched: int
    lease: Mapping[str, Any] | None = None
    sha256: str | None = None
    data: Document = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, obj: StoredObject) -> LedgerEntry:
        data = orjson.loads(obj.data)
        return cls(
            obj.id,
            str(data["state"]),
            int(data["size"]),
            str(data.get("content_type", "application/octet-stream")),
            dict(data.get("owner") or {}),
            int(data.get("touched", obj.stamp)),
            data.get("lease"),
            data.get("sha256"),
            data,
        )

    @property
    def stored(self) -> bool:
        return self.state == "stored"


class BlobLedger:
    """Entries, usage, leases and deferred deletion of one server process."""

    def __init__(self, settings: Settings, storage: StorageBackend, store: BlobStore) -> None:
        self.settings = settings
        self.storage = storage
        self.store = store
        self._pending: dict[tuple[int, str], int] = {}
        self._reaper: asyncio.Task[None] | None = None

    def limits(self, app: AppRecord) -> FileLimits:
        return FileLimits.of(self.settings, app)

    # -- reads -------------------------------------------------------------------------------------
    async def get(self, reader: Reader, app_id: int, key: str) -> LedgerEntry | None:
        """The live entry of ``key``, or None."""
        found = await reader.get_child(app_id, LEDGER, "", key)
        return LedgerEntry.of(found) if found is not None else None

    async def entries(self, reader: Reader, app_id: int, **owner: str) -> list[LedgerEntry]:
        """Live entries whose owner has these fields (every entry without any)."""
        parent = await reader.get_parent(app_id, LEDGER, "")
        if parent is None:
            return []
        conditions: list[Node] = [Eq(("owner", name), value) for name, value in owner.items()]
        node: Node | None = (
            None if not conditions else conditions[0] if len(conditions) == 1 else And(tuple(conditions))
        )
        return [LedgerEntry.of(o) for o in await reader.find(parent, Query(filter=node))]

    async def usage(self, app_id: int) -> int:
        """Bytes the app's entries hold (reserved while uploading)."""
        async with self.storage.reader() as reader:
            found = await reader.get_child(app_id, USAGE, "", _TOTAL)
        return int(orjson.loads(found.data)["bytes"]) if found is not None else 0

    # -- writes (inside the caller's transaction) ---------------------------------------------------
    async def _adjust(self, writer: Writer, app: AppRecord, delta: int, *, check: bool) -> None:
        if delta == 0:
            return
        quota = self.limits(app).quota_bytes
        parent = await writer.ensure_parent(app.id, USAGE, "")

        def build(ctx: WriteContext) -> NewVersion:
            used = int(orjson.loads(ctx.current.data)["bytes"]) if ctx.current is not None else 0
            if check and delta > 0 and quota and used + delta > quota:
                raise QuotaExceeded(quota, used)
            return NewVersion({"bytes": max(0, used + delta)})

        await writer.put(parent, _TOTAL, build)

    async def reserve(
        self, writer: Writer, app: AppRecord, key: str, *, owner: Document, content_type: str, size: int = 0
    ) -> None:
        """Enter a blob about to be uploaded, reserving ``size`` bytes of the quota.

        Raises:
            FileTooLarge: ``size`` is above the app's largest file.
            QuotaExceeded: the reservation would pass the app's quota.
        """
        limit = self.limits(app).max_file_bytes
        if size > limit:
            raise FileTooLarge(limit, size)
        parent = await writer.ensure_parent(app.id, LEDGER, "")
        now = now_ms()
        data: Document = {
            "state": "uploading",
            "size": size,
            "content_type": content_type,
            "owner": owner,
            "touched": now,
        }

        def build(ctx: WriteContext) -> NewVersion:
            if ctx.current is not None:
                raise BlobExists(f"The blob {key!r} is already in the ledger.")
            return NewVersion(data)

        await writer.put(parent, key, build)
        await self._adjust(writer, app, size, check=True)  # after the entry (the lock order)

    async def mark_stored(
        self, writer: Writer, app: AppRecord, key: str, size: int, sha256: str | None = None, **extra: Any
    ) -> LedgerEntry:
        """The upload of ``key`` is complete with ``size`` bytes: the entry holds the real size.

        Raises:
            UploadGone: the entry was dropped meanwhile.
            QuotaExceeded: the file grew past its reservation and past the quota.
        """
        parent = await writer.ensure_parent(app.id, LEDGER, "")
        current = await writer.get_object_for_update(parent, key)
        if current is None:
            raise UploadGone()
        entry = LedgerEntry.of(current)
        await self._adjust(writer, app, size - entry.size, check=True)
        data = {k: v for k, v in entry.data.items() if k != "lease"}
        data.update(state="stored", size=size, touched=now_ms(), **extra)
        if sha256 is not None:
            data["sha256"] = sha256
        result = await writer.put(parent, key, lambda ctx: NewVersion(data))
        return LedgerEntry.of(result.object)

    async def drop(self, writer: Writer, app: AppRecord, keys: Iterable[str]) -> list[str]:
        """Tombstone the live entries of ``keys`` and give their bytes back to the quota; the bytes
        are deleted once the transaction is committed (see :meth:`discard`). Returns the keys dropped."""
        parent = await writer.get_parent(app.id, LEDGER, "")
        if parent is None:
            return []
        dropped: list[str] = []
        released = 0
        for key in keys:
            pair = await writer.delete(parent, key)
            if pair is not None:
                dropped.append(key)
                released += LedgerEntry.of(pair[1]).size
        await self._adjust(writer, app, -released, check=False)
        self.schedule(app.id, dropped)
        return dropped

    async def disown(self, writer: Writer, app: AppRecord, key: str) -> None:
        """Keep ``key``'s bytes (and its quota) but detach them from their owner (``keep_old_files``):
        no owner's deletion reaches them any more."""
        parent = await writer.ensure_parent(app.id, LEDGER, "")
        current = await writer.get_object_for_update(parent, key)
        if current is None:
            return
        entry = LedgerEntry.of(current)
        owner: Document = {"area": str(entry.owner.get("area", "")), "kept": True}
        data: Document = {**entry.data, "owner": owner}
        await writer.put(parent, key, lambda ctx: NewVersion(data))

    # -- leases (their own transactions) -------------------------------------------------------------
    async def lease(self, app: AppRecord, key: str, seconds: int) -> tuple[LedgerEntry, str]:
        """Take the write lease of an uploading blob for ``seconds``; returns the entry and the holder.

        Raises:
            UploadGone: no live entry, or the upload is already complete.
            UploadBusy: another request holds the lease.
        """
        holder = secrets.token_hex(8)
        async with self.storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, LEDGER, "")
            current = await writer.get_object_for_update(parent, key)
            if current is None:
                raise UploadGone()
            entry = LedgerEntry.of(current)
            if entry.stored:
                return entry, ""
            now = now_ms()
            if entry.lease and int(entry.lease.get("until", 0)) > now:
                raise UploadBusy()
            lease: Document = {"holder": holder, "until": now + seconds * 1000}
            data: Document = {**entry.data, "lease": lease, "touched": now}
            await writer.put(parent, key, lambda ctx: NewVersion(data))
        return entry, holder

    async def release(self, app: AppRecord, key: str, holder: str) -> None:
        """Give the lease back (no-op if it is someone else's by now)."""
        if not holder:
            return
        async with self.storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, LEDGER, "")
            current = await writer.get_object_for_update(parent, key)
            if current is None:
                return
            entry = LedgerEntry.of(current)
            if not entry.lease or entry.lease.get("holder") != holder:
                return
            data = {k: v for k, v in entry.data.items() if k != "lease"}
            data["touched"] = now_ms()
            await writer.put(parent, key, lambda ctx: NewVersion(data))

    async def renew(self, app: AppRecord, key: str, holder: str, seconds: int) -> bool:
        """Extend ``holder``'s lease to ``seconds`` from now; False when it is no longer held."""
        async with self.storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, LEDGER, "")
            current = await writer.get_object_for_update(parent, key)
            if current is None:
                return False
            entry = LedgerEntry.of(current)
            if not entry.lease or entry.lease.get("holder") != holder:
                return False
            lease: Document = {"holder": holder, "until": now_ms() + seconds * 1000}
            data: Document = {**entry.data, "lease": lease}
            await writer.put(parent, key, lambda ctx: NewVersion(data))
        return True

    # -- deferred deletion ---------------------------------------------------------------------------
    def schedule(self, app_id: int, keys: Iterable[str]) -> None:
        """Delete the bytes of ``keys`` in the background once their tombstones are committed."""
        for key in keys:
            self._pending.setdefault((app_id, key), 0)
        if self._pending and (self._reaper is None or self._reaper.done()):
            with contextlib.suppress(RuntimeError):  # no running loop: the collector will do it
                self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        delay = 0.05
        while self._pending:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            for (app_id, key), attempts in list(self._pending.items()):
                try:
                    done = await self.discard(app_id, [key])
                except Exception:  # the collector retries what fails here
                    logger.warning(
                        "could not delete the bytes of %s (app %s) yet", key, app_id, exc_info=True
                    )
                    done = []
                if done or attempts >= 8:  # still live after ~10 s: rolled back, or the collector's job
                    self._pending.pop((app_id, key), None)
                else:
                    self._pending[(app_id, key)] = attempts + 1

    async def discard(self, app_id: int, keys: Iterable[str]) -> list[str]:
        """Delete the bytes (and any open upload) of the keys whose entries are gone for good (a
        committed tombstone, or no entry at all); keys still live are left alone. Returns those deleted."""
        deleted = []
        async with self.storage.reader() as reader:
            parent = await reader.get_parent(app_id, LEDGER, "")
            gone = []
            for key in keys:
                found = (
                    await reader.get_object(parent, key, include_deleted=True) if parent is not None else None
                )
                if found is None or found.deleted:
                    gone.append(key)
        for key in gone:
            await self.store.abort(key)
            await self.store.delete(key)
            self._pending.pop((app_id, key), None)
            deleted.append(key)
        return deleted

    async def close(self) -> None:
        """Stop the background deletions (the collector finishes them)."""
        if self._reaper is not None and not self._reaper.done():
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
