"""Field indexes: declaring, filling, dropping and maintaining the ``field_values`` rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from kinbase.errors import NotFound
from kinbase.query.ast import IndexDef
from kinbase.query.sql import index_entries, is_multikey
from kinbase.query.sql.compound import compound_entries, compound_multikey
from kinbase.storage.base import ParentRecord
from kinbase.storage.sql.parents import ParentWriter
from kinbase.types import Document, Path, Stamp

__all__ = ["IndexWriter"]

_FILL_BATCH = 5000

FIELD_COLUMNS = ("parent_id bigint", "slot integer", "t smallint", "n float8", "s text", "oid bigint")
COMPOUND_COLUMNS = (
    "parent_id bigint",
    "slot integer",
    "g text",
    "t smallint",
    "n float8",
    "s text",
    "oid bigint",
)


def _find(indexes: Iterable[IndexDef], path: Path, prefix: tuple[Path, ...]) -> IndexDef | None:
    return next((i for i in indexes if i.path == path and i.prefix == prefix), None)


def _entries(doc: Document, index: IndexDef) -> list[tuple[Any, ...]]:
    """The index rows of ``doc``: ``(t, n, s)``, or ``(g, t, n, s)`` for a compound index."""
    if index.prefix:
        return list(compound_entries(doc, index))
    return list(index_entries(doc, index.path))


def _multikey(doc: Document, index: IndexDef) -> bool:
    return compound_multikey(doc, index) if index.prefix else is_multikey(doc, index.path)


class IndexWriter(ParentWriter):
    """A write transaction that also maintains field indexes."""

    async def create_index(
        self, parent: ParentRecord, path: Path, prefix: tuple[Path, ...] = ()
    ) -> ParentRecord:
        locked = await self.begin_index(parent, path, prefix)
        after: tuple[Stamp, int] | None = None
        while (after := await self.fill_index(locked, path, after, _FILL_BATCH, prefix)) is not None:
            pass
        return await self.finish_index(locked, path, prefix)

    async def begin_index(
        self, parent: ParentRecord, path: Path, prefix: tuple[Path, ...] = ()
    ) -> ParentRecord:
        locked = await self._lock(parent)
        if _find(locked.indexes, path, prefix) is not None:
            return locked
        settings = dict(locked.settings)
        slot = int(settings.get("next_slot", 1))
        declared: dict[str, Any] = {"path": list(path), "slot": slot, "multikey": False, "building": True}
        if prefix:
            declared["prefix"] = [list(p) for p in prefix]
        settings["indexes"] = [*settings.get("indexes", []), declared]
        settings["next_slot"] = slot + 1
        return await self._write_settings(locked, settings)

    async def fill_index(
        self,
        parent: ParentRecord,
        path: Path,
        after: tuple[Stamp, int] | None,
        limit: int,
        prefix: tuple[Path, ...] = (),
    ) -> tuple[Stamp, int] | None:
        # The parent's lock first: a writer of this parent waits for the batch (briefly), and the
        # objects read after it are the committed versions the writers before it left.
        locked = await self._lock(parent)
        index = _find(locked.indexes, path, prefix)
        if index is None:
            raise NotFound(f"No index is declared on {', '.join('.'.join(p) for p in (*prefix, path))!r}.")
        sql = "SELECT o.stamp, o.oid, o.data:TEXT: FROM objects o WHERE o.parent_id = ? AND NOT o.deleted"
        params: list[Any] = [locked.id]
        if after is not None:
            # ``stamp >= ?`` bounds the index range: the walk starts where the last batch ended
            # (an OR alone is a filter, and every batch re-read the collection from its start).
            sql += " AND o.stamp >= ? AND (o.stamp > ? OR o.oid > ?)"
            params += [after[0], after[0], after[1]]
        rows = await self._all(self.dialect(sql + " ORDER BY o.stamp, o.oid LIMIT ?"), (*params, limit))
        if not rows:
            return None
        entries: list[tuple[Any, ...]] = []
        multikey = index.multikey
        for _stamp, oid, data in rows:
            doc = orjson.loads(data)
            multikey = multikey or _multikey(doc, index)
            entries.extend((locked.id, index.slot, *row, oid) for row in _entries(doc, index))
        if entries:
            await self._insert_entries(entries, compound=bool(prefix))
        if multikey and not index.multikey:
            await self._set_index_flags(locked, index.slot, multikey=True)
        last = rows[-1]
        return int(last[0]), int(last[1])

    async def finish_index(
        self, parent: ParentRecord, path: Path, prefix: tuple[Path, ...] = ()
    ) -> ParentRecord:
        locked = await self._lock(parent)
        index = _find(locked.indexes, path, prefix)
        if index is None or index in locked.ready_indexes:
            return locked
        if self.dialect.name == "postgresql":
            # Fresh statistics for the new rows and the objects they point to: without them
            # PostgreSQL estimates one row everywhere and may drive the read from the grants,
            # probing the whole index range once per object (seconds for 10,000 objects), or
            # sort the whole range instead of stopping the walk at the limit.
            table = "compound_values" if index.prefix else "field_values"
            await self._run(f"ANALYZE objects, grants, {table}", long=True)  # nosec B608: constant table
        return await self._set_index_flags(locked, index.slot, building=False)

    async def _set_index_flags(self, parent: ParentRecord, slot: int, **flags: bool) -> ParentRecord:
        settings = dict(parent.settings)
        updated = []
        for declared in settings["indexes"]:
            if int(declared["slot"]) == slot:
                declared = {**declared, **flags}
                if not declared.get("building", False):
                    declared.pop("building", None)
            updated.append(declared)
        settings["indexes"] = updated
        return await self._write_settings(parent, settings)

    async def drop_index(
        self, parent: ParentRecord, path: Path, prefix: tuple[Path, ...] = ()
    ) -> ParentRecord:
        locked = await self._lock(parent)
        index = _find(locked.indexes, path, prefix)
        if index is None:
            return locked
        table = "compound_values" if index.prefix else "field_values"
        await self._run(
            self.dialect(f"DELETE FROM {table} WHERE parent_id = ? AND slot = ?"),  # nosec B608: constant table
            (locked.id, index.slot),
            long=True,
        )
        settings = dict(locked.settings)
        settings["indexes"] = [i for i in settings.get("indexes", []) if int(i["slot"]) != index.slot]
        return await self._write_settings(locked, settings)

    async def _insert_entries(self, rows: list[tuple[Any, ...]], *, compound: bool = False) -> None:
        if compound:
            await self._insert_rows(
                "compound_values", COMPOUND_COLUMNS, rows, suffix="ON CONFLICT DO NOTHING"
            )
        else:
            await self._insert_rows("field_values", FIELD_COLUMNS, rows, suffix="ON CONFLICT DO NOTHING")

    async def _delete_entries(self, rows: list[tuple[Any, ...]], *, compound: bool = False) -> None:
        if compound:
            sql = (
                "DELETE FROM compound_values "
                "WHERE parent_id = ? AND slot = ? AND g = ? AND t = ? AND n = ? AND s = ? AND oid = ?"
            )
        else:
            sql = (
                "DELETE FROM field_values "
                "WHERE parent_id = ? AND slot = ? AND t = ? AND n = ? AND s = ? AND oid = ?"
            )
        await self._run_many(self.dialect(sql), rows)

    async def _reindex(
        self, parent: ParentRecord, changes: Iterable[tuple[int, Document | None, Document | None]]
    ) -> ParentRecord:
        """Bring the field_values rows of objects from ``old`` to ``new`` (None = absent), for a
        batch of ``(oid, old, new)`` changes, with one statement per kind of change."""
        indexes = parent.indexes
        if not indexes:
            return parent
        # [single, compound] rows added and removed
        added: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] = ([], [])
        removed: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] = ([], [])
        newly_multikey: set[int] = set()
        for oid, old, new in changes:
            for index in indexes:
                kind = 1 if index.prefix else 0
                before = set(_entries(old, index)) if old is not None else set()
                after = set(_entries(new, index)) if new is not None else set()
                if before != after:
                    removed[kind].extend((parent.id, index.slot, *row, oid) for row in before - after)
                    added[kind].extend((parent.id, index.slot, *row, oid) for row in after - before)
                if (
                    new is not None
                    and not index.multikey
                    and index.slot not in newly_multikey
                    and _multikey(new, index)
                ):
                    newly_multikey.add(index.slot)
        for kind in (0, 1):
            if removed[kind]:
                await self._delete_entries(removed[kind], compound=kind == 1)
            if added[kind]:
                await self._insert_entries(added[kind], compound=kind == 1)
        if newly_multikey:
            settings = dict(parent.settings)
            settings["indexes"] = [
                {**i, "multikey": True} if int(i["slot"]) in newly_multikey else i
                for i in settings["indexes"]
            ]
            parent = await self._write_settings(parent, settings)
        return parent
