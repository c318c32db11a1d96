"""The history plugin: one entry per change of a bucket, collection, group or record.

Entries are objects of the parent ``kinto.history``/<bucket id>, written in the transaction of the
change. An entry is readable by whoever could read the changed object when it changed: its
``read`` grants are the read and write principals of the object and of its collection or group;
bucket readers see every entry (inheritance).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kinbase.core.ids import uuid4
from kinbase.core.kinto.acl import render_acl
from kinbase.core.kinto.context import KintoContext
from kinbase.core.kinto.hooks import Change
from kinbase.core.kinto.model import EVERYONE_ID, KINDS
from kinbase.core.kinto.store import KintoStore
from kinbase.storage.base import NewVersion, WriteContext, Writer
from kinbase.types import Document, Stamp

__all__ = ["History"]

_TRACKED = ("bucket", "collection", "group", "record")


def iso_date(stamp: Stamp) -> str:
    """Kinto's ``date``: ISO 8601 with microseconds and the UTC offset."""
    return dt.datetime.fromtimestamp(stamp / 1000, dt.UTC).isoformat()


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
            "user_id": ctx.user_id or EVERYONE_ID,
            **target.ids(),
            "target": {"data": change.data, "permissions": render_acl(change.acl)},
        }

        def build(wc: WriteContext) -> NewVersion:
            entry: Document = {"id": entry_id, "last_modified": wc.stamp, "date": iso_date(wc.stamp), **body}
            return NewVersion(data=entry, grants=[("read", p) for p in sorted(readers)])

        await writer.put(parent, entry_id, build, new=True)
