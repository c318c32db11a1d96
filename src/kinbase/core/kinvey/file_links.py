"""How a Kinvey file is shown: its metadata without kinbase's bookkeeping, plus signed links.

A stored file document is the metadata the client sent (``_id``, ``_filename``, ``_public``,
``size``, ``mimeType``, any other field, ``_acl``, ``_kmd``) plus ``_blob``: the version of its
bytes (``v``, new at every create or replace), their blob key and whether the upload finished.
``_blob`` is never shown. The links point at kinbase (``/blob/:appKey/:id/_upload|_download|_remove``
with a signed ``token``); a private file's download link may point at the object store instead
(``s3_direct_downloads``). Links use the scheme and host the client reached kinbase at (or
``public_url``): kinbase serves one scheme, so ``tls`` does not switch it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from kinbase.core.files.signing import LinkSigner, Purpose
from kinbase.core.kinvey.wire import iso_of
from kinbase.settings import Settings
from kinbase.storage.blobs import BlobStore
from kinbase.storage.stamps import now_ms
from kinbase.types import Document

__all__ = ["SERVER_FIELDS", "FileLinks", "LinkOptions", "decode", "public_doc", "stored_blob"]

SERVER_FIELDS = ("_uploadURL", "_downloadURL", "_expiresAt", "_requiredHeaders", "_data", "_blob")
"""Fields the server writes in answers (or the SDKs add locally): never stored from a body."""
_PATHS: dict[Purpose, str] = {"upload": "_upload", "download": "_download", "remove": "_remove"}


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """Where links point and how long they live.

    Attributes:
        base_url: ``scheme://host[:port]`` the client reached kinbase at.
        ttl_seconds: lifetime of download links (None: the ``file_url_seconds`` setting).
        tls: the client's ``tls`` flag (kept for the record; the base URL's scheme is used).
    """

    base_url: str
    ttl_seconds: int | None = None
    tls: bool = True


def stored_blob(doc: Document) -> Document:
    """The ``_blob`` bookkeeping of a stored file document (empty for a malformed one)."""
    blob = doc.get("_blob")
    return blob if isinstance(blob, dict) else {}


def public_doc(doc: Document) -> Document:
    """The file's metadata as clients see it (without ``_blob``)."""
    return {k: v for k, v in doc.items() if k != "_blob"}


class FileLinks:
    """Build the signed links of files."""

    def __init__(self, settings: Settings, signer: LinkSigner, store: BlobStore) -> None:
        self.settings = settings
        self.signer = signer
        self.store = store

    def url(self, base_url: str, purpose: Purpose, app_key: str, file_id: str, token: str) -> str:
        path = f"/blob/{quote(app_key, safe='')}/{quote(file_id, safe='')}/{_PATHS[purpose]}"
        return f"{base_url.rstrip('/')}{path}?token={token}"

    def upload(self, options: LinkOptions, app_key: str, file_id: str, version: str) -> tuple[str, int]:
        """The upload URL of a file version and its expiry (ms): it lives as long as an unfinished upload."""
        link = self.signer.sign("upload", app_key, file_id, version, self.settings.upload_session_seconds)
        return self.url(options.base_url, "upload", app_key, file_id, link.token), link.expires * 1000

    def remove(self, options: LinkOptions, app_key: str, file_id: str, version: str) -> str:
        """The legacy ``remove-loc`` URL (a DELETE on it removes the file)."""
        link = self.signer.sign("remove", app_key, file_id, version, self.settings.file_url_seconds)
        return self.url(options.base_url, "remove", app_key, file_id, link.token)

    async def download(self, options: LinkOptions, app_key: str, doc: Document) -> tuple[str, int | None]:
        """The download URL of a file and its expiry in ms (None: a public file's link never expires)."""
        file_id = str(doc["_id"])
        blob = stored_blob(doc)
        version = str(blob.get("v", ""))
        if doc.get("_public") is True:
            link = self.signer.sign("download", app_key, file_id, version, None)
            return self.url(options.base_url, "download", app_key, file_id, link.token), None
        ttl = options.ttl_seconds or self.settings.file_url_seconds
        if self.settings.s3_direct_downloads and blob.get("state") == "stored":
            mime = doc.get("mimeType")
            direct = await self.store.direct_url(
                str(blob["key"]), expires_in=ttl, content_type=mime if isinstance(mime, str) else None
            )
            if direct is not None:
                return direct, now_ms() + min(ttl, 7 * 86400) * 1000
        link = self.signer.sign("download", app_key, file_id, version, ttl)
        return self.url(options.base_url, "download", app_key, file_id, link.token), link.expires * 1000

    async def with_download(self, options: LinkOptions, app_key: str, doc: Document) -> Document:
        """The public metadata with ``_downloadURL`` (and ``_expiresAt`` unless public)."""
        shown = public_doc(doc)
        url, expires = await self.download(options, app_key, doc)
        shown["_downloadURL"] = url
        if expires is not None:
            shown["_expiresAt"] = iso_of(expires)
        return shown

    def with_upload(self, options: LinkOptions, app_key: str, doc: Document) -> Document:
        """The public metadata with ``_uploadURL``, ``_expiresAt`` and ``_requiredHeaders``."""
        shown = public_doc(doc)
        url, expires = self.upload(options, app_key, str(doc["_id"]), str(stored_blob(doc).get("v", "")))
        shown["_uploadURL"] = url
        shown["_expiresAt"] = iso_of(expires)
        shown["_requiredHeaders"] = {}
        return shown


def decode(text: str) -> Document:
    value: Any = orjson.loads(text)
    return value if isinstance(value, dict) else {}
