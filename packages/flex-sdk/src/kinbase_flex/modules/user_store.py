"""``modules.userStore``: find, create, update, remove, suspend and restore users (``/user/<appKey>``).

By default the calls use the master secret and skip business logic. ``create`` always uses the app
secret, ``getCurrentUser`` always the user's own credentials. From a request on the user collection,
``useBl`` and ``useUserContext`` are refused (circular request).
"""

from __future__ import annotations

from typing import Any

from kinbase_flex._calls import Pending
from kinbase_flex.modules._store import BaseStore, split_callback

__all__ = ["UserStore"]

_CIRCULAR = "Recursive requests to the user store from the user store cannot use user credentials or use Bl"


def _version_number(version: str) -> float:
    try:
        return float(version)
    except ValueError:
        return float("nan")


class UserStore(BaseStore):
    ROUTE = "user"
    ERROR = "UserStoreError"

    def _circular(self, use_user_context: bool | None = None) -> str | None:
        user_context = self._options.use_user_context if use_user_context is None else use_user_context
        if self._env.object_name == "user" and (self._options.use_bl or user_context):
            return _CIRCULAR
        return None

    def _call(
        self, method: str, suffix: str, callback: Any, *, use_user_context: bool | None = None, **kwargs: Any
    ) -> Pending[Any]:
        kwargs.setdefault("headers", self._headers(use_user_context=use_user_context))
        return self._send(
            method,
            self._url(None, suffix),
            callback,
            refuse=lambda: self._circular(use_user_context),
            **kwargs,
        )

    def create(self, user: Any, callback: Any = None) -> Pending[Any]:
        """Create a user (with the app secret, whatever the store's options)."""
        user, callback = split_callback(user, callback)
        if not user:
            return self._fail("Bad Request", "A user entity must be supplied", callback)
        return self._call("POST", "", callback, headers=self._headers(use_app_secret=True), body=user)

    def update(self, user: Any, callback: Any = None) -> Pending[Any]:
        user, callback = split_callback(user, callback)
        if not user:
            return self._fail("Bad Request", "A user entity must be supplied", callback)
        if not isinstance(user, dict) or not user.get("_id"):
            return self._fail(
                "Bad Request", "A user entity must be supplied containing at least an _id", callback
            )
        return self._call("PUT", str(user["_id"]), callback, body=user)

    def findById(self, user_id: Any, callback: Any = None) -> Pending[Any]:
        user_id, callback = split_callback(user_id, callback)
        if not user_id:
            return self._fail("Bad Request", "userId is required", callback)
        return self._call("GET", str(user_id), callback)

    def getCurrentUser(self, callback: Any = None) -> Pending[Any]:
        """The user who made the request, read with that user's own credentials."""
        user_id = self._env.user_id
        if not user_id:
            return self._fail("Bad Request", "userId is required", callback)
        return self._call("GET", str(user_id), callback, use_user_context=True)

    def find(self, query: Any = None, callback: Any = None) -> Pending[Any]:
        query, callback = split_callback(query, callback)
        return self._call("GET", "", callback, params=self._query_params(query))

    def remove(self, user_id: Any, callback: Any = None) -> Pending[Any]:
        """Delete the user for good (``?hard=true``)."""
        user_id, callback = split_callback(user_id, callback)
        if not user_id:
            return self._fail("Bad Request", "userId is required", callback)
        params = {"hard": "true"} if _version_number(self._api_version) > 1 else None
        return self._call("DELETE", str(user_id), callback, params=params)

    def suspend(self, user_id: Any, callback: Any = None) -> Pending[Any]:
        """Suspend (soft-delete) the user."""
        user_id, callback = split_callback(user_id, callback)
        if not user_id:
            return self._fail("Bad Request", "userId is required", callback)
        params = {"soft": "true"} if _version_number(self._api_version) <= 1 else None
        return self._call("DELETE", str(user_id), callback, params=params)

    def restore(self, user_id: Any, callback: Any = None) -> Pending[Any]:
        """Restore a suspended user (with the master secret)."""
        user_id, callback = split_callback(user_id, callback)
        if not user_id:
            return self._fail("Bad Request", "userId is required", callback)
        return self._call("POST", f"{user_id}/_restore", callback, use_user_context=False)

    def count(self, query: Any = None, callback: Any = None) -> Pending[Any]:
        query, callback = split_callback(query, callback)
        return self._call("GET", "_count/", callback, params=self._query_params(query))

    def _role_call(self, method: str, user_id: Any, role_id: Any, callback: Any, what: str) -> Pending[Any]:
        if callback is None and callable(role_id):
            role_id, callback = None, role_id
        if not user_id:
            return self._fail("Bad Request", "userId is required", callback)
        if not role_id:
            return self._fail("Bad Request", "roleId is required", callback)
        if isinstance(user_id, list) or isinstance(role_id, list):
            return self._fail("Bad Request", f"Bulk role {what} is not currently supported.", callback)
        return self._call(method, f"{user_id}/roles/{role_id}", callback, body={})

    def assignRole(self, user_id: Any, role_id: Any = None, callback: Any = None) -> Pending[Any]:
        return self._role_call("PUT", user_id, role_id, callback, "assignment")

    def revokeRole(self, user_id: Any, role_id: Any = None, callback: Any = None) -> Pending[Any]:
        return self._role_call("DELETE", user_id, role_id, callback, "revocation")

    def listRoles(self, user_id: Any, callback: Any = None) -> Pending[Any]:
        user_id, callback = split_callback(user_id, callback)
        if not user_id:
            return self._fail("Bad Request", "userId is required", callback)
        return self._call("GET", f"{user_id}/roles", callback)

    find_by_id = findById
    get_current_user = getCurrentUser
    assign_role = assignRole
    revoke_role = revokeRole
    list_roles = listRoles
