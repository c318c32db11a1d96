"""The bytes of Kinvey files: signed upload, download and remove links, the legacy ``*-loc``
endpoints, and ``KinveyFile`` references in entities.

Links carry no credentials: the signed token names the file and the version of its bytes, so a
replaced file's old links stop working, and an expired or tampered one is refused
(:mod:`kinbase.core.files.signing`). Uploads follow the resumable protocol of
:mod:`kinbase.core.files.uploads`; when one completes, the file's metadata records its real size
in the same transaction as the ledger.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from kinbase.core.files.errors import FileNotFound, UploadGone
from kinbase.core.files.ledger import BlobLedger
from kinbase.core.files.signing import LinkInvalid, LinkSigner, Purpose
from kinbase.core.files.uploads import ResumableUploads, UploadProgress, UploadRange
from kinbase.core.kinvey.access import Caller, acl_filter
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.file_links import FileLinks, LinkOptions, decode, public_doc, stored_blob
from kinbase.core.kinvey.files import FILE_COLUMNS, FILES, FilesApi, FileService
from kinbase.core.kinvey.wire import iso_of
from kinbase.query.ast import Eq, In, Query, SortKey
from kinbase.storage.base import AppRecord, FindOptions, NewVersion, StorageBackend, Writer
from kinbase.storage.blobs import BlobMissing, BlobReader, BlobStore
from kinbase.types import Document

__all__ = ["Download", "FileTransfer"]

_MAX_REFERENCES = 1000


@dataclass(frozen=True, slots=True)
class Download:
    """A file version ready to be streamed: what the response headers need, and its blob key."""

    key: str
    size: int
    content_type: str
    filename: str
    version: str
    modified: int


def _refs(value: Any, found: list[dict[str, Any]]) -> None:
    """Collect the ``{"_type": "KinveyFile", "_id": ...}`` objects inside a decoded entity."""
    if isinstance(value, dict):
        if value.get("_type") == "KinveyFile" and isinstance(value.get("_id"), str):
            found.append(value)
            return
        for item in value.values():
            _refs(item, found)
    elif isinstance(value, list):
        for item in value:
            _refs(item, found)


class FileTransfer:
    """Uploads, downloads and removals through signed links, and reference expansion."""

    def __init__(
        self,
        storage: StorageBackend,
        store: BlobStore,
        ledger: BlobLedger,
        uploads: ResumableUploads,
        signer: LinkSigner,
        links: FileLinks,
        files: FileService,
    ) -> None:
        self.storage = storage
        self.store = store
        self.ledger = ledger
        self.uploads = uploads
        self.signer = signer
        self.links = links
        self.files = files

    async def _linked(self, purpose: Purpose, app: AppRecord, file_id: str, token: str | None) -> Document:
        """The stored document of the file version a valid link reaches.

        Raises:
            LinkInvalid, LinkExpired: a bad or expired signature.
            FileNotFound: the file is gone, or was replaced by another version.
        """
        link = self.signer.verify(purpose, app.key, file_id, token)
        async with self.storage.reader() as reader:
            found = await reader.get_child(app.id, FILES, "", file_id)
        doc = decode(found.data) if found is not None else {}
        blob = stored_blob(doc)
        if found is None or blob.get("v") != link.version:
            raise FileNotFound(f"The file {file_id!r} does not exist (in this version).")
        if purpose == "download" and link.expires == 0 and doc.get("_public") is not True:
            raise LinkInvalid()  # a never-expiring link is only ever signed for a public file
        return doc

    # -- upload ------------------------------------------------------------------------------------------
    async def upload(
        self,
        app: AppRecord,
        file_id: str,
        token: str | None,
        where: UploadRange,
        chunks: AsyncIterable[bytes] | None,
    ) -> UploadProgress:
        """A request to an upload URL: a status query, a chunk, or the whole file. Once complete,
        ``result`` is the file's public metadata.

        Raises:
            LinkInvalid, LinkExpired, UploadGone, UploadBusy, BadUploadRange, FileTooLarge,
            QuotaExceeded, UploadStalled: see :meth:`ResumableUploads.receive`.
        """
        try:
            doc = await self._linked("upload", app, file_id, token)
        except FileNotFound as exc:
            raise UploadGone() from exc
        blob = stored_blob(doc)
        declared = doc.get("size")

        async def finish(writer: Writer, size: int) -> Document:
            return await self._uploaded(writer, app, file_id, str(blob["v"]), size)

        return await self.uploads.receive(
            app,
            str(blob["key"]),
            where,
            chunks,
            finish,
            declared=declared if isinstance(declared, int) and not isinstance(declared, bool) else None,
        )

    async def _uploaded(
        self, writer: Writer, app: AppRecord, file_id: str, version: str, size: int
    ) -> Document:
        """Record the finished upload in the file's metadata (same transaction as the ledger)."""
        parent = await writer.ensure_parent(app.id, FILES, "")
        current = await writer.get_object_for_update(parent, file_id)
        if current is None or stored_blob(decode(current.data)).get("v") != version:
            raise UploadGone("The file was deleted or replaced during its upload.")
        doc = decode(current.data)
        if stored_blob(doc).get("state") == "stored" and doc.get("size") == size:
            return public_doc(doc)
        updated: Document = {**doc, "size": size, "_blob": {**stored_blob(doc), "state": "stored"}}
        result = await writer.put(parent, file_id, lambda ctx: NewVersion(_with_lmt(updated, ctx.stamp)))
        return public_doc(decode(result.object.data))

    # -- download ------------------------------------------------------------------------------------------
    async def download(self, app: AppRecord, file_id: str, token: str | None) -> Download:
        """The file version a download link reaches, once its bytes are complete.

        Raises:
            LinkInvalid, LinkExpired, FileNotFound (also while the upload is unfinished).
        """
        doc = await self._linked("download", app, file_id, token)
        blob = stored_blob(doc)
        key = str(blob.get("key", ""))
        async with self.storage.reader() as reader:
            entry = await self.ledger.get(reader, app.id, key)
        if entry is None or not entry.stored:
            raise FileNotFound(f"The file {file_id!r} has not been uploaded.")
        mime = doc.get("mimeType")
        name = doc.get("_filename")
        return Download(
            key,
            entry.size,
            mime if isinstance(mime, str) and mime else "application/octet-stream",
            name if isinstance(name, str) else file_id,
            str(blob["v"]),
            entry.touched,
        )

    async def open(self, download: Download, start: int = 0, end: int | None = None) -> BlobReader:
        """Open bytes ``[start, end)`` of a download for streaming."""
        try:
            return await self.store.open(download.key, start, end)
        except BlobMissing as exc:  # deleted between the check and the read
            raise FileNotFound() from exc

    # -- legacy endpoints (API v1/v2: files named by their _filename) ---------------------------------------
    async def _by_name(self, app: AppRecord, caller: Caller, name: str, permission: str) -> Document | None:
        async with self.storage.reader() as reader:
            parent = await reader.get_parent(app.id, FILES, "")
            if parent is None:
                return None
            found = await reader.find(
                parent,
                Query(
                    filter=Eq(("_filename",), name),
                    sort=(SortKey(("_kmd", "lmt"), descending=True),),
                    limit=1,
                ),
                FindOptions(acl=acl_filter(caller, permission, creator_holds=True), columns=FILE_COLUMNS),
            )
        return decode(found[0].data) if found else None

    async def legacy_upload(
        self, app: AppRecord, caller: Caller, name: str, api: FilesApi, options: LinkOptions
    ) -> str:
        """``GET /blob/:k/upload-loc/:name``: a URL to PUT the file to (a new file, or a new version of
        the caller's file of that name)."""
        existing = await self._by_name(app, caller, name, "update")
        body: Document = {"_filename": name}
        file_id = str(existing["_id"]) if existing is not None else None
        if existing is not None:
            body = {k: v for k, v in public_doc(existing).items() if k not in ("_kmd", "size")}
        doc, _ = await self.files.save(
            app,
            caller,
            body,
            file_id=file_id,
            content_type=None,
            api=FilesApi(min(api.version, 3)),
            options=options,
        )
        return str(doc["_uploadURL"])

    async def legacy_download(self, app: AppRecord, caller: Caller, name: str, options: LinkOptions) -> str:
        """``GET /blob/:k/download-loc/:name``: the download URL of the newest readable file of that name.

        Raises:
            KinveyError: BlobNotFound.
        """
        doc = await self._by_name(app, caller, name, "read")
        if doc is None:
            raise KinveyError("BlobNotFound", f"There is no file named {name!r}.")
        url, _ = await self.links.download(options, app.key, doc)
        return url

    async def legacy_remove(self, app: AppRecord, caller: Caller, name: str, options: LinkOptions) -> str:
        """``GET /blob/:k/remove-loc/:name``: a URL that deletes the file when sent a DELETE.

        Raises:
            KinveyError: BlobNotFound (none of that name the caller may delete).
        """
        doc = await self._by_name(app, caller, name, "delete")
        if doc is None:
            raise KinveyError("BlobNotFound", f"There is no file named {name!r}.")
        return self.links.remove(options, app.key, str(doc["_id"]), str(stored_blob(doc).get("v", "")))

    async def remove(self, app: AppRecord, file_id: str, token: str | None) -> None:
        """A DELETE on a remove link: the file (metadata and bytes) is deleted."""
        await self._linked("remove", app, file_id, token)
        async with self.storage.writer() as writer:
            await self.files.remove(writer, app, Caller.master(), file_id)

    # -- KinveyFile references ------------------------------------------------------------------------------
    async def expand(
        self, app: AppRecord, caller: Caller, texts: Sequence[str], options: LinkOptions
    ) -> list[str]:
        """Entities with their ``{"_type": "KinveyFile", "_id"}`` references resolved to the file's
        metadata and ``_downloadURL`` (``kinveyfile_ttl`` and ``kinveyfile_tls`` set ``options``).
        References to files that do not exist or that the caller may not read are left as they are.
        Texts without a reference are returned unchanged (one substring test each)."""
        marked = [i for i, text in enumerate(texts) if '"KinveyFile"' in text]
        if not marked:
            return list(texts)
        docs = {i: orjson.loads(texts[i]) for i in marked}
        refs: list[dict[str, Any]] = []
        for doc in docs.values():
            _refs(doc, refs)
        ids = sorted({str(r["_id"]) for r in refs})[:_MAX_REFERENCES]
        if not ids:
            return list(texts)
        async with self.storage.reader() as reader:
            parent = await reader.get_parent(app.id, FILES, "")
            found = (
                await reader.find(
                    parent,
                    Query(filter=In(("_id",), tuple(ids))),
                    FindOptions(acl=acl_filter(caller, "read", creator_holds=True), columns=FILE_COLUMNS),
                )
                if parent is not None
                else []
            )
        shown = {o.id: await self.links.with_download(options, app.key, decode(o.data)) for o in found}
        for ref in refs:
            file = shown.get(str(ref["_id"]))
            if file is not None:
                ref.update({k: v for k, v in file.items() if k != "_type"})
        out = list(texts)
        for i, doc in docs.items():
            out[i] = orjson.dumps(doc).decode()
        return out


def _with_lmt(doc: Document, stamp: int) -> Document:
    kmd = doc.get("_kmd")
    return {**doc, "_kmd": {**(kmd if isinstance(kmd, dict) else {}), "lmt": iso_of(stamp)}}
