"""Field indexes: declaring, filling, dropping and maintaining the ``field_values`` rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from kinbase.query.sql import index_entries, is_multikey
from kinbase.storage.base import ParentRecord
from kinbase.storage.sql.parents import ParentWriter
from kinbase.types import Document, Path

__all__ = ["IndexWriter"]


class IndexWriter(ParentWriter):
    """A write transaction that also maintains field indexes."""

    async def create_index(self, parent: ParentRecord, path: Path) -> ParentRecord:
        locked = await self._lock(parent)
        if any(i.path == path for i in locked.indexes):
            return locked
        settings = dict(locked.settings)
        slot = int(settings.get("next_slot", 1))
        multikey = False
        rows = await self._all(
            self.dialect("SELECT o.oid, o.data:TEXT: FROM objects o WHERE o.parent_id = ? AND NOT o.deleted"),
            (locked.id,),
            long=True,
        )
        batch: list[tuple[Any, ...]] = []
        for oid, data in rows:
            doc = orjson.loads(data)
            multikey = multikey or is_multikey(doc, path)
            batch.extend((locked.id, slot, t, n, s, oid) for t, n, s in index_entries(doc, path))
            if len(batch) >= 5000:
                await self._insert_entries(batch)
                batch = []
        if batch:
            await self._insert_entries(batch)
        indexes = [*settings.get("indexes", []), {"path": list(path), "slot": slot, "multikey": multikey}]
        settings["indexes"] = indexes
        settings["next_slot"] = slot + 1
        return await self._write_settings(locked, settings)

    async def drop_index(self, parent: ParentRecord, path: Path) -> ParentRecord:
        locked = await self._lock(parent)
        index = next((i for i in locked.indexes if i.path == path), None)
        if index is None:
            return locked
        await self._run(
            self.dialect("DELETE FROM field_values WHERE parent_id = ? AND slot = ?"), (locked.id, index.slot)
        )
        settings = dict(locked.settings)
        settings["indexes"] = [i for i in settings.get("indexes", []) if int(i["slot"]) != index.slot]
        return await self._write_settings(locked, settings)

    async def _insert_entries(self, rows: list[tuple[Any, ...]]) -> None:
        await self._run_many(
            self.dialect(
                "INSERT INTO field_values (parent_id, slot, t, n, s, oid) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING"
            ),
            rows,
        )

    async def _delete_entries(self, rows: list[tuple[Any, ...]]) -> None:
        await self._run_many(
            self.dialect(
                "DELETE FROM field_values "
                "WHERE parent_id = ? AND slot = ? AND t = ? AND n = ? AND s = ? AND oid = ?"
            ),
            rows,
        )

    async def _reindex(
        self, parent: ParentRecord, changes: Iterable[tuple[int, Document | None, Document | None]]
    ) -> ParentRecord:
        """Bring the field_values rows of objects from ``old`` to ``new`` (None = absent), for a
        batch of ``(oid, old, new)`` changes, with one statement per kind of change."""
        indexes = parent.indexes
        if not indexes:
            return parent
        added: list[tuple[Any, ...]] = []
        removed: list[tuple[Any, ...]] = []
        newly_multikey: set[int] = set()
        for oid, old, new in changes:
            for index in indexes:
                before = set(index_entries(old, index.path)) if old is not None else set()
                after = set(index_entries(new, index.path)) if new is not None else set()
                if before != after:
                    removed.extend((parent.id, index.slot, t, n, s, oid) for t, n, s in before - after)
                    added.extend((parent.id, index.slot, t, n, s, oid) for t, n, s in after - before)
                if (
                    new is not None
                    and not index.multikey
                    and index.slot not in newly_multikey
                    and is_multikey(new, index.path)
                ):
                    newly_multikey.add(index.slot)
        if removed:
            await self._delete_entries(removed)
        if added:
            await self._insert_entries(added)
        if newly_multikey:
            settings = dict(parent.settings)
            settings["indexes"] = [
                {**i, "multikey": True} if int(i["slot"]) in newly_multikey else i
                for i in settings["indexes"]
            ]
            parent = await self._write_settings(parent, settings)
        return parent
