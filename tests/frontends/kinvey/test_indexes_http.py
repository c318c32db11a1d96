"""Indexes declared through the ``_settings`` API: built on a live collection, used by the
queries (same answers), dropped with ``[]``; bad declarations are Kinvey ``BadRequest``."""

from __future__ import annotations

import json

import pytest

from .conftest import Kinvey, error_of

pytestmark = pytest.mark.anyio


async def test_settings_declare_use_and_drop_indexes(kv: Kinvey) -> None:
    ann = await kv.user()
    for i in range(40):
        body = {"status": ["todo", "done"][i % 2], "n": i, "owner": {"id": f"u{i % 3}"}}
        assert (await kv.post("/appdata/{k}/items", ann, json=body)).status_code == 201
    query = {"query": json.dumps({"status": "todo"}), "sort": json.dumps({"n": -1}), "limit": "5"}
    before = (await kv.get("/appdata/{k}/items", ann, params=query)).json()
    assert [e["n"] for e in before] == [38, 36, 34, 32, 30]

    r = await kv.put("/appdata/{k}/items/_settings", json={"indexes": [["status", "n"], ["owner.id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["indexes"] == [["status", "n"], ["owner.id"]]
    assert (await kv.get("/appdata/{k}/items/_settings")).json()["indexes"] == [["status", "n"], ["owner.id"]]
    assert (await kv.get("/appdata/{k}/items", ann, params=query)).json() == before
    owned = {"query": json.dumps({"owner.id": "u1"})}
    assert len((await kv.get("/appdata/{k}/items", ann, params=owned)).json()) == 13

    r = await kv.put("/appdata/{k}/items/_settings", json={"indexes": [], "autoIndex": False})
    assert r.status_code == 200 and r.json()["indexes"] == [] and r.json()["autoIndex"] is False
    assert (await kv.get("/appdata/{k}/items", ann, params=query)).json() == before


async def test_settings_refuse_bad_index_declarations(kv: Kinvey) -> None:
    for body in (
        {"indexes": "status"},
        {"indexes": [[]]},
        {"indexes": [["status", 3]]},
        {"indexes": [["a..b"]]},
        {"autoIndex": "yes"},
    ):
        r = await kv.put("/appdata/{k}/items/_settings", json=body)
        assert r.status_code == 400 and error_of(r) == "BadRequest", (body, r.text)
