"""Kinto attachments in the core, on both databases and both byte stores: the record's
``attachment`` field, the plugin's settings, the record's permissions, and deletion with the
record, its collection or its bucket."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from typing import Any

import orjson
import pytest

from kinbase.core.files.errors import FileNotFound
from kinbase.core.kinto.attachments import IncomingFile
from kinbase.core.kinto.context import KintoContext
from kinbase.core.kinto.errors import InvalidParameter, MissingObject, MissingParent
from kinbase.core.kinto.model import Target
from kinbase.core.kinto.objects import Body, Conditions, Patch
from kinbase.core.services import Core
from kinbase.errors import NotAuthenticated, PermissionDenied
from kinbase.storage.base import AppRecord, StorageBackend
from kinbase.storage.blobs.testing import chunked
from tests.core.files.helpers import Paused, eventually

pytestmark = pytest.mark.anyio


def ctx_of(core: Core, app: AppRecord, user: str | None) -> KintoContext:
    config = core.kinto.config(app)
    if user is None:
        return KintoContext(app, config, None, frozenset({"system.Everyone"}))
    principals = frozenset({"system.Everyone", "system.Authenticated", f"user:{user}"})
    return KintoContext(app, config, f"account:{user}", principals)


async def _app(storage: StorageBackend, **kinto: Any) -> AppRecord:
    async with storage.writer() as writer:
        return await writer.create_app(
            "kid_" + secrets.token_hex(8),
            "Kinto",
            secrets.token_hex(8),
            secrets.token_hex(8),
            {"kinto": kinto},
        )


async def _collection(
    core: Core, ctx: KintoContext, bucket: str = "b", collection: str = "c", **perms: Any
) -> None:
    await core.kinto.objects.put(ctx, Target("bucket", id=bucket), Body({}), Conditions())
    await core.kinto.objects.put(
        ctx, Target("collection", bucket, id=collection), Body({}, perms or None), Conditions()
    )


def record(rid: str = "r1", bucket: str = "b", collection: str = "c") -> Target:
    return Target("record", bucket, collection, rid)


def incoming(data: bytes, name: str = "photo.png", kind: str | None = "image/png") -> IncomingFile:
    return IncomingFile(name, kind, chunked(data, 10_000), len(data) + 300)


async def _read(core: Core, app: AppRecord, location: str) -> bytes:
    served = await core.files.attachments.served(app, location)
    reader = await core.files.attachments.open(served)
    return b"".join([chunk async for chunk in reader])


async def _record(core: Core, ctx: KintoContext, target: Target) -> dict[str, Any]:
    return dict(orjson.loads((await core.kinto.objects.get(ctx, target)).data))


async def test_attach_creates_the_record_and_serves_the_file(core: Core, storage: StorageBackend) -> None:
    app = await _app(storage)
    alice = ctx_of(core, app, "alice")
    await _collection(core, alice)
    data = b"\x89PNG" + secrets.token_bytes(50_000)
    result = await core.files.attachments.attach(
        alice, record(), incoming(data), data={"title": "cat"}, permissions={"read": ["system.Everyone"]}
    )
    assert result.created
    attachment = result.attachment
    assert attachment == {
        "filename": "photo.png",
        "hash": hashlib.sha256(data).hexdigest(),
        "location": attachment["location"],
        "mimetype": "image/png",
        "size": len(data),
    }
    assert attachment["location"].endswith(".png") and len(attachment["location"]) == 36 + 4  # a UUID
    stored = await _record(core, alice, record())
    assert stored["attachment"] == attachment and stored["title"] == "cat"
    anonymous = ctx_of(core, app, None)
    assert (await _record(core, anonymous, record()))["title"] == "cat"  # the permissions sent were applied
    assert await _read(core, app, attachment["location"]) == data
    assert await core.files.ledger.usage(app.id) == len(data)
    with pytest.raises(FileNotFound):
        await core.files.attachments.served(app, "no-such-file.png")
    with pytest.raises(FileNotFound):
        await core.files.attachments.served(app, "../" + attachment["location"])


async def test_replacing_drops_the_old_file(core: Core, storage: StorageBackend) -> None:
    app = await _app(storage)
    alice = ctx_of(core, app, "alice")
    await _collection(core, alice)
    first = await core.files.attachments.attach(alice, record(), incoming(b"first"))
    second = await core.files.attachments.attach(alice, record(), incoming(b"second", "photo.jpg", None))
    assert not second.created and second.attachment["mimetype"] == "image/jpeg"  # guessed from the name
    with pytest.raises(FileNotFound):
        await core.files.attachments.served(app, first.attachment["location"])
    assert await _read(core, app, second.attachment["location"]) == b"second"
    assert await core.files.ledger.usage(app.id) == len(b"second")
    key = f"{app.id}/kinto/{first.attachment['location']}"

    async def gone() -> bool:
        return await core.files.store.stat(key) is None

    await eventually(gone)


async def test_keep_old_files(core: Core, storage: StorageBackend) -> None:
    app = await _app(storage, attachment_keep_old_files=True, attachment_randomize=False)
    alice = ctx_of(core, app, "alice")
    await _collection(core, alice)
    first = await core.files.attachments.attach(alice, record(), incoming(b"one", "My Photo.png"))
    assert first.attachment["location"] == "My_Photo.png"
    second = await core.files.attachments.attach(alice, record(), incoming(b"two", "My Photo.png"))
    assert second.attachment["location"] == "My_Photo-1.png"
    await core.kinto.objects.delete(alice, record(), Conditions())
    assert await _read(core, app, "My_Photo.png") == b"one"
    assert await _read(core, app, "My_Photo-1.png") == b"two"


async def test_folder_and_filename_pattern(core: Core, storage: StorageBackend) -> None:
    app = await _app(
        storage,
        attachment_randomize=False,
        attachment_folder="{bucket_id}/{collection_id}",
        attachment_filename_pattern="{rid}-{filename}",
        attachment_resources={"b/other": {"folder": "elsewhere"}},
    )
    alice = ctx_of(core, app, "alice")
    await _collection(core, alice)
    await _collection(core, alice, "b", "other")
    result = await core.files.attachments.attach(alice, record("r9"), incoming(b"x", "a b.txt", "text/plain"))
    assert result.attachment["location"] == "b/c/r9-a_b.txt"
    other = await core.files.attachments.attach(alice, record("r9", "b", "other"), incoming(b"y", "z.txt"))
    assert other.attachment["location"] == "elsewhere/r9-z.txt"
    assert await _read(core, app, "b/c/r9-a_b.txt") == b"x"


async def test_the_records_permissions_decide(core: Core, storage: StorageBackend) -> None:
    app = await _app(storage)
    alice, bob, anonymous = ctx_of(core, app, "alice"), ctx_of(core, app, "bob"), ctx_of(core, app, None)
    await _collection(core, alice)
    await core.files.attachments.attach(alice, record(), incoming(b"alice's"))
    with pytest.raises(NotAuthenticated):
        await core.files.attachments.attach(anonymous, record("r2"), incoming(b"x"))
    with pytest.raises(PermissionDenied):
        await core.files.attachments.attach(bob, record("r2"), incoming(b"x"))
    with pytest.raises(PermissionDenied):
        await core.files.attachments.attach(bob, record(), incoming(b"x"))
    with pytest.raises(PermissionDenied):
        await core.files.attachments.detach(bob, record())
    assert await core.files.ledger.usage(app.id) == len(b"alice's")
    await core.kinto.objects.patch(
        alice,
        Target("collection", "b", id="c"),
        Patch("json", Body(None, {"record:create": ["system.Authenticated"]})),
        Conditions(),
    )
    created = await core.files.attachments.attach(bob, record("bobs"), incoming(b"bob's"))
    assert created.created
    with pytest.raises(PermissionDenied):  # creating records does not give write on alice's
        await core.files.attachments.attach(bob, record(), incoming(b"x"))
    with pytest.raises(MissingParent):
        await core.files.attachments.attach(alice, record("r", "b", "nope"), incoming(b"x"))


async def test_extensions_and_size_limits(core: Core, storage: StorageBackend) -> None:
    app = await _app(
        storage, attachment_max_size_bytes=1000, attachment_mimetypes=".bin:application/x-kinbase"
    )
    alice = ctx_of(core, app, "alice")
    await _collection(core, alice)
    with pytest.raises(InvalidParameter) as refused:
        await core.files.attachments.attach(alice, record(), incoming(b"MZ", "setup.exe"))
    assert refused.value.description == "File extension is not allowed."
    with pytest.raises(InvalidParameter) as large:
        await core.files.attachments.attach(alice, record(), incoming(b"x" * 1001, "big.png"))
    assert "1000 bytes" in large.value.description
    assert await core.files.ledger.usage(app.id) == 0
    assert [b async for b in core.files.store.list_blobs(f"{app.id}/")] == []
    anything = await _app(
        storage, attachment_extensions="any", attachment_mimetypes=".bin:application/x-kinbase"
    )
    free = ctx_of(core, anything, "alice")
    await _collection(core, free)
    result = await core.files.attachments.attach(
        free, record(), incoming(b"\x00\x01", "data.bin", "text/plain")
    )
    assert result.attachment["mimetype"] == "application/x-kinbase"


async def test_detach(core: Core, storage: StorageBackend) -> None:
    app = await _app(storage)
    alice = ctx_of(core, app, "alice")
    await _collection(core, alice)
    attached = await core.files.attachments.attach(alice, record(), incoming(b"bytes"))
    await core.files.attachments.detach(alice, record())
    assert (await _record(core, alice, record()))["attachment"] is None
    with pytest.raises(FileNotFound):
        await core.files.attachments.served(app, attached.attachment["location"])
    assert await core.files.ledger.usage(app.id) == 0
    with pytest.raises(MissingObject):
        await core.files.attachments.detach(alice, record("missing"))


@pytest.mark.parametrize("level", ["record", "collection", "bucket"])
async def test_files_go_with_their_record_collection_or_bucket(
    core: Core, storage: StorageBackend, level: str
) -> None:
    app = await _app(storage)
    alice = ctx_of(core, app, "alice")
    await _collection(core, alice)
    attached = await core.files.attachments.attach(alice, record(), incoming(b"bytes"))
    other = await core.files.attachments.attach(alice, record("r2"), incoming(b"other"))
    target = {
        "record": record(),
        "collection": Target("collection", "b", id="c"),
        "bucket": Target("bucket", id="b"),
    }
    await core.kinto.objects.delete(alice, target[level], Conditions())
    with pytest.raises(FileNotFound):
        await core.files.attachments.served(app, attached.attachment["location"])
    key = f"{app.id}/kinto/{attached.attachment['location']}"

    async def gone() -> bool:
        return await core.files.store.stat(key) is None

    await eventually(gone)
    if level == "record":
        assert await _read(core, app, other.attachment["location"]) == b"other"
        assert await core.files.ledger.usage(app.id) == len(b"other")
    else:
        assert await core.files.ledger.usage(app.id) == 0


async def test_attachment_metadata_cannot_be_changed_by_hand(core: Core, storage: StorageBackend) -> None:
    app = await _app(storage)
    alice = ctx_of(core, app, "alice")
    await _collection(core, alice)
    attached = await core.files.attachments.attach(alice, record(), incoming(b"bytes"))
    forged = {**attached.attachment, "location": "someone-elses.png"}
    with pytest.raises(InvalidParameter):
        await core.kinto.objects.patch(
            alice, record(), Patch("json", Body({"attachment": forged})), Conditions()
        )
    await core.kinto.objects.patch(alice, record(), Patch("json", Body({"title": "ok"})), Conditions())
    assert (await _record(core, alice, record()))["attachment"] == attached.attachment


async def test_the_collector_leaves_an_attachment_in_flight_alone(
    core: Core, storage: StorageBackend
) -> None:
    """The entry of an attachment is written before its bytes and its record: a collection that
    runs while the bytes arrive (the record not created yet) must not take it for an orphan."""
    app = await _app(storage)
    alice = ctx_of(core, app, "alice")
    await _collection(core, alice)
    body = Paused(b"first half, ", b"second half")
    attaching = asyncio.create_task(
        core.files.attachments.attach(
            alice, record("new"), IncomingFile("a.txt", "text/plain", body.chunks(), None)
        )
    )
    await body.sent.wait()
    report = await core.files.collector.collect()
    assert report.errors == []
    body.resume()
    result = await attaching
    assert await _read(core, app, result.attachment["location"]) == b"first half, second half"
