"""Writing one object: put, delete, grants."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson

from kinbase.query.ast import Query
from kinbase.storage.base import (
    Builder,
    FindOptions,
    NewVersion,
    ParentRecord,
    PutResult,
    StoredObject,
    WriteContext,
)
from kinbase.storage.sql.indexes import IndexWriter
from kinbase.storage.sql.statements import NO_OPTIONS, check_text, dump_document
from kinbase.storage.stamps import next_stamp, now_ms
from kinbase.types import Stamp

__all__ = ["ObjectWriter"]


class ObjectWriter(IndexWriter):
    """A write transaction over objects, one at a time."""

    async def put(
        self,
        parent: ParentRecord,
        object_id: str,
        build: Builder,
        *,
        requested_stamp: Stamp | None = None,
        new: bool = False,
    ) -> PutResult:
        check_text(object_id)
        if (
            new
            and self.optimistic
            and requested_stamp is None
            and self.dialect.put_ahead is not None
            and parent.id not in self._locked
        ):
            return await self._put_ahead(parent, object_id, build)
        locked, existing, oid = await self._lock_with(
            parent, None if new else object_id, include_deleted=True, reserve=True
        )
        current = existing if existing is not None and not existing.deleted else None
        tombstone = existing if existing is not None and existing.deleted else None
        stamp, parent_stamp = next_stamp(
            locked.stamp, now_ms(), requested_stamp, current.stamp if current is not None else None
        )
        version: NewVersion = build(WriteContext(stamp=stamp, current=current, tombstone=tombstone))
        data = dump_document(version.data)
        if current is not None:
            created = current.created
            creator = version.creator if version.set_creator else current.creator
        else:
            created = stamp
            creator = version.creator
        check_text(creator)
        if existing is None and oid is not None:
            # The oid is known: nothing to wait for (PostgreSQL sends this with the commit).
            await self._send(
                self.dialect(
                    "INSERT INTO objects (oid, parent_id, id, stamp, created, creator, deleted, data) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, :J:)"
                ),
                (oid, locked.id, object_id, stamp, created, creator, False, data),
            )
        elif existing is None:
            oid = await self._insert_oid(
                self.dialect(
                    "INSERT INTO objects (parent_id, id, stamp, created, creator, deleted, data) "
                    "VALUES (?, ?, ?, ?, ?, ?, :J:)"
                ),
                (locked.id, object_id, stamp, created, creator, False, data),
            )
        else:
            oid = existing.oid
            await self._send(
                self.dialect(
                    "UPDATE objects SET stamp = ?, created = ?, creator = ?, deleted = ?, data = :J: "
                    "WHERE oid = ?"
                ),
                (stamp, created, creator, False, data, oid),
            )
        if version.grants is not None:
            await self._replace_grants(oid, version.grants, had_grants=current is not None)
        old_doc = orjson.loads(current.data) if current is not None and locked.indexes else None
        locked = await self._reindex(locked, [(oid, old_doc, version.data)])
        await self._save_parent(locked, parent_stamp, live_delta=0 if current else 1)
        stored = StoredObject(
            oid=oid, id=object_id, stamp=stamp, created=created, creator=creator, deleted=False, data=data
        )
        return PutResult(object=stored, created=current is None, previous=current)

    async def _put_ahead(self, parent: ParentRecord, object_id: str, build: Builder) -> PutResult:
        """An optimistic :meth:`put` of a new object (:attr:`Writer.optimistic`): the stamp is
        predicted from ``parent`` as read (and the stamps this process gave it), the object built
        with it, and the parent's lock taken by :attr:`Dialect.put_ahead`, which checks the
        prediction and writes the object and its grants (one statement), queued: on PostgreSQL
        all of it travels with the commit."""
        # the oid: reserved by the parent's lookup, else now; or, where the caller does not read
        # it and no index entry needs it, taken by the statement itself under the parent's lock
        oid: int | None = None
        if self.needs_oid or parent.indexes or self._next_oid is not None:
            oid = await self._reserve_oid()
        stamp = await self._claim_stamp(parent)
        version: NewVersion = build(WriteContext(stamp=stamp, current=None, tombstone=None))
        data = dump_document(version.data)
        creator = version.creator
        check_text(creator)
        grants = sorted(set(version.grants or ()))
        check_text(*(principal for _, principal in grants))
        assert self.dialect.put_ahead is not None
        await self._send(
            self.dialect.put_ahead,
            (
                oid,
                parent.id,
                object_id,
                stamp,
                creator,
                data,
                parent.version,
                [perm for perm, _ in grants],
                [principal for _, principal in grants],
            ),
        )
        locked = parent.moved(stamp, parent.live + 1)
        self._locked[parent.id] = locked
        if oid is not None:
            await self._reindex(locked, [(oid, None, version.data)])
        stored = StoredObject(
            oid=oid or 0, id=object_id, stamp=stamp, created=stamp, creator=creator, deleted=False, data=data
        )
        return PutResult(object=stored, created=True, previous=None)

    async def _replace_grants(self, oid: int, grants: Iterable[tuple[str, str]], *, had_grants: bool) -> None:
        if had_grants:
            await self._send(self.dialect("DELETE FROM grants WHERE oid = ?"), (oid,))
        rows = sorted({(oid, perm, principal) for perm, principal in grants})
        check_text(*(principal for _, _, principal in rows))
        if rows:
            await self._run_many(
                self.dialect("INSERT INTO grants (oid, perm, principal) VALUES (?, ?, ?)"), rows
            )

    async def set_grants(self, oid: int, grants: Iterable[tuple[str, str]]) -> None:
        await self._replace_grants(oid, grants, had_grants=True)

    async def delete(
        self,
        parent: ParentRecord,
        object_id: str,
        *,
        check: Callable[[StoredObject | None], None] | None = None,
        requested_stamp: Stamp | None = None,
    ) -> tuple[StoredObject, StoredObject] | None:
        locked, current, _ = await self._lock_with(parent, object_id, include_deleted=False)
        if check is not None:
            check(current)
        if current is None:
            return None
        return await self._tombstone(locked, current, requested_stamp)

    async def _tombstone(
        self, parent: ParentRecord, current: StoredObject, requested_stamp: Stamp | None = None
    ) -> tuple[StoredObject, StoredObject]:
        locked = await self._lock(parent)
        stamp, parent_stamp = next_stamp(locked.stamp, now_ms(), requested_stamp, current.stamp)
        await self._send(
            self.dialect("UPDATE objects SET stamp = ?, deleted = ?, data = :J: WHERE oid = ?"),
            (stamp, True, "{}", current.oid),
        )
        await self._send(self.dialect("DELETE FROM grants WHERE oid = ?"), (current.oid,))
        if locked.indexes:
            locked = await self._reindex(locked, [(current.oid, orjson.loads(current.data), None)])
        await self._save_parent(locked, parent_stamp, live_delta=-1)
        tombstone = StoredObject(
            oid=current.oid,
            id=current.id,
            stamp=stamp,
            created=current.created,
            creator=current.creator,
            deleted=True,
            data="{}",
        )
        return tombstone, current

    async def delete_matching(
        self, parent: ParentRecord, query: Query, options: FindOptions | None = None
    ) -> list[tuple[StoredObject, StoredObject]]:
        locked = await self._lock(parent)
        opts = options or NO_OPTIONS
        if opts.include_deleted:
            opts = FindOptions(acl=opts.acl, since=opts.since, before=opts.before, columns=opts.columns)
        victims = await self.find(locked, query, opts)
        return await self._tombstone_many(locked, victims)

    async def _tombstone_many(
        self, parent: ParentRecord, victims: list[StoredObject]
    ) -> list[tuple[StoredObject, StoredObject]]:
        """:meth:`_tombstone` for many objects, in order, with one statement per kind of change
        (executemany) and one save of the parent."""
        if not victims:
            return []
        locked = await self._lock(parent)
        now = now_ms()
        parent_stamp = locked.stamp
        pairs: list[tuple[StoredObject, StoredObject]] = []
        for current in victims:
            stamp, parent_stamp = next_stamp(parent_stamp, now, None, current.stamp)
            tombstone = StoredObject(
                oid=current.oid,
                id=current.id,
                stamp=stamp,
                created=current.created,
                creator=current.creator,
                deleted=True,
                data="{}",
            )
            pairs.append((tombstone, current))
        await self._run_many(
            self.dialect("UPDATE objects SET stamp = ?, deleted = ?, data = :J: WHERE oid = ?"),
            [(tombstone.stamp, True, "{}", tombstone.oid) for tombstone, _ in pairs],
        )
        await self._run_many(self.dialect("DELETE FROM grants WHERE oid = ?"), [(v.oid,) for v in victims])
        if locked.indexes:
            locked = await self._reindex(locked, [(v.oid, orjson.loads(v.data), None) for v in victims])
        await self._save_parent(locked, parent_stamp, live_delta=-len(victims))
        return pairs

    async def purge_tombstones(self, parent: ParentRecord, before: Stamp | None = None) -> int:
        if before is None:
            return await self._run(
                self.dialect("DELETE FROM objects WHERE parent_id = ? AND deleted"), (parent.id,)
            )
        return await self._run(
            self.dialect("DELETE FROM objects WHERE parent_id = ? AND deleted AND stamp < ?"),
            (parent.id, before),
        )
