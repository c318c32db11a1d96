"""The Kinvey services of one server process, and who a request acts as."""

from __future__ import annotations

from collections.abc import Callable

from kinbase.core.invalidation import Invalidations
from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.autoindex import AutoIndexer
from kinbase.core.kinvey.collections import CollectionService
from kinbase.core.kinvey.entities import EntityService
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.groups import GroupService, RoleService
from kinbase.core.kinvey.mail import MailService
from kinbase.core.kinvey.membership import MembershipService
from kinbase.core.kinvey.passwords import PasswordService
from kinbase.core.kinvey.pipeline import DefaultResolver, KinveyPipeline, StoredCollections
from kinbase.core.kinvey.sessions import SessionService
from kinbase.core.kinvey.users import UserService
from kinbase.core.throttle import LoginThrottle, ThrottlePolicy
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, StorageBackend

__all__ = ["KinveyServices"]


class KinveyServices:
    """Entities, collections, users, sessions, groups, roles, mail and the request pipeline over one
    storage engine."""

    def __init__(
        self,
        settings: Settings,
        storage: StorageBackend,
        secret: Callable[[], bytes],
        *,
        invalidations: Invalidations | None = None,
    ) -> None:
        self.passwords = PasswordService(
            secret,
            time_cost=settings.password_hash_time_cost,
            memory_kib=settings.password_hash_memory_kib,
            ttl_seconds=settings.password_cache_seconds,
            workers=settings.workers,
        )
        self.throttle = LoginThrottle(
            storage,
            ThrottlePolicy.of(settings),
            "kinvey",
            refuse=lambda message, seconds: KinveyError("LoginThrottled", message),
            invalidations=invalidations,
        )
        self.sessions = SessionService(storage, invalidations=invalidations)
        self.membership = MembershipService(storage, invalidations=invalidations)
        self.entities = EntityService(storage)
        self.collections = CollectionService(storage)
        self.autoindex = AutoIndexer(
            storage,
            min_queries=settings.auto_index_min_queries,
            slow_seconds=settings.auto_index_slow_ms / 1000,
            idle_seconds=settings.auto_index_idle_hours * 3600.0,
        )
        self.entities.observer = self.autoindex.observe
        self.users = UserService(storage, self.passwords, self.sessions, self.throttle)
        self.groups = GroupService(storage, self.membership)
        self.roles = RoleService(storage, self.membership)
        self.mail = MailService(settings, storage, self.users)
        self.pipeline = KinveyPipeline(
            DefaultResolver(StoredCollections(self.entities, self.collections)),
            max_insert=settings.max_insert_entities,
        )

    async def user_caller(self, app: AppRecord, user_id: str) -> Caller:
        """The caller acting as ``user_id`` with its groups and roles."""
        return Caller("user", await self.membership.principals(app, user_id))

    async def caller_for_token(self, app: AppRecord, token: str) -> Caller | None:
        """The caller of a ``Kinvey <token>`` session, or None for an unknown or expired token."""
        session = await self.sessions.resolve(app, token)
        return await self.user_caller(app, session.user_id) if session is not None else None

    async def caller_for_password(
        self, app: AppRecord, username: str, password: str, address: str | None
    ) -> Caller | None:
        """The caller of ``Basic username:password`` (API versions before 6), or None.

        Failures count towards the same login throttle as ``/login`` (per username and per client
        address), so Basic authentication cannot be used to guess passwords faster.

        Raises:
            KinveyError: LoginThrottled while the username or the address is locked out.
        """
        user_id = await self.users.check_password(app, username, password, address)
        return await self.user_caller(app, user_id) if user_id is not None else None
