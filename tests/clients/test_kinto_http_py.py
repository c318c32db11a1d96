"""The official Python client, ``kinto-http`` from PyPI, against a real kinbase server: accounts,
sharing through groups, If-Match conflicts, ``_since`` sync with tombstones, paging and batch."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import requests
from kinto_http import BucketNotFound, Client, KintoException


def _account(url: str, user: str, password: str) -> None:
    response = requests.put(f"{url}/accounts/{user}", json={"data": {"password": password}}, timeout=30)
    assert response.status_code == 201, response.text


@pytest.fixture
def users(kinto_server: str) -> tuple[Client, Client, str]:
    suffix = secrets.token_hex(4)
    alice, bob = f"alice-{suffix}", f"bob-{suffix}"
    _account(kinto_server, alice, "alice-pw")
    _account(kinto_server, bob, "bob-pw")
    a = Client(server_url=kinto_server, auth=(alice, "alice-pw"))
    b = Client(server_url=kinto_server, auth=(bob, "bob-pw"))
    return a, b, suffix


def test_server_info_and_accounts(kinto_server: str, users) -> None:
    alice, _, suffix = users
    info = alice.server_info()
    assert info["user"]["id"] == f"account:alice-{suffix}"
    assert info["settings"]["batch_max_requests"] == 25
    assert "accounts" in info["capabilities"]
    wrong = Client(server_url=kinto_server, auth=(f"alice-{suffix}", "nope"))
    assert "user" not in wrong.server_info()


def test_sharing_through_groups(users) -> None:
    alice, bob, suffix = users
    bucket = f"shared-{suffix}"
    alice.create_bucket(id=bucket)
    alice.create_collection(id="notes", bucket=bucket)
    alice.create_record(data={"title": "secret"}, id="n1", collection="notes", bucket=bucket)
    with pytest.raises(BucketNotFound):
        bob.get_bucket(id=bucket)
    with pytest.raises(KintoException) as exc:
        bob.get_record(id="n1", collection="notes", bucket=bucket)
    assert exc.value.response.status_code == 403
    alice.create_group(id="friends", bucket=bucket, data={"members": [f"account:bob-{suffix}"]})
    alice.patch_collection(
        id="notes", bucket=bucket, permissions={"read": [f"/buckets/{bucket}/groups/friends"]}
    )
    assert bob.get_record(id="n1", collection="notes", bucket=bucket)["data"]["title"] == "secret"
    assert [r["id"] for r in bob.get_records(collection="notes", bucket=bucket)] == ["n1"]
    principals = bob.server_info()["user"]["principals"]
    assert f"/buckets/{bucket}/groups/friends" in principals
    entries = bob.get_permissions()
    assert any(e["uri"] == f"/buckets/{bucket}/collections/notes" for e in entries)


def test_conflicts_with_if_match(users) -> None:
    alice, _, suffix = users
    bucket = f"conflicts-{suffix}"
    alice.create_bucket(id=bucket)
    alice.create_collection(id="c", bucket=bucket)
    record = alice.create_record(data={"v": 1}, id="r", collection="c", bucket=bucket)["data"]
    alice.update_record(data={"id": "r", "v": 2}, collection="c", bucket=bucket)
    with pytest.raises(KintoException) as exc:
        alice.update_record(
            data={"id": "r", "v": 3}, collection="c", bucket=bucket, if_match=record["last_modified"]
        )
    assert exc.value.response.status_code == 412
    with pytest.raises(KintoException):
        alice.create_record(data={"id": "r", "v": 9}, collection="c", bucket=bucket, if_not_exists=False)
    same = alice.create_record(data={"id": "r"}, collection="c", bucket=bucket, if_not_exists=True)
    assert same["data"]["v"] == 2
    current = alice.get_record(id="r", collection="c", bucket=bucket)["data"]
    alice.delete_record(id="r", collection="c", bucket=bucket, if_match=current["last_modified"])


def test_since_sync_with_tombstones_and_paging(users) -> None:
    alice, _, suffix = users
    bucket = f"sync-{suffix}"
    alice.create_bucket(id=bucket)
    alice.create_collection(id="c", bucket=bucket)
    with alice.batch(bucket=bucket, collection="c") as batch:
        for i in range(60):
            batch.create_record(data={"i": i}, id=f"r{i:02d}")
    timestamp = alice.get_records_timestamp(collection="c", bucket=bucket)
    records = alice.get_records(collection="c", bucket=bucket, _limit=7, pages=float("inf"))
    assert len(records) == 60
    page = next(alice.get_paginated_records(collection="c", bucket=bucket, _limit=10))
    assert len(page["data"]) == 10
    alice.delete_record(id="r05", collection="c", bucket=bucket)
    alice.patch_record(id="r06", data={"i": 600}, collection="c", bucket=bucket)
    changes = alice.get_records(collection="c", bucket=bucket, _since=timestamp)
    assert [(c["id"], c.get("deleted", False)) for c in changes] == [("r06", False), ("r05", True)]
    history = alice.get_history(bucket=bucket, _limit=5)
    assert history[0]["action"] == "update"


def test_batch_errors_raise(users) -> None:
    alice, _, suffix = users
    bucket = f"bt-{suffix}"  # a bucket named "batch..." would trip Kinto's recursion check
    alice.create_bucket(id=bucket)
    with pytest.raises(KintoException), alice.batch(bucket=bucket, collection="missing") as batch:
        batch.create_record(data={"x": 1})
    with alice.batch(bucket=bucket) as batch:
        batch.create_collection(id="c1")
        batch.create_collection(id="c2")
    assert sorted(c["id"] for c in alice.get_collections(bucket=bucket)) == ["c1", "c2"]


def test_attachments_add_download_remove(users, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """kinto-http's attachment calls, as its own functional tests use them."""
    alice, bob, suffix = users
    bucket = f"files-{suffix}"
    alice.create_bucket(id=bucket)
    alice.create_collection(id="docs", bucket=bucket)
    source = tmp_path / "report.json"
    source.write_bytes(b'{"numbers": [' + b",".join(str(i).encode() for i in range(20000)) + b"]}")
    answer = alice.add_attachment(
        id="r1",
        filepath=str(source),
        bucket=bucket,
        collection="docs",
        data={"title": "numbers"},
        permissions={"read": ["system.Everyone"]},
    )
    assert answer["filename"] == "report.json" and answer["mimetype"] == "application/json"
    assert answer["size"] == source.stat().st_size
    record = bob.get_record(id="r1", collection="docs", bucket=bucket)["data"]
    assert record["title"] == "numbers" and record["attachment"] == answer
    target = tmp_path / "downloaded"
    target.mkdir()
    path = bob.download_attachment(record, filepath=str(target))
    assert Path(path).read_bytes() == source.read_bytes()
    with pytest.raises(KintoException) as refused:
        bob.remove_attachment(id="r1", bucket=bucket, collection="docs")
    assert refused.value.response.status_code == 403
    alice.remove_attachment(id="r1", bucket=bucket, collection="docs")
    assert alice.get_record(id="r1", collection="docs", bucket=bucket)["data"]["attachment"] is None
    gone = requests.get(
        alice.server_info()["capabilities"]["attachments"]["base_url"] + answer["location"], timeout=30
    )
    assert gone.status_code == 404
