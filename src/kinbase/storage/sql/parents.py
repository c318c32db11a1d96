"""The base of a SQL write transaction: the engine's write primitives, apps, server values, and the
parents with their locks."""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from kinbase.errors import AlreadyExists, AppNotFound, CollectionNotFound
from kinbase.storage.base import AppRecord, ParentRecord, StoredObject, Writer
from kinbase.storage.sql.reader import DROPPED_KIND, SqlReader
from kinbase.storage.sql.statements import (
    APP_COLUMNS,
    OBJECT_COLUMNS,
    PARENT_COLUMNS,
    Row,
    app_from_row,
    check_text,
    object_from_row,
    parent_from_row,
)
from kinbase.storage.stamps import now_ms
from kinbase.types import Stamp

__all__ = ["ParentWriter"]


class ParentWriter(SqlReader, Writer):
    """Apps, server values and parents; the locks a write takes on a parent."""

    reads_locked = False
    """Whether every row this transaction reads is already locked by it (SQLite: ``BEGIN
    IMMEDIATE`` holds the database's one write lock), so a parent read by :meth:`ensure_parent`
    counts as locked and the write that follows does not read it again."""

    def __init__(self) -> None:
        self._locked: dict[int, ParentRecord] = {}
        self._wrote = False
        self._next_oid: int | None = None
        """Whether this transaction sent a write (engines that queue optimistic puts)."""
        self.dropped: list[int] = []
        """Parents detached by :meth:`delete_parent`; the engine purges their rows after the
        commit, in bounded transactions (:func:`kinbase.storage.sql.purge.purge_dropped`)."""
        self.bulk_rows = 0
        """Objects written by :meth:`put_many` (PostgreSQL refreshes its statistics after many)."""

    @abstractmethod
    async def _run(self, sql: str, params: Sequence[Any] = (), *, long: bool = False) -> int:
        """Run a statement; return the number of rows it changed. ``long`` marks one that may
        take long (SQLite runs it off the event loop)."""

    @abstractmethod
    async def _run_many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        """Run a statement once per parameter tuple (no result needed; may be queued)."""

    async def _insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, suffix: str = ""
    ) -> None:
        """``INSERT INTO table`` one row per tuple of ``rows`` (no result needed; may be queued).
        ``columns`` are ``"name type"`` with the PostgreSQL type (``jsonb`` marks a JSON text);
        ``suffix`` follows the statement (``ON CONFLICT DO NOTHING``). This runs one statement per
        row (SQLite's ``executemany`` is a loop in C); PostgreSQL sends the rows as arrays in one
        statement."""
        if not rows:
            return
        names = ", ".join(column.split()[0] for column in columns)
        marks = ", ".join(":J:" if column.endswith(" jsonb") else "?" for column in columns)
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks}) {suffix}"  # nosec B608: constant table and columns; every value is bound
        await self._run_many(self.dialect(sql.rstrip()), rows)

    async def _insert_oid(self, sql: str, params: Sequence[Any]) -> int:
        """Run ``sql``, an ``INSERT`` of one object row without its oid; return the oid given."""
        row = await self._one(sql + " RETURNING oid", params)
        assert row is not None
        return int(row[0])

    async def _one_each(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[Row | None]:
        """Run statements in order and return the first row of each. An engine may send them
        together (PostgreSQL's pipeline: one round trip); each still runs after the one before it
        finished, so a read placed after a lock sees what was committed before the lock was granted."""
        return [await self._one(sql, params) for sql, params in statements]

    async def _one_before(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """:meth:`_one` for a read that takes no lock and writes nothing the transaction could
        undo, made before the transaction's first write or lock. An engine may run it before its
        transaction begins (PostgreSQL: in autocommit, so a writer that then only queues an
        optimistic put never opens a transaction); under READ COMMITTED it sees the same."""
        return await self._one(sql, params)

    async def _send(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a statement whose result is not needed. An engine may queue it (PostgreSQL's
        pipeline sends it with the next statement that needs an answer, or with the commit);
        its errors still abort the transaction."""
        await self._run(sql, params)

    async def _reserve_oid(self) -> int:
        """The oid of an object about to be inserted by an optimistic put (engines with
        :attr:`Dialect.next_oid`): reserved with the parent's lookup, else now. Taken before the
        commit, as the pessimistic put takes it under the lock, so the insertion order (``oid``)
        of writes that are not concurrent is the order they were made in."""
        oid, self._next_oid = self._next_oid, None
        if oid is None:
            assert self.dialect.next_oid is not None
            # nothing to undo: before the transaction where it has not begun (PostgreSQL)
            row = await self._one_before(f"SELECT {self.dialect.next_oid}")
            assert row is not None
            oid = int(row[0])
        return oid

    async def _claim_stamp(self, parent: ParentRecord) -> Stamp:
        """The stamp an optimistic put of a new object in ``parent`` gives it: ``max(now, the
        parent's stamp + 1)``, and above every stamp this process claimed or saw on it."""
        return max(now_ms(), parent.stamp + 1)

    def _saw_stamp(self, parent_id: int, stamp: Stamp) -> None:
        """Told of every stamp a parent is given in this transaction (for :meth:`_predict_stamp`)."""

    # -- apps -----------------------------------------------------------------------------
    async def create_app(
        self, key: str, name: str, app_secret: str, master_secret: str, settings: Mapping[str, Any]
    ) -> AppRecord:
        if await self.get_app(key) is not None:
            raise AlreadyExists(f"An app with the key {key!r} already exists.")
        row = await self._one(
            self.dialect(
                "INSERT INTO apps (app_key, name, app_secret, master_secret, settings, created) "  # nosec B608: constant columns and placeholders; every value is bound
                f"VALUES (?, ?, ?, ?, :J:, ?) RETURNING {APP_COLUMNS}"
            ),
            (key, name, app_secret, master_secret, orjson.dumps(dict(settings)).decode(), now_ms()),
        )
        assert row is not None
        return app_from_row(row)

    async def update_app(
        self, app_id: int, *, name: str | None = None, settings: Mapping[str, Any] | None = None
    ) -> AppRecord:
        app = await self.get_app_by_id(app_id)
        if app is None:
            raise AppNotFound()
        row = await self._one(
            self.dialect(
                f"UPDATE apps SET name = ?, settings = :J:, version = version + 1 WHERE id = ? "  # nosec B608: constant columns and placeholders; every value is bound
                f"RETURNING {APP_COLUMNS}"
            ),
            (
                app.name if name is None else name,
                orjson.dumps(dict(app.settings if settings is None else settings)).decode(),
                app_id,
            ),
        )
        assert row is not None
        return app_from_row(row)

    async def delete_app(self, app_id: int) -> bool:
        rows = await self._all(self.dialect("SELECT id FROM parents WHERE app_id = ?"), (app_id,))
        for (parent_id,) in rows:
            await self._drop_parent(int(parent_id))
        return await self._run(self.dialect("DELETE FROM apps WHERE id = ?"), (app_id,)) > 0

    async def set_meta(self, key: str, value: str) -> None:
        await self._run(
            self.dialect(
                "INSERT INTO server_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ),
            (key, value),
        )

    # -- parents --------------------------------------------------------------------------
    async def ensure_parent(self, app_id: int, kind: str, name: str) -> ParentRecord:
        locked = next(
            (p for p in self._locked.values() if (p.app_id, p.kind, p.name) == (app_id, kind, name)), None
        )
        if locked is not None:
            return locked
        check_text(kind, name)
        # Not locked here: the write that follows locks the parent as late as it can (see put).
        where = "p.app_id = ? AND p.kind = ? AND p.name = ?"
        ahead = self.dialect.next_oid is not None and self.dialect.put_ahead is not None
        if self.optimistic and ahead and self._next_oid is None:
            # the oid of the optimistic put that follows, reserved by the lookup itself (one
            # statement, before the transaction: the put only queues its writes); none if the
            # parent is new (its creation locks it, and the put that follows takes its own)
            sql = f"SELECT {PARENT_COLUMNS}, {self.dialect.next_oid} FROM parents p WHERE {where}"  # nosec B608: constant columns and WHERE; every value is bound
            row = await self._one_before(self.dialect(sql), (app_id, kind, name))
            if row is not None:
                self._next_oid = int(row[-1])
        else:
            row = await self._one(self._parent_sql(where), (app_id, kind, name))
        if row is not None:
            found = parent_from_row(row)
            if self.reads_locked:
                self._locked[found.id] = found
            return found
        row = await self._one(
            self.dialect(
                "INSERT INTO parents (app_id, kind, name, stamp, created, settings) "
                "VALUES (?, ?, ?, ?, ?, :J:) "
                "ON CONFLICT (app_id, kind, name) DO UPDATE SET version = parents.version "
                "RETURNING id, app_id, kind, name, stamp, settings:TEXT:, version, created, live"
            ),
            (app_id, kind, name, now_ms(), now_ms(), "{}"),  # the column's default, as JSONB on SQLite
        )
        assert row is not None
        parent = parent_from_row(row)
        self._locked[parent.id] = parent
        return parent

    async def _lock_with(
        self, parent: ParentRecord, object_id: str | None, *, include_deleted: bool, reserve: bool = False
    ) -> tuple[ParentRecord, StoredObject | None, int | None]:
        """Lock the parent, then read one of its objects (none if ``object_id`` is None) and, with
        ``reserve``, reserve an oid where the engine can (:attr:`Dialect.next_oid`, else None).

        The statements travel together (one round trip on PostgreSQL), the lock first: the object
        is read by a later statement, so a writer that queued on the lock reads the object as the
        writer before it committed it. (One statement joining the object to the locked parent
        would not: under READ COMMITTED, PostgreSQL re-reads only the locked row after the wait,
        and the joined object would be the version from before it, a lost update.)
        """
        locked = self._locked.get(parent.id)
        statements: list[tuple[str, Sequence[Any]]] = []
        if locked is None:
            statements.append((self._parent_sql("p.id = ? :FOR_UPDATE:"), (parent.id,)))
        if object_id is not None:
            sql = f"SELECT {OBJECT_COLUMNS} FROM objects o WHERE o.parent_id = ? AND o.id = ?"  # nosec B608: constant columns and placeholders; every value is bound
            if not include_deleted:
                sql += " AND NOT o.deleted"
            statements.append((self.dialect(sql), (parent.id, object_id)))
        if reserve and self.dialect.next_oid is not None:
            statements.append((f"SELECT {self.dialect.next_oid}", ()))
        rows = iter(await self._one_each(statements))
        if locked is None:
            row = next(rows)
            if row is None:
                raise CollectionNotFound(f"The collection {parent.name!r} was dropped meanwhile.")
            locked = parent_from_row(row)
            self._locked[locked.id] = locked
        found: StoredObject | None = None
        if object_id is not None:
            row = next(rows)
            found = object_from_row(row) if row is not None else None
        oid: int | None = None
        if reserve and self.dialect.next_oid is not None:
            row = next(rows)
            assert row is not None
            oid = int(row[0])
        return locked, found, oid

    async def _lock(self, parent: ParentRecord) -> ParentRecord:
        locked = self._locked.get(parent.id)
        if locked is not None:
            return locked
        row = await self._one(self._parent_sql("p.id = ? :FOR_UPDATE:"), (parent.id,))
        if row is None:
            raise CollectionNotFound(f"The collection {parent.name!r} was dropped meanwhile.")
        locked = parent_from_row(row)
        self._locked[parent.id] = locked
        return locked

    async def _save_parent(self, parent: ParentRecord, stamp: Stamp, *, live_delta: int = 0) -> None:
        self._locked[parent.id] = parent.moved(stamp, parent.live + live_delta)
        self._saw_stamp(parent.id, stamp)
        await self._send(
            self.dialect("UPDATE parents SET stamp = ?, live = live + ? WHERE id = ?"),
            (stamp, live_delta, parent.id),
        )

    async def lock_parent(self, parent: ParentRecord) -> ParentRecord:
        return await self._lock(parent)

    async def get_object_for_update(
        self, parent: ParentRecord, object_id: str, *, include_deleted: bool = False
    ) -> StoredObject | None:
        check_text(object_id)
        _, found, _ = await self._lock_with(parent, object_id, include_deleted=include_deleted)
        return found

    async def update_parent_settings(self, parent: ParentRecord, settings: Mapping[str, Any]) -> ParentRecord:
        locked = await self._lock(parent)
        merged = dict(settings)
        if "indexes" in locked.settings:
            merged["indexes"] = locked.settings["indexes"]
            merged["next_slot"] = locked.settings.get("next_slot", 1)
        else:
            merged.pop("indexes", None)
            merged.pop("next_slot", None)
        return await self._write_settings(locked, merged)

    async def _write_settings(self, parent: ParentRecord, settings: dict[str, Any]) -> ParentRecord:
        await self._send(
            self.dialect("UPDATE parents SET settings = :J:, version = version + 1 WHERE id = ?"),
            (orjson.dumps(settings).decode(), parent.id),
        )
        updated = dataclasses.replace(parent, settings=settings, version=parent.version + 1)
        self._locked[parent.id] = updated
        return updated

    async def delete_parent(self, parent: ParentRecord) -> int:
        """Detach the parent in this transaction (it is renamed out of its app's namespace, so
        no read finds it and its name is free at once); its objects, grants and index entries
        are deleted after the commit, a bounded chunk per transaction, so dropping a collection
        of any size never holds the database (or SQLite's event loop) for long."""
        locked = await self._lock(parent)
        live = await self._live(locked.id)
        await self._run(
            self.dialect("UPDATE parents SET kind = ?, name = ? WHERE id = ?"),
            (DROPPED_KIND, str(locked.id), locked.id),
        )
        self._locked.pop(locked.id, None)
        self.dropped.append(locked.id)
        return live

    async def purge_chunk(self, parent_id: int, size: int) -> int:
        """Delete up to ``size`` objects of a detached parent with their grants and index entries;
        the parent row itself once none is left. Returns how many objects were deleted."""
        victims = f"SELECT oid FROM objects WHERE parent_id = ? ORDER BY oid LIMIT {int(size)}"  # nosec B608: LIMIT is an int()
        for table in ("field_values", "compound_values"):
            await self._run(
                self.dialect(f"DELETE FROM {table} WHERE parent_id = ? AND oid IN ({victims})"),  # nosec B608: constant table and subquery
                (parent_id, parent_id),
            )
        await self._run(self.dialect(f"DELETE FROM grants WHERE oid IN ({victims})"), (parent_id,))  # nosec B608: constant subquery
        deleted = await self._run(self.dialect(f"DELETE FROM objects WHERE oid IN ({victims})"), (parent_id,))  # nosec B608: constant subquery
        if deleted == 0:
            await self._run(self.dialect("DELETE FROM field_values WHERE parent_id = ?"), (parent_id,))
            await self._run(self.dialect("DELETE FROM compound_values WHERE parent_id = ?"), (parent_id,))
            await self._run(self.dialect("DELETE FROM parents WHERE id = ?"), (parent_id,))
        return deleted

    async def _drop_parent(self, parent_id: int) -> None:
        """Delete a parent and everything in it in this transaction (app deletion, an admin
        operation: the statements run off SQLite's event loop)."""
        await self._run(self.dialect("DELETE FROM field_values WHERE parent_id = ?"), (parent_id,), long=True)
        await self._run(
            self.dialect("DELETE FROM compound_values WHERE parent_id = ?"), (parent_id,), long=True
        )
        await self._run(
            self.dialect("DELETE FROM grants WHERE oid IN (SELECT oid FROM objects WHERE parent_id = ?)"),
            (parent_id,),
            long=True,
        )
        await self._run(self.dialect("DELETE FROM objects WHERE parent_id = ?"), (parent_id,), long=True)
        await self._run(self.dialect("DELETE FROM parents WHERE id = ?"), (parent_id,))
