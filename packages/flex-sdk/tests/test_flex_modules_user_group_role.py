"""The userStore, groupStore and roleStore modules: the exact requests they send (URL, method,
headers with credentials, body)."""

from __future__ import annotations

from typing import Any

from flex_probe import APP, MASTER, USER, B, run, sent
from kinbase_flex.testing import FakeBackend, FlexTestClient


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
