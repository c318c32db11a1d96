"""The complete SQL writer, with the bulk path (:meth:`SqlWriter.put_many`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from kinbase.errors import InvalidRequest
from kinbase.storage.base import Builder, NewVersion, ParentRecord, PutResult, StoredObject, WriteContext
from kinbase.storage.sql.objects import ObjectWriter
from kinbase.storage.sql.statements import OBJECT_COLUMNS, check_text, chunks, dump_document, object_from_row
from kinbase.storage.stamps import next_stamp, now_ms

__all__ = ["SqlWriter"]


class SqlWriter(ObjectWriter):
    """One write transaction, written once for both engines: :class:`ParentWriter` (apps, parents,
    locks), :class:`IndexWriter` (field indexes), :class:`ObjectWriter` (objects, grants) and the
    bulk path here. An engine provides ``_run``, ``_run_many`` (and may override ``_send``)."""

    async def put_many(self, parent: ParentRecord, items: Sequence[tuple[str, Builder]]) -> list[PutResult]:
        locked = await self._lock(parent)
        ids = [object_id for object_id, _ in items]
        check_text(*ids)
        if len(set(ids)) != len(ids):
            raise InvalidRequest("The same id appears twice in one bulk write.")
        existing: dict[str, StoredObject] = {}
        for row in await self._rows_by_id(OBJECT_COLUMNS, locked.id, ids):
            existing[row[1]] = object_from_row(row)
        now = now_ms()
        parent_stamp = locked.stamp
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        staged: list[tuple[str, StoredObject | None, NewVersion, int, int, str | None, str]] = []
        for object_id, build in items:
            found = existing.get(object_id)
            current = found if found is not None and not found.deleted else None
            tombstone = found if found is not None and found.deleted else None
            stamp, parent_stamp = next_stamp(parent_stamp, now, None, None)
            version = build(WriteContext(stamp=stamp, current=current, tombstone=tombstone))
            data = dump_document(version.data)
            created = current.created if current is not None else stamp
            if current is not None:
                creator = version.creator if version.set_creator else current.creator
            else:
                creator = version.creator
            check_text(creator)
            if found is None:
                inserts.append((locked.id, object_id, stamp, created, creator, False, data))
            else:
                updates.append((stamp, created, creator, False, data, found.oid))
            staged.append((object_id, current, version, stamp, created, creator, data))
        oids = {object_id: found.oid for object_id, found in existing.items()}
        oids.update(await self._insert_objects(inserts))
        await self._update_objects(updates)
        await self._delete_grants(
            [
                oids[object_id]
                for object_id, current, version, *_ in staged
                if current is not None and version.grants is not None
            ]
        )
        grant_rows = sorted(
            {
                (oids[object_id], perm, principal)
                for object_id, _, version, *_ in staged
                if version.grants is not None
                for perm, principal in version.grants
            }
        )
        check_text(*(principal for _, _, principal in grant_rows))
        await self._insert_rows("grants", ("oid bigint", "perm text", "principal text"), grant_rows)
        if locked.indexes:
            locked = await self._reindex(
                locked,
                [
                    (
                        oids[object_id],
                        orjson.loads(current.data) if current is not None else None,
                        version.data,
                    )
                    for object_id, current, version, *_ in staged
                ],
            )
        results: list[PutResult] = []
        for object_id, current, _version, stamp, created, creator, data in staged:
            oid = oids[object_id]
            stored = StoredObject(
                oid=oid, id=object_id, stamp=stamp, created=created, creator=creator, deleted=False, data=data
            )
            results.append(PutResult(object=stored, created=current is None, previous=current))
        created_count = sum(1 for r in results if r.created)
        self.bulk_rows += len(results)
        await self._save_parent(locked, parent_stamp, live_delta=created_count)
        return results

    async def _insert_objects(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[str, int]]:
        """Insert objects ``(parent_id, id, stamp, created, creator, deleted, data)`` of one
        parent; return ``(id, oid)`` of each."""
        if not rows:
            return []
        await self._run_many(
            self.dialect(
                "INSERT INTO objects (parent_id, id, stamp, created, creator, deleted, data) "
                "VALUES (?, ?, ?, ?, ?, ?, :J:)"
            ),
            rows,
        )
        found = await self._rows_by_id("o.id, o.oid", rows[0][0], [row[1] for row in rows])
        return [(row[0], int(row[1])) for row in found]

    async def _update_objects(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Replace objects: ``(stamp, created, creator, deleted, data, oid)`` each."""
        if rows:
            await self._run_many(
                self.dialect(
                    "UPDATE objects SET stamp = ?, created = ?, creator = ?, deleted = ?, data = :J: "
                    "WHERE oid = ?"
                ),
                rows,
            )

    async def _delete_grants(self, oids: Sequence[int]) -> None:
        """Delete the grants of these objects."""
        if oids:
            await self._run_many(self.dialect("DELETE FROM grants WHERE oid = ?"), [(oid,) for oid in oids])

    async def _rows_by_id(self, columns: str, parent_id: int, ids: Sequence[str]) -> list[Any]:
        """``columns`` of the objects of ``parent_id`` with these ids, 500 ids per statement."""
        found: list[Any] = []
        for chunk in chunks(ids, 500):
            found += await self._all(
                self.dialect(
                    f"SELECT {columns} FROM objects o WHERE o.parent_id = ? AND o.id IN "  # nosec B608: constant columns, '?' per id; ids bound
                    f"({', '.join(['?'] * len(chunk))})"
                ),
                (parent_id, *chunk),
            )
        return found
