"""The dataStore module: the exact requests it sends (URL, method, headers with credentials, body),
in batches, and the options every module that calls the backend shares: useUserContext/useBl,
apiVersion, and the backend's URL. The other modules: test_flex_modules_user_group_role and
test_flex_modules_endpoint_email_push; refused calls: test_flex_modules_refused; backend errors:
test_flex_modules_errors."""

from __future__ import annotations

from typing import Any

import pytest

from flex_probe import MASTER, USER, B, run, sent
from kinbase_flex.testing import FakeBackend, FlexTestClient


def test_data_store_requests(client: FlexTestClient, flex: Any, flex_backend: FakeBackend) -> None:
    async def calls(modules: Any, context: Any) -> Any:
        things = modules.dataStore().collection("things")
        q = modules.Query().equalTo("color", "blue")
        q.limit = 2
        return [
            await things.find(q),
            await things.find(),
            await things.findById("t1"),
            await things.save({"name": "n"}),
            await things.save({"_id": "t2", "name": "m"}),
            await things.save([{"a": 1}]),
            await things.removeById("t3"),
            await things.remove(q),
            await things.count(),
            await things.count({"color": "red"}),
        ]

    body = run(client, flex, calls)
    assert body["value"] == [
        [],
        [],
        [],
        {"name": "n"},
        {"_id": "t2", "name": "m"},
        [{"a": 1}],
        {"count": 1},
        {"count": 1},
        {"count": 0},
        {"count": 0},
    ]
    c = f"{B}/appdata/kid_test/things/"
    assert sent(flex_backend) == [
        ("GET", f"{c}?query=%7B%22color%22%3A%22blue%22%7D&limit=2", MASTER, "3", "true", None),
        ("GET", c, MASTER, "3", "true", None),
        ("GET", f"{c}t1", MASTER, "3", "true", None),
        ("POST", c, MASTER, "3", "true", {"name": "n"}),
        ("PUT", f"{c}t2", MASTER, "3", "true", {"_id": "t2", "name": "m"}),
        ("POST", c, MASTER, "3", "true", [{"a": 1}]),
        ("DELETE", f"{c}t3", MASTER, "3", "true", None),
        ("DELETE", f"{c}?query=%7B%22color%22%3A%22blue%22%7D&limit=2", MASTER, "3", "true", None),
        ("GET", f"{c}_count/", MASTER, "3", "true", None),
        ("GET", f"{c}_count/?query=%7B%22color%22%3A%22red%22%7D", MASTER, "3", "true", None),
    ]
    first = flex_backend.requests[0]
    assert first.headers["content-type"] == "application/json"
    assert first.params == {"query": '{"color":"blue"}', "limit": "2"}


def test_save_in_batches_of_100(client: FlexTestClient, flex: Any, flex_backend: FakeBackend) -> None:
    def reply(request: Any) -> Any:
        batch = request.json
        return {
            "entities": [dict(e, _id=str(e["n"])) for e in batch[:-1]] + [None],
            "errors": [{"index": len(batch) - 1, "code": 1, "errmsg": "dup"}],
        }

    flex_backend.respond("POST", "/appdata/kid_test/things/", reply=reply)
    body = run(
        client,
        flex,
        lambda modules, context: (
            modules.dataStore().collection("things").save([{"n": n} for n in range(150)])
        ),
    )
    assert [len(r.json) for r in flex_backend.requests] == [100, 50]
    assert len(body["value"]["entities"]) == 150
    assert body["value"]["errors"] == [
        {"index": 99, "code": 1, "errmsg": "dup"},
        {"index": 149, "code": 1, "errmsg": "dup"},
    ]


@pytest.mark.parametrize(
    ("options", "auth", "skip"),
    [
        ({}, MASTER, "true"),
        ({"useUserContext": True}, USER, "true"),
        ({"use_user_context": True, "use_bl": True}, USER, None),
        ({"useBl": True}, MASTER, None),
        ({"useMasterSecret": False}, USER, "true"),  # deprecated spelling, as the reference documents it
        ({"useMasterSecret": True}, MASTER, "true"),
        ({"skipBl": False}, MASTER, None),
        ({"skipBl": True, "useBl": True}, MASTER, None),  # the new option wins
    ],
)
def test_store_options(
    client: FlexTestClient,
    flex: Any,
    flex_backend: FakeBackend,
    options: dict[str, Any],
    auth: str,
    skip: str | None,
) -> None:
    run(client, flex, lambda modules, context: modules.dataStore(options).collection("other").findById("x"))
    assert sent(flex_backend) == [("GET", f"{B}/appdata/kid_test/other/x", auth, "3", skip, None)]


def test_api_version(client: FlexTestClient, flex: Any, flex_backend: FakeBackend) -> None:
    def find(modules: Any, context: Any) -> Any:
        return modules.dataStore(context.body.get("options") or {}).collection("c").findById("x")

    run(client, flex, find)
    run(client, flex, find, original_headers={"authorization": USER, "x-kinvey-api-version": "6"})
    run(client, flex, find, hook_type="post", response={"headers": {"x-kinvey-api-version": "5"}, "body": {}})

    async def option(modules: Any, context: Any) -> Any:
        return await modules.data_store(apiVersion=4).collection("c").findById("x")

    run(client, flex, option)
    assert [r.headers["x-kinvey-api-version"] for r in flex_backend.requests] == ["3", "6", "5", "4"]


def test_baas_url_falls_back_to_the_original_host(
    client: FlexTestClient, flex: Any, flex_backend: FakeBackend
) -> None:
    flex_backend.base_url = "https://baas.example"
    run(
        client,
        flex,
        lambda modules, context: modules.dataStore().collection("c").find(),
        app_metadata={"_id": "kid_test", "mastersecret": "test-master-secret"},
        original_headers={"host": "baas.example", "authorization": USER},
    )
    assert flex_backend.requests[0].url == "https://baas.example/appdata/kid_test/c/"
    body = run(
        client,
        flex,
        lambda modules, context: modules.dataStore().collection("c").find(),
        app_metadata={"_id": "kid_test"},
        original_headers={},
    )
    assert body["error"]["error"] == "DataStoreError"
    assert body["error"]["debug"] == "No baasUrl: X-Kinvey-App-Metadata must carry the backend's baasUrl"
