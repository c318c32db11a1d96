"""Upload sessions of :class:`~kinbase.storage.blobs.s3.S3BlobStore` as S3 multipart uploads.

S3 wants every part but the last to hold at least 5 MiB while clients send chunks of any size,
so the bytes after the last full part are kept as a small *tail* object and prepended to the next
append. While a part is sent to the store the next one is read from the client (at most two parts
in memory per upload). The session's state object (upload id, parts, tail size) is rewritten after
each part, in order, so a crash loses nothing that was committed: a part uploaded but not yet
recorded is simply sent again under the same number.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from kinbase.storage.blobs.base import (
    BlobExists,
    BlobInfo,
    BlobStoreUnavailable,
    BlobTooLarge,
    OffsetMismatch,
    UploadInfo,
    UploadMissing,
    check_prefix,
)
from kinbase.storage.blobs.s3_client import SESSIONS, S3Errors, S3Objects, ms_of

__all__ = ["S3Uploads"]


class S3Uploads(S3Objects):
    """The session half of the S3 store."""

    async def _state(self, key: str) -> dict[str, Any] | None:
        raw = await self._read_small(self._state_key(key))
        return orjson.loads(raw) if raw is not None else None

    async def _save_state(self, key: str, state: dict[str, Any]) -> None:
        with S3Errors.mapped():
            await self.client.put_object(
                Bucket=self.bucket,
                Key=self._state_key(key),
                Body=orjson.dumps(state),
                ContentType="application/json",
            )

    @staticmethod
    def _committed(state: dict[str, Any]) -> int:
        return sum(int(p["Size"]) for p in state["parts"]) + int(state["tail"])

    def _info(self, state: dict[str, Any]) -> UploadInfo:
        return UploadInfo(state["key"], self._committed(state), state["content_type"], int(state["modified"]))

    async def create_upload(self, key: str, *, content_type: str) -> UploadInfo:
        state = await self._state(key)
        if state is not None:
            return self._info(state)
        name = self._object(key)
        if await self._head(name) is not None:
            raise BlobExists(f"The blob {key!r} exists already.")
        with S3Errors.mapped():
            created = await self.client.create_multipart_upload(
                Bucket=self.bucket, Key=name, ContentType=content_type
            )
        now = int(time.time() * 1000)
        state = {
            "key": key,
            "upload_id": created["UploadId"],
            "content_type": content_type,
            "parts": [],
            "tail": 0,
            "created": now,
            "modified": now,
        }
        await self._save_state(key, state)
        return self._info(state)

    async def upload_info(self, key: str) -> UploadInfo | None:
        state = await self._state(key)
        return self._info(state) if state is not None else None

    async def append(
        self, key: str, offset: int, chunks: AsyncIterable[bytes], *, max_size: int | None = None
    ) -> int:
        state = await self._state(key)
        if state is None:
            raise UploadMissing(f"No upload is open for {key!r}.")
        committed = self._committed(state)
        if offset != committed:
            raise OffsetMismatch(committed, offset)
        name = self._object(key)
        buffer = bytearray()
        if state["tail"]:
            tail = await self._read_small(self._tail_key(key), int(state["tail"]))
            if tail is None or len(tail) != int(state["tail"]):
                raise BlobStoreUnavailable(f"The upload of {key!r} lost its tail object.")
            buffer += tail
        total = committed
        dirty = False  # bytes in the buffer that no saved state accounts for
        # One part in flight while the next one arrives: its bytes, and the task sending them.
        sending: tuple[asyncio.Task[dict[str, Any]], bytes] | None = None

        async def settle() -> None:
            """Wait for the part in flight and record it; if it failed, its bytes go back in front
            of the buffer (they become the tail)."""
            nonlocal sending, dirty
            if sending is None:
                return
            task, body = sending
            sending = None
            try:
                part = await task
            except BaseException:
                buffer[:0] = body
                dirty = True
                raise
            state["parts"].append(part)
            state["tail"] = 0  # the old tail is inside a part now
            state["modified"] = int(time.time() * 1000)
            await self._save_state(key, state)
            dirty = len(buffer) > 0

        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                if max_size is not None and total + len(chunk) > max_size:
                    room = max_size - total
                    buffer += chunk[:room]
                    dirty = dirty or room > 0
                    raise BlobTooLarge(max_size)
                buffer += chunk
                total += len(chunk)
                dirty = True
                while len(buffer) >= self.part_size:
                    await settle()  # first: a failed part's bytes come back to the buffer
                    body = bytes(buffer[: self.part_size])
                    del buffer[: self.part_size]
                    number = len(state["parts"]) + 1
                    upload_id = state["upload_id"]
                    sending = (
                        asyncio.create_task(self._upload_part(name, upload_id, number, body)),
                        body,
                    )
        finally:
            try:
                await settle()
            finally:
                if dirty:
                    with S3Errors.mapped():
                        await self.client.put_object(
                            Bucket=self.bucket, Key=self._tail_key(key), Body=bytes(buffer)
                        )
                    state["tail"] = len(buffer)
                    state["modified"] = int(time.time() * 1000)
                    await self._save_state(key, state)
        return self._committed(state)

    async def complete(self, key: str) -> BlobInfo:
        state = await self._state(key)
        if state is None:
            raise UploadMissing(f"No upload is open for {key!r}.")
        name = self._object(key)
        tail = b""
        if state["tail"]:
            found = await self._read_small(self._tail_key(key), int(state["tail"]))
            if found is None:
                raise BlobStoreUnavailable(f"The upload of {key!r} lost its tail object.")
            tail = found
        parts = list(state["parts"])
        try:
            if not parts:
                await self._put_once(name, tail, state["content_type"], {})
                with contextlib.suppress(ClientError, BotoCoreError, OSError):
                    await self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=name, UploadId=state["upload_id"]
                    )
            else:
                if tail:
                    parts.append(
                        await self._upload_part(name, state["upload_id"], len(parts) + 1, bytearray(tail))
                    )
                await self._complete_multipart(name, state["upload_id"], parts)
        except BlobStoreUnavailable as exc:
            # completed by an attempt whose answer was lost: the object is there, the upload gone
            original = exc.original
            if not (isinstance(original, ClientError) and S3Errors.code(original) == "NoSuchUpload"):
                raise
            if await self._head(name) is None:
                raise UploadMissing(f"The upload of {key!r} no longer exists.") from exc
        await self._drop_session(key)
        info = await self.stat(key)
        if info is None:
            raise BlobStoreUnavailable(f"The blob {key!r} is not visible after its upload completed.")
        return info

    async def _drop_session(self, key: str) -> None:
        with S3Errors.mapped():
            await self.client.delete_object(Bucket=self.bucket, Key=self._tail_key(key))
            await self.client.delete_object(Bucket=self.bucket, Key=self._state_key(key))

    async def abort(self, key: str) -> None:
        state = await self._state(key)
        if state is None:
            return
        with S3Errors.mapped():
            try:
                await self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self._object(key), UploadId=state["upload_id"]
                )
            except ClientError as exc:
                if S3Errors.code(exc) != "NoSuchUpload":
                    raise
        await self._drop_session(key)

    async def _states(self) -> list[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        names: list[str] = []
        with S3Errors.mapped():
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + SESSIONS):
                names += [i["Key"] for i in page.get("Contents", []) if i["Key"].endswith(".json")]
        states = []
        for name in names:
            raw = await self._read_small(name)
            if raw is not None:
                states.append(orjson.loads(raw))
        return states

    async def list_uploads(self, prefix: str = "") -> AsyncIterator[UploadInfo]:
        check_prefix(prefix)
        for state in await self._states():
            if str(state["key"]).startswith(prefix):
                yield self._info(state)

    async def sweep(self, before: int) -> int:
        sessions = {state["upload_id"] for state in await self._states()}
        paginator = self.client.get_paginator("list_multipart_uploads")
        doomed: list[tuple[str, str]] = []
        with S3Errors.mapped():
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for upload in page.get("Uploads", []):
                    if upload["UploadId"] not in sessions and ms_of(upload.get("Initiated")) < before:
                        doomed.append((upload["Key"], upload["UploadId"]))
            for name, upload_id in doomed:
                with contextlib.suppress(ClientError):
                    await self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
        return len(doomed)
