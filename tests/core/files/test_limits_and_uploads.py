"""Limits and the life of uploads in the core: the largest file, the quota, stalled and concurrent
uploads, abandoned ones collected, and orphaned bytes removed."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import AsyncIterator

import pytest

from kinbase.core.files.errors import BadUploadRange, FileTooLarge, QuotaExceeded, UploadGone, UploadStalled
from kinbase.core.files.uploads import UploadRange
from kinbase.core.services import Core
from kinbase.storage.base import AppRecord, StorageBackend
from kinbase.storage.blobs import UploadBusy
from kinbase.storage.blobs.testing import chunked
from tests.core.files.helpers import OPTIONS, Paused, create_file, download, parse_link, upload, user
from tests.core.files.test_kinvey_files import _save

pytestmark = pytest.mark.anyio
ALICE = user("alice")


async def _limited_app(storage: StorageBackend, **files: int) -> AppRecord:
    async with storage.writer() as writer:
        return await writer.create_app(
            "kid_" + secrets.token_hex(8),
            "Limited",
            secrets.token_hex(8),
            secrets.token_hex(8),
            {"files": files},
        )


async def test_largest_file(core: Core, storage: StorageBackend) -> None:
    app = await _limited_app(storage, max_file_bytes=1000)
    with pytest.raises(FileTooLarge):
        await _save(core, app, ALICE, {"size": 1001})
    doc, _ = await _save(core, app, ALICE, {})  # no announced size: checked while bytes arrive
    with pytest.raises(FileTooLarge):
        await upload(core, app, doc["_uploadURL"], b"x" * 1500)
    assert await core.files.ledger.usage(app.id) == 0
    ok = await create_file(core, app, ALICE, b"y" * 1000)
    assert ok["size"] == 1000


async def test_quota(core: Core, storage: StorageBackend) -> None:
    app = await _limited_app(storage, quota_bytes=1000)
    first = await create_file(core, app, ALICE, b"a" * 600)
    assert await core.files.ledger.usage(app.id) == 600
    with pytest.raises(QuotaExceeded):
        await _save(core, app, ALICE, {"size": 500})
    unsized, _ = await _save(core, app, ALICE, {})
    with pytest.raises(QuotaExceeded):
        await upload(core, app, unsized["_uploadURL"], b"b" * 500)
    await core.files.kinvey.delete(app, ALICE, first["_id"])
    assert await core.files.ledger.usage(app.id) == 0
    await create_file(core, app, ALICE, b"c" * 900)
    assert await core.files.ledger.usage(app.id) == 900


async def test_a_body_longer_than_announced(core: Core, app: AppRecord) -> None:
    doc, _ = await _save(core, app, ALICE, {"size": 10})
    _, file_id, _, token = parse_link(doc["_uploadURL"])
    transfer = core.files.transfer
    with pytest.raises(BadUploadRange):
        await transfer.upload(app, file_id, token, UploadRange(0, 9, 12), chunked(b"x" * 12))
    with pytest.raises(BadUploadRange):
        await transfer.upload(app, file_id, token, UploadRange(0, 3, 10), chunked(b"x" * 10))
    with pytest.raises(BadUploadRange):
        await transfer.upload(app, file_id, token, UploadRange(0, 11, 10), chunked(b"x" * 12))
    with pytest.raises(BadUploadRange):
        await transfer.upload(app, file_id, token, UploadRange.whole_file(), chunked(b"x" * 11))


async def test_a_stalled_upload_is_cut_and_resumes(core: Core, app: AppRecord) -> None:
    doc, _ = await _save(core, app, ALICE, {"size": 8})
    _, file_id, _, token = parse_link(doc["_uploadURL"])

    async def slow() -> AsyncIterator[bytes]:
        yield b"1234"
        await asyncio.sleep(5)  # longer than upload_stall_seconds (1 s in these tests)
        yield b"5678"

    with pytest.raises(UploadStalled):
        await core.files.transfer.upload(app, file_id, token, UploadRange(0, 7, 8), slow())
    status = await core.files.transfer.upload(app, file_id, token, UploadRange.status(8), None)
    assert status.committed == 4  # kept, and the lease was given back
    done = await core.files.transfer.upload(app, file_id, token, UploadRange(4, 7, 8), chunked(b"5678"))
    assert done.complete
    fetched = await core.files.kinvey.get(app, ALICE, file_id, OPTIONS)
    assert await download(core, app, fetched["_downloadURL"]) == b"12345678"


async def test_a_second_writer_is_refused_while_one_uploads(core: Core, app: AppRecord) -> None:
    doc, _ = await _save(core, app, ALICE, {"size": 8})
    _, file_id, _, token = parse_link(doc["_uploadURL"])
    held = Paused(b"1234", b"5678")
    first = asyncio.create_task(
        core.files.transfer.upload(app, file_id, token, UploadRange(0, 7, 8), held.chunks())
    )
    await held.sent.wait()
    with pytest.raises(UploadBusy):
        await core.files.transfer.upload(app, file_id, token, UploadRange(0, 7, 8), chunked(b"12345678"))
    held.resume()
    assert (await first).complete


async def test_a_lease_renewed_as_the_upload_completes_does_not_undo_it(core: Core, app: AppRecord) -> None:
    """The lease of a slow upload is renewed while it completes: a renewal that read the entry
    before the completion committed must not write it back as uploading (a lost update on
    PostgreSQL, whose writers run concurrently; the last CI failure of a slow S3 upload)."""
    ledger = core.files.ledger
    key = f"{app.id}/kinvey/race/{secrets.token_hex(4)}"
    async with core.storage.writer() as writer:
        await ledger.reserve(writer, app, key, owner={"area": "none"}, content_type="text/plain", size=4)
    _, holder = await ledger.lease(app, key, 60)

    async def complete() -> None:
        async with core.storage.writer() as writer:
            await ledger.mark_stored(writer, app, key, 4)

    await asyncio.gather(*(ledger.renew(app, key, holder, 60) for _ in range(6)), complete())
    async with core.storage.reader() as reader:
        entry = await ledger.get(reader, app.id, key)
    assert entry is not None and entry.stored and entry.size == 4 and not entry.lease
    assert not await ledger.renew(app, key, holder, 60)  # the completion ended the lease


async def test_the_collector_removes_what_nobody_owns(
    core: Core, app: AppRecord, storage: StorageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = await create_file(core, app, ALICE, b"kept")
    store = core.files.store
    # bytes under the app's prefix that no ledger entry holds (a crash between commit and delete)
    orphan = f"{app.id}/kinvey/orphan/1"
    await store.put(orphan, chunked(b"orphan"), content_type="x/y")
    # an upload abandoned after 40 of its 100 bytes
    abandoned, _ = await _save(core, app, ALICE, {"size": 100})
    _, file_id, _, token = parse_link(abandoned["_uploadURL"])
    await core.files.transfer.upload(app, file_id, token, UploadRange(0, 99, 100), chunked(b"z" * 40))
    assert await core.files.ledger.usage(app.id) == 4 + 100
    # bytes of an app that no longer exists
    async with storage.writer() as writer:
        gone_app = await writer.create_app(f"kid_{secrets.token_hex(6)}", "Gone", "s", "m", {})
    await create_file(core, gone_app, ALICE, b"of a deleted app")
    async with storage.writer() as writer:
        await writer.delete_app(gone_app.id)

    # two minutes later, with sessions abandoned after one minute and no grace for fresh bytes
    import kinbase.core.files.collector as collector_module

    later = collector_module.now_ms() + 120_000
    monkeypatch.setattr(collector_module, "now_ms", lambda: later)
    monkeypatch.setattr(collector_module, "GRACE_MS", -1)
    monkeypatch.setattr(
        core.files.collector, "settings", dataclasses.replace(core.settings, upload_session_seconds=60)
    )
    report = await core.files.collector.collect()

    # (the test database holds other tests' apps too: only this app's outcome is exact)
    assert report.blobs_deleted >= 2 and report.entries_dropped >= 1
    assert await store.stat(orphan) is None
    assert [b async for b in store.list_blobs(f"{gone_app.id}/")] == []
    assert [u async for u in store.list_uploads(f"{app.id}/")] == []
    assert await core.files.ledger.usage(app.id) == 4
    assert await download(core, app, kept["_downloadURL"]) == b"kept"
    with pytest.raises(UploadGone):
        await core.files.transfer.upload(app, file_id, token, UploadRange.status(100), None)
    again = await core.files.collector.collect()  # idempotent: nothing left to do
    assert (again.blobs_deleted, again.entries_dropped, again.uploads_aborted) == (0, 0, 0)
