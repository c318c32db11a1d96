"""The Kinto core service: the one object the Kinto front-end talks to."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from kinbase.core.invalidation import Invalidations
from kinbase.core.kinto.accounts import AccountHooks
from kinbase.core.kinto.acl import allowed
from kinbase.core.kinto.auth import KintoAuth, PasswordHasher
from kinbase.core.kinto.buckets import BucketHooks
from kinbase.core.kinto.collections import CollectionHooks
from kinbase.core.kinto.config import KintoConfig, parse_config
from kinbase.core.kinto.context import KintoContext, StaleStructure, writing
from kinbase.core.kinto.default_bucket import DefaultBucket, default_bucket_id
from kinbase.core.kinto.groups import GroupHooks
from kinbase.core.kinto.history import History
from kinbase.core.kinto.hooks import Hooks
from kinbase.core.kinto.listing import KintoListing, Listing
from kinbase.core.kinto.model import KINDS, META_KIND, Resource, Target, from_kinto
from kinbase.core.kinto.objects import KintoObjects, ObjectResult, check_parents, deny
from kinbase.core.kinto.permissions_list import PermissionsPage, list_permissions
from kinbase.core.kinto.principals import ANONYMOUS, Membership
from kinbase.core.kinto.records import RecordHooks
from kinbase.core.kinto.store import KintoStore, tombstone_json
from kinbase.core.throttle import LoginThrottle, ThrottlePolicy
from kinbase.query.kinto_querystring import KintoQuerystring
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, StorageBackend, Writer
from kinbase.types import Stamp

__all__ = ["KintoService"]


class KintoService:
    """Kinto's domain over the shared storage: contexts, objects, listings, accounts, history."""

    def __init__(
        self,
        settings: Settings,
        storage: StorageBackend,
        secret: Callable[[], bytes],
        *,
        invalidations: Invalidations | None = None,
    ) -> None:
        self.storage = storage
        self._server_config: dict[str, Any] = dict(settings.extra.get("kinto", {}))
        parse_config(self._server_config)  # fail at start on a bad [kinto] section
        self._secret = secret
        self._configs: dict[tuple[int, int], KintoConfig] = {}
        self.store = KintoStore(storage)
        self.membership = Membership(self.store, invalidations)
        self.hasher = PasswordHasher(settings.workers)
        self.history = History(self.store)
        hooks: dict[Resource, Hooks] = {
            "bucket": BucketHooks(self.store, self.membership),
            "collection": CollectionHooks(self.store, self.membership),
            "group": GroupHooks(self.membership),
            "record": RecordHooks(),
            "account": AccountHooks(self.hasher, self.membership),
            "history": Hooks(),
        }
        self.objects = KintoObjects(storage, self.store, self.history, hooks)
        self.listing = KintoListing(storage, self.store, self.objects)
        self.auth = KintoAuth(
            storage,
            self.store,
            self.hasher,
            LoginThrottle(storage, ThrottlePolicy.of(settings), "kinto", invalidations=invalidations),
        )
        self.default_buckets = DefaultBucket(storage, self.store, self.objects)

    def close(self) -> None:
        self.hasher.close()

    # -- configuration and request context ---------------------------------------------------
    def config(self, app: AppRecord) -> KintoConfig:
        """The app's effective settings (cached per app version)."""
        key = (app.id, app.version)
        found = self._configs.get(key)
        if found is None:
            overrides = app.settings.get("kinto")
            found = parse_config(self._server_config, overrides if isinstance(overrides, dict) else None)
            if len(self._configs) > 10_000:
                self._configs.clear()
            self._configs[key] = found
        return found

    async def context(
        self,
        app: AppRecord,
        authorization: str | None,
        address: str | None = None,
        *,
        presume: bool = False,
    ) -> KintoContext:
        """Authenticate a request and compute its principals.

        With ``presume``, the app's structure version is not read: the one this worker read last
        is presumed (when there is one and the credentials are verified in the cache), and the
        caller must check it with the request's own statement (:attr:`KintoContext.presumed`).

        Raises:
            TooManyRequests: while the account of the credentials is throttled.
        """
        config = self.config(app)
        seen = None
        if presume and await self.membership.trusted(app.id) is None:
            seen = self.membership.last_seen(app.id)
        if seen is not None:
            try:
                return await self._context(app, config, authorization, address, seen)
            except StaleStructure:
                pass
        return await self._context(app, config, authorization, address, None)

    async def _context(
        self,
        app: AppRecord,
        config: KintoConfig,
        authorization: str | None,
        address: str | None,
        presumed: Stamp | None,
    ) -> KintoContext:
        async with self.storage.reader() as reader:
            if presumed is None:
                version = await self.membership.version(reader, app.id)
            else:
                version = presumed
            user_id = None
            if authorization:
                user_id = await self.auth.user_id(
                    reader,
                    app,
                    config,
                    self._secret(),
                    authorization,
                    version,
                    address,
                    cached_only=presumed is not None,
                )
            if user_id is None:
                return KintoContext(
                    app, config, None, ANONYMOUS, version=version, presumed=presumed is not None
                )
            principals = await self.membership.principals(reader, app.id, from_kinto(user_id), version)
        return KintoContext(app, config, user_id, principals, version=version, presumed=presumed is not None)

    async def confirm(self, ctx: KintoContext) -> bool:
        """Whether the structure version ``ctx`` presumed is the current one (one read)."""
        async with self.storage.reader() as reader:
            return await self.membership.version(reader, ctx.app.id) == ctx.version

    def default_bucket_id(self, ctx: KintoContext) -> str | None:
        """The caller's personal bucket id (None when anonymous or the plugin is off)."""
        if ctx.user_id is None or not ctx.config.default_bucket:
            return None
        key = ctx.config.default_bucket_hmac_secret
        return default_bucket_id(key.encode() if key else self._secret(), ctx.user_id)

    async def ensure_default_bucket(
        self, ctx: KintoContext, bucket: str, collection: str | None
    ) -> KintoContext:
        """Create the personal bucket (and collection) if needed; the context to go on with."""
        if await self.default_buckets.ensure(ctx, bucket, collection):
            return dataclasses.replace(ctx, version=None)
        return ctx

    # -- history and permissions -------------------------------------------------------------
    async def delete_history(self, ctx: KintoContext, bucket: str, listing: Listing) -> list[ObjectResult]:
        """Purge the history entries ``listing`` selects (needs write on the bucket)."""
        plural = Target("history", bucket)
        async with writing(self.storage, ctx) as writer:
            ancestors = await self.store.ancestors(writer, ctx.app.id, plural)
            chain = {lvl: a.acl for lvl, a in ancestors.items()}
            if not allowed(ctx.config, ctx.principals, "history", "write", chain):
                raise deny(ctx)
            check_parents(plural, ancestors)
            parent = await writer.get_parent(ctx.app.id, KINDS["history"], bucket)
            if parent is None:
                return []
            pairs = await writer.delete_matching(
                parent, listing.query(), listing.options(None, deleted=False)
            )
            await writer.purge_tombstones(parent)
        return [ObjectResult(tombstone_json(t.id, t.stamp), t.stamp, None) for t, _ in pairs]

    async def permissions(
        self, ctx: KintoContext, qs: KintoQuerystring, limit: int | None
    ) -> PermissionsPage:
        """A page of ``GET /permissions``."""
        return await list_permissions(self.storage, ctx, qs, limit)

    async def flush(self, ctx: KintoContext) -> None:
        """Delete every Kinto object of the app (``POST /__flush__``)."""
        async with writing(self.storage, ctx) as writer:
            await self._flush(writer, ctx.app.id)

    async def _flush(self, writer: Writer, app_id: int) -> None:
        self.membership.publish_on_commit(app_id)  # the version's parent goes too
        for kind in (*KINDS.values(), META_KIND):
            for parent in await writer.list_parents(app_id, kind):
                await writer.delete_parent(parent)
                self.store.forget(app_id, kind, parent.name)

    async def heartbeat(self) -> bool:
        return await self.storage.ping()
