"""The byte-store contract: one pytest suite every :class:`~kinbase.storage.blobs.base.BlobStore` passes.

Bind it to a store by subclassing :class:`BlobStoreContract` in a test module that provides a
``blob_store`` fixture (a started store, each test under its own key prefix is fine) and a
``blob_prefix`` fixture (a fresh ``"segment/"`` per test), with the anyio pytest plugin.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import AsyncIterator, Iterable

import pytest

from kinbase.errors import InvalidRequest
from kinbase.storage.blobs.base import (
    BlobExists,
    BlobMissing,
    BlobStore,
    BlobTooLarge,
    InvalidBlobKey,
    OffsetMismatch,
    UploadMissing,
)

__all__ = ["BlobStoreContract", "chunked", "read_all"]

MIB = 1024 * 1024


async def chunked(
    data: bytes, size: int = 64 * 1024, *, fail_after: int | None = None
) -> AsyncIterator[bytes]:
    """``data`` in chunks of ``size``; raises ConnectionResetError once ``fail_after`` bytes were sent."""
    sent = 0
    for start in range(0, len(data), size):
        piece = data[start : start + size]
        if fail_after is not None and sent + len(piece) > fail_after:
            if fail_after > sent:
                yield piece[: fail_after - sent]
            raise ConnectionResetError("the client went away")
        sent += len(piece)
        yield piece


async def read_all(store: BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    async with await store.open(key, start, end) as reader:
        return b"".join([chunk async for chunk in reader])


async def _keys(items: AsyncIterator[object]) -> list[str]:
    return sorted([getattr(item, "key") async for item in items])  # noqa: B009


def _data(size: int) -> bytes:
    return os.urandom(size)


async def _pieces(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.anyio
class BlobStoreContract:
    """Behaviour every byte store must have."""

    # -- whole blobs ----------------------------------------------------------------------------------
    async def test_put_stat_and_read(self, blob_store: BlobStore, blob_prefix: str) -> None:
        data = _data(300_000)
        key = blob_prefix + "one"
        info = await blob_store.put(key, chunked(data, 7_000), content_type="image/png")
        assert (info.key, info.size, info.content_type) == (key, len(data), "image/png")
        assert info.sha256 == hashlib.sha256(data).hexdigest()
        stat = await blob_store.stat(key)
        assert stat is not None and stat.size == len(data) and stat.content_type == "image/png"
        assert await read_all(blob_store, key) == data
        assert await blob_store.stat(blob_prefix + "other") is None

    async def test_put_larger_than_a_part(self, blob_store: BlobStore, blob_prefix: str) -> None:
        data = _data(11 * MIB + 12_345)
        key = blob_prefix + "big"
        info = await blob_store.put(key, chunked(data, 1 * MIB), content_type="application/octet-stream")
        assert info.size == len(data) and info.sha256 == hashlib.sha256(data).hexdigest()
        assert await read_all(blob_store, key) == data

    async def test_empty_blob(self, blob_store: BlobStore, blob_prefix: str) -> None:
        key = blob_prefix + "empty"
        info = await blob_store.put(key, chunked(b""), content_type="text/plain")
        assert info.size == 0 and info.sha256 == hashlib.sha256(b"").hexdigest()
        assert await read_all(blob_store, key) == b""

    async def test_keys_are_written_once(self, blob_store: BlobStore, blob_prefix: str) -> None:
        key = blob_prefix + "once"
        await blob_store.put(key, chunked(b"first"), content_type="text/plain")
        with pytest.raises(BlobExists):
            await blob_store.put(key, chunked(b"second"), content_type="text/plain")
        with pytest.raises(BlobExists):
            await blob_store.create_upload(key, content_type="text/plain")
        assert await read_all(blob_store, key) == b"first"

    async def test_a_put_that_fails_leaves_nothing(self, blob_store: BlobStore, blob_prefix: str) -> None:
        key = blob_prefix + "broken"
        with pytest.raises(ConnectionResetError):
            await blob_store.put(
                key, chunked(_data(6 * MIB), MIB, fail_after=5 * MIB + 7), content_type="x/y"
            )
        assert await blob_store.stat(key) is None
        with pytest.raises(BlobMissing):
            await blob_store.open(key)
        assert await _keys(blob_store.list_blobs(blob_prefix)) == []

    async def test_put_over_the_limit_leaves_nothing(self, blob_store: BlobStore, blob_prefix: str) -> None:
        key = blob_prefix + "large"
        with pytest.raises(BlobTooLarge):
            await blob_store.put(key, chunked(_data(100_000), 10_000), content_type="x/y", max_size=99_999)
        assert await blob_store.stat(key) is None
        info = await blob_store.put(key, chunked(_data(100_000)), content_type="x/y", max_size=100_000)
        assert info.size == 100_000

    async def test_ranges(self, blob_store: BlobStore, blob_prefix: str) -> None:
        data = _data(1_000_000)
        key = blob_prefix + "ranged"
        await blob_store.put(key, chunked(data), content_type="video/mp4")
        assert await read_all(blob_store, key, 10, 20) == data[10:20]
        assert await read_all(blob_store, key, 999_990) == data[999_990:]
        assert await read_all(blob_store, key, 0, 1) == data[:1]
        assert await read_all(blob_store, key, 500_000, 5_000_000) == data[500_000:]
        assert await read_all(blob_store, key, 1_000_000) == b""
        async with await blob_store.open(key, 100, 300) as reader:
            assert (reader.start, reader.end, reader.length, reader.info.size) == (100, 300, 200, 1_000_000)
        with pytest.raises(InvalidRequest):
            await blob_store.open(key, 1_000_001)
        with pytest.raises(BlobMissing):
            await blob_store.open(blob_prefix + "nothing", 0, 10)

    async def test_a_reader_can_stop_early(self, blob_store: BlobStore, blob_prefix: str) -> None:
        key = blob_prefix + "partial"
        await blob_store.put(key, chunked(_data(2 * MIB)), content_type="x/y")
        reader = await blob_store.open(key)
        async for _chunk in reader:
            break
        await reader.aclose()
        await reader.aclose()
        assert (await blob_store.stat(key)) is not None

    async def test_delete_and_list(self, blob_store: BlobStore, blob_prefix: str) -> None:
        for name in ("a/1", "a/2", "b/1"):
            await blob_store.put(blob_prefix + name, chunked(name.encode()), content_type="text/plain")
        assert await _keys(blob_store.list_blobs(blob_prefix)) == [
            blob_prefix + k for k in ("a/1", "a/2", "b/1")
        ]
        assert await _keys(blob_store.list_blobs(blob_prefix + "a/")) == [
            blob_prefix + "a/1",
            blob_prefix + "a/2",
        ]
        listed = [info async for info in blob_store.list_blobs(blob_prefix + "b/")]
        assert [(i.key, i.size) for i in listed] == [(blob_prefix + "b/1", 3)]
        await blob_store.delete(blob_prefix + "a/1")
        await blob_store.delete(blob_prefix + "a/1")
        await blob_store.delete(blob_prefix + "never")
        assert await blob_store.stat(blob_prefix + "a/1") is None
        assert await _keys(blob_store.list_blobs(blob_prefix + "a/")) == [blob_prefix + "a/2"]
        await blob_store.put(blob_prefix + "a/1", chunked(b"again"), content_type="text/plain")
        assert await read_all(blob_store, blob_prefix + "a/1") == b"again"

    async def test_keys_are_checked(self, blob_store: BlobStore, blob_prefix: str) -> None:
        for bad in ("", "/x", "x/", "a//b", "../etc", "a/../b", ".uploads/x", "a b", "a\x00b", "é"):
            with pytest.raises(InvalidBlobKey):
                await blob_store.put(bad, chunked(b"x"), content_type="x/y")
            with pytest.raises(InvalidBlobKey):
                await blob_store.stat(bad)
        with pytest.raises(InvalidBlobKey):
            await _keys(blob_store.list_blobs("no-slash"))

    # -- upload sessions ---------------------------------------------------------------------------------
    async def test_upload_session_in_several_appends(self, blob_store: BlobStore, blob_prefix: str) -> None:
        key = blob_prefix + "session"
        data = _data(13 * MIB + 1)
        opened = await blob_store.create_upload(key, content_type="video/mp4")
        assert (opened.key, opened.size, opened.content_type) == (key, 0, "video/mp4")
        again = await blob_store.create_upload(key, content_type="video/mp4")
        assert again.size == 0
        cuts = [0, 3 * MIB, 3 * MIB + 1, 9 * MIB + 17, 12 * MIB, len(data)]
        for start, stop in itertools.pairwise(cuts):
            committed = await blob_store.append(key, start, chunked(data[start:stop], 300_000))
            assert committed == stop
            info = await blob_store.upload_info(key)
            assert info is not None and info.size == stop
        assert await blob_store.stat(key) is None  # nothing visible before complete
        assert await _keys(blob_store.list_uploads(blob_prefix)) == [key]
        done = await blob_store.complete(key)
        assert (done.key, done.size, done.content_type) == (key, len(data), "video/mp4")
        assert await blob_store.upload_info(key) is None
        assert await _keys(blob_store.list_uploads(blob_prefix)) == []
        assert await read_all(blob_store, key) == data
        assert await read_all(blob_store, key, 5 * MIB - 3, 5 * MIB + 3) == data[5 * MIB - 3 : 5 * MIB + 3]

    async def test_append_at_the_wrong_offset(self, blob_store: BlobStore, blob_prefix: str) -> None:
        key = blob_prefix + "offsets"
        await blob_store.create_upload(key, content_type="text/plain")
        await blob_store.append(key, 0, chunked(b"hello "))
        for wrong in (0, 5, 7):
            with pytest.raises(OffsetMismatch) as exc:
                await blob_store.append(key, wrong, chunked(b"world"))
            assert exc.value.committed == 6
        await blob_store.append(key, 6, chunked(b"world"))
        await blob_store.complete(key)
        assert await read_all(blob_store, key) == b"hello world"

    async def test_an_interrupted_append_keeps_what_arrived(
        self, blob_store: BlobStore, blob_prefix: str
    ) -> None:
        key = blob_prefix + "resumed"
        data = _data(7 * MIB + 333)
        await blob_store.create_upload(key, content_type="application/pdf")
        with pytest.raises(ConnectionResetError):
            await blob_store.append(key, 0, chunked(data, 256 * 1024, fail_after=6 * MIB + 5))
        info = await blob_store.upload_info(key)
        assert info is not None and info.size == 6 * MIB + 5
        committed = await blob_store.append(key, info.size, chunked(data[info.size :], 100_000))
        assert committed == len(data)
        await blob_store.complete(key)
        assert await read_all(blob_store, key) == data

    async def test_small_appends_accumulate(self, blob_store: BlobStore, blob_prefix: str) -> None:
        key = blob_prefix + "drops"
        data = _data(6 * MIB + 10)
        await blob_store.create_upload(key, content_type="x/y")
        offset = 0
        step = 512 * 1024 + 3
        while offset < len(data):
            offset = await blob_store.append(key, offset, _pieces([data[offset : offset + step]]))
        assert offset == len(data)
        await blob_store.complete(key)
        assert await read_all(blob_store, key) == data

    async def test_append_over_the_limit(self, blob_store: BlobStore, blob_prefix: str) -> None:
        key = blob_prefix + "limited"
        await blob_store.create_upload(key, content_type="x/y")
        await blob_store.append(key, 0, chunked(b"a" * 600), max_size=1000)
        with pytest.raises(BlobTooLarge):
            await blob_store.append(key, 600, chunked(b"b" * 600, 100), max_size=1000)
        info = await blob_store.upload_info(key)
        assert info is not None and info.size <= 1000

    async def test_sessions_missing_and_abort(self, blob_store: BlobStore, blob_prefix: str) -> None:
        key = blob_prefix + "aborted"
        with pytest.raises(UploadMissing):
            await blob_store.append(key, 0, chunked(b"x"))
        with pytest.raises(UploadMissing):
            await blob_store.complete(key)
        assert await blob_store.upload_info(key) is None
        await blob_store.create_upload(key, content_type="x/y")
        await blob_store.append(key, 0, chunked(_data(6 * MIB)))
        await blob_store.abort(key)
        await blob_store.abort(key)
        assert await blob_store.upload_info(key) is None
        assert await blob_store.stat(key) is None
        opened = await blob_store.create_upload(key, content_type="x/y")
        assert opened.size == 0

    async def test_empty_upload(self, blob_store: BlobStore, blob_prefix: str) -> None:
        key = blob_prefix + "nothing"
        await blob_store.create_upload(key, content_type="text/plain")
        info = await blob_store.complete(key)
        assert info.size == 0
        assert await read_all(blob_store, key) == b""

    async def test_sweep_keeps_sessions_and_blobs(self, blob_store: BlobStore, blob_prefix: str) -> None:
        await blob_store.put(blob_prefix + "kept", chunked(b"kept"), content_type="x/y")
        await blob_store.create_upload(blob_prefix + "open", content_type="x/y")
        await blob_store.append(blob_prefix + "open", 0, chunked(b"abc"))
        await blob_store.sweep(int(time.time() * 1000) + 60_000)
        assert await read_all(blob_store, blob_prefix + "kept") == b"kept"
        info = await blob_store.upload_info(blob_prefix + "open")
        assert info is not None and info.size == 3

    async def test_ping(self, blob_store: BlobStore) -> None:
        assert await blob_store.ping() is True
