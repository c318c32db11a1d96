"""``modules.groupStore``: create, update, find and remove user groups (``/group/<appKey>``)."""

from __future__ import annotations

from typing import Any

from kinbase_flex._calls import Pending
from kinbase_flex.modules._store import BaseStore, split_callback

__all__ = ["GroupStore", "RoleStore"]


class _EntityStore(BaseStore):
    """``create``, ``update``, ``findById`` and ``remove`` on ``/<route>/<appKey>/``."""

    NOUN = "entity"
    ID_NAME = "id"
    CIRCULAR_OBJECT = ""
    CIRCULAR_DEBUG = ""

    def _circular(self) -> str | None:
        if self._env.object_name == self.CIRCULAR_OBJECT and (
            self._options.use_bl or self._options.use_user_context
        ):
            return self.CIRCULAR_DEBUG
        return None

    def _call(self, method: str, suffix: str, callback: Any, **kwargs: Any) -> Pending[Any]:
        return self._send(method, self._url(None, suffix), callback, refuse=self._circular, **kwargs)

    def create(self, entity: Any, callback: Any = None) -> Pending[Any]:
        entity, callback = split_callback(entity, callback)
        if not entity:
            return self._fail("Bad Request", f"A {self.NOUN} entity must be supplied", callback)
        return self._call("POST", "", callback, body=entity)

    def update(self, entity: Any, callback: Any = None) -> Pending[Any]:
        entity, callback = split_callback(entity, callback)
        if not entity:
            return self._fail("Bad Request", f"A {self.NOUN} entity must be supplied", callback)
        if not isinstance(entity, dict) or not entity.get("_id"):
            return self._fail(
                "Bad Request", f"A {self.NOUN} entity must be supplied containing at least an _id", callback
            )
        return self._call("PUT", str(entity["_id"]), callback, body=entity)

    def findById(self, entity_id: Any, callback: Any = None) -> Pending[Any]:
        entity_id, callback = split_callback(entity_id, callback)
        if not entity_id:
            return self._fail("Bad Request", f"{self.ID_NAME} is required", callback)
        return self._call("GET", str(entity_id), callback)

    def remove(self, entity_id: Any, callback: Any = None) -> Pending[Any]:
        entity_id, callback = split_callback(entity_id, callback)
        if not entity_id:
            return self._fail("Bad Request", f"{self.ID_NAME} is required", callback)
        return self._call("DELETE", str(entity_id), callback)

    find_by_id = findById


class GroupStore(_EntityStore):
    """Groups; master secret by default, ``useUserContext`` for the user's credentials."""

    ROUTE = "group"
    ERROR = "GroupStoreError"
    NOUN = "group"
    ID_NAME = "groupId"
    CIRCULAR_OBJECT = "group"
    CIRCULAR_DEBUG = (
        "Recursive requests to the group store from the group store cannot use user credentials or use Bl"
    )


class RoleStore(_EntityStore):
    """Roles (``/roles/<appKey>``), plus ``listMembers``."""

    ROUTE = "roles"
    ERROR = "RoleStoreError"
    NOUN = "role"
    ID_NAME = "roleId"
    CIRCULAR_OBJECT = "roles"
    CIRCULAR_DEBUG = (
        "Recursive requests to the role store from the role store cannot use user credentials or use BL"
    )

    def listMembers(self, role_id: Any, callback: Any = None) -> Pending[Any]:
        role_id, callback = split_callback(role_id, callback)
        if not role_id:
            return self._fail("Bad Request", "roleId is required", callback)
        return self._call("GET", f"{role_id}/membership", callback)

    list_members = listMembers
