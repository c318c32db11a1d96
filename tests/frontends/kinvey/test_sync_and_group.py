"""Delta set, X-Kinvey-Request-Start and _group aggregation through HTTP, on every engine."""

from __future__ import annotations

import orjson
import pytest

from .conftest import Kinvey, error_of

pytestmark = pytest.mark.anyio


async def test_deltaset(kv: Kinvey) -> None:
    ann = await kv.user()
    r = await kv.get("/appdata/{k}/tasks/_deltaset", ann, params={"since": "2020-01-01T00:00:00.000Z"})
    assert r.status_code == 403 and error_of(r) == "MissingConfiguration"
    r = await kv.put(
        "/appdata/{k}/tasks/_settings", json={"deltaSet": {"enabled": True, "deletedTtlDays": 7}}
    )
    assert r.json()["deltaSet"] == {"enabled": True, "deletedTtlDays": 7}
    a = (await kv.post("/appdata/{k}/tasks", ann, json={"n": 1})).json()
    b = (await kv.post("/appdata/{k}/tasks", ann, json={"n": 2})).json()
    first = await kv.get("/appdata/{k}/tasks", ann)
    since = first.headers["x-kinvey-request-start"]
    r = await kv.get("/appdata/{k}/tasks/_deltaset", ann, params={"since": since})
    assert r.status_code == 200 and r.json() == {"changed": [], "deleted": []}
    await kv.put(f"/appdata/{{k}}/tasks/{a['_id']}", ann, json={"n": 10})
    await kv.delete(f"/appdata/{{k}}/tasks/{b['_id']}", ann)
    c = (await kv.post("/appdata/{k}/tasks", json={"n": 3, "_acl": {"gr": False}})).json()
    r = await kv.get("/appdata/{k}/tasks/_deltaset", ann, params={"since": since})
    body = r.json()
    assert [e["n"] for e in body["changed"]] == [10]
    assert sorted(d["_id"] for d in body["deleted"]) == sorted([b["_id"], c["_id"]])
    next_since = r.headers["x-kinvey-request-start"]
    assert next_since >= since
    r = await kv.get("/appdata/{k}/tasks/_deltaset", ann, params={"since": next_since})
    assert r.json() == {"changed": [], "deleted": []}
    r = await kv.get("/appdata/{k}/tasks/_deltaset", ann)
    assert r.status_code == 400 and error_of(r) == "MissingRequestParameter"
    r = await kv.get("/appdata/{k}/tasks/_deltaset", ann, params={"since": "2001-01-01T00:00:00.000Z"})
    assert r.status_code == 400 and error_of(r) == "ParameterValueOutOfRange"
    r = await kv.get("/appdata/{k}/tasks/_deltaset", ann, params={"since": "yesterday"})
    assert r.status_code == 400 and error_of(r) == "ParameterValueOutOfRange"
    await kv.put("/appdata/{k}/tasks/_settings", json={"deltaSet": {"enabled": False}})
    r = await kv.get("/appdata/{k}/tasks/_deltaset", ann, params={"since": next_since})
    assert r.status_code == 403 and error_of(r) == "MissingConfiguration"


async def test_request_start_is_before_unseen_writes(kv: Kinvey) -> None:
    """A delta from the Request-Start of a read holds every write the read did not see."""
    await kv.put("/appdata/{k}/s/_settings", json={"deltaSet": {"enabled": True}})
    seen: set[str] = set()
    since = (await kv.get("/appdata/{k}/s")).headers["x-kinvey-request-start"]
    for n in range(20):
        await kv.post("/appdata/{k}/s", json={"n": n})
        r = await kv.get("/appdata/{k}/s/_deltaset", params={"since": since})
        seen.update(e["_id"] for e in r.json()["changed"])
        since = r.headers["x-kinvey-request-start"]
    assert len(seen) == 20


async def test_group(kv: Kinvey) -> None:
    ann, bob = await kv.user(), await kv.user()
    rows = [("Bond", 40), ("Jones", 35), ("Jones", 50), ("Bond", 20), ("Jones", 60)]
    for name, age in rows:
        await kv.post("/appdata/{k}/people", ann, json={"lastName": name, "age": age})
    await kv.post("/appdata/{k}/people", bob, json={"lastName": "Hidden", "age": 1, "_acl": {"gr": False}})
    count = {"key": {"lastName": True}, "initial": {"count": 0}, "reduce": "function(doc,out){ out.count++;}"}
    r = await kv.post("/appdata/{k}/people/_group", ann, json=count)
    assert r.status_code == 200, r.text
    assert sorted((g["lastName"], g["count"]) for g in r.json()) == [("Bond", 2), ("Jones", 3)]
    fns = {
        "sum": ('function(doc, out) { out.sum += doc["age"]; return out; }', {"sum": 0}, [60, 145]),
        "min": (
            'function(doc, out) { out.min = Math.min(out.min, doc["age"]); return out; }',
            {"min": None},
            [20, 35],
        ),
        "max": (
            "function(doc, out) { out.max = Math.max(out.max, doc.age); return out; }",
            {"max": None},
            [40, 60],
        ),
    }
    for name, (fn, initial, expected) in fns.items():
        body = {"key": {"lastName": True}, "initial": initial, "reduce": fn}
        r = await kv.post("/appdata/{k}/people/_group", ann, json=body)
        assert [g[name] for g in sorted(r.json(), key=lambda g: g["lastName"])] == expected, name
    avg = (
        "function(doc, out) { out.count += 1; out.average = out.average + "
        '((doc["age"] - out.average) / out.count); return out; }'
    )
    body = {"key": {}, "initial": {"count": 0, "average": 0}, "reduce": avg}
    r = await kv.post("/appdata/{k}/people/_group", ann, json=body)
    assert r.json() == [{"count": 5, "average": 41.0}]
    custom = "function(doc, out) { out.names = (out.names || '') + doc.lastName[0]; }"
    body = {"key": {"lastName": True}, "initial": {}, "reduce": custom}
    r = await kv.post("/appdata/{k}/people/_group", bob, json=body)
    assert sorted(g["names"] for g in r.json()) == ["BB", "H", "JJJ"]


async def test_group_counts_by_the_database_as_the_reduce_function_does(kv: Kinvey) -> None:
    """The SDKs' count reducer is counted by the database (``Reader.count_by``); a reduce function
    that counts the same way but is not that shape runs on the entities in JavaScript. Both answer
    the same groups, values and order, whatever the key values are (missing, null, booleans,
    numbers written with and without a fraction, strings needing escapes, objects, arrays, a
    nested path through a non-object), and neither counts what the caller may not read."""
    ann, bob = await kv.user(), await kv.user()
    values: list[object] = [1, 1.0, 0, "é", 'a"b\\c', None, True, False, {"x": 1, "a": [2]}, [1, 2], "1", 2.5]
    for i in range(36):
        doc: dict[str, object] = {"o": values[(i * 5) % len(values)], "t": i % 3}
        if i % 7 != 3:
            doc["v"] = values[i % len(values)]
        await kv.post("/appdata/{k}/mixed", ann, json=doc)
    await kv.post("/appdata/{k}/mixed", bob, json={"v": "hidden", "t": 0, "_acl": {"gr": False}})
    sdk = "function(doc, out) { out.count++; }"
    javascript = "function(doc, out) { out.count = 1 + out.count; }"
    for key, condition in (
        ({"v": True}, None),
        ({"v": True, "t": True}, {"t": {"$gte": 1}}),
        ({"o.x": True}, None),
        ({"o.a": True, "missing.path": True}, {"v": {"$exists": True}}),
        ({}, {"t": 2}),
        ({}, {"t": 99}),
    ):
        answers = []
        for reduce in (sdk, javascript):
            body = {
                "key": key,
                "initial": {"count": 10, "other": "kept"},
                "reduce": reduce,
                "condition": condition,
            }
            r = await kv.post("/appdata/{k}/mixed/_group", ann, json=body)
            assert r.status_code == 200, r.text
            answers.append(r.json())
        assert answers[0] == answers[1], key
        assert sum(g["count"] - 10 for g in answers[0]) == len(
            (
                await kv.get(
                    "/appdata/{k}/mixed", ann, params={"query": orjson.dumps(condition or {}).decode()}
                )
            ).json()
        )
        assert all(g["other"] == "kept" for g in answers[0])
    by_v = {"key": {"v": True}, "initial": {"count": 0}, "reduce": sdk}
    seen = {
        orjson.dumps(g["v"]): g["count"]
        for g in (await kv.post("/appdata/{k}/mixed/_group", ann, json=by_v)).json()
    }
    assert b'"hidden"' not in seen
    seen_by_bob = (await kv.post("/appdata/{k}/mixed/_group", bob, json=by_v)).json()
    assert {orjson.dumps(g["v"]): g["count"] for g in seen_by_bob} == {**seen, b'"hidden"': 1}


async def test_group_errors_change_nothing(kv: Kinvey) -> None:
    await kv.post("/appdata/{k}/g", json={"a": 1})
    cases = [
        ("function(doc, out) { while (true) {} }", "BLTimeoutError", 550),
        ("function(doc, out) { throw new Error('boom'); }", "BLRuntimeError", 400),
        ("function(doc, out) { out.x = ; }", "BLRuntimeError", 400),
        (
            "function(doc, out) { var a = []; while (true) { a.push(new Array(100000)); } }",
            "BLViolationError",
            550,
        ),
    ]
    for reduce, error, status in cases:
        r = await kv.post("/appdata/{k}/g/_group", json={"key": {}, "initial": {}, "reduce": reduce})
        assert r.status_code == status and error_of(r) == error, (reduce, r.text)
    r = await kv.post("/appdata/{k}/g/_group", json={"key": [], "reduce": "x"})
    assert r.status_code == 400 and error_of(r) == "BadRequest"
    r = await kv.post("/appdata/{k}/g/_group", json={"key": {}, "reduce": "f", "condition": {"$where": "x"}})
    assert r.status_code == 400 and error_of(r) == "InvalidQuerySyntax"
    assert (await kv.get("/appdata/{k}/g")).json()[0]["a"] == 1
