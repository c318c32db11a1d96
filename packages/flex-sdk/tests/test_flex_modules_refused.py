# ruff: noqa: E501 - tables of refused calls read better on one line
"""The calls the modules refuse before sending anything to the backend: circular requests (a handler
calling back into its own collection, store or endpoint with user context or business logic; with
the master secret and no business logic it may) and missing or bad arguments."""

from __future__ import annotations

from typing import Any

import pytest

from flex_probe import run
from kinbase_flex.testing import FakeBackend, FlexTestClient


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
