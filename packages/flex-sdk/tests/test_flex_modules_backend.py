# ruff: noqa: E501 - tables of expected requests read better on one line
"""The modules that call back into the backend: the exact requests they send (URL, method, headers
with credentials, body), their options and the circular-request rules (errors: test_flex_modules_errors)."""

from __future__ import annotations

from typing import Any

import pytest

from flex_probe import APP, MASTER, USER, B, run, sent
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


@pytest.mark.parametrize(
    ("object_name", "call", "error", "debug"),
    [
        (
            "things",
            lambda m: m.dataStore({"useBl": True}).collection("things").find(),
            "DataStoreError",
            "Recursive data operations to the same collection cannot use user context or use BL.",
        ),
        (
            "things",
            lambda m: m.dataStore({"useUserContext": True}).collection("things").save({"a": 1}),
            "DataStoreError",
            "Recursive data operations to the same collection cannot use user context or use BL.",
        ),
        (
            "things",
            lambda m: m.dataStore({"useBl": True}).collection("things").save([{"a": 1}] * 101),
            "DataStoreError",
            "Recursive data operations to the same collection cannot use user context or use BL.",
        ),
        (
            "user",
            lambda m: m.userStore({"useBl": True}).find(),
            "UserStoreError",
            "Recursive requests to the user store from the user store cannot use user credentials or use Bl",
        ),
        (
            "user",
            lambda m: m.userStore().getCurrentUser(),
            "UserStoreError",
            "Recursive requests to the user store from the user store cannot use user credentials or use Bl",
        ),
        (
            "group",
            lambda m: m.groupStore({"useUserContext": True}).findById("g"),
            "GroupStoreError",
            "Recursive requests to the group store from the group store cannot use user credentials or use Bl",
        ),
        (
            "roles",
            lambda m: m.roleStore({"useBl": True}).findById("r"),
            "RoleStoreError",
            "Recursive requests to the role store from the role store cannot use user credentials or use BL",
        ),
        (
            "ep",
            lambda m: m.endpointRunner().endpoint("ep").execute(),
            "EndpointRunnerError",
            "Recursive requests to the same endpoint are prohibited.",
        ),
    ],
)
def test_circular_requests_are_refused(
    client: FlexTestClient,
    flex: Any,
    flex_backend: FakeBackend,
    object_name: str,
    call: Any,
    error: str,
    debug: str,
) -> None:
    body = run(
        client,
        flex,
        lambda modules, context: call(modules),
        object_name=object_name,
        hook_type="customEndpoint" if object_name == "ep" else "pre",
    )
    assert body["error"] == {
        "error": error,
        "description": "Not Allowed",
        "debug": debug,
        "type": "ModuleError",
    }
    assert flex_backend.requests == []


def test_circular_with_master_secret_and_no_bl_is_allowed(
    client: FlexTestClient, flex: Any, flex_backend: FakeBackend
) -> None:
    run(
        client,
        flex,
        lambda modules, context: modules.dataStore().collection("things").find(),
        object_name="things",
        hook_type="pre",
    )
    run(
        client, flex, lambda modules, context: modules.userStore().find(), object_name="user", hook_type="pre"
    )
    assert len(flex_backend.requests) == 2


def test_user_store_requests(client: FlexTestClient, flex: Any, flex_backend: FakeBackend) -> None:
    async def calls(modules: Any, context: Any) -> Any:
        users = modules.userStore()
        q = modules.Query().equalTo("firstName", "Ann")
        await users.find(q)
        await users.findById("u1")
        await users.getCurrentUser()
        await users.create({"username": "new"})
        await users.update({"_id": "u1", "x": 1})
        await users.remove("u2")
        await users.suspend("u3")
        await users.restore("u3")
        await users.count()
        await users.assignRole("u1", "r1")
        await users.revokeRole("u1", "r1")
        await users.listRoles("u1")
        await modules.userStore({"apiVersion": 1}).suspend("u4")
        await modules.userStore({"useUserContext": True}).restore("u5")

    run(client, flex, calls)
    u = f"{B}/user/kid_test/"
    assert sent(flex_backend) == [
        ("GET", f"{u}?query=%7B%22firstName%22%3A%22Ann%22%7D", MASTER, "3", "true", None),
        ("GET", f"{u}u1", MASTER, "3", "true", None),
        (
            "GET",
            f"{u}testuser-id",
            USER,
            "3",
            "true",
            None,
        ),  # the reference: always the user's own credentials
        ("POST", u, APP, "3", "true", {"username": "new"}),  # always the app secret
        ("PUT", f"{u}u1", MASTER, "3", "true", {"_id": "u1", "x": 1}),
        ("DELETE", f"{u}u2?hard=true", MASTER, "3", "true", None),
        ("DELETE", f"{u}u3", MASTER, "3", "true", None),
        ("POST", f"{u}u3/_restore", MASTER, "3", "true", None),
        ("GET", f"{u}_count/", MASTER, "3", "true", None),
        ("PUT", f"{u}u1/roles/r1", MASTER, "3", "true", {}),
        ("DELETE", f"{u}u1/roles/r1", MASTER, "3", "true", {}),
        ("GET", f"{u}u1/roles", MASTER, "3", "true", None),
        ("DELETE", f"{u}u4?soft=true", MASTER, "1", "true", None),
        ("POST", f"{u}u5/_restore", MASTER, "3", "true", None),  # restore always uses the master secret
    ]


def test_group_and_role_store_requests(client: FlexTestClient, flex: Any, flex_backend: FakeBackend) -> None:
    async def calls(modules: Any, context: Any) -> Any:
        groups = modules.groupStore()
        await groups.create({"_id": "g1"})
        await groups.update({"_id": "g1", "x": 1})
        await groups.findById("g1")
        await groups.remove("g1")
        await modules.group_store(useUserContext=True).findById("g2")
        roles = modules.roleStore()
        await roles.create({"name": "r"})
        await roles.update({"_id": "r1"})
        await roles.findById("r1")
        await roles.remove("r1")
        await roles.listMembers("r1")

    run(client, flex, calls)
    g, r = f"{B}/group/kid_test/", f"{B}/roles/kid_test/"
    assert sent(flex_backend) == [
        ("POST", g, MASTER, "3", "true", {"_id": "g1"}),
        ("PUT", f"{g}g1", MASTER, "3", "true", {"_id": "g1", "x": 1}),
        ("GET", f"{g}g1", MASTER, "3", "true", None),
        ("DELETE", f"{g}g1", MASTER, "3", "true", None),
        ("GET", f"{g}g2", USER, "3", "true", None),
        ("POST", r, MASTER, "3", "true", {"name": "r"}),
        ("PUT", f"{r}r1", MASTER, "3", "true", {"_id": "r1"}),
        ("GET", f"{r}r1", MASTER, "3", "true", None),
        ("DELETE", f"{r}r1", MASTER, "3", "true", None),
        ("GET", f"{r}r1/membership", MASTER, "3", "true", None),
    ]


@pytest.mark.parametrize(
    ("call", "error", "debug"),
    [
        (lambda m: m.dataStore().collection("c").findById(None), "DataStoreError", "entityId is required"),
        (lambda m: m.dataStore().collection("c").removeById(""), "DataStoreError", "entityId is required"),
        (lambda m: m.dataStore().collection("c").save(None), "DataStoreError", "entity is required"),
        (lambda m: m.userStore().create(None), "UserStoreError", "A user entity must be supplied"),
        (
            lambda m: m.userStore().update({"x": 1}),
            "UserStoreError",
            "A user entity must be supplied containing at least an _id",
        ),
        (lambda m: m.userStore().remove(None), "UserStoreError", "userId is required"),
        (lambda m: m.userStore().assignRole("u1"), "UserStoreError", "roleId is required"),
        (
            lambda m: m.userStore().assignRole(["u1"], "r"),
            "UserStoreError",
            "Bulk role assignment is not currently supported.",
        ),
        (
            lambda m: m.userStore().revokeRole("u", ["r"]),
            "UserStoreError",
            "Bulk role revocation is not currently supported.",
        ),
        (
            lambda m: m.groupStore().update({"x": 1}),
            "GroupStoreError",
            "A group entity must be supplied containing at least an _id",
        ),
        (lambda m: m.groupStore().findById(None), "GroupStoreError", "groupId is required"),
        (lambda m: m.roleStore().listMembers(None), "RoleStoreError", "roleId is required"),
        (
            lambda m: m.email.send("a@x", None, "s", "t"),
            "EmailError",
            "To send an email, you must specify the 'to', 'from', 'subject' and 'body' parameters",
        ),
        (
            lambda m: m.push.sendMessage(None, "m"),
            "PushError",
            "You must specify the 'users' parameter to send a push notification",
        ),
        (
            lambda m: m.push.send({"_id": "u"}),
            "PushError",
            "You must specify the 'message' parameter to send a push notification",
        ),
        (
            lambda m: m.push.broadcast(None),
            "PushError",
            "You must specify the 'message' parameter to send a push notification",
        ),
    ],
)
def test_bad_arguments(
    client: FlexTestClient, flex: Any, flex_backend: FakeBackend, call: Any, error: str, debug: str
) -> None:
    body = run(client, flex, lambda modules, context: call(modules))
    assert body["error"]["error"] == error
    assert body["error"]["debug"] == debug
    assert flex_backend.requests == []


def test_endpoint_runner(client: FlexTestClient, flex: Any, flex_backend: FakeBackend) -> None:
    async def calls(modules: Any, context: Any) -> Any:
        return [
            await modules.endpointRunner().endpoint("other").execute({"a": 1}),
            await modules.endpoint_runner({"useUserContext": True}).endpoint("x").execute(),
        ]

    body = run(client, flex, calls)
    assert body["value"] == [{"a": 1}, {}]
    assert sent(flex_backend) == [
        ("POST", f"{B}/rpc/kid_test/custom/other", MASTER, "3", None, {"a": 1}),
        ("POST", f"{B}/rpc/kid_test/custom/x", USER, "3", None, {}),
    ]


def test_email(client: FlexTestClient, flex: Any, flex_backend: FakeBackend) -> None:
    flex_backend.respond(
        "POST",
        "/rpc/kid_test/send-email",
        reply=lambda r: {"mailServerResponse": "250 OK"} if r.json["html"] else {},
    )

    async def calls(modules: Any, context: Any) -> Any:
        email = modules.email
        return [
            await email.send("app@x.test", "friend@x.test", "Join", "You've been invited"),
            await email.send(
                "app@x.test", "friend@x.test", "Join", "text", None, "<b>html</b>", "cc@x.test", "bcc@x.test"
            ),
        ]

    body = run(client, flex, calls)
    assert body["value"] == [{"success": True}, "250 OK"]
    assert [
        (r.method, r.url, r.headers["authorization"], r.headers["x-kinvey-api-version"], r.json)
        for r in flex_backend.requests
    ] == [
        (
            "POST",
            f"{B}/rpc/kid_test/send-email",
            MASTER,
            "3",
            {
                "from": "app@x.test",
                "to": "friend@x.test",
                "cc": None,
                "bcc": None,
                "subject": "Join",
                "replyTo": None,
                "body": "You've been invited",
                "html": None,
            },
        ),
        (
            "POST",
            f"{B}/rpc/kid_test/send-email",
            MASTER,
            "3",
            {
                "from": "app@x.test",
                "to": "friend@x.test",
                "cc": "cc@x.test",
                "bcc": "bcc@x.test",
                "subject": "Join",
                "replyTo": None,
                "body": "text",
                "html": "<b>html</b>",
            },
        ),
    ]


def test_push(client: FlexTestClient, flex: Any, flex_backend: FakeBackend) -> None:
    async def calls(modules: Any, context: Any) -> Any:
        push = modules.push
        await push.sendMessage({"_id": "u1"}, "hello")
        await push.send([{"_id": "u1"}, {"_id": "u2"}], "hi")
        await push.broadcastMessage("all")
        await push.sendPayload({"_id": "u1"}, {"alert": "a", "badge": 2}, {"from": "k"}, {"message": "m"})
        await push.broadcastPayload({"alert": "b"}, None, {"m": 2})

    run(client, flex, calls)
    p = f"{B}/push/kid_test/"
    assert [
        (r.method, r.url, r.headers["authorization"], r.headers["x-kinvey-api-version"], r.json)
        for r in flex_backend.requests
    ] == [
        ("POST", f"{p}sendMessage", MASTER, "3", {"recipients": [{"_id": "u1"}], "messageContent": "hello"}),
        (
            "POST",
            f"{p}sendMessage",
            MASTER,
            "3",
            {"recipients": [{"_id": "u1"}, {"_id": "u2"}], "messageContent": "hi"},
        ),
        ("POST", f"{p}sendBroadcast", MASTER, "3", {"messageContent": "all"}),
        (
            "POST",
            f"{p}sendMessage",
            MASTER,
            "3",
            {
                "recipients": [{"_id": "u1"}],
                "messageContent": {
                    "iOSAps": {"alert": "a", "badge": 2},
                    "iOSExtras": {"from": "k"},
                    "androidPayload": {"message": "m"},
                },
            },
        ),
        (
            "POST",
            f"{p}sendBroadcast",
            MASTER,
            "3",
            {"messageContent": {"iOSAps": {"alert": "b"}, "iOSExtras": None, "androidPayload": {"m": 2}}},
        ),
    ]
