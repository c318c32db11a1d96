"""User groups and roles.

Groups (``/group``) are entities of the parent ``kinvey.groups`` with the shape the SDKs use::

    {"_id": "g", "users": {"all": false, "list": [{"_type": "KinveyRef", "_collection": "user",
     "_id": "<user>"}]}, "groups": [{"_type": "KinveyRef", "_collection": "group", "_id": "<g2>"}]}

They follow the same ``_acl`` rules as any entity. Roles (``/roles``, master secret only) are
entities of ``kinvey.roles``; the assignment of a role to a user is an object of
``kinvey.role_members``. Every change drops this worker's membership snapshot at once (other
workers re-validate by stamp, see :mod:`kinbase.core.kinvey.membership`).
"""

from __future__ import annotations

from typing import Any

import orjson

from kinbase.core.ids import object_id
from kinbase.core.kinvey.access import Caller, CollectionPolicy, check_access, refuse
from kinbase.core.kinvey.entities import build_entity, check_entity_id
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.membership import GROUPS, ROLE_MEMBERS, MembershipService
from kinbase.core.kinvey.users import USERS
from kinbase.core.kinvey.wire import iso_of
from kinbase.query.ast import Query
from kinbase.storage.base import AppRecord, NewVersion, StorageBackend, StoredObject
from kinbase.storage.stamps import now_ms
from kinbase.types import Document

__all__ = ["ROLES", "GroupService", "RoleService"]

ROLES = "kinvey.roles"


def _ref_ids(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise KinveyError("BadRequest", f"{where} must be an array of references.")
    ids: list[str] = []
    for item in value:
        if isinstance(item, str):
            ids.append(item)
        elif isinstance(item, dict) and isinstance(item.get("_id"), str):
            ids.append(item["_id"])
        else:
            raise KinveyError("BadRequest", f"{where} holds something that is not a reference.")
    return list(dict.fromkeys(ids))


def _group_body(body: Any) -> Document:
    if not isinstance(body, dict):
        raise KinveyError("BadRequest", "The request body must be a JSON object.")
    doc = dict(body)
    users = doc.get("users") or {}
    if not isinstance(users, dict):
        raise KinveyError("BadRequest", "users must be an object {all, list}.")
    all_users = users.get("all", False)
    if not isinstance(all_users, bool):
        raise KinveyError("BadRequest", "users.all must be true or false.")
    doc["users"] = {
        **{k: v for k, v in users.items() if k not in ("all", "list")},
        "all": all_users,
        "list": [
            {"_type": "KinveyRef", "_collection": "user", "_id": i}
            for i in _ref_ids(users.get("list"), "users.list")
        ],
    }
    doc["groups"] = [
        {"_type": "KinveyRef", "_collection": "group", "_id": i}
        for i in _ref_ids(doc.get("groups"), "groups")
    ]
    return doc


class GroupService:
    def __init__(self, storage: StorageBackend, membership: MembershipService) -> None:
        self._storage = storage
        self._membership = membership

    async def save(
        self, app: AppRecord, caller: Caller, group_id: str | None, body: Any
    ) -> tuple[StoredObject, bool]:
        """Create (POST, ``group_id`` None) or replace (PUT) a group. Returns (group, created).

        Raises:
            KinveyError: BadRequest, InvalidIdentifier, InsufficientCredentials, EntityAlreadyExists.
        """
        doc = _group_body(body)
        if group_id is None:
            group_id = check_entity_id(doc["_id"]) if "_id" in doc else object_id()
            creating = True
        else:
            check_entity_id(group_id)
            creating = False
        async with self._storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, GROUPS, "")
            policy = CollectionPolicy.of(parent.settings)
            current = await writer.get_object_for_update(parent, group_id)
            if current is not None:
                if creating:
                    raise KinveyError("EntityAlreadyExists", f"The group {group_id!r} already exists.")
                await check_access(writer, caller, current, "update")
            result = await writer.put(parent, group_id, build_entity(doc, group_id, caller, policy, app))
        await self._membership.changed(app.id)
        return result.object, result.created

    async def get(self, app: AppRecord, caller: Caller, group_id: str) -> str:
        async with self._storage.reader() as reader:
            parent = await reader.get_parent(app.id, GROUPS, "")
            found = await reader.get_object(parent, group_id) if parent is not None else None
            if found is None:
                raise KinveyError("EntityNotFound", f"No group {group_id!r}.")
            await check_access(reader, caller, found, "read")
        return found.data

    async def delete(self, app: AppRecord, caller: Caller, group_id: str) -> None:
        async with self._storage.writer() as writer:
            parent = await writer.get_parent(app.id, GROUPS, "")
            found = await writer.get_object_for_update(parent, group_id) if parent is not None else None
            if parent is None or found is None:
                raise KinveyError("EntityNotFound", f"No group {group_id!r}.")
            await check_access(writer, caller, found, "delete")
            await writer.delete(parent, group_id)
        await self._membership.changed(app.id)


def _member_id(user_id: str, role_id: str) -> str:
    return orjson.dumps([user_id, role_id]).decode()


class RoleService:
    """Roles and their assignment to users (master secret only)."""

    def __init__(self, storage: StorageBackend, membership: MembershipService) -> None:
        self._storage = storage
        self._membership = membership

    @staticmethod
    def _master(caller: Caller) -> None:
        if not caller.is_master:
            raise refuse("Roles are managed with the master secret.")

    async def save(
        self, app: AppRecord, caller: Caller, role_id: str | None, body: Any
    ) -> tuple[StoredObject, bool]:
        self._master(caller)
        if not isinstance(body, dict):
            raise KinveyError("BadRequest", "The request body must be a JSON object.")
        if not isinstance(body.get("name", ""), str):
            raise KinveyError("BadRequest", "name must be a string.")
        creating = role_id is None
        role_id = check_entity_id(body.get("_id", role_id or object_id()))
        async with self._storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, ROLES, "")
            if creating and await writer.get_object_for_update(parent, role_id) is not None:
                raise KinveyError("EntityAlreadyExists", f"The role {role_id!r} already exists.")
            result = await writer.put(
                parent, role_id, build_entity(body, role_id, caller, CollectionPolicy("private"), app)
            )
        return result.object, result.created

    async def get(self, app: AppRecord, caller: Caller, role_id: str | None) -> list[str]:
        self._master(caller)
        async with self._storage.reader() as reader:
            parent = await reader.get_parent(app.id, ROLES, "")
            if parent is None:
                found: list[StoredObject] = []
            elif role_id is None:
                found = await reader.find(parent, Query())
            else:
                one = await reader.get_object(parent, role_id)
                found = [one] if one is not None else []
        if role_id is not None and not found:
            raise KinveyError("EntityNotFound", f"No role {role_id!r}.")
        return [o.data for o in found]

    async def delete(self, app: AppRecord, caller: Caller, role_id: str) -> None:
        self._master(caller)
        async with self._storage.writer() as writer:
            parent = await writer.get_parent(app.id, ROLES, "")
            if parent is None or await writer.delete(parent, role_id) is None:
                raise KinveyError("EntityNotFound", f"No role {role_id!r}.")
            members = await writer.get_parent(app.id, ROLE_MEMBERS, "")
            if members is not None:
                for obj in await writer.find(members, Query()):
                    if orjson.loads(obj.data).get("roleId") == role_id:
                        await writer.delete(members, obj.id)
        await self._membership.changed(app.id)

    async def members(
        self, app: AppRecord, caller: Caller, role_id: str | None, user_id: str | None
    ) -> list[Any]:
        """Assignments of one role (``role_id``) or of one user (``user_id``)."""
        self._master(caller)
        async with self._storage.reader() as reader:
            parent = await reader.get_parent(app.id, ROLE_MEMBERS, "")
            found = await reader.find(parent, Query()) if parent is not None else []
        out = []
        for obj in found:
            doc = orjson.loads(obj.data)
            if (role_id is None or doc["roleId"] == role_id) and (
                user_id is None or doc["userId"] == user_id
            ):
                out.append(doc)
        return out

    async def assign(self, app: AppRecord, caller: Caller, user_id: str, role_id: str, grant: bool) -> None:
        """Give (``grant``) or take a role from a user.

        Raises:
            KinveyError: UserNotFound, EntityNotFound (no such role).
        """
        self._master(caller)
        async with self._storage.writer() as writer:
            users = await writer.get_parent(app.id, USERS, "")
            if users is None or await writer.get_object(users, user_id) is None:
                raise KinveyError("UserNotFound", f"No user {user_id!r}.")
            roles = await writer.get_parent(app.id, ROLES, "")
            if roles is None or await writer.get_object(roles, role_id) is None:
                raise KinveyError("EntityNotFound", f"No role {role_id!r}.")
            members = await writer.ensure_parent(app.id, ROLE_MEMBERS, "")
            key = _member_id(user_id, role_id)
            if grant:
                data: dict[str, Any] = {
                    "userId": user_id,
                    "roleId": role_id,
                    "grantedBy": "master",
                    "grantDate": iso_of(now_ms()),
                }
                await writer.put(members, key, lambda ctx: NewVersion(data))
            else:
                await writer.delete(members, key)
        await self._membership.changed(app.id)
