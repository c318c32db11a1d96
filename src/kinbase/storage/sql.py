"""The storage logic shared by the SQL engines.

SQLite and PostgreSQL run the same statements and the same write algorithm; an engine only provides
four primitives (:meth:`SqlReader._one`, ``_all``, ``_run``, ``_run_many``) and a :class:`Dialect`
that rewrites the few spots where the two SQLs differ. Statements are written with ``?``
placeholders and the markers ``:J:`` (a JSON parameter), ``:TEXT:`` (after a JSON column: read it
as text) and ``:FOR_UPDATE:`` (lock the selected rows).
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from kinbase.errors import AlreadyExists, AppNotFound, CollectionNotFound, InvalidRequest
from kinbase.query.ast import Query
from kinbase.query.sql import CompileContext, Sql, compile_find, index_entries, is_multikey
from kinbase.storage.base import (
    AclFilter,
    AppRecord,
    Builder,
    FindOptions,
    NewVersion,
    ParentRecord,
    PutResult,
    Reader,
    StoredObject,
    WriteContext,
    Writer,
)
from kinbase.storage.stamps import next_stamp, now_ms
from kinbase.types import Document, Path, Stamp

__all__ = ["Dialect", "SqlReader", "SqlWriter"]

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one engine spells the markers of the shared statements."""

    name: str  # "sqlite" | "postgresql"
    placeholder: str
    json_param: str
    text_cast: str
    for_update: str
    for_update_of_p: str

    def __call__(self, sql: str) -> str:
        return _translate(self, sql)


@lru_cache(maxsize=512)
def _translate(dialect: Dialect, sql: str) -> str:
    out = sql.replace(":J:", "\0J").replace("?", dialect.placeholder).replace("\0J", dialect.json_param)
    out = out.replace(":TEXT:", dialect.text_cast).replace(":FOR_UPDATE_OF_P:", dialect.for_update_of_p)
    return out.replace(":FOR_UPDATE:", dialect.for_update)


_APP_COLUMNS = "id, app_key, name, app_secret, master_secret, settings:TEXT:, version, created"
_PARENT_COLUMNS = "p.id, p.app_id, p.kind, p.name, p.stamp, p.settings:TEXT:, p.version, p.created, p.live"
_OBJECT_COLUMNS = "o.oid, o.id, o.stamp, o.created, o.creator, o.deleted, o.data:TEXT:"


def _loads_settings(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    result = orjson.loads(value)
    assert isinstance(result, dict)
    return result


def _app(row: Row) -> AppRecord:
    return AppRecord(
        id=int(row[0]),
        key=row[1],
        name=row[2],
        app_secret=row[3],
        master_secret=row[4],
        settings=_loads_settings(row[5]),
        version=int(row[6]),
        created=int(row[7]),
    )


def _parent(row: Row) -> ParentRecord:
    return ParentRecord(
        id=int(row[0]),
        app_id=int(row[1]),
        kind=row[2],
        name=row[3],
        stamp=int(row[4]),
        settings=_loads_settings(row[5]),
        version=int(row[6]),
        created=int(row[7]),
        live=int(row[8]),
    )


def _object(row: Row) -> StoredObject:
    # Positional: this runs once per row of every read (both drivers return ints for the integer
    # columns; SQLite returns 0/1 for ``deleted``).
    return StoredObject(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6])


_NO_OPTIONS = FindOptions()


class SqlReader(Reader):
    """Reads, written once for both engines."""

    dialect: Dialect

    # -- primitives an engine provides ------------------------------------------------------
    @abstractmethod
    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Run a statement (already translated) and return its first row."""

    @abstractmethod
    async def _all(self, sql: str, params: Sequence[Any] = (), *, long: bool = False) -> list[Row]:
        """Run a statement and return every row. ``long`` marks a statement that may take long."""

    # -- helpers --------------------------------------------------------------------------
    def _parent_sql(self, where: str) -> str:
        return self.dialect(f"SELECT {_PARENT_COLUMNS} FROM parents p WHERE {where}")

    def _context(self, parent: ParentRecord, options: FindOptions) -> CompileContext:
        return CompileContext(
            dialect="sqlite" if self.dialect.name == "sqlite" else "postgresql",
            parent_id=parent.id,
            indexes={i.path: i for i in parent.indexes},
            id_path=options.columns.id,
            stamp_path=options.columns.stamp,
            index_sort=not options.include_deleted,
        )

    def _base_where(self, parent: ParentRecord, options: FindOptions) -> Sql:
        ph = self.dialect.placeholder
        text = f"o.parent_id = {ph}"
        params: list[Any] = [parent.id]
        if not options.include_deleted:
            text += " AND NOT o.deleted"
        if options.since is not None:
            text += f" AND o.stamp > {ph}"
            params.append(options.since)
        if options.before is not None:
            text += f" AND o.stamp < {ph}"
            params.append(options.before)
        if options.acl is not None:
            text += " AND " + self._acl_sql(options.acl, params)
        return Sql(text, params)

    def _acl_sql(self, acl: AclFilter, params: list[Any]) -> str:
        if not acl.perms or not acl.principals:
            return "1 = 0"
        ph = self.dialect.placeholder
        perms = ", ".join([ph] * len(acl.perms))
        principals = ", ".join([ph] * len(acl.principals))
        params.extend(acl.perms)
        params.extend(acl.principals)
        return (
            "EXISTS (SELECT 1 FROM grants g WHERE g.oid = o.oid "
            f"AND g.perm IN ({perms}) AND g.principal IN ({principals}))"
        )

    def _is_long(self, parent: ParentRecord) -> bool:
        """Whether a query over ``parent`` might scan enough rows to be run off the event loop."""
        return parent.live > 20_000

    # -- apps -----------------------------------------------------------------------------
    async def get_app(self, key: str) -> AppRecord | None:
        row = await self._one(self.dialect(f"SELECT {_APP_COLUMNS} FROM apps WHERE app_key = ?"), (key,))
        return _app(row) if row else None

    async def get_app_by_id(self, app_id: int) -> AppRecord | None:
        row = await self._one(self.dialect(f"SELECT {_APP_COLUMNS} FROM apps WHERE id = ?"), (app_id,))
        return _app(row) if row else None

    async def list_apps(self) -> list[AppRecord]:
        rows = await self._all(self.dialect(f"SELECT {_APP_COLUMNS} FROM apps ORDER BY id"))
        return [_app(r) for r in rows]

    async def get_meta(self, key: str) -> str | None:
        row = await self._one(self.dialect("SELECT value FROM server_meta WHERE key = ?"), (key,))
        return row[0] if row else None

    # -- parents --------------------------------------------------------------------------
    async def get_parent(self, app_id: int, kind: str, name: str) -> ParentRecord | None:
        row = await self._one(
            self._parent_sql("p.app_id = ? AND p.kind = ? AND p.name = ?"), (app_id, kind, name)
        )
        return _parent(row) if row else None

    async def list_parents(self, app_id: int, kind: str, name_prefix: str = "") -> list[ParentRecord]:
        rows = await self._all(
            self._parent_sql("p.app_id = ? AND p.kind = ? AND substr(p.name, 1, ?) = ? ORDER BY p.name"),
            (app_id, kind, len(name_prefix), name_prefix),
        )
        return [_parent(r) for r in rows]

    # -- objects --------------------------------------------------------------------------
    async def get_object(
        self, parent: ParentRecord, object_id: str, *, include_deleted: bool = False
    ) -> StoredObject | None:
        sql = f"SELECT {_OBJECT_COLUMNS} FROM objects o WHERE o.parent_id = ? AND o.id = ?"
        if not include_deleted:
            sql += " AND NOT o.deleted"
        row = await self._one(self.dialect(sql), (parent.id, object_id))
        return _object(row) if row else None

    async def find(
        self, parent: ParentRecord, query: Query, options: FindOptions | None = None
    ) -> list[StoredObject]:
        opts = options or _NO_OPTIONS
        sql = compile_find(
            query,
            self._context(parent, opts),
            select=self.dialect(_OBJECT_COLUMNS),
            where=self._base_where(parent, opts),
        )
        rows = await self._all(sql.text, sql.params, long=self._is_long(parent))
        return [_object(r) for r in rows]

    async def count(self, parent: ParentRecord, query: Query, options: FindOptions | None = None) -> int:
        opts = options or _NO_OPTIONS
        if query.filter is None and opts == _NO_OPTIONS:
            return await self._live(parent.id)
        sql = compile_find(
            query,
            self._context(parent, opts),
            select="count(*)",
            where=self._base_where(parent, opts),
            count=True,
        )
        rows = await self._all(sql.text, sql.params, long=self._is_long(parent))
        return int(rows[0][0])

    async def _live(self, parent_id: int) -> int:
        row = await self._one(self.dialect("SELECT live FROM parents WHERE id = ?"), (parent_id,))
        return int(row[0]) if row else 0

    async def get_grants(self, oid: int) -> list[tuple[str, str]]:
        rows = await self._all(
            self.dialect("SELECT perm, principal FROM grants WHERE oid = ? ORDER BY perm, principal"), (oid,)
        )
        return [(r[0], r[1]) for r in rows]

    async def find_granted(
        self, app_id: int, kinds: Sequence[str], principals: Sequence[str]
    ) -> list[tuple[ParentRecord, StoredObject, list[str]]]:
        if not kinds or not principals:
            return []
        ph = self.dialect.placeholder
        sql = self.dialect(
            f"SELECT {_PARENT_COLUMNS}, {_OBJECT_COLUMNS}, g.perm "
            "FROM grants g JOIN objects o ON o.oid = g.oid JOIN parents p ON p.id = o.parent_id "
            "WHERE p.app_id = ? AND NOT o.deleted "
        )
        sql += f"AND p.kind IN ({', '.join([ph] * len(kinds))}) "
        sql += f"AND g.principal IN ({', '.join([ph] * len(principals))}) ORDER BY o.oid, g.perm"
        rows = await self._all(sql, (app_id, *kinds, *principals), long=True)
        result: list[tuple[ParentRecord, StoredObject, list[str]]] = []
        for row in rows:
            perm = row[16]
            if result and result[-1][1].oid == int(row[9]):
                if perm not in result[-1][2]:
                    result[-1][2].append(perm)
                continue
            result.append((_parent(row[:9]), _object(row[9:16]), [perm]))
        return result


class SqlWriter(SqlReader, Writer):
    """One write transaction, written once for both engines."""

    def __init__(self) -> None:
        self._locked: dict[int, ParentRecord] = {}

    @abstractmethod
    async def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; return the number of rows it changed."""

    @abstractmethod
    async def _run_many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        """Run a statement once per parameter tuple (no result needed; may be queued)."""

    async def _send(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a statement whose result is not needed. An engine may queue it (PostgreSQL's
        pipeline sends it with the next statement that needs an answer, or with the commit);
        its errors still abort the transaction."""
        await self._run(sql, params)

    # -- apps -----------------------------------------------------------------------------
    async def create_app(
        self, key: str, name: str, app_secret: str, master_secret: str, settings: Mapping[str, Any]
    ) -> AppRecord:
        if await self.get_app(key) is not None:
            raise AlreadyExists(f"An app with the key {key!r} already exists.")
        row = await self._one(
            self.dialect(
                "INSERT INTO apps (app_key, name, app_secret, master_secret, settings, created) "
                f"VALUES (?, ?, ?, ?, :J:, ?) RETURNING {_APP_COLUMNS}"
            ),
            (key, name, app_secret, master_secret, orjson.dumps(dict(settings)).decode(), now_ms()),
        )
        assert row is not None
        return _app(row)

    async def update_app(
        self, app_id: int, *, name: str | None = None, settings: Mapping[str, Any] | None = None
    ) -> AppRecord:
        app = await self.get_app_by_id(app_id)
        if app is None:
            raise AppNotFound()
        row = await self._one(
            self.dialect(
                f"UPDATE apps SET name = ?, settings = :J:, version = version + 1 WHERE id = ? "
                f"RETURNING {_APP_COLUMNS}"
            ),
            (
                app.name if name is None else name,
                orjson.dumps(dict(app.settings if settings is None else settings)).decode(),
                app_id,
            ),
        )
        assert row is not None
        return _app(row)

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
        # Not locked here: the write that follows locks the parent as late as it can (see put).
        row = await self._one(
            self._parent_sql("p.app_id = ? AND p.kind = ? AND p.name = ?"), (app_id, kind, name)
        )
        if row is not None:
            return _parent(row)
        row = await self._one(
            self.dialect(
                "INSERT INTO parents (app_id, kind, name, stamp, created) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (app_id, kind, name) DO UPDATE SET version = parents.version "
                "RETURNING id, app_id, kind, name, stamp, settings:TEXT:, version, created, live"
            ),
            (app_id, kind, name, now_ms(), now_ms()),
        )
        assert row is not None
        parent = _parent(row)
        self._locked[parent.id] = parent
        return parent

    async def _lock_with(
        self, parent: ParentRecord, object_id: str, *, include_deleted: bool
    ) -> tuple[ParentRecord, StoredObject | None]:
        """Lock the parent and read one of its objects, in one statement when the parent is not
        locked yet (the lock is then held for the fewest round trips before the commit)."""
        if parent.id in self._locked:
            locked = self._locked[parent.id]
            return locked, await self.get_object(locked, object_id, include_deleted=include_deleted)
        row = await self._one(
            self.dialect(
                f"SELECT {_PARENT_COLUMNS}, {_OBJECT_COLUMNS} FROM parents p "
                "LEFT JOIN objects o ON o.parent_id = p.id AND o.id = ? "
                "WHERE p.id = ? :FOR_UPDATE_OF_P:"
            ),
            (object_id, parent.id),
        )
        if row is None:
            raise CollectionNotFound(f"The collection {parent.name!r} was dropped meanwhile.")
        locked = _parent(row[:9])
        self._locked[locked.id] = locked
        found = _object(row[9:]) if row[9] is not None else None
        if found is not None and found.deleted and not include_deleted:
            found = None
        return locked, found

    async def _lock(self, parent: ParentRecord) -> ParentRecord:
        locked = self._locked.get(parent.id)
        if locked is not None:
            return locked
        row = await self._one(self._parent_sql("p.id = ? :FOR_UPDATE:"), (parent.id,))
        if row is None:
            raise CollectionNotFound(f"The collection {parent.name!r} was dropped meanwhile.")
        locked = _parent(row)
        self._locked[parent.id] = locked
        return locked

    async def _save_parent(self, parent: ParentRecord, stamp: Stamp, *, live_delta: int = 0) -> None:
        self._locked[parent.id] = dataclasses.replace(parent, stamp=stamp, live=parent.live + live_delta)
        await self._send(
            self.dialect("UPDATE parents SET stamp = ?, live = live + ? WHERE id = ?"),
            (stamp, live_delta, parent.id),
        )

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
        locked = await self._lock(parent)
        live = await self._live(locked.id)
        await self._drop_parent(locked.id)
        self._locked.pop(locked.id, None)
        return live

    async def _drop_parent(self, parent_id: int) -> None:
        await self._run(self.dialect("DELETE FROM field_values WHERE parent_id = ?"), (parent_id,))
        await self._run(
            self.dialect("DELETE FROM grants WHERE oid IN (SELECT oid FROM objects WHERE parent_id = ?)"),
            (parent_id,),
        )
        await self._run(self.dialect("DELETE FROM objects WHERE parent_id = ?"), (parent_id,))
        await self._run(self.dialect("DELETE FROM parents WHERE id = ?"), (parent_id,))

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

    # -- objects --------------------------------------------------------------------------
    async def put(
        self,
        parent: ParentRecord,
        object_id: str,
        build: Builder,
        *,
        requested_stamp: Stamp | None = None,
        new: bool = False,
    ) -> PutResult:
        if new:
            locked, existing = await self._lock(parent), None
        else:
            locked, existing = await self._lock_with(parent, object_id, include_deleted=True)
        current = existing if existing is not None and not existing.deleted else None
        tombstone = existing if existing is not None and existing.deleted else None
        stamp, parent_stamp = next_stamp(
            locked.stamp, now_ms(), requested_stamp, current.stamp if current is not None else None
        )
        version: NewVersion = build(WriteContext(stamp=stamp, current=current, tombstone=tombstone))
        data = orjson.dumps(version.data).decode()
        if current is not None:
            created = current.created
            creator = version.creator if version.set_creator else current.creator
        else:
            created = stamp
            creator = version.creator
        if existing is None:
            row = await self._one(
                self.dialect(
                    "INSERT INTO objects (parent_id, id, stamp, created, creator, deleted, data) "
                    "VALUES (?, ?, ?, ?, ?, ?, :J:) RETURNING oid"
                ),
                (locked.id, object_id, stamp, created, creator, False, data),
            )
            assert row is not None
            oid = int(row[0])
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

    async def put_many(self, parent: ParentRecord, items: Sequence[tuple[str, Builder]]) -> list[PutResult]:
        locked = await self._lock(parent)
        ids = [object_id for object_id, _ in items]
        if len(set(ids)) != len(ids):
            raise InvalidRequest("The same id appears twice in one bulk write.")
        existing: dict[str, StoredObject] = {}
        for chunk in _chunks(ids, 500):
            rows = await self._all(
                self.dialect(
                    f"SELECT {_OBJECT_COLUMNS} FROM objects o WHERE o.parent_id = ? AND o.id IN "
                    f"({', '.join(['?'] * len(chunk))})"
                ),
                (locked.id, *chunk),
            )
            existing.update((row[1], _object(row)) for row in rows)
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
            data = orjson.dumps(version.data).decode()
            created = current.created if current is not None else stamp
            if current is not None:
                creator = version.creator if version.set_creator else current.creator
            else:
                creator = version.creator
            if found is None:
                inserts.append((locked.id, object_id, stamp, created, creator, False, data))
            else:
                updates.append((stamp, created, creator, False, data, found.oid))
            staged.append((object_id, current, version, stamp, created, creator, data))
        if inserts:
            await self._run_many(
                self.dialect(
                    "INSERT INTO objects (parent_id, id, stamp, created, creator, deleted, data) "
                    "VALUES (?, ?, ?, ?, ?, ?, :J:)"
                ),
                inserts,
            )
        if updates:
            await self._run_many(
                self.dialect(
                    "UPDATE objects SET stamp = ?, created = ?, creator = ?, deleted = ?, data = :J: "
                    "WHERE oid = ?"
                ),
                updates,
            )
        oids = {object_id: found.oid for object_id, found in existing.items()}
        new_ids = [row[1] for row in inserts]
        for chunk in _chunks(new_ids, 500):
            rows = await self._all(
                self.dialect(
                    f"SELECT o.id, o.oid FROM objects o WHERE o.parent_id = ? AND o.id IN "
                    f"({', '.join(['?'] * len(chunk))})"
                ),
                (locked.id, *chunk),
            )
            oids.update((row[0], int(row[1])) for row in rows)
        grant_deletes = [
            (oids[oid_id],)
            for oid_id, current, version, *_ in staged
            if current is not None and version.grants is not None
        ]
        if grant_deletes:
            await self._run_many(self.dialect("DELETE FROM grants WHERE oid = ?"), grant_deletes)
        grant_rows = sorted(
            {
                (oids[object_id], perm, principal)
                for object_id, _, version, *_ in staged
                if version.grants is not None
                for perm, principal in version.grants
            }
        )
        if grant_rows:
            await self._run_many(
                self.dialect("INSERT INTO grants (oid, perm, principal) VALUES (?, ?, ?)"), grant_rows
            )
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
        await self._save_parent(locked, parent_stamp, live_delta=created_count)
        return results

    async def _replace_grants(self, oid: int, grants: Iterable[tuple[str, str]], *, had_grants: bool) -> None:
        if had_grants:
            await self._send(self.dialect("DELETE FROM grants WHERE oid = ?"), (oid,))
        rows = sorted({(oid, perm, principal) for perm, principal in grants})
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
        locked, current = await self._lock_with(parent, object_id, include_deleted=False)
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
        opts = options or _NO_OPTIONS
        if opts.include_deleted:
            opts = FindOptions(acl=opts.acl, since=opts.since, before=opts.before, columns=opts.columns)
        victims = await self.find(locked, query, opts)
        return [await self._tombstone(locked, victim) for victim in victims]

    async def purge_tombstones(self, parent: ParentRecord, before: Stamp | None = None) -> int:
        if before is None:
            return await self._run(
                self.dialect("DELETE FROM objects WHERE parent_id = ? AND deleted"), (parent.id,)
            )
        return await self._run(
            self.dialect("DELETE FROM objects WHERE parent_id = ? AND deleted AND stamp < ?"),
            (parent.id, before),
        )


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
