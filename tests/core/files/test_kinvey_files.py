"""Kinvey files in the core, on both databases and both byte stores: metadata with entity access
control, resumable uploads, signed links, replacement, deletion and the API-version rules."""

from __future__ import annotations

import os

import orjson
import pytest

from kinbase.core.files.errors import FileNotFound, UploadGone
from kinbase.core.files.signing import LinkExpired, LinkInvalid
from kinbase.core.files.uploads import UploadRange
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.files import FilesApi
from kinbase.core.services import Core
from kinbase.query.ast import Eq, Query
from kinbase.storage.base import AppRecord
from kinbase.storage.blobs.testing import chunked
from tests.core.files.helpers import (
    MASTER,
    OPTIONS,
    create_file,
    download,
    eventually,
    parse_link,
    upload,
    user,
)

pytestmark = pytest.mark.anyio
ALICE, BOB = user("alice"), user("bob")
API = FilesApi(6)


async def _save(core: Core, app: AppRecord, caller, body, file_id=None, content_type="image/png"):  # type: ignore[no-untyped-def]
    return await core.files.kinvey.save(
        app, caller, body, file_id=file_id, content_type=content_type, api=API, options=OPTIONS
    )


async def test_create_answers_an_upload_url_and_hides_the_bookkeeping(core: Core, app: AppRecord) -> None:
    doc, created = await _save(core, app, ALICE, {"_filename": "cat.png", "size": 3, "caption": "a cat"})
    assert created
    assert doc["_filename"] == "cat.png" and doc["caption"] == "a cat" and doc["mimeType"] == "image/png"
    assert doc["_public"] is False and doc["_acl"] == {"creator": "alice"}
    assert set(doc["_kmd"]) == {"ect", "lmt"} and "_blob" not in doc
    assert doc["_requiredHeaders"] == {} and doc["_expiresAt"].endswith("Z")
    assert parse_link(doc["_uploadURL"])[:3] == (app.key, doc["_id"], "_upload")
    unnamed, _ = await _save(core, app, ALICE, {})
    assert len(unnamed["_filename"]) == 36  # a UUID when no name is given


async def test_upload_download_and_ranges(core: Core, app: AppRecord) -> None:
    data = os.urandom(300_000)
    doc = await create_file(core, app, ALICE, data, mimeType="video/mp4")
    assert doc["size"] == len(data) and doc["mimeType"] == "video/mp4"
    assert doc["_expiresAt"].endswith("Z") and "_blob" not in doc
    assert await download(core, app, doc["_downloadURL"]) == data
    assert await download(core, app, doc["_downloadURL"], 1000, 2000) == data[1000:2000]
    _, file_id, _, token = parse_link(doc["_downloadURL"])
    target = await core.files.transfer.download(app, file_id, token)
    assert (target.size, target.content_type, target.filename) == (len(data), "video/mp4", "f.bin")


async def test_an_interrupted_upload_larger_than_a_chunk_resumes(core: Core, app: AppRecord) -> None:
    data = os.urandom(6 * 1024 * 1024 + 123)
    doc, _ = await _save(core, app, ALICE, {"_filename": "movie.mp4", "size": len(data)})
    _, file_id, _, token = parse_link(doc["_uploadURL"])
    transfer = core.files.transfer
    status = await transfer.upload(app, file_id, token, UploadRange.status(len(data)), None)
    assert (status.committed, status.complete) == (0, False)
    broken = chunked(data, 256 * 1024, fail_after=5 * 1024 * 1024 + 17)
    with pytest.raises(ConnectionResetError):
        await transfer.upload(app, file_id, token, UploadRange(0, len(data) - 1, len(data)), broken)
    status = await transfer.upload(app, file_id, token, UploadRange.status(len(data)), None)
    assert status.committed == 5 * 1024 * 1024 + 17 and not status.complete
    # the client resends from a little earlier: the overlap is skipped
    start = status.committed - 1000
    done = await transfer.upload(
        app, file_id, token, UploadRange(start, len(data) - 1, len(data)), chunked(data[start:], 100_000)
    )
    assert done.complete and done.committed == len(data)
    assert done.result["size"] == len(data) and "_blob" not in done.result
    again = await transfer.upload(app, file_id, token, UploadRange.status(len(data)), None)
    assert again.complete  # a lost answer: asking again says it is done
    fetched = await core.files.kinvey.get(app, ALICE, file_id, OPTIONS)
    assert await download(core, app, fetched["_downloadURL"]) == data


async def test_a_gap_is_answered_with_the_committed_size(core: Core, app: AppRecord) -> None:
    doc, _ = await _save(core, app, ALICE, {"size": 10})
    _, file_id, _, token = parse_link(doc["_uploadURL"])
    progress = await core.files.transfer.upload(app, file_id, token, UploadRange(5, 9, 10), chunked(b"xxxxx"))
    assert (progress.committed, progress.complete) == (0, False)


async def test_tampered_and_expired_links_are_refused(core: Core, app: AppRecord) -> None:
    doc = await create_file(core, app, ALICE, b"secret bytes")
    _, file_id, _, token = parse_link(doc["_downloadURL"])
    version, expires, signature = token.split(".")
    transfer = core.files.transfer
    for bad in (
        f"{version}.{expires}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        f"{version}.{int(expires) + 3600}.{signature}",
        f"{version}.0.{signature}",
        f"{version}x.{expires}.{signature}",
        "garbage",
        "",
    ):
        with pytest.raises(LinkInvalid):
            await transfer.download(app, file_id, bad)
    with pytest.raises(LinkInvalid):  # the same token for another file
        await transfer.download(app, "other", token)
    with pytest.raises(LinkInvalid):  # an upload token is no download token
        await transfer.download(
            app, file_id, parse_link(doc["_downloadURL"].replace("_download", "_upload"))[3][:-2] + "AA"
        )
    short = await core.files.kinvey.get(
        app, ALICE, file_id, OPTIONS.__class__(OPTIONS.base_url, ttl_seconds=5)
    )
    _, _, _, short_token = parse_link(short["_downloadURL"])
    await transfer.download(app, file_id, short_token)
    signer = core.files.signer
    real_clock = signer._clock
    signer._clock = lambda: real_clock() + 6
    try:
        with pytest.raises(LinkExpired):
            await transfer.download(app, file_id, short_token)
    finally:
        signer._clock = real_clock


async def test_public_files_get_links_that_never_expire(core: Core, app: AppRecord) -> None:
    doc = await create_file(core, app, ALICE, b"public", _public=True)
    assert "_expiresAt" not in doc and ".0." in doc["_downloadURL"]
    signer = core.files.signer
    real_clock = signer._clock
    signer._clock = lambda: real_clock() + 10 * 365 * 86400
    try:
        assert await download(core, app, doc["_downloadURL"]) == b"public"
    finally:
        signer._clock = real_clock


async def test_access_control_of_files(core: Core, app: AppRecord) -> None:
    private = await create_file(core, app, ALICE, b"alice only", _acl={"gr": False})
    shared = await create_file(core, app, ALICE, b"everyone", _filename="shared.txt")
    bobs = await create_file(core, app, BOB, b"bob's", _acl={"gr": False})
    with pytest.raises(KinveyError) as refused:
        await core.files.kinvey.get(app, BOB, private["_id"], OPTIONS)
    assert refused.value.name == "InsufficientCredentials"
    assert (await core.files.kinvey.get(app, BOB, shared["_id"], OPTIONS))["_filename"] == "shared.txt"
    seen = await core.files.kinvey.find(app, BOB, Query(), OPTIONS, api=API)
    assert sorted(d["_id"] for d in seen) == sorted([shared["_id"], bobs["_id"]])
    assert all("_downloadURL" in d and "_blob" not in d for d in seen)
    assert await core.files.kinvey.count(app, BOB, Query()) == 2
    assert len(await core.files.kinvey.find(app, MASTER, Query(), OPTIONS, api=API)) == 3
    named = await core.files.kinvey.find(
        app, ALICE, Query(filter=Eq(("_filename",), "shared.txt")), OPTIONS, api=API
    )
    assert [d["_id"] for d in named] == [shared["_id"]]
    with pytest.raises(KinveyError) as denied:
        await core.files.kinvey.delete(app, BOB, shared["_id"])
    assert denied.value.name == "InsufficientCredentials"
    with pytest.raises(KinveyError):
        await _save(core, app, BOB, {"_filename": "hijack"}, file_id=shared["_id"])
    reader = user("carol")
    granted = await create_file(core, app, ALICE, b"for carol", _acl={"gr": False, "r": ["carol"]})
    assert (await core.files.kinvey.get(app, reader, granted["_id"], OPTIONS))["_id"] == granted["_id"]


async def test_fields_projection_keeps_the_links(core: Core, app: AppRecord) -> None:
    await create_file(core, app, ALICE, b"x", caption="kept", other="dropped")
    (doc,) = await core.files.kinvey.find(app, ALICE, Query(fields=(("caption",),)), OPTIONS, api=API)
    assert doc["caption"] == "kept" and "other" not in doc and "_downloadURL" in doc and "_blob" not in doc


async def test_replacing_a_file_invalidates_old_links_and_bytes(core: Core, app: AppRecord) -> None:
    created_doc, _ = await _save(core, app, ALICE, {"_filename": "v1", "size": 11})
    await upload(core, app, created_doc["_uploadURL"], b"version one")
    first = await core.files.kinvey.get(app, ALICE, created_doc["_id"], OPTIONS)
    old_key = orjson.loads(await _stored(core, app, first["_id"]))["_blob"]["key"]
    doc, created = await _save(core, app, ALICE, {"_filename": "v2", "size": 11}, file_id=first["_id"])
    assert not created
    with pytest.raises(FileNotFound):
        await download(core, app, first["_downloadURL"])
    await upload(core, app, doc["_uploadURL"], b"version two")
    fetched = await core.files.kinvey.get(app, ALICE, first["_id"], OPTIONS)
    assert await download(core, app, fetched["_downloadURL"]) == b"version two"

    async def old_bytes_gone() -> bool:
        return await core.files.store.stat(old_key) is None

    await eventually(old_bytes_gone)
    with pytest.raises(UploadGone):  # the first version's upload URL is dead too
        await upload(core, app, created_doc["_uploadURL"], b"x")


async def _stored(core: Core, app: AppRecord, file_id: str) -> str:
    async with core.storage.reader() as reader:
        found = await reader.get_child(app.id, "kinvey.files", "", file_id)
    assert found is not None
    return found.data


async def test_delete_removes_metadata_and_bytes(core: Core, app: AppRecord) -> None:
    doc = await create_file(core, app, ALICE, b"doomed bytes")
    key = orjson.loads(await _stored(core, app, doc["_id"]))["_blob"]["key"]
    assert await core.files.ledger.usage(app.id) == len(b"doomed bytes")
    assert await core.files.kinvey.delete(app, ALICE, doc["_id"]) == 1
    with pytest.raises(KinveyError) as missing:
        await core.files.kinvey.get(app, ALICE, doc["_id"], OPTIONS)
    assert missing.value.name == "BlobNotFound"
    with pytest.raises(FileNotFound):
        await download(core, app, doc["_downloadURL"])
    assert await core.files.ledger.usage(app.id) == 0

    async def gone() -> bool:
        return await core.files.store.stat(key) is None

    await eventually(gone)
    with pytest.raises(KinveyError):
        await core.files.kinvey.delete(app, ALICE, doc["_id"])


async def test_api_version_rules(core: Core, app: AppRecord) -> None:
    assert FilesApi(1).redirects_downloads and not FilesApi(2).redirects_downloads
    assert not FilesApi(3).requires_content_type and FilesApi(4).requires_content_type
    with pytest.raises(KinveyError) as missing:
        await core.files.kinvey.save(
            app, ALICE, {"_filename": "x"}, file_id=None, content_type=None, api=FilesApi(4), options=OPTIONS
        )
    assert missing.value.name == "MissingRequestHeader"
    doc, _ = await core.files.kinvey.save(
        app, ALICE, {"_filename": "x"}, file_id=None, content_type=None, api=FilesApi(3), options=OPTIONS
    )
    assert doc["mimeType"] == "application/octet-stream"


@pytest.mark.parametrize(
    "body",
    [
        [],
        "x",
        {"_filename": 3},
        {"_public": "yes"},
        {"size": -1},
        {"size": "10"},
        {"mimeType": 1},
        {"_acl": 5},
    ],
)
async def test_bad_metadata_is_refused(core: Core, app: AppRecord, body: object) -> None:
    with pytest.raises(KinveyError) as refused:
        await _save(core, app, ALICE, body)
    assert refused.value.name == "BadRequest"
    assert await core.files.ledger.usage(app.id) == 0


async def test_post_with_a_taken_id(core: Core, app: AppRecord) -> None:
    doc, _ = await _save(core, app, ALICE, {"_id": "mine"})
    assert doc["_id"] == "mine"
    with pytest.raises(KinveyError) as taken:
        await _save(core, app, ALICE, {"_id": "mine"})
    assert taken.value.name == "EntityAlreadyExists"
    with pytest.raises(KinveyError) as reserved:
        await _save(core, app, ALICE, {"_id": "_mine"})
    assert reserved.value.name == "InvalidIdentifier"
