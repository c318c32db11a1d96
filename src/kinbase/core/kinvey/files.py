"""Kinvey file metadata (the Files API v3+): create or replace, get, list, delete.

Files are objects of the private parent ``kinvey.files`` of an app, stored like entities (``_acl``,
``_kmd``, grant rows compiled by :mod:`kinbase.core.kinvey.access` with the parent's permission
level), so a single file is checked against its grants and lists and counts are filtered by the
database, exactly as for collections. Each create or replace starts a new *version* of the bytes:
a fresh blob key entered in the ledger (reserving the announced ``size`` of the quota) in the same
transaction; the previous version's bytes are dropped with it, and its links stop working.

Where the bytes go and come from (signed links, resumable uploads, legacy ``*-loc`` endpoints,
``KinveyFile`` references) is :mod:`kinbase.core.kinvey.file_transfer`.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from kinbase.core.files.ledger import BlobLedger, LedgerEntry
from kinbase.core.ids import object_id
from kinbase.core.kinvey.access import (
    Caller,
    CollectionPolicy,
    acl_filter,
    check_access,
    check_create,
    check_write,
    grants_of,
    normalize_acl,
)
from kinbase.core.kinvey.entities import check_entity_id
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.file_links import SERVER_FIELDS, FileLinks, LinkOptions, decode, stored_blob
from kinbase.core.kinvey.reading import read_window
from kinbase.core.kinvey.wire import iso_of, parse_iso, project
from kinbase.query.ast import In, Query
from kinbase.storage.base import (
    AppRecord,
    FindOptions,
    NewVersion,
    Reader,
    StorageBackend,
    SystemColumns,
    WriteContext,
    Writer,
)
from kinbase.types import Document, Path

__all__ = ["FILES", "FILE_COLUMNS", "FileService", "FilesApi"]

FILES = "kinvey.files"
FILE_COLUMNS = SystemColumns(id=("_id",))
DEFAULT_MIME = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class FilesApi:
    """What changes with ``X-Kinvey-API-Version`` for files (the changelog of the REST API)."""

    version: int

    @property
    def redirects_downloads(self) -> bool:
        """Before v2, retrieving a file answers 302 to its URL instead of 200 with the URL in the body."""
        return self.version < 2

    @property
    def requires_content_type(self) -> bool:
        """From v4, ``X-Kinvey-Content-Type`` is mandatory on ``POST``/``PUT /blob``."""
        return self.version >= 4


def blob_key(app: AppRecord, file_id: str, version: str) -> str:
    """The blob key of a version of a file (the id is hashed: file ids may hold any character)."""
    return f"{app.id}/kinvey/{hashlib.sha256(file_id.encode()).hexdigest()[:32]}/{version}"


def _metadata(body: Any, content_type: str | None, api: FilesApi) -> tuple[Document, str, int | None]:
    """The client's fields, the file's media type and its announced size.

    Raises:
        KinveyError: BadRequest for a body that is not an object or malformed fields;
            MissingRequestHeader without ``X-Kinvey-Content-Type`` from API version 4.
    """
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise KinveyError("BadRequest", "The file metadata must be a JSON object.")
    if api.requires_content_type and not content_type:
        raise KinveyError("MissingRequestHeader", "X-Kinvey-Content-Type is required from API version 4.")
    fields = {k: v for k, v in body.items() if k not in SERVER_FIELDS and k not in ("_id", "_acl", "_kmd")}
    name = fields.get("_filename")
    if name is None:
        fields["_filename"] = str(uuid.uuid4())
    elif not isinstance(name, str) or not name or len(name) > 1024:
        raise KinveyError("BadRequest", "_filename must be a non-empty string.")
    public = fields.get("_public", False)
    if not isinstance(public, bool):
        raise KinveyError("BadRequest", "_public must be true or false.")
    fields["_public"] = public
    size = fields.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise KinveyError("BadRequest", "size must be a non-negative integer.")
    mime = fields.get("mimeType")
    if mime is not None and not isinstance(mime, str):
        raise KinveyError("BadRequest", "mimeType must be a string.")
    kind = content_type or mime or DEFAULT_MIME
    fields["mimeType"] = mime or kind
    return fields, kind, size


class FileService:
    """File metadata of the apps (the bytes live in the blob store, entered in the ledger)."""

    def __init__(self, storage: StorageBackend, ledger: BlobLedger, links: FileLinks) -> None:
        self.storage = storage
        self.ledger = ledger
        self.links = links

    # -- create or replace ------------------------------------------------------------------------
    async def save(
        self,
        app: AppRecord,
        caller: Caller,
        body: Any,
        *,
        file_id: str | None,
        content_type: str | None,
        api: FilesApi,
        options: LinkOptions,
    ) -> tuple[Document, bool]:
        """``POST /blob`` (``file_id`` None) or ``PUT /blob/:id``: the metadata with an upload URL,
        and whether the file was created.

        Raises:
            KinveyError: BadRequest, MissingRequestHeader, InvalidIdentifier, EntityAlreadyExists
                (POST of a taken ``_id``), InsufficientCredentials.
            FileTooLarge, QuotaExceeded: the announced size passes a limit.
        """
        fields, kind, size = _metadata(body, content_type, api)
        create_only = file_id is None
        if file_id is None:
            given = body.get("_id") if isinstance(body, dict) else None
            file_id = check_entity_id(given) if given is not None else object_id()
        else:
            check_entity_id(file_id)
        acl_given = body.get("_acl") if isinstance(body, dict) else None
        kmd_given = body.get("_kmd") if isinstance(body, dict) else None
        normalize_acl(acl_given, "x")  # validate before the transaction
        async with self.storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, FILES, "")
            policy = CollectionPolicy.of(parent.settings)
            current = await writer.get_object_for_update(parent, file_id)  # first: the ledger's lock order
            if current is not None and create_only:
                raise KinveyError("EntityAlreadyExists", f"A file with _id {file_id!r} already exists.")
            if current is None:
                check_create(caller, policy)
            else:
                check_write(caller, policy)
                await check_access(writer, caller, current, "update")
            version = secrets.token_hex(12)
            key = blob_key(app, file_id, version)
            await self.ledger.reserve(
                writer, app, key, owner={"area": "kinvey", "file": file_id}, content_type=kind, size=size or 0
            )
            creator = (current.creator if current is not None else None) or caller.user_id or app.key
            if caller.is_master and isinstance(acl_given, dict) and isinstance(acl_given.get("creator"), str):
                creator = str(acl_given["creator"])
            acl = normalize_acl(acl_given, creator)
            blob: Document = {"v": version, "key": key, "state": "uploading"}

            def build(ctx: WriteContext) -> NewVersion:
                kmd: Document = {"lmt": iso_of(ctx.stamp), "ect": iso_of(ctx.created)}
                if caller.is_master and isinstance(kmd_given, dict):
                    for name in ("lmt", "ect"):
                        if _valid_iso(kmd_given.get(name)):
                            kmd[name] = kmd_given[name]
                data: Document = {"_id": file_id, **fields, "_acl": acl, "_kmd": kmd, "_blob": blob}
                return NewVersion(data, creator=creator, grants=grants_of(acl, policy), set_creator=True)

            result = await writer.put(parent, file_id, build)
            if current is not None:
                old = stored_blob(decode(current.data)).get("key")
                if isinstance(old, str):
                    await self.ledger.drop(writer, app, [old])
        return self.links.with_upload(options, app.key, decode(result.object.data)), result.created

    # -- reads --------------------------------------------------------------------------------------
    async def stored(self, app: AppRecord, caller: Caller, file_id: str) -> Document:
        """The stored document of a file the caller may read.

        Raises:
            KinveyError: BlobNotFound, InsufficientCredentials.
        """
        async with self.storage.reader() as reader:
            found = await reader.get_child(app.id, FILES, "", file_id)
            if found is None:
                raise KinveyError("BlobNotFound", f"There is no file {file_id!r}.")
            await check_access(reader, caller, found, "read")
        return decode(found.data)

    async def get(self, app: AppRecord, caller: Caller, file_id: str, options: LinkOptions) -> Document:
        """``GET /blob/:id``: the metadata with a signed ``_downloadURL``.

        Raises:
            KinveyError: BlobNotFound, InsufficientCredentials.
        """
        return await self.links.with_download(options, app.key, await self.stored(app, caller, file_id))

    async def find(
        self, app: AppRecord, caller: Caller, query: Query, options: LinkOptions, *, api: FilesApi
    ) -> list[Document]:
        """``GET /blob/?query=``: the files matching ``query`` that the caller may read, with links.

        Raises:
            KinveyError: ResultSetSizeExceeded (API version 4 and later) past 10,000 files.
        """
        async with self.storage.reader() as reader:
            parent = await reader.get_parent(app.id, FILES, "")
            if parent is None:
                return []
            whole = Query(filter=query.filter, sort=query.sort, skip=query.skip, limit=query.limit)
            window = await read_window(reader, parent, caller, whole, api.version, False)
        shown = [await self.links.with_download(options, app.key, decode(text)) for text in window.texts]
        if query.fields:  # after the links: they need the bookkeeping a projection would drop
            shown = [_projected(d, query.fields) for d in shown]
        return shown

    async def count(self, app: AppRecord, caller: Caller, query: Query) -> int:
        """How many files match ``query`` among those the caller may read."""
        async with self.storage.reader() as reader:
            parent = await reader.get_parent(app.id, FILES, "")
            if parent is None:
                return 0
            return await reader.count(
                parent,
                query,
                FindOptions(acl=acl_filter(caller, "read", creator_holds=True), columns=FILE_COLUMNS),
            )

    # -- delete -------------------------------------------------------------------------------------
    async def delete(self, app: AppRecord, caller: Caller, file_id: str) -> int:
        """``DELETE /blob/:id``: the metadata and the bytes; returns 1.

        Raises:
            KinveyError: BlobNotFound, InsufficientCredentials.
        """
        async with self.storage.writer() as writer:
            return await self.remove(writer, app, caller, file_id)

    async def remove(self, writer: Writer, app: AppRecord, caller: Caller, file_id: str) -> int:
        """Delete a file inside ``writer``'s transaction (its bytes go after the commit)."""
        parent = await writer.get_parent(app.id, FILES, "")
        current = await writer.get_object_for_update(parent, file_id) if parent is not None else None
        if parent is None or current is None:
            raise KinveyError("BlobNotFound", f"There is no file {file_id!r}.")
        check_write(caller, CollectionPolicy.of(parent.settings))
        await check_access(writer, caller, current, "delete")
        await writer.delete(parent, file_id)
        key = stored_blob(decode(current.data)).get("key")
        if isinstance(key, str):
            await self.ledger.drop(writer, app, [key])
        return 1

    async def referenced(self, reader: Reader, app: AppRecord, entries: Sequence[LedgerEntry]) -> set[str]:
        """The ledger keys the files of ``entries`` still point at (the collector's owner check)."""
        parent = await reader.get_parent(app.id, FILES, "")
        if parent is None:
            return set()
        ids = sorted({str(e.owner.get("file")) for e in entries})
        keys: set[str] = set()
        for start in range(0, len(ids), 500):
            found = await reader.find(
                parent,
                Query(filter=In(("_id",), tuple(ids[start : start + 500]))),
                FindOptions(columns=FILE_COLUMNS),
            )
            for obj in found:
                key = stored_blob(decode(obj.data)).get("key")
                if isinstance(key, str):
                    keys.add(key)
        return keys


def _projected(doc: Document, fields: Sequence[Path]) -> Document:
    """``doc`` reduced to ``fields`` (and the system fields), keeping its links."""
    kept = orjson.loads(project(orjson.dumps(doc).decode(), fields))
    return {**kept, **{k: doc[k] for k in ("_downloadURL", "_expiresAt") if k in doc}}


def _valid_iso(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_iso(value)
    except ValueError:
        return False
    return True
