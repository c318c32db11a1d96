"""``s3_direct_downloads``: a private file's ``_downloadURL`` is a presigned URL of the object store
(the bytes never pass through kinbase), a public file's stays kinbase's non-expiring link."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from kinbase.app import create_app
from kinbase.core.services import Core
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend
from kinbase.storage.blobs import BlobStore
from tests.support.seaweedfs import SeaweedFS

from .conftest import Kinvey
from .file_support import path_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=str(tmp_path / "data"),
        password_hash_time_cost=1,
        password_hash_memory_kib=8,
        file_gc_seconds=0,
        s3_direct_downloads=True,
    )


@pytest.fixture
async def core(settings: Settings, storage: StorageBackend, s3_blob_store: BlobStore) -> AsyncIterator[Core]:
    the_core = Core(settings, storage, blobs=s3_blob_store)
    await the_core.load_secret()
    yield the_core
    await the_core.files.ledger.close()


@pytest.fixture
async def client(core: Core) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(core.settings, core))
    async with httpx.AsyncClient(transport=transport, base_url="http://kinbase.test") as http:
        yield http


async def test_private_downloads_go_straight_to_the_object_store(kv: Kinvey, seaweedfs: SeaweedFS) -> None:
    data = b"straight from the store " * 100
    for public in (False, True):
        created = await kv.post(
            "/blob/{k}",
            json={"_filename": "d.txt", "size": len(data), "_public": public},
            headers={"X-Kinvey-Content-Type": "text/plain"},
        )
        assert created.status_code == 201, created.text
        headers = {"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}
        done = await kv.http.put(path_of(created.json()["_uploadURL"]), content=data, headers=headers)
        assert done.status_code == 200, done.text
        meta = (await kv.get(f"/blob/{{k}}/{created.json()['_id']}", params={"ttl_in_seconds": "300"})).json()
        url = meta["_downloadURL"]
        if public:
            assert url.startswith("http://kinbase.test/blob/") and "_expiresAt" not in meta
            assert (await kv.http.get(path_of(url))).content == data
            continue
        assert url.startswith(seaweedfs.endpoint) and meta["_expiresAt"]
        async with httpx.AsyncClient() as outside:
            got = await outside.get(url)
            assert got.status_code == 200 and got.content == data
            forged = await outside.get(url.replace("Signature=", "Signature=0"))
            assert forged.status_code == 403
