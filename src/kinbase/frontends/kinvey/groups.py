"""``/group/:appKey[/:id]`` (user groups) and ``/roles/:appKey[/:id]`` (roles, master secret)."""

from __future__ import annotations

from starlette.responses import Response

from kinbase.frontends.kinvey import render
from kinbase.frontends.kinvey.auth import AuthKind
from kinbase.frontends.kinvey.endpoint import KinveyCall, endpoint

__all__ = [
    "group_delete",
    "group_get",
    "group_post",
    "group_put",
    "role_delete",
    "role_get",
    "role_members",
    "role_post",
    "role_put",
    "roles_get",
]

SESSION_OR_MASTER: tuple[AuthKind, ...] = ("user", "master")


@endpoint(accepts=SESSION_OR_MASTER)
async def group_post(call: KinveyCall) -> Response:
    stored, _ = await call.kinvey.groups.save(call.app, call.caller, None, await call.json_body())
    return render.entity(stored.data, 201, call.url("group", call.app.key, stored.id))


@endpoint(accepts=SESSION_OR_MASTER)
async def group_put(call: KinveyCall) -> Response:
    group_id: str = call.path_params["group_id"]
    stored, created = await call.kinvey.groups.save(call.app, call.caller, group_id, await call.json_body())
    return render.created_or_ok(stored.data, created, call.url("group", call.app.key, group_id))


@endpoint(accepts=SESSION_OR_MASTER)
async def group_get(call: KinveyCall) -> Response:
    return render.entity(await call.kinvey.groups.get(call.app, call.caller, call.path_params["group_id"]))


@endpoint(accepts=SESSION_OR_MASTER)
async def group_delete(call: KinveyCall) -> Response:
    await call.kinvey.groups.delete(call.app, call.caller, call.path_params["group_id"])
    return render.value({"count": 1})


@endpoint(accepts=SESSION_OR_MASTER)
async def role_post(call: KinveyCall) -> Response:
    stored, _ = await call.kinvey.roles.save(call.app, call.caller, None, await call.json_body())
    return render.entity(stored.data, 201, call.url("roles", call.app.key, stored.id))


@endpoint(accepts=SESSION_OR_MASTER)
async def role_put(call: KinveyCall) -> Response:
    role_id: str = call.path_params["role_id"]
    stored, created = await call.kinvey.roles.save(call.app, call.caller, role_id, await call.json_body())
    return render.created_or_ok(stored.data, created, call.url("roles", call.app.key, role_id))


@endpoint(accepts=SESSION_OR_MASTER)
async def roles_get(call: KinveyCall) -> Response:
    return render.texts(await call.kinvey.roles.get(call.app, call.caller, None))


@endpoint(accepts=SESSION_OR_MASTER)
async def role_get(call: KinveyCall) -> Response:
    found = await call.kinvey.roles.get(call.app, call.caller, call.path_params["role_id"])
    return render.entity(found[0])


@endpoint(accepts=SESSION_OR_MASTER)
async def role_delete(call: KinveyCall) -> Response:
    await call.kinvey.roles.delete(call.app, call.caller, call.path_params["role_id"])
    return render.value({"count": 1})


@endpoint(accepts=SESSION_OR_MASTER)
async def role_members(call: KinveyCall) -> Response:
    members = await call.kinvey.roles.members(call.app, call.caller, call.path_params["role_id"], None)
    return render.value([{k: v for k, v in m.items() if k != "roleId"} for m in members])
