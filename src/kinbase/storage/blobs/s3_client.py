"""The S3 client plumbing of :class:`~kinbase.storage.blobs.s3.S3BlobStore`: connection, error
mapping, and the object calls its blobs and its upload sessions share."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiobotocore.session import get_session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from kinbase.errors import ConfigurationError
from kinbase.storage.blobs.base import (
    BlobExists,
    BlobInfo,
    BlobStoreUnavailable,
    check_key,
    check_prefix,
    session_id,
)

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client

__all__ = ["MIN_PART_SIZE", "S3Objects"]

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3's smallest part (all but the last)."""
SESSIONS = ".kinbase-sessions/"
MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Errors:
    """Translate the client's failures into the store's errors (one place, as for the databases)."""

    @staticmethod
    def code(exc: ClientError) -> str:
        return str(exc.response.get("Error", {}).get("Code", ""))

    @staticmethod
    @contextlib.contextmanager
    def mapped() -> Iterator[None]:
        try:
            yield
        except ClientError as exc:
            raise BlobStoreUnavailable("The object store refused a request.", original=exc) from exc
        except (BotoCoreError, OSError, TimeoutError) as exc:
            raise BlobStoreUnavailable("The object store is unreachable; retry later.", original=exc) from exc


def ms_of(moment: datetime | None) -> int:
    return int(moment.timestamp() * 1000) if moment is not None else int(time.time() * 1000)


class S3Objects:
    """An S3 client bound to one bucket and key prefix (started and stopped with the store)."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
        part_size: int = 8 * 1024 * 1024,
        path_style: bool = True,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ConfigurationError(f"S3 part size must be at least {MIN_PART_SIZE} bytes")
        if prefix:
            check_prefix(prefix)
        self.bucket = bucket
        self.prefix = prefix
        self.part_size = part_size
        self._client_args: dict[str, Any] = {
            "endpoint_url": endpoint_url or None,
            "region_name": region,
            "aws_access_key_id": access_key or None,
            "aws_secret_access_key": secret_key or None,
            "config": Config(
                s3={"addressing_style": "path" if path_style else "auto"},
                signature_version="s3v4",
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        }
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: S3Client | None = None

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("the S3 blob store is not started")
        return self._client

    def _object(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _state_key(self, key: str) -> str:
        return f"{self.prefix}{SESSIONS}{session_id(check_key(key))}.json"

    def _tail_key(self, key: str) -> str:
        return f"{self.prefix}{SESSIONS}{session_id(check_key(key))}.tail"

    async def start(self) -> None:
        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(get_session().create_client("s3", **self._client_args))
        try:
            with S3Errors.mapped():
                try:
                    await client.head_bucket(Bucket=self.bucket)
                except ClientError as exc:
                    if S3Errors.code(exc) not in MISSING and S3Errors.code(exc) != "NoSuchBucket":
                        raise
                    await client.create_bucket(Bucket=self.bucket)
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._client = stack, client

    async def stop(self) -> None:
        if self._stack is not None:
            stack, self._stack, self._client = self._stack, None, None
            await stack.aclose()

    async def ping(self) -> bool:
        try:
            with S3Errors.mapped():
                await self.client.head_bucket(Bucket=self.bucket)
        except BlobStoreUnavailable:
            return False
        return True

    async def _head(self, name: str) -> dict[str, Any] | None:
        with S3Errors.mapped():
            try:
                return dict(await self.client.head_object(Bucket=self.bucket, Key=name))
            except ClientError as exc:
                if S3Errors.code(exc) in MISSING:
                    return None
                raise

    async def _read_small(self, name: str, length: int | None = None) -> bytes | None:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": name}
        if length is not None:
            if length == 0:
                return b""
            args["Range"] = f"bytes=0-{length - 1}"
        with S3Errors.mapped():
            try:
                response = await self.client.get_object(**args)
            except ClientError as exc:
                if S3Errors.code(exc) in MISSING:
                    return None
                raise
            async with response["Body"] as body:
                return bytes(await body.read())

    async def _upload_part(
        self, name: str, upload_id: str, number: int, buffer: bytes | bytearray
    ) -> dict[str, Any]:
        # a part's bytes, copied at most once
        body = (
            buffer
            if isinstance(buffer, bytes) and len(buffer) <= self.part_size
            else bytes(buffer[: self.part_size])
        )
        with S3Errors.mapped():
            answer = await self.client.upload_part(
                Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=body
            )
        return {"PartNumber": number, "ETag": answer["ETag"], "Size": len(body)}

    async def _put_once(self, name: str, body: bytes, content_type: str, metadata: dict[str, str]) -> None:
        with S3Errors.mapped():
            try:
                await self.client.put_object(
                    Bucket=self.bucket,
                    Key=name,
                    Body=body,
                    ContentType=content_type,
                    Metadata=metadata,
                    IfNoneMatch="*",
                )
            except ClientError as exc:
                if S3Errors.code(exc) == "PreconditionFailed":
                    raise BlobExists(f"The blob {name!r} exists already.") from exc
                raise

    async def _complete_multipart(self, name: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        with S3Errors.mapped():
            try:
                await self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload_id,
                    MultipartUpload={
                        "Parts": [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in parts]
                    },
                    IfNoneMatch="*",
                )
            except ClientError as exc:
                if S3Errors.code(exc) == "PreconditionFailed":
                    raise BlobExists(f"The blob {name!r} exists already.") from exc
                raise

    async def stat(self, key: str) -> BlobInfo | None:
        head = await self._head(self._object(key))
        if head is None:
            return None
        return BlobInfo(
            key,
            int(head["ContentLength"]),
            str(head.get("ContentType") or "application/octet-stream"),
            ms_of(head.get("LastModified")),
            (head.get("Metadata") or {}).get("sha256"),
        )
