"""The legacy file endpoints (files named by ``_filename``) and ``KinveyFile`` references."""

from __future__ import annotations

import orjson
import pytest

from kinbase.core.files.errors import FileNotFound
from kinbase.core.files.signing import LinkInvalid
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.files import FilesApi
from kinbase.core.services import Core
from kinbase.storage.base import AppRecord
from tests.core.files.helpers import OPTIONS, create_file, download, parse_link, upload, user

pytestmark = pytest.mark.anyio
ALICE, BOB = user("alice"), user("bob")


async def test_legacy_upload_download_and_remove(core: Core, app: AppRecord) -> None:
    transfer = core.files.transfer
    url = await transfer.legacy_upload(app, ALICE, "report.pdf", FilesApi(1), OPTIONS)
    assert parse_link(url)[2] == "_upload"
    _, file_id, _, token = parse_link(url)
    from kinbase.core.files.uploads import UploadRange
    from kinbase.storage.blobs.testing import chunked

    done = await transfer.upload(app, file_id, token, UploadRange.whole_file(), chunked(b"%PDF legacy"))
    assert done.complete and done.result["_filename"] == "report.pdf" and done.result["size"] == 11
    location = await transfer.legacy_download(app, ALICE, "report.pdf", OPTIONS)
    assert await download(core, app, location) == b"%PDF legacy"
    # a second upload of the same name makes a new version of the caller's file
    again = await transfer.legacy_upload(app, ALICE, "report.pdf", FilesApi(1), OPTIONS)
    assert parse_link(again)[1] == file_id
    await upload(core, app, again, b"%PDF v2")
    assert (
        await download(core, app, await transfer.legacy_download(app, ALICE, "report.pdf", OPTIONS))
        == b"%PDF v2"
    )
    with pytest.raises(KinveyError) as missing:
        await transfer.legacy_download(app, ALICE, "nothing.pdf", OPTIONS)
    assert missing.value.name == "BlobNotFound"
    with pytest.raises(KinveyError):  # bob may read it (shared) but not delete it
        await transfer.legacy_remove(app, BOB, "report.pdf", OPTIONS)
    removal = await transfer.legacy_remove(app, ALICE, "report.pdf", OPTIONS)
    _, removed_id, action, removal_token = parse_link(removal)
    assert action == "_remove" and removed_id == file_id
    with pytest.raises(LinkInvalid):
        await transfer.remove(app, file_id, removal_token[:-1] + ("B" if removal_token[-1] == "A" else "A"))
    await transfer.remove(app, file_id, removal_token)
    with pytest.raises(KinveyError):
        await core.files.kinvey.get(app, ALICE, file_id, OPTIONS)
    with pytest.raises(FileNotFound):
        await transfer.remove(app, file_id, removal_token)


async def test_kinveyfile_references_are_expanded(core: Core, app: AppRecord) -> None:
    readable = await create_file(core, app, ALICE, b"picture", _filename="pic.png", mimeType="image/png")
    hidden = await create_file(core, app, ALICE, b"hidden", _acl={"gr": False})
    entity = {
        "_id": "e1",
        "photo": {"_type": "KinveyFile", "_id": readable["_id"]},
        "nested": {
            "list": [{"_type": "KinveyFile", "_id": hidden["_id"]}, {"_type": "KinveyFile", "_id": "nope"}]
        },
    }
    plain = orjson.dumps({"_id": "e2", "title": "no files"}).decode()
    texts = [orjson.dumps(entity).decode(), plain]
    expanded = await core.files.transfer.expand(app, BOB, texts, OPTIONS)
    assert expanded[1] is plain
    doc = orjson.loads(expanded[0])
    photo = doc["photo"]
    assert photo["_type"] == "KinveyFile" and photo["_filename"] == "pic.png" and "_blob" not in photo
    assert await download(core, app, photo["_downloadURL"]) == b"picture"
    assert doc["nested"]["list"] == entity["nested"]["list"]  # not readable by bob, or missing: unchanged
    mine = orjson.loads((await core.files.transfer.expand(app, ALICE, texts, OPTIONS))[0])
    assert "_downloadURL" in mine["nested"]["list"][0] and mine["nested"]["list"][1] == {
        "_type": "KinveyFile",
        "_id": "nope",
    }
