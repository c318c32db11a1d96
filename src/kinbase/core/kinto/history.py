"""The history plugin: one entry per change of a bucket, collection, group or record.

Entries are objects of the parent ``kinto.history``/<bucket id>, written in the transaction of the
change. An entry is readable by whoever could read the changed object when it changed: its
``read`` grants are the read and write principals of the object and of its collection or group;
bucket readers see every entry (inheritance).

Kinto's settings apply: ``history_exclude_user_ids`` and ``history_exclude_resources`` skip
entries, and ``history_auto_trim_max_count`` keeps only the newest entries of each resource type
(of each user listed in ``history_auto_trim_user_ids``, when there are any) in each bucket.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kinbase.core.ids import uuid4
from kinbase.core.kinto.acl import render_acl
from kinbase.core.kinto.config import KintoConfig
from kinbase.core.kinto.context import KintoContext
from kinbase.core.kinto.hooks import Change
from kinbase.core.kinto.model import EVERYONE_ID, KINDS, Target
from kinbase.core.kinto.store import COLUMNS, KintoStore
from kinbase.query.ast import KintoCompare, Node, Query, SortKey, simplify_and
from kinbase.storage.base import FindOptions, NewVersion, ParentRecord, WriteContext, Writer
from kinbase.types import Document, Stamp

__all__ = ["History"]

_TRACKED = ("bucket", "collection", "group", "record")


def iso_date(stamp: Stamp) -> str:
    """Kinto's ``date``: ISO 8601 with microseconds and the UTC offset."""
    return dt.datetime.fromtimestamp(stamp / 1000, dt.UTC).isoformat()


def _excluded(config: KintoConfig, target: Target, user_id: str) -> bool:
    """Whether Kinto's exclusion settings skip the entry of this change."""
    if user_id in config.history_exclude_user_ids:
        return True
    excluded = config.history_exclude_resources
    if not excluded:
        return False
    uris = {target.uri}
    if target.resource != "bucket":
        uris.add(f"/buckets/{target.bucket}")
    if target.resource == "record":
        uris.add(f"/buckets/{target.bucket}/collections/{target.collection}")
    return any(uri in excluded for uri in uris)


_NEWEST_FIRST = (SortKey(("last_modified",), True, "kinto"),)


class History:
    """Writes history entries."""

    def __init__(self, store: KintoStore) -> None:
        self._store = store

    async def record(self, ctx: KintoContext, writer: Writer, change: Change) -> None:
        """Add the entry of ``change`` (no-op when the history is off or the bucket is gone)."""
        target = change.target
        if not ctx.config.history or target.resource not in _TRACKED:
            return
        if target.resource == "bucket" and change.action == "delete":
            return
        user_id = ctx.user_id or EVERYONE_ID
        if _excluded(ctx.config, target, user_id):
            return
        bucket_id = target.id if target.resource == "bucket" else target.bucket
        assert bucket_id is not None
        parent = await self._store.ensure_parent(writer, ctx.app.id, KINDS["history"], bucket_id)
        readers: set[str] = set()
        for acl in [change.acl, *(a.acl for lvl, a in change.ancestors.items() if lvl != "bucket")]:
            readers.update(acl.get("read", ()))
            readers.update(acl.get("write", ()))
        entry_id = uuid4()
        body: dict[str, Any] = {
            "action": change.action,
            "uri": target.uri,
            "resource_name": target.resource,
            "user_id": user_id,
            **target.ids(),
            "target": {"data": change.data, "permissions": render_acl(change.acl)},
        }

        def build(wc: WriteContext) -> NewVersion:
            entry: Document = {"id": entry_id, "last_modified": wc.stamp, "date": iso_date(wc.stamp), **body}
            return NewVersion(data=entry, grants=[("read", p) for p in sorted(readers)])

        await writer.put(parent, entry_id, build, new=True)
        await self._trim(ctx.config, writer, parent, target.resource, user_id)

    async def _trim(
        self, config: KintoConfig, writer: Writer, parent: ParentRecord, resource: str, user_id: str
    ) -> None:
        """Kinto's auto-trim: delete all but the newest ``history_auto_trim_max_count`` entries of
        this resource type (and of this user, when trimming by user)."""
        keep = config.history_auto_trim_max_count
        by_user = config.history_auto_trim_user_ids
        if keep <= 0 or (by_user and user_id not in by_user):
            return
        conditions: list[Node] = [KintoCompare(("resource_name",), "eq", resource)]
        if by_user:
            conditions.append(KintoCompare(("user_id",), "eq", user_id))
        query = Query(filter=simplify_and(conditions), sort=_NEWEST_FIRST, skip=keep)
        if await writer.delete_matching(parent, query, FindOptions(columns=COLUMNS)):
            await writer.purge_tombstones(parent)
