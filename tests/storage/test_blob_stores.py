"""What each byte store guarantees beyond the contract: the local store after a SIGKILL, readers
racing deletions and concurrent appends; the S3 store's sweep of dangling multipart uploads and
its presigned URLs (checked by the real server)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from kinbase.storage.blobs import BlobStore, UploadBusy
from kinbase.storage.blobs.local import LocalBlobStore
from kinbase.storage.blobs.s3 import S3BlobStore
from kinbase.storage.blobs.testing import chunked, read_all

pytestmark = pytest.mark.anyio

_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from kinbase.storage.blobs.local import LocalBlobStore

    async def slow(block):
        for _ in range(10_000):
            yield block
            print("sent", flush=True)
            await asyncio.sleep(0.01)

    async def main(root, mode):
        store = LocalBlobStore(root)
        await store.start()
        block = bytes(range(256)) * 4096  # 1 MiB
        if mode == "put":
            await store.put("app/put", slow(block), content_type="x/y")
        else:
            await store.append("app/session", 0, slow(block))

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


def _killed_writer(root: Path, mode: str) -> None:
    """Run a writer in another process, SIGKILL it after it sent a few MiB."""
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root), mode], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    with process.stdout:
        for _ in range(5):
            assert process.stdout.readline().startswith("sent")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)


async def test_local_put_killed_midway_leaves_nothing_visible(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.start()
    await asyncio.to_thread(_killed_writer, tmp_path, "put")
    assert await store.stat("app/put") is None
    assert [b async for b in store.list_blobs()] == []
    assert any((tmp_path / "tmp").iterdir())
    assert await store.sweep(int(time.time() * 1000) - 3_600_000) == 0  # too recent to be swept
    assert await store.sweep(int(time.time() * 1000) + 1_000) == 1
    assert not any((tmp_path / "tmp").iterdir())


async def test_local_append_killed_midway_resumes(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.start()
    await store.create_upload("app/session", content_type="x/y")
    await asyncio.to_thread(_killed_writer, tmp_path, "append")
    info = await store.upload_info("app/session")
    assert info is not None and info.size > 0 and info.size % (1024 * 1024) == 0
    block = bytes(range(256)) * 4096
    whole = block * (info.size // len(block) + 2)
    await store.append("app/session", info.size, chunked(whole[info.size :]))
    await store.complete("app/session")
    assert await read_all(store, "app/session") == whole


async def test_local_reader_outlives_a_delete(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.start()
    data = os.urandom(3 * 1024 * 1024)
    await store.put("app/doomed", chunked(data), content_type="x/y")
    reader = await store.open("app/doomed")
    await store.delete("app/doomed")
    assert await store.stat("app/doomed") is None
    assert b"".join([chunk async for chunk in reader]) == data


async def test_local_concurrent_appends_are_refused(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.start()
    await store.create_upload("app/busy", content_type="x/y")
    started = asyncio.Event()
    release = asyncio.Event()

    async def held() -> object:
        yield b"first"
        started.set()
        await release.wait()

    first = asyncio.create_task(store.append("app/busy", 0, held()))
    await started.wait()
    with pytest.raises(UploadBusy):
        await store.append("app/busy", 0, chunked(b"second"))
    release.set()
    assert await first == 5


async def test_s3_sweep_aborts_dangling_multipart_uploads(s3_blob_store: BlobStore, blob_prefix: str) -> None:
    assert isinstance(s3_blob_store, S3BlobStore)
    store = s3_blob_store
    name = store.prefix + blob_prefix + "crashed"
    created = await store.client.create_multipart_upload(Bucket=store.bucket, Key=name)
    await store.create_upload(blob_prefix + "kept", content_type="x/y")
    assert await store.sweep(int(time.time() * 1000) - 3_600_000) == 0
    assert await store.sweep(int(time.time() * 1000) + 60_000) >= 1
    listed = await store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix + blob_prefix)
    ids = {u["UploadId"] for u in listed.get("Uploads", [])}
    assert created["UploadId"] not in ids
    assert len(ids) == 1  # the session's upload is kept
    assert await store.upload_info(blob_prefix + "kept") is not None


async def test_s3_presigned_urls_are_checked_by_the_store(s3_blob_store: BlobStore, blob_prefix: str) -> None:
    key = blob_prefix + "direct"
    await s3_blob_store.put(key, chunked(b"%PDF-1.4 direct"), content_type="application/pdf")
    url = await s3_blob_store.direct_url(key, expires_in=60, content_type="application/pdf")
    assert url is not None
    async with httpx.AsyncClient() as http:
        answer = await http.get(url)
        assert answer.status_code == 200 and answer.content == b"%PDF-1.4 direct"
        assert answer.headers["content-type"] == "application/pdf"
        tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
        assert (await http.get(tampered)).status_code == 403
        assert (await http.get(url.split("?")[0])).status_code == 403


async def test_local_store_has_no_direct_urls(local_blob_store: BlobStore, blob_prefix: str) -> None:
    await local_blob_store.put(blob_prefix + "x", chunked(b"x"), content_type="x/y")
    assert await local_blob_store.direct_url(blob_prefix + "x", expires_in=60) is None


async def test_s3_a_part_that_fails_in_flight_becomes_the_tail(
    s3_blob_store: BlobStore, blob_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part is sent while the next one arrives; when one fails, what arrived is still committed
    (the parts before it, and its bytes with the rest as the tail) and the upload resumes."""
    from kinbase.storage.blobs import BlobStoreUnavailable

    assert isinstance(s3_blob_store, S3BlobStore)
    store = s3_blob_store
    part = store.part_size
    data = os.urandom(3 * part + 1000)
    key = blob_prefix + "flaky"
    await store.create_upload(key, content_type="application/octet-stream")
    real = store._upload_part

    async def flaky(name: str, upload_id: str, number: int, buffer: bytes | bytearray) -> dict[str, object]:
        if number == 2:
            raise BlobStoreUnavailable("the store dropped part 2")
        return await real(name, upload_id, number, buffer)

    monkeypatch.setattr(store, "_upload_part", flaky)
    with pytest.raises(BlobStoreUnavailable):
        await store.append(key, 0, chunked(data, 256 * 1024))
    info = await store.upload_info(key)
    assert info is not None and part <= info.size <= len(data)
    committed = info.size
    monkeypatch.setattr(store, "_upload_part", real)
    assert await store.append(key, committed, chunked(data[committed:], 256 * 1024)) == len(data)
    await store.complete(key)
    assert await read_all(store, key) == data
