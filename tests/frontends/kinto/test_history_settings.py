"""Kinto's history settings: exclusions by resource and by user, and auto-trim."""

from __future__ import annotations

import pytest

from kinbase.core.kinto.config import parse_config
from kinbase.errors import ConfigurationError

pytestmark = pytest.mark.anyio

B = "/buckets/b"
R = "/buckets/b/collections/c/records"


async def _uris(kinto, bucket: str = "b") -> list[tuple[str, str]]:
    r = await kinto.get(f"/buckets/{bucket}/history", "alice")
    assert r.status_code == 200, r.text
    return [(e["action"], e["uri"]) for e in reversed(r.json()["data"])]


async def test_exclude_resources(make_kinto) -> None:
    kinto = await make_kinto(
        **{"history.exclude_resources": [f"{B}/collections/quiet", f"{R}/secret", "/buckets/muted"]}
    )
    await kinto.tree("alice")
    await kinto.put(f"{B}/collections/quiet", "alice")
    await kinto.put(f"{B}/collections/quiet/records/r", "alice", json={"data": {}})
    await kinto.put(f"{R}/secret", "alice", json={"data": {}})
    await kinto.put(f"{R}/open", "alice", json={"data": {}})
    await kinto.put(f"{B}/groups/g", "alice", json={"data": {"members": []}})
    assert await _uris(kinto) == [
        ("create", B),
        ("create", f"{B}/collections/c"),
        ("create", f"{R}/open"),
        ("create", f"{B}/groups/g"),
    ]
    await kinto.tree("alice", bucket="muted")
    await kinto.put("/buckets/muted/collections/c/records/r", "alice", json={"data": {}})
    assert await _uris(kinto, "muted") == []
    r = await kinto.get("/")
    assert r.json()["capabilities"]["history"]["excluded_resources"] == [
        {"bucket": "b", "collection": "quiet"},
        {"bucket": "b", "collection": "c", "record": "secret"},
        {"bucket": "muted"},
    ]


async def test_exclude_user_ids(make_kinto) -> None:
    kinto = await make_kinto(history_exclude_user_ids=["account:bob"])
    await kinto.tree("alice")
    await kinto.put(B, "alice", json={"permissions": {"write": ["account:bob"]}})
    await kinto.put(f"{R}/by-bob", "bob", json={"data": {}})
    await kinto.put(f"{R}/by-alice", "alice", json={"data": {}})
    assert await _uris(kinto) == [
        ("create", B),
        ("create", f"{B}/collections/c"),
        ("update", B),
        ("create", f"{R}/by-alice"),
    ]


async def test_auto_trim_keeps_the_newest_entries_per_resource_type(make_kinto) -> None:
    kinto = await make_kinto(history_auto_trim_max_count=2)
    await kinto.tree("alice")
    for i in range(4):
        await kinto.put(f"{R}/r{i}", "alice", json={"data": {}})
    assert await _uris(kinto) == [
        ("create", B),
        ("create", f"{B}/collections/c"),
        ("create", f"{R}/r2"),
        ("create", f"{R}/r3"),
    ]
    r = await kinto.get("/buckets/b/history?_since=0", "alice")
    assert all(not e.get("deleted") for e in r.json()["data"])
    assert (await kinto.get("/")).json()["capabilities"]["history"]["auto_trim_max_count"] == 2


async def test_auto_trim_by_user(make_kinto) -> None:
    kinto = await make_kinto(
        **{"history.auto_trim_max_count": 1, "history.auto_trim_user_ids": ["account:bob"]}
    )
    await kinto.tree("alice")
    await kinto.put(B, "alice", json={"permissions": {"write": ["account:bob"]}})
    for i in range(3):
        await kinto.put(f"{R}/a{i}", "alice", json={"data": {}})
        await kinto.put(f"{R}/b{i}", "bob", json={"data": {}})
    records = [uri for action, uri in await _uris(kinto) if uri.startswith(R)]
    assert records == [f"{R}/a0", f"{R}/a1", f"{R}/a2", f"{R}/b2"]
    cap = (await kinto.get("/")).json()["capabilities"]["history"]
    assert cap["auto_trim_user_ids"] == ["account:bob"]


def test_history_settings_are_checked() -> None:
    config = parse_config({"history.exclude_user_ids": "account:a account:b"})
    assert config.history_exclude_user_ids == ("account:a", "account:b")
    assert parse_config({}).history_auto_trim_max_count == -1
    with pytest.raises(ConfigurationError, match="is not the URI"):
        parse_config({"history_exclude_resources": ["/buckets/b/records/r"]})
    with pytest.raises(ConfigurationError):
        parse_config({"history.auto_trim_max_count": "many"})
