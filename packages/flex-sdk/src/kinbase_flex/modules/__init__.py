"""The ``modules`` argument of a handler, and the module classes.

``modules.backendContext``, ``requestContext``, ``tempObjectStore``, ``kinveyEntity``,
``kinveyDate`` and ``Query`` work locally; ``dataStore()``, ``userStore()``, ``groupStore()``,
``roleStore()``, ``endpointRunner()``, ``email`` and ``push`` call back into the backend at the
``baasUrl`` of ``X-Kinvey-App-Metadata`` (see :mod:`kinbase_flex._calls` for callbacks and ``await``).
Each name also has a snake_case spelling (``modules.data_store()``...).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from kinbase_flex.modules._store import BackendEnv, StoreOptions
from kinbase_flex.modules.backend_context import BackendContext
from kinbase_flex.modules.data_store import Collection, DataStore
from kinbase_flex.modules.email import Email
from kinbase_flex.modules.endpoint_runner import Endpoint, EndpointRunner
from kinbase_flex.modules.group_store import GroupStore, RoleStore
from kinbase_flex.modules.kinvey_date import KinveyDate
from kinbase_flex.modules.kinvey_entity import Acl, KinveyEntity, KinveyEntityModule
from kinbase_flex.modules.push import Push
from kinbase_flex.modules.query import Query
from kinbase_flex.modules.request_context import ClientAppVersion, RequestContext
from kinbase_flex.modules.temp_object_store import TempObjectStore
from kinbase_flex.modules.user_store import UserStore

__all__ = [
    "Acl",
    "BackendContext",
    "ClientAppVersion",
    "Collection",
    "DataStore",
    "Email",
    "Endpoint",
    "EndpointRunner",
    "GroupStore",
    "KinveyDate",
    "KinveyEntity",
    "KinveyEntityModule",
    "Modules",
    "Push",
    "Query",
    "RequestContext",
    "RoleStore",
    "TempObjectStore",
    "UserStore",
]


class Modules:
    """The modules of one request; each is made on first use."""

    Query = Query

    def __init__(
        self,
        env: BackendEnv,
        *,
        request_context: RequestContext,
        temp_object_store: dict[str, Any],
    ) -> None:
        self._env = env
        self.requestContext = request_context
        self.request_context = request_context
        self._temp_object_store = temp_object_store

    @cached_property
    def backendContext(self) -> BackendContext:
        return BackendContext(self._env.app_metadata)

    @cached_property
    def tempObjectStore(self) -> TempObjectStore:
        return TempObjectStore(self._temp_object_store)

    @cached_property
    def kinveyEntity(self) -> KinveyEntityModule:
        return KinveyEntityModule(self._env.app_metadata.get("_id"))

    @cached_property
    def kinveyDate(self) -> KinveyDate:
        return KinveyDate()

    @cached_property
    def email(self) -> Email:
        return Email(self._env)

    @cached_property
    def push(self) -> Push:
        return Push(self._env)

    def dataStore(self, options: dict[str, Any] | None = None, **kwargs: Any) -> DataStore:
        """A data store: ``dataStore({"useBl": True, "useUserContext": True})`` or keywords."""
        return DataStore(self._env, StoreOptions.parse(options, kwargs))

    def userStore(self, options: dict[str, Any] | None = None, **kwargs: Any) -> UserStore:
        return UserStore(self._env, StoreOptions.parse(options, kwargs))

    def groupStore(self, options: dict[str, Any] | None = None, **kwargs: Any) -> GroupStore:
        return GroupStore(self._env, StoreOptions.parse(options, kwargs))

    def roleStore(self, options: dict[str, Any] | None = None, **kwargs: Any) -> RoleStore:
        return RoleStore(self._env, StoreOptions.parse(options, kwargs))

    def endpointRunner(self, options: dict[str, Any] | None = None, **kwargs: Any) -> EndpointRunner:
        """Custom endpoints always run with business logic."""
        parsed = StoreOptions.parse(options, kwargs)
        return EndpointRunner(
            self._env,
            StoreOptions(
                use_bl=True, use_user_context=parsed.use_user_context, api_version=parsed.api_version
            ),
        )

    @property
    def backend_context(self) -> BackendContext:
        return self.backendContext

    @property
    def temp_object_store(self) -> TempObjectStore:
        return self.tempObjectStore

    @property
    def kinvey_entity(self) -> KinveyEntityModule:
        return self.kinveyEntity

    @property
    def kinvey_date(self) -> KinveyDate:
        return self.kinveyDate

    data_store = dataStore
    user_store = userStore
    group_store = groupStore
    role_store = roleStore
    endpoint_runner = endpointRunner
