"""kinto-attachment's endpoints over HTTP, on both databases and both byte stores: multipart
upload creating or updating the record, the ``attachment`` field, the capability's ``base_url``
serving the file (``Range``, ``ETag``), replacement, removal, deletion with the record, the
record's permissions, the plugin's settings and bad input in Kinto's error format."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kinbase.core.services import Core
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend
from kinbase.storage.blobs import BlobStore

from .conftest import Kinto

pytestmark = pytest.mark.anyio

R = "/buckets/b/collections/c/records"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=str(tmp_path / "data"), upload_stall_seconds=2, file_gc_seconds=0, file_max_bytes=1024 * 1024
    )


@pytest.fixture
async def core(settings: Settings, storage: StorageBackend, blob_store: BlobStore) -> AsyncIterator[Core]:
    the_core = Core(settings, storage, blobs=blob_store)
    await the_core.load_secret()
    yield the_core
    await the_core.files.ledger.close()


def _form(**fields: Any) -> dict[str, str]:
    return {name: orjson.dumps(value).decode() for name, value in fields.items()}


async def _attach(
    kinto: Kinto,
    record: str,
    content: bytes,
    user: str | None = "alice",
    filename: str = "notes.txt",
    mimetype: str = "text/plain",
    **fields: Any,
) -> httpx.Response:
    return await kinto.post(
        f"{R}/{record}/attachment",
        user,
        files={"attachment": (filename, content, mimetype)},
        data=_form(**fields),
    )


async def _file_url(kinto: Kinto, attachment: dict[str, Any]) -> str:
    hello = (await kinto.get("/")).json()
    base = hello["capabilities"]["attachments"]["base_url"]
    return str(base) + str(attachment["location"])


async def test_attach_creates_the_record_and_serves_the_file(kinto: Kinto) -> None:
    await kinto.tree("alice")
    content = b"line\n" * 5000
    r = await _attach(kinto, "r1", content, data={"title": "doc"}, permissions={"read": ["system.Everyone"]})
    assert r.status_code == 201, r.text
    attachment = r.json()
    assert set(attachment) == {"filename", "hash", "location", "mimetype", "size"}
    assert attachment["filename"] == "notes.txt" and attachment["mimetype"] == "text/plain"
    assert attachment["size"] == len(content)
    assert attachment["hash"] == hashlib.sha256(content).hexdigest()
    assert r.headers["location"].endswith(f"{kinto.base}{R}/r1")

    record = (await kinto.get(f"{R}/r1", "alice")).json()
    assert record["data"]["title"] == "doc" and record["data"]["attachment"] == attachment
    assert "system.Everyone" in record["permissions"]["read"]

    capability = (await kinto.get("/")).json()["capabilities"]["attachments"]
    assert capability["base_url"] == f"http://kinbase.test/attachments/{kinto.app.key}/"
    url = await _file_url(kinto, attachment)
    served = await kinto.http.get(url)  # no credentials, as from the plugin's CDN
    assert served.status_code == 200 and served.content == content
    assert served.headers["content-type"] == "text/plain"
    assert served.headers["content-length"] == str(len(content))
    assert served.headers["etag"] == f'"{attachment["hash"]}"'
    part = await kinto.http.get(url, headers={"Range": "bytes=5-9"})
    assert part.status_code == 206 and part.content == content[5:10]
    assert (await kinto.http.get(url, headers={"If-None-Match": served.headers["etag"]})).status_code == 304
    missing = await kinto.http.get(f"http://kinbase.test/attachments/{kinto.app.key}/nothing.txt")
    assert missing.status_code == 404 and missing.json()["errno"] == 111
    other_app = await kinto.http.get(f"http://kinbase.test/attachments/kid_nope/{attachment['location']}")
    assert other_app.status_code == 404


async def test_replace_remove_and_delete_with_the_record(kinto: Kinto) -> None:
    await kinto.tree("alice")
    first = (await _attach(kinto, "r1", b"first version")).json()
    assert (await kinto.put(f"{R}/r2", "alice", json={"data": {"k": 1}})).status_code == 201
    second = await _attach(kinto, "r1", b"second version", filename="v2.json", mimetype="application/json")
    assert second.status_code == 201, second.text
    assert second.json()["location"] != first["location"]
    assert (await kinto.http.get(await _file_url(kinto, first))).status_code == 404  # keep_old_files off
    assert (await kinto.http.get(await _file_url(kinto, second.json()))).content == b"second version"

    removed = await kinto.delete(f"{R}/r1/attachment", "alice")
    assert removed.status_code == 204 and removed.content == b""
    assert (await kinto.get(f"{R}/r1", "alice")).json()["data"]["attachment"] is None
    assert (await kinto.http.get(await _file_url(kinto, second.json()))).status_code == 404
    assert (await kinto.delete(f"{R}/nothing/attachment", "alice")).status_code == 404

    # an existing record keeps its fields; deleting it deletes its file
    attached = (await _attach(kinto, "r2", b"of r2")).json()
    assert (await kinto.get(f"{R}/r2", "alice")).json()["data"]["k"] == 1
    assert (await kinto.delete(f"{R}/r2", "alice")).status_code == 200
    assert (await kinto.http.get(await _file_url(kinto, attached))).status_code == 404

    # a hand-made change of the attachment field is refused
    again = (await _attach(kinto, "r3", b"r3")).json()
    changed = await kinto.patch(f"{R}/r3", "alice", json={"data": {"attachment": {**again, "size": 1}}})
    assert changed.status_code == 400


async def test_keep_old_files_and_size_limits(make_kinto: Any) -> None:
    kinto = await make_kinto(attachment_keep_old_files=True, attachment_max_size_bytes=100)
    await kinto.tree("alice")
    first = (await _attach(kinto, "r1", b"one")).json()
    assert (await _attach(kinto, "r1", b"two")).status_code == 201
    assert (await kinto.http.get(await _file_url(kinto, first))).content == b"one"  # kept
    too_big = await _attach(kinto, "r1", b"x" * 101)
    assert too_big.status_code == 400 and too_big.json()["errno"] == 107
    # the previous attachment is still there
    assert (await kinto.get(f"{R}/r1", "alice")).json()["data"]["attachment"]["size"] == 3


async def test_server_file_limit(kinto: Kinto, core: Core) -> None:
    await kinto.tree("alice")
    r = await _attach(kinto, "r1", b"x" * (core.settings.file_max_bytes + 1))
    assert r.status_code == 413 and r.json()["errno"] == 113


async def test_permissions_of_the_record(kinto: Kinto) -> None:
    await kinto.tree("alice")
    assert (await _attach(kinto, "r1", b"alice's")).status_code == 201
    refused = await _attach(kinto, "r1", b"bob's", user="bob")
    assert refused.status_code == 403 and refused.json()["errno"] == 121
    create = await _attach(kinto, "r2", b"bob's", user="bob")
    assert create.status_code == 403
    anonymous = await _attach(kinto, "r2", b"anon", user=None)
    assert anonymous.status_code == 401
    assert (await kinto.delete(f"{R}/r1/attachment", "bob")).status_code == 403
    # record:create on the collection lets bob create records with their files, and write them
    grant = {"permissions": {"record:create": ["account:bob"]}}
    assert (await kinto.patch("/buckets/b/collections/c", "alice", json=grant)).status_code == 200
    created = await _attach(kinto, "r2", b"bob's")
    assert created.status_code == 201
    assert (await _attach(kinto, "r3", b"by bob", user="bob")).status_code == 201
    assert (await kinto.delete(f"{R}/r3/attachment", "bob")).status_code == 204
    missing_bucket = await kinto.post(
        "/buckets/nope/collections/c/records/r/attachment",
        "alice",
        files={"attachment": ("a.txt", b"a", "text/plain")},
    )
    assert missing_bucket.status_code in (403, 404)


@pytest.mark.parametrize(
    ("kwargs", "errno"),
    [
        ({"content": b"plain", "headers": {"Content-Type": "text/plain"}}, 107),
        ({"data": {"data": "{}"}}, 107),  # a urlencoded form
        ({"files": {"data": (None, b"{}")}}, 109),  # a form without the file
        ({"files": {"attachment": ("a.exe", b"MZ", "application/octet-stream")}}, 107),
        ({"files": {"attachment": ("a.txt", b"a", "text/plain")}, "data": {"other": "1"}}, 109),
        ({"files": {"attachment": ("a.txt", b"a", "text/plain")}, "data": {"data": "{nope"}}, 109),
        ({"files": {"attachment": ("a.txt", b"a", "text/plain")}, "data": {"data": "[1]"}}, 109),
        ({"files": {"attachment": ("a.txt", b"a", "text/plain"), "data": ("d.json", b"{}", "a/b")}}, 109),
        ({"content": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data; boundary=x"}}, 109),
        ({"content": b"", "headers": {"Content-Type": "multipart/form-data"}}, 107),
    ],
)
async def test_bad_uploads_are_refused_in_kintos_format(
    kinto: Kinto, kwargs: dict[str, Any], errno: int
) -> None:
    await kinto.tree("alice")
    r = await kinto.post(f"{R}/r1/attachment", "alice", **kwargs)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["errno"] == errno and body["code"] == 400 and body["message"]
    assert (await kinto.get(f"{R}/r1", "alice")).status_code == 404  # nothing was written


async def test_fields_after_the_file_are_refused(kinto: Kinto) -> None:
    await kinto.tree("alice")
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="attachment"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nabc\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="data"\r\n\r\n{{}}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    r = await kinto.post(
        f"{R}/r1/attachment",
        "alice",
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 400 and "before the file" in r.json()["message"]
    assert (await kinto.get(f"{R}/r1", "alice")).status_code == 404


async def test_the_attachment_route_and_methods(kinto: Kinto) -> None:
    await kinto.tree("alice")
    assert (await kinto.get(f"{R}/r1/attachment", "alice")).status_code == 405
    assert (await kinto.get(f"{R}/r1/other", "alice")).status_code == 404
    options = await kinto.request(
        "OPTIONS",
        f"{R}/r1/attachment",
        headers={"Origin": "http://x", "Access-Control-Request-Method": "POST"},
    )
    assert options.status_code == 200


async def test_quota_head_and_a_configured_base_url(make_kinto: Any, core: Core) -> None:
    kinto = await make_kinto(attachment_base_url="https://cdn.example.test/files")
    await kinto.tree("alice")
    capability = (await kinto.get("/")).json()["capabilities"]["attachments"]
    assert capability["base_url"] == "https://cdn.example.test/files/"
    attachment = (await _attach(kinto, "r1", b"0123456789")).json()
    own = f"http://kinbase.test/attachments/{kinto.app.key}/{attachment['location']}"
    head = await kinto.http.head(own)
    assert head.status_code == 200 and head.headers["content-length"] == "10" and head.content == b""
    await core.apps.update_settings(kinto.app.key, {**kinto.app.settings, "files": {"quota_bytes": 15}})
    over = await _attach(kinto, "r2", b"x" * 10)
    assert over.status_code == 507 and over.json()["errno"] == 121
    assert (await kinto.get(f"{R}/r2", "alice")).status_code == 404


async def test_a_broken_or_stalled_upload_leaves_nothing(kinto: Kinto, core: Core) -> None:
    from kinbase.app import create_app
    from tests.frontends.kinvey.file_support import raw_put

    await kinto.tree("alice")
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="attachment"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\n"
    ).encode() + b"a" * 50_000
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Authorization": "Basic " + __import__("base64").b64encode(b"alice:alice-pw").decode(),
    }
    url = f"http://kinbase.test{kinto.base}{R}/r1/attachment"
    asgi = create_app(core.settings, core)
    status, _, _ = await raw_put(asgi, url, [head], headers, disconnect=True, method="POST")
    assert status is None
    assert (await kinto.get(f"{R}/r1", "alice")).status_code == 404
    # the body stops for 5x the stall timeout (2 s): 408 in Kinto's format, nothing written
    status, _, body = await raw_put(asgi, url, [head], headers, stall=10, method="POST")
    assert status == 408 and orjson.loads(body)["errno"] == 109
    assert (await kinto.get(f"{R}/r1", "alice")).status_code == 404
    async with core.storage.reader() as reader:
        assert await core.files.ledger.entries(reader, kinto.app.id, area="kinto") == []


async def test_not_inside_a_batch_and_in_the_api_document(kinto: Kinto) -> None:
    await kinto.tree("alice")
    body = {"requests": [{"method": "POST", "path": f"{R}/r1/attachment", "body": {}}]}
    r = await kinto.post("/batch", "alice", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["responses"][0]["status"] == 400
    api = (await kinto.get("/__api__")).json()
    assert set(api["paths"]["/buckets/{bid}/collections/{cid}/records/{id}/attachment"]) == {"post", "delete"}
