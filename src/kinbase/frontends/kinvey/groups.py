"""``/group/:appKey[/:id]`` (user groups) and ``/roles/:appKey[/:id]`` (roles, master secret)."""

from __future__ import annotations

from kinbase.frontends.kinvey import render
from kinbase.frontends.kinvey.call import KinveyCall
from kinbase.http.response import HttpResponse

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


async def group_post(call: KinveyCall) -> HttpResponse:
    stored, _ = await call.kinvey.groups.save(call.app, call.caller, None, await call.json_body())
    return render.entity(stored.data, 201, call.url("group", call.app.key, stored.id))


async def group_put(call: KinveyCall) -> HttpResponse:
    group_id: str = call.params["group_id"]
    stored, created = await call.kinvey.groups.save(call.app, call.caller, group_id, await call.json_body())
    return render.created_or_ok(stored.data, created, call.url("group", call.app.key, group_id))


async def group_get(call: KinveyCall) -> HttpResponse:
    return render.entity(await call.kinvey.groups.get(call.app, call.caller, call.params["group_id"]))


async def group_delete(call: KinveyCall) -> HttpResponse:
    await call.kinvey.groups.delete(call.app, call.caller, call.params["group_id"])
    return render.value({"count": 1})


async def role_post(call: KinveyCall) -> HttpResponse:
    stored, _ = await call.kinvey.roles.save(call.app, call.caller, None, await call.json_body())
    return render.entity(stored.data, 201, call.url("roles", call.app.key, stored.id))


async def role_put(call: KinveyCall) -> HttpResponse:
    role_id: str = call.params["role_id"]
    stored, created = await call.kinvey.roles.save(call.app, call.caller, role_id, await call.json_body())
    return render.created_or_ok(stored.data, created, call.url("roles", call.app.key, role_id))


async def roles_get(call: KinveyCall) -> HttpResponse:
    return render.texts(await call.kinvey.roles.get(call.app, call.caller, None))


async def role_get(call: KinveyCall) -> HttpResponse:
    found = await call.kinvey.roles.get(call.app, call.caller, call.params["role_id"])
    return render.entity(found[0])


async def role_delete(call: KinveyCall) -> HttpResponse:
    await call.kinvey.roles.delete(call.app, call.caller, call.params["role_id"])
    return render.value({"count": 1})


async def role_members(call: KinveyCall) -> HttpResponse:
    members = await call.kinvey.roles.members(call.app, call.caller, call.params["role_id"], None)
    return render.value([{k: v for k, v in m.items() if k != "roleId"} for m in members])
