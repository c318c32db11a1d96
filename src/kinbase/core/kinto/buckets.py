"""Buckets: the top of the tree. Deleting one cascades to its collections, groups, records and
history."""

from __future__ import annotations

from kinbase.core.kinto.context import KintoContext
from kinbase.core.kinto.hooks import Change, Hooks
from kinbase.core.kinto.model import KINDS, Target
from kinbase.core.kinto.principals import Membership
from kinbase.core.kinto.schema import check_schema
from kinbase.core.kinto.store import KintoStore, Loaded
from kinbase.storage.base import StoredObject, Writer
from kinbase.types import Document

__all__ = ["BucketHooks"]


class BucketHooks(Hooks):
    resource = "bucket"

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
            for name in ("collection:schema", "group:schema", "record:schema"):
                if name in data:
                    check_schema(data[name], f"data.{name}")
        return data

    async def after_write(self, ctx: KintoContext, writer: Writer, change: Change) -> None:
        bucket = change.target.id
        assert bucket is not None
        app_id = ctx.app.id
        await self._membership.changed(writer, app_id)
        if change.action == "create":
            for kind in (KINDS["collection"], KINDS["group"]):
                await self._store.ensure_parent(writer, app_id, kind, bucket)
            return
        if change.action != "delete":
            return
        for kind in (KINDS["collection"], KINDS["group"], KINDS["history"]):
            parent = await writer.get_parent(app_id, kind, bucket)
            if parent is not None:
                await writer.delete_parent(parent)
            self._store.forget(app_id, kind, bucket)
        for parent in await writer.list_parents(app_id, KINDS["record"], f"{bucket}/"):
            await writer.delete_parent(parent)
            self._store.forget(app_id, KINDS["record"], parent.name)
