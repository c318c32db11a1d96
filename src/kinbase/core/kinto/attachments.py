"""Kinto attachments (the ``kinto-attachment`` plugin's API) on kinbase's byte store.

``POST .../records/{rid}/attachment`` stores one file and writes the record's ``attachment``
field ``{filename, hash, location, mimetype, size}`` (creating the record if needed, with the
``data`` and ``permissions`` sent alongside); ``DELETE`` sets it to null. The record's
permissions decide, as for the plugin: ``write`` on the record when it exists, ``record:create``
on the collection otherwise, checked **before** a byte is read. The bytes are entered in the
ledger (owner: the record) before they are streamed in, and the record is written in the same
transaction that marks them stored, through the ordinary record engine (history, schema, hooks).

A replaced or removed attachment's file is deleted after the commit unless ``keep_old_files``;
deleting the record, its collection or its bucket deletes the files with it (a watcher of the
Kinto engine, :meth:`AttachmentService.watch`). Files are served at the capability's
``base_url`` + ``location`` without credentials, as the plugin's are from their CDN: with
``randomize`` (the default) the location is a random UUID; a file is served only while the
ledger holds it.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from kinbase.core.files.errors import FileNotFound, FileTooLarge
from kinbase.core.files.ledger import BlobLedger, LedgerEntry
from kinbase.core.files.uploads import stall_guard
from kinbase.core.kinto.acl import allowed
from kinbase.core.kinto.attachment_policy import AttachmentPolicy
from kinbase.core.kinto.context import KintoContext, reading, transaction
from kinbase.core.kinto.errors import InvalidParameter, MissingObject
from kinbase.core.kinto.hooks import Change
from kinbase.core.kinto.model import KINDS, Target
from kinbase.core.kinto.objects import (
    Body,
    Conditions,
    KintoObjects,
    ObjectResult,
    Patch,
    chain_of,
    check_parents,
    deny,
)
from kinbase.core.kinto.store import COLUMNS, KintoStore
from kinbase.query.ast import In, Query
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, FindOptions, Reader, StorageBackend, Writer
from kinbase.storage.blobs import BlobMissing, BlobReader, BlobStore, BlobTooLarge, InvalidBlobKey, check_key
from kinbase.types import Document

__all__ = ["AttachResult", "AttachmentService", "IncomingFile", "ServedFile"]

_OWN_WRITE: contextvars.ContextVar[bool] = contextvars.ContextVar("attachment_write", default=False)


@dataclass(frozen=True, slots=True)
class IncomingFile:
    """The file part of a multipart request: its name, the media type sent, its bytes, and an upper
    bound of its size when the request told one (its Content-Length)."""

    filename: str
    content_type: str | None
    chunks: AsyncIterable[bytes]
    size_hint: int | None = None


@dataclass(frozen=True, slots=True)
class AttachResult:
    attachment: Document
    record: ObjectResult
    created: bool


@dataclass(frozen=True, slots=True)
class ServedFile:
    """An attachment file ready to stream."""

    key: str
    size: int
    content_type: str
    sha256: str | None
    modified: int


def blob_key(app: AppRecord, location: str) -> str:
    return f"{app.id}/kinto/{location}"


class AttachmentService:
    """Attach, detach and serve files of Kinto records."""

    def __init__(
        self,
        settings: Settings,
        storage: StorageBackend,
        objects: KintoObjects,
        store: KintoStore,
        ledger: BlobLedger,
        blobs: BlobStore,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.objects = objects
        self.kinto_store = store
        self.ledger = ledger
        self.blobs = blobs
        objects.watchers.append(self.watch)

    async def _authorize(self, ctx: KintoContext, target: Target) -> bool:
        """Whether the record exists, once the caller may attach to it (the plugin's rule)."""
        async with reading(self.storage, ctx) as reader:
            ancestors = await self.kinto_store.ancestors(reader, ctx.app.id, target, ctx.cached)
            own = await self.kinto_store.load(reader, ctx.app.id, target)
        if own.obj is None:
            permitted = allowed(
                ctx.config, ctx.principals, "collection", "record:create", chain_of(ancestors)
            )
        else:
            permitted = allowed(
                ctx.config, ctx.principals, "record", "write", chain_of(ancestors, own, "record")
            )
        if not permitted:
            raise deny(ctx)
        check_parents(target, ancestors)
        return own.obj is not None

    async def _free_location(self, app: AppRecord, location: str) -> str:
        """``location``, or ``name-N.ext`` when it is taken (only without ``randomize``)."""
        stem, dot, extension = location.rpartition(".")
        if not dot or "/" in extension:
            stem, extension = location, ""
        candidate, counter = location, 0
        async with self.storage.reader() as reader:
            while await self.ledger.get(reader, app.id, blob_key(app, candidate)) is not None or (
                await self.blobs.stat(blob_key(app, candidate)) is not None
            ):
                counter += 1
                candidate = f"{stem}-{counter}.{extension}" if extension else f"{stem}-{counter}"
        return candidate

    # -- attach ----------------------------------------------------------------------------------------
    async def attach(
        self,
        ctx: KintoContext,
        target: Target,
        incoming: IncomingFile,
        data: Document | None = None,
        permissions: dict[str, Any] | None = None,
    ) -> AttachResult:
        """``POST .../attachment``: store the file and write the record.

        Raises:
            NotAuthenticated, PermissionDenied: the caller may not write the record (nothing read).
            MissingParent: the bucket or collection does not exist.
            InvalidParameter: a refused extension or a file above ``max_size_bytes``.
            FileTooLarge, QuotaExceeded: the app's limits.
        """
        assert target.id is not None
        self.objects.hooks["record"].check_id(target.id)
        await self._authorize(ctx, target)
        policy = AttachmentPolicy.of(ctx.config, target.bucket, target.collection)
        policy.check_extension(incoming.filename)
        mimetype = policy.mimetype(incoming.filename, incoming.content_type)
        location = policy.location(incoming.filename, target.bucket, target.collection, target.id)
        try:
            check_key(blob_key(ctx.app, location))
        except InvalidBlobKey:
            raise InvalidParameter("body", "attachment", "The file name cannot be stored.") from None
        if not policy.randomize:
            location = await self._free_location(ctx.app, location)
        key = blob_key(ctx.app, location)
        owner = {
            "area": "kinto",
            "bucket": target.bucket,
            "collection": target.collection,
            "record": target.id,
        }
        async with self.storage.writer() as writer:
            await self.ledger.reserve(
                writer, ctx.app, key, owner=dict(owner), content_type=mimetype, size=incoming.size_hint or 0
            )
        try:
            info = await self._store(ctx.app, key, incoming, mimetype, policy)
            attachment: Document = {
                "filename": incoming.filename,
                "hash": info.sha256,
                "location": location,
                "mimetype": mimetype,
                "size": info.size,
            }
            async with transaction(self.storage) as writer:
                record, created = await self._write_record(ctx, writer, target, attachment, data, permissions)
                await self.ledger.mark_stored(writer, ctx.app, key, info.size, info.sha256)
                await self._release_others(writer, ctx.app, policy, owner, keep=key)
        except BaseException:
            async with self.storage.writer() as writer:
                await self.ledger.drop(writer, ctx.app, [key])
            raise
        return AttachResult(attachment, record, created)

    async def _store(
        self, app: AppRecord, key: str, incoming: IncomingFile, mimetype: str, policy: AttachmentPolicy
    ) -> Any:
        app_limit = self.ledger.limits(app).max_file_bytes
        own_limit = policy.max_size_bytes if 0 < policy.max_size_bytes < app_limit else None
        try:
            return await self.blobs.put(
                key,
                stall_guard(incoming.chunks, self.settings.upload_stall_seconds),
                content_type=mimetype,
                max_size=own_limit or app_limit,
            )
        except BlobTooLarge as exc:
            if own_limit is not None:
                raise InvalidParameter(
                    "body", "attachment", f"File size exceeds the limit ({own_limit} bytes)."
                ) from exc
            raise FileTooLarge(app_limit) from exc

    async def _write_record(
        self,
        ctx: KintoContext,
        writer: Writer,
        target: Target,
        attachment: Document | None,
        data: Document | None,
        permissions: dict[str, Any] | None,
    ) -> tuple[ObjectResult, bool]:
        """Patch the record (or create it) with ``attachment``, in ``writer``'s transaction."""
        inner = ctx.in_transaction(writer)
        fields = {**(data or {}), "attachment": attachment}
        exists = (await self.kinto_store.load(writer, ctx.app.id, target)).obj is not None
        token = _OWN_WRITE.set(True)
        try:
            if exists:
                patch = Patch("json", Body(fields, permissions))
                result = await self.objects.patch(inner, target, patch, Conditions())
            else:
                result = await self.objects.put(inner, target, Body(fields, permissions), Conditions())
        finally:
            _OWN_WRITE.reset(token)
        return result, result.created

    async def _release_others(
        self, writer: Writer, app: AppRecord, policy: AttachmentPolicy, owner: dict[str, str], keep: str = ""
    ) -> None:
        """The record's other files: dropped, or kept without an owner (``keep_old_files``)."""
        entries = [e for e in await self.ledger.entries(writer, app.id, **owner) if e.key != keep]
        if not entries:
            return
        if policy.keep_old_files:
            for entry in entries:
                await self.ledger.disown(writer, app, entry.key)
        else:
            await self.ledger.drop(writer, app, [e.key for e in entries])

    # -- detach ----------------------------------------------------------------------------------------
    async def detach(self, ctx: KintoContext, target: Target) -> None:
        """``DELETE .../attachment``: the record's ``attachment`` becomes null and its file goes.

        Raises:
            NotAuthenticated, PermissionDenied, MissingParent, MissingObject (no such record).
        """
        assert target.id is not None
        self.objects.hooks["record"].check_id(target.id)
        if not await self._authorize(ctx, target):
            raise MissingObject("record", target.id)
        policy = AttachmentPolicy.of(ctx.config, target.bucket, target.collection)
        owner = {
            "area": "kinto",
            "bucket": target.bucket,
            "collection": target.collection,
            "record": target.id,
        }
        async with transaction(self.storage) as writer:
            await self._write_record(ctx, writer, target, None, None, None)
            await self._release_others(writer, ctx.app, policy, owner)

    # -- serving ---------------------------------------------------------------------------------------
    async def served(self, app: AppRecord, location: str) -> ServedFile:
        """The file at ``location`` (relative to the base URL) while the ledger holds it.

        Raises:
            FileNotFound.
        """
        try:
            key = check_key(blob_key(app, location))
        except InvalidBlobKey:
            raise FileNotFound() from None
        async with self.storage.reader() as reader:
            entry = await self.ledger.get(reader, app.id, key)
        if entry is None or not entry.stored or entry.owner.get("area") != "kinto":
            raise FileNotFound()
        return ServedFile(key, entry.size, entry.content_type, entry.sha256, entry.touched)

    async def open(self, served: ServedFile, start: int = 0, end: int | None = None) -> BlobReader:
        try:
            return await self.blobs.open(served.key, start, end)
        except BlobMissing as exc:
            raise FileNotFound() from exc

    # -- the engine's watcher ----------------------------------------------------------------------------
    async def watch(self, ctx: KintoContext, writer: Writer, change: Change) -> None:
        """Keep files and records together: refuse a hand-made change of ``attachment`` (as the
        plugin does) and drop the files of a deleted record, collection or bucket."""
        target = change.target
        if change.action == "update" and target.resource == "record" and not _OWN_WRITE.get():
            before = _attachment_of(change.previous.data) if change.previous is not None else None
            after = change.data.get("attachment")
            if before and after and before != after:
                raise InvalidParameter("body", "data.attachment", "Attachment metadata cannot be modified.")
            return
        if change.action != "delete" or target.resource not in ("record", "collection", "bucket"):
            return
        owner: dict[str, str] = {
            "area": "kinto",
            "bucket": target.bucket if target.resource != "bucket" else str(target.id),
        }
        if target.resource == "record":
            owner.update(collection=target.collection, record=str(target.id))
        elif target.resource == "collection":
            owner["collection"] = str(target.id)
        policy = AttachmentPolicy.of(ctx.config, owner["bucket"], owner.get("collection", ""))
        await self._release_others(writer, ctx.app, policy, owner)

    async def referenced(self, reader: Reader, app: AppRecord, entries: Sequence[LedgerEntry]) -> set[str]:
        """The ledger keys whose record still exists (the collector's owner check)."""
        by_parent: dict[str, list[LedgerEntry]] = {}
        for entry in entries:
            name = f"{entry.owner.get('bucket')}/{entry.owner.get('collection')}"
            by_parent.setdefault(name, []).append(entry)
        keys: set[str] = set()
        for name, owned in by_parent.items():
            parent = await reader.get_parent(app.id, KINDS["record"], name)
            if parent is None:
                continue
            ids = sorted({str(e.owner.get("record")) for e in owned})
            alive: set[str] = set()
            for start in range(0, len(ids), 500):
                found = await reader.find(
                    parent,
                    Query(filter=In(("id",), tuple(ids[start : start + 500]))),
                    FindOptions(columns=COLUMNS),
                )
                alive.update(o.id for o in found)
            keys.update(e.key for e in owned if str(e.owner.get("record")) in alive)
        return keys


def _attachment_of(text: str) -> Any:
    value = orjson.loads(text)
    return value.get("attachment") if isinstance(value, dict) else None
