"""Collections: their records live in the parent ``kinto.records``/``bucket/collection``, created
with the collection (so its timestamp starts then) and dropped with it."""

from __future__ import annotations

from typing import Any

from kinbase.core.kinto.context import KintoContext
from kinbase.core.kinto.hooks import Change, Hooks
from kinbase.core.kinto.model import KINDS, Target
from kinbase.core.kinto.principals import Membership
from kinbase.core.kinto.schema import check_schema, validate
from kinbase.core.kinto.store import KintoStore, Loaded
from kinbase.storage.base import StoredObject, Writer
from kinbase.types import Document

__all__ = ["CollectionHooks", "bucket_schema"]


def bucket_schema(ancestors: dict[str, Loaded], name: str) -> dict[str, Any] | None:
    """The bucket's ``<resource>:schema``, if it has one."""
    bucket = ancestors.get("bucket")
    if bucket is None or bucket.obj is None:
        return None
    schema = bucket.document().get(name)
    return schema if isinstance(schema, dict) else None


class CollectionHooks(Hooks):
    resource = "collection"

    def __init__(self, store: KintoStore, membership: Membership) -> None:
        self._store = store
        self._membership = membership

    async def prepare(
        self,
        ctx: KintoContext,
        writer: Writer,
        target: Target,
        data: Document,
        current: StoredObject | None,
        ancestors: dict[str, Loaded],
    ) -> Document:
        if ctx.config.schema_validation:
            if "schema" in data:
                check_schema(data["schema"])
            schema = bucket_schema(ancestors, "collection:schema")
            if schema is not None:
                validate(data, schema)
        return data

    async def after_write(self, ctx: KintoContext, writer: Writer, change: Change) -> None:
        name = f"{change.target.bucket}/{change.target.id}"
        await self._membership.changed(writer, ctx.app.id)
        if change.action == "delete":
            parent = await writer.get_parent(ctx.app.id, KINDS["record"], name)
            if parent is not None:
                await writer.delete_parent(parent)
            self._store.forget(ctx.app.id, KINDS["record"], name)
        else:
            await self._store.ensure_parent(writer, ctx.app.id, KINDS["record"], name)
