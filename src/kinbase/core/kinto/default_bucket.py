"""The personal bucket: ``/buckets/default`` is an alias of a bucket whose id is derived from the
user id (``uuid(hmac_sha256(secret, user_id)[:32])``), created with the user's write on first use
(and the collection too for a path below ``/collections/{cid}``)."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from kinbase.core.kinto.context import KintoContext, reading, writing
from kinbase.core.kinto.model import Target
from kinbase.core.kinto.objects import KintoObjects
from kinbase.core.kinto.store import KintoStore
from kinbase.storage.base import StorageBackend

__all__ = ["DefaultBucket", "default_bucket_id"]


def default_bucket_id(secret: bytes, user_id: str) -> str:
    """The personal bucket id of ``user_id`` (``account:alice``)."""
    digest = hmac.new(secret, user_id.encode(), hashlib.sha256).hexdigest()
    return str(uuid.UUID(digest[:32]))


class DefaultBucket:
    """Creates personal buckets and their collections on demand."""

    def __init__(self, storage: StorageBackend, store: KintoStore, objects: KintoObjects) -> None:
        self._storage = storage
        self._store = store
        self._objects = objects

    async def ensure(self, ctx: KintoContext, bucket: str, collection: str | None) -> bool:
        """Create the bucket (and ``collection``) if missing, owned by the caller. True if anything
        was created (the structure version changed)."""
        if await self._exists(ctx, bucket, collection):
            return False
        assert ctx.user_principal is not None
        async with writing(self._storage, ctx) as writer:
            for target in (Target("bucket", id=bucket), Target("collection", bucket, id=collection)):
                if target.id is None:
                    continue
                ancestors = await self._store.ancestors(writer, ctx.app.id, target)
                parent = await self._store.ensure_parent(writer, ctx.app.id, target.kind, target.parent_name)
                if (await self._store.load(writer, ctx.app.id, target)).exists:
                    continue
                acl = {"write": {ctx.user_principal}}
                await self._objects.store_object(ctx, writer, parent, target, {}, acl, ancestors)
        return True

    async def _exists(self, ctx: KintoContext, bucket: str, collection: str | None) -> bool:
        async with reading(self._storage, ctx) as reader:
            found = await self._store.load(reader, ctx.app.id, Target("bucket", id=bucket), ctx.cached)
            if not found.exists or collection is None:
                return found.exists
            target = Target("collection", bucket, id=collection)
            return (await self._store.load(reader, ctx.app.id, target, ctx.cached)).exists
