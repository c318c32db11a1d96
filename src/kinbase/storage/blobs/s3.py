"""Blobs in an S3-compatible object store (several workers or machines share it), through aiobotocore.

Layout in the bucket, under an optional prefix::

    <key>                              a committed blob (its sha256 in the object metadata when known)
    .kinbase-sessions/<session>.json   an upload session: the multipart upload id, its parts, its tail
    .kinbase-sessions/<session>.tail   the bytes received after the last full part

(Not ``.uploads/``: SeaweedFS keeps its own multipart uploads there and hides it from listings.)

The client plumbing is in :mod:`~kinbase.storage.blobs.s3_client`, the upload sessions (multipart
uploads) in :mod:`~kinbase.storage.blobs.s3_uploads`. Writes complete with ``If-None-Match: *``,
so a key is written once. Reads stream the object's body (with a ``Range`` when asked) and
presigned GET URLs let clients download from the store directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from kinbase.errors import InvalidRequest
from kinbase.storage.blobs.base import (
    BlobExists,
    BlobInfo,
    BlobMissing,
    BlobReader,
    BlobStore,
    BlobTooLarge,
    check_prefix,
)
from kinbase.storage.blobs.s3_client import MIN_PART_SIZE, MISSING, SESSIONS, S3Errors, ms_of
from kinbase.storage.blobs.s3_uploads import S3Uploads

__all__ = ["MIN_PART_SIZE", "S3BlobStore"]

READ_BLOCK = 256 * 1024
_MAX_PRESIGN_SECONDS = 7 * 86400


class _S3Reader(BlobReader):
    def __init__(self, body: Any, info: BlobInfo, start: int, end: int) -> None:
        self._body = body
        self.info = info
        self.start = start
        self.end = end

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            if self._body is None:
                return
            while True:
                with S3Errors.mapped():
                    chunk = await self._body.read(READ_BLOCK)
                if not chunk:
                    break
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._body is not None:
            body, self._body = self._body, None
            body.close()


class S3BlobStore(S3Uploads, BlobStore):
    """Blobs in ``bucket`` (created at start if missing) under ``prefix``."""

    kind = "s3"

    # -- whole blobs ------------------------------------------------------------------------------
    async def put(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str, max_size: int | None = None
    ) -> BlobInfo:
        name = self._object(key)
        if await self._head(name) is not None:
            raise BlobExists(f"The blob {key!r} exists already.")
        digest = hashlib.sha256()
        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                if max_size is not None and size + len(chunk) > max_size:
                    raise BlobTooLarge(max_size)
                digest.update(chunk)
                buffer += chunk
                size += len(chunk)
                while len(buffer) >= self.part_size:
                    if upload_id is None:
                        with S3Errors.mapped():
                            created = await self.client.create_multipart_upload(
                                Bucket=self.bucket, Key=name, ContentType=content_type
                            )
                        upload_id = created["UploadId"]
                    parts.append(await self._upload_part(name, upload_id, len(parts) + 1, buffer))
                    del buffer[: self.part_size]
            sha = digest.hexdigest()
            if upload_id is None:
                await self._put_once(name, bytes(buffer), content_type, {"sha256": sha})
            else:
                if buffer or not parts:
                    parts.append(await self._upload_part(name, upload_id, len(parts) + 1, buffer))
                await self._complete_multipart(name, upload_id, parts)
                upload_id = None
        except BaseException:
            if upload_id is not None:
                with contextlib.suppress(ClientError, BotoCoreError, OSError):
                    await self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            raise
        return BlobInfo(key, size, content_type, int(time.time() * 1000), sha)

    async def open(self, key: str, start: int = 0, end: int | None = None) -> BlobReader:
        name = self._object(key)
        if start < 0 or (end is not None and end < start):
            raise InvalidRequest(f"The range {start}-{end} is not a byte range.")
        if end == start:  # an empty range: S3 refuses it, but it is valid up to the blob's end
            info = await self.stat(key)
            if info is None:
                raise BlobMissing(f"There is no blob {key!r}.")
            if start > info.size:
                raise InvalidRequest(f"The range starts past the blob ({info.size} bytes).")
            return _S3Reader(None, info, start, start)
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": name}
        if start > 0 or end is not None:
            args["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        with S3Errors.mapped():
            try:
                response = await self.client.get_object(**args)
            except ClientError as exc:
                code = S3Errors.code(exc)
                if code in MISSING:
                    raise BlobMissing(f"There is no blob {key!r}.") from exc
                if code != "InvalidRange":
                    raise
                info = await self.stat(key)
                if info is None:
                    raise BlobMissing(f"There is no blob {key!r}.") from exc
                if start > info.size:
                    raise InvalidRequest(f"The range starts past the blob ({info.size} bytes).") from exc
                return _S3Reader(None, info, start, start)
        total = int(response["ContentLength"])
        content_range = str(response.get("ContentRange") or "")
        if content_range and "/" in content_range:
            total = int(content_range.rsplit("/", 1)[1])
        info = BlobInfo(
            key,
            total,
            str(response.get("ContentType") or "application/octet-stream"),
            ms_of(response.get("LastModified")),
            (response.get("Metadata") or {}).get("sha256"),
        )
        return _S3Reader(response["Body"], info, start, start + int(response["ContentLength"]))

    async def delete(self, key: str) -> None:
        with S3Errors.mapped():
            await self.client.delete_object(Bucket=self.bucket, Key=self._object(key))

    async def list_blobs(self, prefix: str = "") -> AsyncIterator[BlobInfo]:
        check_prefix(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        with S3Errors.mapped():
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix) :]
                    if key.startswith(SESSIONS):
                        continue
                    yield BlobInfo(key, int(item["Size"]), "", ms_of(item.get("LastModified")))

    # -- direct access --------------------------------------------------------------------------------
    async def direct_url(
        self, key: str, *, expires_in: int, content_type: str | None = None, filename: str | None = None
    ) -> str | None:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._object(key)}
        if content_type:
            params["ResponseContentType"] = content_type
        with S3Errors.mapped():
            url = await self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=max(1, min(expires_in, _MAX_PRESIGN_SECONDS))
            )
        return str(url)
