"""The Kinvey Files API over HTTP (``/blob``), on both databases and both byte stores: metadata,
resumable uploads through the signed URL (308 + ``Range``, a broken connection resumed, a stall
cut), downloads (``Range``, ``ETag``), access control, signed links refused when expired or
tampered, the legacy ``*-loc`` endpoints, the API-version differences and ``KinveyFile`` references."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from kinbase.app import create_app
from kinbase.core.files.signing import LinkSigner
from kinbase.core.services import Core
from kinbase.http.server import Server
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend
from kinbase.storage.blobs import BlobStore

from .conftest import Kinvey, error_of
from .file_support import path_of, raw_put, tampered, token_of

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=str(tmp_path / "data"),
        password_hash_time_cost=1,
        password_hash_memory_kib=8,
        upload_stall_seconds=1,
        file_gc_seconds=0,
        file_max_bytes=32 * MiB,
    )


@pytest.fixture
async def core(settings: Settings, storage: StorageBackend, blob_store: BlobStore) -> AsyncIterator[Core]:
    the_core = Core(settings, storage, blobs=blob_store)
    await the_core.load_secret()
    yield the_core
    await the_core.files.ledger.close()


@pytest.fixture
def asgi(core: Core) -> Server:
    return create_app(core.settings, core)


@pytest.fixture
async def client(asgi: Server) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://kinbase.test") as http:
        yield http


async def _create(kv: Kinvey, as_: object = None, **metadata: object) -> dict[str, object]:
    body = {"_filename": "f.bin", **metadata}
    r = await kv.post("/blob/{k}", as_, json=body, headers={"X-Kinvey-Content-Type": "text/plain"})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _put_bytes(kv: Kinvey, url: str, data: bytes) -> httpx.Response:
    """What the SDKs send: a PUT of the whole file with its Content-Range and no credentials."""
    headers = {"Content-Type": "text/plain", "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}
    return await kv.http.put(path_of(url), content=data, headers=headers)


async def _stored(kv: Kinvey, data: bytes, as_: object = None, **metadata: object) -> dict[str, object]:
    doc = await _create(kv, as_, size=len(data), **metadata)
    r = await _put_bytes(kv, str(doc["_uploadURL"]), data)
    assert r.status_code == 200, r.text
    got = await kv.get(f"/blob/{{k}}/{doc['_id']}", as_)
    assert got.status_code == 200, got.text
    return dict(got.json())


async def test_create_upload_download_and_delete(kv: Kinvey) -> None:
    data = b"hello, files\n" * 1000
    created = await kv.post(
        "/blob/{k}",
        json={"_filename": "hello.txt", "size": len(data), "color": "blue"},
        headers={"X-Kinvey-Content-Type": "text/plain"},
    )
    assert created.status_code == 201, created.text
    doc = created.json()
    assert doc["_filename"] == "hello.txt" and doc["mimeType"] == "text/plain" and doc["color"] == "blue"
    assert doc["_requiredHeaders"] == {} and doc["_expiresAt"] and "_blob" not in doc
    assert doc["_acl"]["creator"] and doc["_kmd"]["lmt"]
    assert created.headers["location"].endswith(f"/blob/{kv.key}/{doc['_id']}")
    assert doc["_uploadURL"].startswith(f"http://kinbase.test/blob/{kv.key}/{doc['_id']}/_upload?token=")

    done = await _put_bytes(kv, doc["_uploadURL"], data)
    assert done.status_code == 200, done.text
    assert done.json()["size"] == len(data) and done.json()["_id"] == doc["_id"]

    got = await kv.get(f"/blob/{{k}}/{doc['_id']}", params={"tls": "true", "ttl_in_seconds": "120"})
    assert got.status_code == 200, got.text
    meta = got.json()
    assert meta["size"] == len(data) and meta["_expiresAt"] and "_uploadURL" not in meta
    download = await kv.http.get(path_of(meta["_downloadURL"]))  # no credentials
    assert download.status_code == 200 and download.content == data
    assert download.headers["content-type"] == "text/plain"
    assert download.headers["content-length"] == str(len(data))
    assert download.headers["accept-ranges"] == "bytes" and download.headers["etag"]
    assert "hello.txt" in download.headers["content-disposition"]

    part = await kv.http.get(path_of(meta["_downloadURL"]), headers={"Range": "bytes=13-25"})
    assert part.status_code == 206 and part.content == data[13:26]
    assert part.headers["content-range"] == f"bytes 13-25/{len(data)}"
    tail = await kv.http.get(path_of(meta["_downloadURL"]), headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == data[-5:]
    beyond = await kv.http.get(path_of(meta["_downloadURL"]), headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"
    same = await kv.http.get(
        path_of(meta["_downloadURL"]), headers={"If-None-Match": download.headers["etag"]}
    )
    assert same.status_code == 304 and same.content == b""
    head = await kv.http.head(path_of(meta["_downloadURL"]))
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data)) and not head.content

    deleted = await kv.delete(f"/blob/{{k}}/{doc['_id']}")
    assert deleted.status_code == 200 and deleted.json() == {"count": 1}
    gone = await kv.get(f"/blob/{{k}}/{doc['_id']}")
    assert gone.status_code == 404 and error_of(gone) == "BlobNotFound"
    stale = await kv.http.get(path_of(meta["_downloadURL"]))
    assert stale.status_code == 404 and error_of(stale) == "BlobNotFound"
    again = await kv.delete(f"/blob/{{k}}/{doc['_id']}")
    assert again.status_code == 404 and error_of(again) == "BlobNotFound"


async def test_put_creates_then_replaces_and_old_links_die(kv: Kinvey) -> None:
    first = await kv.put(
        "/blob/{k}/my-file", json={"_filename": "a.txt"}, headers={"X-Kinvey-Content-Type": "text/plain"}
    )
    assert first.status_code == 201 and first.json()["_id"] == "my-file"
    assert (await _put_bytes(kv, first.json()["_uploadURL"], b"version one")).status_code == 200
    old = (await kv.get("/blob/{k}/my-file")).json()["_downloadURL"]
    second = await kv.put(
        "/blob/{k}/my-file", json={"_filename": "a.txt"}, headers={"X-Kinvey-Content-Type": "text/plain"}
    )
    assert second.status_code == 200, second.text
    assert (await _put_bytes(kv, second.json()["_uploadURL"], b"version two")).status_code == 200
    new = (await kv.get("/blob/{k}/my-file")).json()["_downloadURL"]
    assert (await kv.http.get(path_of(new))).content == b"version two"
    assert (await kv.http.get(path_of(old))).status_code == 404
    # the finished upload URL of the first version no longer takes bytes
    late = await _put_bytes(kv, first.json()["_uploadURL"], b"late")
    assert late.status_code == 404 and error_of(late) == "BlobNotFound"
    taken = await kv.post(
        "/blob/{k}", json={"_id": "my-file"}, headers={"X-Kinvey-Content-Type": "text/plain"}
    )
    assert taken.status_code == 409 and error_of(taken) == "EntityAlreadyExists"


async def test_resumable_upload_in_chunks_resumed_after_a_broken_connection(kv: Kinvey, asgi: Server) -> None:
    data = bytes(range(256)) * (7 * MiB // 256) + b"tail"  # more than one S3 part, several chunks
    size = len(data)
    doc = await _create(kv, size=size)
    url = str(doc["_uploadURL"])
    probe = await kv.http.put(path_of(url), headers={"Content-Range": f"bytes */{size}"})
    assert probe.status_code == 308 and "range" not in probe.headers

    # the first chunk: 2 MiB in one request
    first = await kv.http.put(
        path_of(url), content=data[: 2 * MiB], headers={"Content-Range": f"bytes 0-{2 * MiB - 1}/{size}"}
    )
    assert first.status_code == 308 and first.headers["range"] == f"bytes=0-{2 * MiB - 1}"

    # the second request breaks after 3 MiB of its 5 MiB
    sent = [data[2 * MiB + i : 2 * MiB + i + 256 * 1024] for i in range(0, 3 * MiB, 256 * 1024)]
    status, _, _ = await raw_put(
        asgi, url, sent, {"Content-Range": f"bytes {2 * MiB}-{size - 1}/{size}"}, disconnect=True
    )
    assert status is None  # nobody to answer
    probe = await kv.http.put(path_of(url), headers={"Content-Range": f"bytes */{size}"})
    assert probe.status_code == 308, probe.text
    committed = int(probe.headers["range"].rpartition("-")[2]) + 1
    assert 2 * MiB <= committed <= 5 * MiB

    # resending from an earlier offset is fine: what is already there is skipped
    resume_at = committed - 1000
    done = await kv.http.put(
        path_of(url),
        content=data[resume_at:],
        headers={"Content-Range": f"bytes {resume_at}-{size - 1}/{size}"},
    )
    assert done.status_code == 200, done.text
    assert done.json()["size"] == size
    meta = (await kv.get(f"/blob/{{k}}/{doc['_id']}")).json()
    body = await kv.http.get(path_of(meta["_downloadURL"]))
    assert body.status_code == 200 and len(body.content) == size and body.content == data
    # a finished upload answers its status as complete
    status_again = await kv.http.put(path_of(url), headers={"Content-Range": f"bytes */{size}"})
    assert status_again.status_code == 200 and status_again.json()["size"] == size


async def test_a_stalled_upload_is_cut_and_resumed(kv: Kinvey, asgi: Server) -> None:
    data = b"s" * 300_000
    doc = await _create(kv, size=len(data))
    url = str(doc["_uploadURL"])
    # the body stops after 100 kB for 10x the stall timeout (1 s)
    status, _, body = await raw_put(
        asgi, url, [data[:100_000]], {"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}, stall=10
    )
    assert status == 408, body
    probe = await kv.http.put(path_of(url), headers={"Content-Range": f"bytes */{len(data)}"})
    assert probe.status_code == 308 and probe.headers["range"] == "bytes=0-99999"
    done = await kv.http.put(
        path_of(url),
        content=data[100_000:],
        headers={"Content-Range": f"bytes 100000-{len(data) - 1}/{len(data)}"},
    )
    assert done.status_code == 200 and done.json()["size"] == len(data)


async def test_links_refused_when_expired_tampered_or_for_another_file(kv: Kinvey, core: Core) -> None:
    meta = await _stored(kv, b"secret bytes")
    other = await _stored(kv, b"other bytes")
    url = str(meta["_downloadURL"])
    assert (await kv.http.get(path_of(url))).status_code == 200

    bad = await kv.http.get(path_of(tampered(url)))
    assert bad.status_code == 403 and error_of(bad) == "InvalidSignature"
    missing = await kv.http.get(path_of(url).split("?")[0])
    assert missing.status_code == 403 and error_of(missing) == "InvalidSignature"
    # a valid signature for another file
    swapped = path_of(str(other["_downloadURL"])).split("?")[0] + "?token=" + token_of(url)
    assert (await kv.http.get(swapped)).status_code == 403
    # an upload token is no download token
    upload_token = token_of(str((await _create(kv))["_uploadURL"]))
    assert (await kv.http.get(path_of(url).split("?")[0] + "?token=" + upload_token)).status_code == 403

    # a correctly signed link whose time has passed
    version = token_of(url).split(".")[0]
    past = LinkSigner(lambda: core.secret, clock=lambda: time.time() - 3600)
    expired = past.sign("download", kv.key, str(meta["_id"]), version, 60)
    late = await kv.http.get(f"/blob/{kv.key}/{meta['_id']}/_download?token={expired.token}")
    assert late.status_code == 403 and error_of(late) == "URLExpired"
    fresh = LinkSigner(lambda: core.secret).sign("download", kv.key, str(meta["_id"]), version, 60)
    ok = await kv.http.get(f"/blob/{kv.key}/{meta['_id']}/_download?token={fresh.token}")
    assert ok.status_code == 200 and ok.content == b"secret bytes"

    # tampered upload links take no bytes
    doc = await _create(kv, size=3)
    refused = await _put_bytes(kv, tampered(str(doc["_uploadURL"])), b"abc")
    assert refused.status_code == 403 and error_of(refused) == "InvalidSignature"


async def test_public_files_get_a_link_that_never_expires(kv: Kinvey) -> None:
    meta = await _stored(kv, b"for everyone", _public=True)
    assert meta["_public"] is True and "_expiresAt" not in meta
    assert ".0." in token_of(str(meta["_downloadURL"]))
    assert (await kv.http.get(path_of(str(meta["_downloadURL"])))).content == b"for everyone"


async def test_a_user_is_refused_another_users_private_file_and_lists_hide_it(kv: Kinvey) -> None:
    alice, bob = await kv.user(), await kv.user()
    private = await _stored(kv, b"alice only", alice, _acl={"gr": False}, tag="t")
    shared = await _stored(kv, b"everyone reads", alice, tag="t")
    mine = await _stored(kv, b"bob's", bob, tag="t")

    refused = await kv.get(f"/blob/{{k}}/{private['_id']}", bob)
    assert refused.status_code == 401 and error_of(refused) == "InsufficientCredentials"
    assert (await kv.get(f"/blob/{{k}}/{private['_id']}", alice)).status_code == 200
    assert (await kv.get(f"/blob/{{k}}/{shared['_id']}", bob)).status_code == 200
    no_delete = await kv.delete(f"/blob/{{k}}/{shared['_id']}", bob)
    assert no_delete.status_code == 401 and error_of(no_delete) == "InsufficientCredentials"
    no_replace = await kv.put(
        f"/blob/{{k}}/{shared['_id']}", bob, json={}, headers={"X-Kinvey-Content-Type": "text/plain"}
    )
    assert no_replace.status_code == 401

    listed = await kv.get(
        "/blob/{k}",
        bob,
        params={"query": '{"tag":"t"}', "sort": '{"_kmd.ect":1}'},
        headers={"X-Kinvey-Include-Items-Count": "true"},
    )
    assert listed.status_code == 200, listed.text
    ids = [d["_id"] for d in listed.json()]
    assert set(ids) == {shared["_id"], mine["_id"]}
    assert listed.headers["x-kinvey-items-count"] == "2"
    assert all(d["_downloadURL"] for d in listed.json())
    count = await kv.get("/blob/{k}/_count", bob, params={"query": '{"tag":"t"}'})
    assert count.json() == {"count": 2}
    assert (await kv.get("/blob/{k}/_count", alice)).json() == {"count": 3}
    assert len((await kv.get("/blob/{k}", params={"query": '{"tag":"t"}'})).json()) == 3  # master
    page = await kv.get(
        "/blob/{k}", alice, params={"limit": "1", "skip": "1", "sort": '{"_kmd.ect":1}', "fields": "tag"}
    )
    assert [d["_id"] for d in page.json()] == [shared["_id"]]
    assert set(page.json()[0]) >= {"_id", "tag", "_downloadURL"} and "_filename" not in page.json()[0]
    bad = await kv.get("/blob/{k}", bob, params={"query": "{not json"})
    assert bad.status_code == 400 and error_of(bad) == "InvalidQuerySyntax"


async def test_api_versions_and_bad_input(kv: Kinvey) -> None:
    missing = await kv.post("/blob/{k}", json={"_filename": "x"}, version="4")
    assert missing.status_code == 400 and error_of(missing) == "MissingRequestHeader"
    legacy_ok = await kv.post("/blob/{k}", json={"_filename": "x"}, version="3")
    assert legacy_ok.status_code == 201 and legacy_ok.json()["mimeType"] == "application/octet-stream"
    meta = await _stored(kv, b"redirected")
    moved = await kv.get(f"/blob/{{k}}/{meta['_id']}", version="1")
    assert moved.status_code == 302 and "/_download?token=" in moved.headers["location"]
    assert (await kv.delete(f"/blob/{{k}}/{meta['_id']}", version="1")).status_code == 204

    for body, name in (
        (["x"], "BadRequest"),
        ({"_public": "yes"}, "BadRequest"),
        ({"size": -1}, "BadRequest"),
    ):
        r = await kv.post("/blob/{k}", json=body, headers={"X-Kinvey-Content-Type": "text/plain"})
        assert r.status_code == 400 and error_of(r) == name, (body, r.text)
    not_json = await kv.post("/blob/{k}", content=b"{", headers={"X-Kinvey-Content-Type": "text/plain"})
    assert not_json.status_code == 400 and error_of(not_json) == "JSONParseError"
    ttl = await kv.get(f"/blob/{{k}}/{legacy_ok.json()['_id']}", params={"ttl_in_seconds": "soon"})
    assert ttl.status_code == 400 and error_of(ttl) == "ParameterValueOutOfRange"
    anonymous = await kv.http.post(f"/blob/{kv.key}", json={})
    assert anonymous.status_code == 401

    doc = await _create(kv, size=10)
    url = path_of(str(doc["_uploadURL"]))
    for header in ("bytes 0-4", "bytes 5-1/10", "bytes 0-10/10", "items 0-1/10"):
        r = await kv.http.put(url, content=b"abcde", headers={"Content-Range": header})
        assert r.status_code == 400 and error_of(r) == "BadRequest", (header, r.text)
    longer = await kv.http.put(url, content=b"abcdefgh", headers={"Content-Range": "bytes 0-4/10"})
    assert longer.status_code == 400
    wrong_total = await kv.http.put(url, content=b"abcde", headers={"Content-Range": "bytes 0-4/12"})
    assert wrong_total.status_code == 400
    gap = await kv.http.put(url, content=b"fghij", headers={"Content-Range": "bytes 5-9/10"})
    assert gap.status_code == 308 and "range" not in gap.headers  # nothing committed: start at 0


async def test_file_size_limit(kv: Kinvey, core: Core) -> None:
    limit = core.settings.file_max_bytes
    announced = await kv.post(
        "/blob/{k}", json={"size": limit + 1}, headers={"X-Kinvey-Content-Type": "text/plain"}
    )
    assert announced.status_code == 413 and error_of(announced) == "RequestEntityTooLarge"
    doc = await _create(kv)  # no announced size: refused while the bytes arrive
    r = await kv.http.put(path_of(str(doc["_uploadURL"])), content=b"x" * (limit + 1))
    assert r.status_code == 413 and error_of(r) == "RequestEntityTooLarge"


async def test_legacy_loc_endpoints(kv: Kinvey) -> None:
    alice = await kv.user()
    up = await kv.get("/blob/{k}/upload-loc/report.pdf", alice, version="1")
    assert up.status_code == 200, up.text
    put = await kv.http.put(path_of(up.json()["URI"]), content=b"%PDF-1.4 legacy")
    assert put.status_code == 200 and put.json()["_filename"] == "report.pdf"

    down = await kv.get("/blob/{k}/download-loc/report.pdf", alice, version="2")
    assert down.status_code == 200
    assert (await kv.http.get(path_of(down.json()["URI"]))).content == b"%PDF-1.4 legacy"
    moved = await kv.get("/blob/{k}/download-loc/report.pdf", alice, version="1")
    assert moved.status_code == 302 and "/_download?token=" in moved.headers["location"]

    removal = await kv.get("/blob/{k}/remove-loc/report.pdf", alice, version="1")
    assert removal.status_code == 200
    assert (await kv.http.delete(path_of(tampered(removal.json()["URI"])))).status_code == 403
    assert (await kv.http.delete(path_of(removal.json()["URI"]))).status_code == 204
    gone = await kv.get("/blob/{k}/download-loc/report.pdf", alice, version="1")
    assert gone.status_code == 404 and error_of(gone) == "BlobNotFound"
    assert (await kv.get("/blob/{k}/remove-loc/nothing", alice)).status_code == 404


async def test_kinveyfile_references_expand_on_appdata_reads(kv: Kinvey) -> None:
    alice, bob = await kv.user(), await kv.user()
    picture = await _stored(kv, b"png bytes", alice, _filename="pic.png")
    hidden = await _stored(kv, b"hidden", alice, _acl={"gr": False})
    entity = {
        "_id": "e1",
        "picture": {"_type": "KinveyFile", "_id": picture["_id"]},
        "more": [{"_type": "KinveyFile", "_id": hidden["_id"]}],
        "_acl": {"gr": True},
    }
    assert (await kv.post("/appdata/{k}/albums", alice, json=entity)).status_code == 201
    one = await kv.get(
        "/appdata/{k}/albums/e1", bob, params={"kinveyfile_ttl": "300", "kinveyfile_tls": "true"}
    )
    assert one.status_code == 200, one.text
    shown = one.json()
    assert shown["picture"]["_filename"] == "pic.png" and shown["picture"]["_type"] == "KinveyFile"
    assert (await kv.http.get(path_of(shown["picture"]["_downloadURL"]))).content == b"png bytes"
    assert shown["more"][0] == {"_type": "KinveyFile", "_id": hidden["_id"]}  # bob may not read it
    listed = await kv.get("/appdata/{k}/albums", alice)
    assert listed.json()[0]["more"][0]["_downloadURL"]
    bad = await kv.get("/appdata/{k}/albums/e1", bob, params={"kinveyfile_ttl": "-1"})
    assert bad.status_code == 400 and error_of(bad) == "ParameterValueOutOfRange"


async def test_quota_and_single_shot_post_upload(kv: Kinvey, core: Core) -> None:
    await core.apps.update_settings(kv.key, {"files": {"quota_bytes": 1000}})
    over = await kv.post("/blob/{k}", json={"size": 1001}, headers={"X-Kinvey-Content-Type": "text/plain"})
    assert over.status_code == 507 and error_of(over) == "QuotaExceeded"
    assert "1000" in over.json()["debug"]  # the client's to read, not hidden behind a request id
    doc = await _create(kv)
    # a POST of the whole body to the upload URL (the NativeScript SDK's single-shot upload)
    whole = await kv.http.post(path_of(str(doc["_uploadURL"])), content=b"y" * 600)
    assert whole.status_code == 200 and whole.json()["size"] == 600
    second = await _create(kv)
    past = await kv.http.put(path_of(str(second["_uploadURL"])), content=b"z" * 600)
    assert past.status_code == 507 and error_of(past) == "QuotaExceeded"


async def test_a_second_writer_of_one_upload_gets_a_503(
    kv: Kinvey, settings: Settings, storage: StorageBackend, blob_store: BlobStore
) -> None:
    """One request writes to an upload at a time: another one is told to retry (the SDKs back off on
    a 5xx); once the first goes away, the upload resumes from what it sent."""
    import asyncio
    import dataclasses

    patient = Core(dataclasses.replace(settings, upload_stall_seconds=60), storage, blobs=blob_store)
    await patient.load_secret()
    asgi = create_app(patient.settings, patient)
    try:
        data = b"w" * 200_000
        doc = await _create(kv, size=len(data))
        url = str(doc["_uploadURL"])
        headers = {"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}
        drained, hold = asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(raw_put(asgi, url, [data[:50_000]], headers, drained=drained, hold=hold))
        await asyncio.wait_for(drained.wait(), 60)
        status, _, body = await raw_put(asgi, url, [data], headers)
        assert status == 503 and orjson.loads(body)["error"] == "ServiceUnavailable"
        hold.set()
        assert (await first)[0] is None  # the client left: nobody to answer
        probe = await kv.http.put(path_of(url), headers={"Content-Range": f"bytes */{len(data)}"})
        assert probe.status_code == 308 and probe.headers["range"] == "bytes=0-49999"
        rest = {"Content-Range": f"bytes 50000-{len(data) - 1}/{len(data)}"}
        done = await kv.http.put(path_of(url), content=data[50_000:], headers=rest)
        assert done.status_code == 200 and done.json()["size"] == len(data)
    finally:
        await patient.files.ledger.close()
