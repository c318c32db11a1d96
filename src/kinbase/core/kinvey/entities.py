"""Kinvey entities (appdata): CRUD, queries, counts, multi-insert, collection removal.

Each collection is a storage parent of kind ``kinvey.appdata`` named after it, created on its first
write. Entities are stored in their wire form (``_id``, fields, ``_acl``, ``_kmd``) with grant rows
compiled from ``_acl`` and the collection's permission level (:mod:`kinbase.core.kinvey.access`),
so reads splice the stored text and lists and counts are filtered by the database.

``X-Kinvey-Request-Start`` for a read is the collection's stamp read **before** the data (see
:class:`ReadResult`): every write committed later carries a greater stamp, so a delta set from it
never misses a change (at worst it repeats one).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from kinbase.core.ids import object_id
from kinbase.core.kinvey.access import (
    Caller,
    CollectionPolicy,
    acl_filter,
    check_access,
    check_create,
    check_write,
    grants_of,
    normalize_acl,
)
from kinbase.core.kinvey.aggregate import MAX_GROUP_INPUT, GroupSpec, counted_keys, fold_counts, run_group
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.reading import COLUMNS, ReadResult, read_page, read_start, read_window
from kinbase.core.kinvey.wire import iso_of, parse_filter, parse_iso
from kinbase.errors import BackendUnavailable
from kinbase.query.ast import Query
from kinbase.query.geo import find_geo_near
from kinbase.storage.base import (
    AppRecord,
    FindOptions,
    NewVersion,
    ParentRecord,
    StorageBackend,
    StoredObject,
    WriteContext,
    Writer,
)
from kinbase.storage.chunks import delete_matching_in_chunks
from kinbase.storage.exceptions import StampConflict
from kinbase.storage.stamps import now_ms
from kinbase.types import Document

__all__ = [
    "APPDATA",
    "COLUMNS",
    "EntityService",
    "ReadResult",
    "check_collection_name",
    "check_entity_id",
]

APPDATA = "kinvey.appdata"
INSERT_CHUNK = 100
"""Entities of a multi-insert stored per transaction."""
_NAME = re.compile(r"^[A-Za-z0-9-][A-Za-z0-9_.-]{0,127}$")
_MAX_PARENTS = 10_000
_RESERVED_COLLECTIONS = {"user", "group", "_blob", "system"}


def check_collection_name(name: str) -> None:
    """Raises KinveyError for a reserved or malformed collection name."""
    if name in _RESERVED_COLLECTIONS:
        raise KinveyError("IndirectCollectionAccessDisallowed", f"Use the {name} API for {name!r}.")
    if not _NAME.fullmatch(name):
        raise KinveyError(
            "InvalidIdentifier", f"Collection name {name!r}: use letters, digits, '-', '_' or '.'."
        )


def check_entity_id(value: Any) -> str:
    """The entity id, or KinveyError for one that is not a string, is empty, or starts with ``_``."""
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise KinveyError("InvalidIdentifier", "_id must be a non-empty string of at most 1024 characters.")
    if value.startswith("_"):
        raise KinveyError("InvalidIdentifier", "Ids starting with '_' are reserved.")
    return value


def _body(value: Any) -> Document:
    if not isinstance(value, dict):
        raise KinveyError("BadRequest", "The request body must be a JSON object.")
    return value


def _valid_iso(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_iso(value)
    except ValueError:
        return False
    return True


def build_entity(
    body: Document, entity_id: str, caller: Caller, policy: CollectionPolicy, app: AppRecord
) -> Any:
    """The :data:`~kinbase.storage.base.Builder` storing ``body`` as entity ``entity_id``."""
    given_acl = body.get("_acl")
    given_kmd = body.get("_kmd") if isinstance(body.get("_kmd"), dict) else {}
    fields = {k: v for k, v in body.items() if k not in ("_id", "_acl", "_kmd")}
    master_creator: str | None = None
    if caller.is_master and isinstance(given_acl, dict) and isinstance(given_acl.get("creator"), str):
        master_creator = str(given_acl["creator"])
    normalize_acl(given_acl, "x")  # validate before the transaction starts

    def build(ctx: WriteContext) -> NewVersion:
        if ctx.current is not None and ctx.current.creator is not None:
            creator = ctx.current.creator
        else:
            creator = caller.user_id or app.key
        if master_creator is not None:
            creator = master_creator
        acl = normalize_acl(given_acl, creator)
        kmd: Document = {"lmt": iso_of(ctx.stamp), "ect": iso_of(ctx.created)}
        if caller.is_master and isinstance(given_kmd, dict):
            for key in ("lmt", "ect"):
                if _valid_iso(given_kmd.get(key)):
                    kmd[key] = given_kmd[key]
        data: Document = {"_id": entity_id, **fields, "_acl": acl, "_kmd": kmd}
        return NewVersion(
            data, creator=creator, grants=grants_of(acl, policy), set_creator=master_creator is not None
        )

    return build


class EntityService:
    """Entities of the ``kinvey.appdata`` collections of an app."""

    def __init__(self, storage: StorageBackend) -> None:
        self._storage = storage
        self.observer: Callable[[AppRecord, ParentRecord, Query, float], None] | None = None
        """Told of every list and count with its duration (``AutoIndexer.observe``)."""
        self._parents: dict[tuple[int, str], ParentRecord] = {}
        """Collections by (app id, name) as last read by a list: a list's statement checks that
        the row is still the one read (:meth:`Reader.find_joined`)."""

    def _cache_parent(self, key: tuple[int, str], parent: ParentRecord) -> None:
        if len(self._parents) >= _MAX_PARENTS:
            self._parents.clear()
        self._parents[key] = parent

    def _observe(self, app: AppRecord, parent: ParentRecord, query: Query, started: float) -> None:
        if self.observer is not None:
            self.observer(app, parent, query, time.perf_counter() - started)

    # -- reads ------------------------------------------------------------------------------
    async def get(self, app: AppRecord, caller: Caller, collection: str, entity_id: str) -> str:
        """The stored text of one entity.

        Raises:
            KinveyError: EntityNotFound, or InsufficientCredentials if the caller may not read it.
        """
        async with self._storage.reader() as reader:
            found = await reader.get_child(app.id, APPDATA, collection, entity_id)
            if found is None:
                raise KinveyError("EntityNotFound", f"No entity {entity_id!r} in {collection!r}.")
            await check_access(reader, caller, found, "read")
        return found.data

    async def find(
        self,
        app: AppRecord,
        caller: Caller,
        collection: str,
        query: Query,
        *,
        api_version: int,
        with_count: bool = False,
    ) -> ReadResult:
        """Entities matching ``query`` that the caller may read (at most 10,000).

        Raises:
            KinveyError: ResultSetSizeExceeded (API version 4 and later) when more than 10,000
                entities match and the query set no smaller limit.
        """
        key = (app.id, collection)
        async with self._storage.reader() as reader:
            parent = self._parents.get(key)
            started = time.perf_counter()
            # A cached parent serves when the page's statement finds its row unchanged (one
            # statement instead of two); else the parent is read again, and so is the page.
            result = (
                await read_page(reader, parent, caller, query, api_version, with_count) if parent else None
            )
            if result is None:
                parent = await reader.get_parent(app.id, APPDATA, collection)
                if parent is None:
                    self._parents.pop(key, None)
                    return ReadResult([], now_ms(), 0 if with_count else None)
                self._cache_parent(key, parent)
                started = time.perf_counter()
                result = await read_window(reader, parent, caller, query, api_version, with_count)
        assert parent is not None
        self._observe(app, parent, query, started)
        return result

    async def count(self, app: AppRecord, caller: Caller, collection: str, query: Query) -> ReadResult:
        """How many entities match ``query`` among those the caller may read."""
        async with self._storage.reader() as reader:
            parent = await reader.get_parent(app.id, APPDATA, collection)
            if parent is None:
                return ReadResult([], now_ms(), 0)
            options = FindOptions(acl=acl_filter(caller, "read", creator_holds=True), columns=COLUMNS)
            started = time.perf_counter()
            total = await reader.count(parent, query, options)
        self._observe(app, parent, query, started)
        return ReadResult([], read_start(parent), total)

    # -- writes -----------------------------------------------------------------------------
    async def create(self, app: AppRecord, caller: Caller, collection: str, body: Any) -> StoredObject:
        """POST one entity (``_id`` generated unless given).

        Raises:
            KinveyError: EntityAlreadyExists if the given ``_id`` is taken; BadRequest, InvalidIdentifier.
        """
        doc = _body(body)
        generated = "_id" not in doc
        entity_id: str = object_id() if generated else check_entity_id(doc["_id"])
        if generated:
            # optimistic: a generated id is new, its stamp is predicted and the collection locked
            # only with the commit (Writer.optimistic); on a wrong prediction, once more, locking
            # first. Where the engine checks the collection's row in the put's own statement
            # (Writer.puts_ahead), the first attempt starts from the collection as this worker
            # last read it (no lookup: on PostgreSQL no connection of its own); if it failed (a
            # conflict, or an error its stale settings gave) the collection is read again, locked.
            key = (app.id, collection)
            cached = self._parents.get(key)
            try:
                if cached is not None:
                    return await self._create(app, caller, collection, entity_id, doc, cached=cached)
                return await self._create(app, caller, collection, entity_id, doc, optimistic=True)
            except StampConflict:
                self._parents.pop(key, None)
            except KinveyError:
                if cached is None:
                    raise
                self._parents.pop(key, None)
        return await self._create(app, caller, collection, entity_id, doc)

    async def _create(
        self,
        app: AppRecord,
        caller: Caller,
        collection: str,
        entity_id: str,
        doc: Document,
        *,
        optimistic: bool = False,
        cached: ParentRecord | None = None,
    ) -> StoredObject:
        async with self._storage.grouped_writer((app.id, APPDATA, collection)) as writer:
            writer.optimistic = optimistic or cached is not None
            writer.needs_oid = False  # the response is the entity's text
            if cached is not None and writer.puts_ahead:
                parent = cached
            else:
                parent = await writer.ensure_parent(app.id, APPDATA, collection)
                if optimistic and writer.puts_ahead:
                    self._cache_parent((app.id, collection), parent)
            return await insert(writer, parent, app, caller, entity_id, doc, new=writer.optimistic)

    async def save(
        self, app: AppRecord, caller: Caller, collection: str, entity_id: str, body: Any
    ) -> tuple[StoredObject, bool]:
        """PUT: replace the entity, or create it. Returns (entity, created).

        Raises:
            KinveyError: InsufficientCredentials if the caller may not update it.
        """
        doc = _body(body)
        check_entity_id(entity_id)
        async with self._storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, APPDATA, collection)
            policy = CollectionPolicy.of(parent.settings)
            current = await writer.get_object_for_update(parent, entity_id)
            if current is None:
                check_create(caller, policy)
            else:
                check_write(caller, policy)
                await check_access(writer, caller, current, "update")
            result = await writer.put(parent, entity_id, build_entity(doc, entity_id, caller, policy, app))
            return result.object, result.created

    async def insert_many(
        self, app: AppRecord, caller: Caller, collection: str, bodies: list[Any]
    ) -> tuple[list[str | None], list[tuple[int, KinveyError]]]:
        """Multi-insert: every item on its own; returns (entity texts or None, (index, error)s).

        Items are stored :data:`INSERT_CHUNK` per transaction (a huge array never holds the
        database for long). If the database fails after a chunk was committed, the items from
        the failed chunk on are reported as item errors (``KinveyInternalErrorRetry``: nothing of
        them was stored) and the committed ones as entities; if it fails on the first chunk,
        nothing was stored and the request fails as a whole.
        """
        if not bodies:
            raise KinveyError("BadRequest", "The array of entities to insert is empty.")
        entities: list[str | None] = []
        errors: list[tuple[int, KinveyError]] = []
        for start in range(0, len(bodies), INSERT_CHUNK):
            chunk_entities: list[str | None] = []
            chunk_errors: list[tuple[int, KinveyError]] = []
            try:
                async with self._storage.writer() as writer:
                    parent = await writer.ensure_parent(app.id, APPDATA, collection)
                    for index in range(start, min(start + INSERT_CHUNK, len(bodies))):
                        try:
                            doc = _body(bodies[index])
                            entity_id = check_entity_id(doc["_id"]) if "_id" in doc else object_id()
                            stored = await insert(writer, parent, app, caller, entity_id, doc)
                        except KinveyError as exc:
                            chunk_entities.append(None)
                            chunk_errors.append((index, exc))
                            continue
                        chunk_entities.append(stored.data)
            except BackendUnavailable:
                if start == 0:
                    raise
                lost = KinveyError("KinveyInternalErrorRetry", "Not stored: the database failed.")
                entities += [None] * (len(bodies) - start)
                errors += [(index, lost) for index in range(start, len(bodies))]
                break
            entities += chunk_entities
            errors += chunk_errors
            await asyncio.sleep(0)
        return entities, errors

    async def delete(self, app: AppRecord, caller: Caller, collection: str, entity_id: str) -> int:
        """Delete one entity.

        Raises:
            KinveyError: EntityNotFound, InsufficientCredentials.
        """
        async with self._storage.writer() as writer:
            parent = await writer.get_parent(app.id, APPDATA, collection)
            current = await writer.get_object_for_update(parent, entity_id) if parent is not None else None
            if parent is None or current is None:
                raise KinveyError("EntityNotFound", f"No entity {entity_id!r} in {collection!r}.")
            check_write(caller, CollectionPolicy.of(parent.settings))
            await check_access(writer, caller, current, "delete")
            await writer.delete(parent, entity_id)
        return 1

    async def delete_where(self, app: AppRecord, caller: Caller, collection: str, query: Query) -> int:
        """Delete the entities matching ``query`` that the caller may delete; returns how many.

        Applied :data:`~kinbase.storage.chunks.DELETE_CHUNK` entities per transaction: if the
        database fails midway, the entities deleted before stay deleted (each in the delta set)
        and the request fails; sending it again deletes the rest."""
        options = FindOptions(acl=acl_filter(caller, "delete", creator_holds=True), columns=COLUMNS)
        return await delete_matching_in_chunks(
            self._storage,
            app.id,
            APPDATA,
            collection,
            query,
            options,
            check=lambda parent: check_write(caller, CollectionPolicy.of(parent.settings)),
        )

    async def group(self, app: AppRecord, caller: Caller, collection: str, spec: GroupSpec) -> list[Document]:
        """``_group``: fold the readable entities matching ``spec.condition`` per key.

        Raises:
            KinveyError: InvalidQuerySyntax, ResultSetSizeExceeded, BL* errors of the reduce function.
        """
        condition = parse_filter(spec.condition)
        query = Query(filter=condition, limit=MAX_GROUP_INPUT + 1)
        options = FindOptions(acl=acl_filter(caller, "read", creator_holds=True), columns=COLUMNS)
        # A count per key is counted by the database, unless $near orders the entities (the
        # groups come in the order of their first entity).
        keys = counted_keys(spec) if condition is None or find_geo_near(condition) is None else None
        async with self._storage.reader() as reader:
            parent = await reader.get_parent(app.id, APPDATA, collection)
            if parent is None:
                return []
            if keys is not None:
                counts = await reader.count_by(parent, keys, query, options)
            else:
                # The database joins the stored texts into one value: no row becomes a Python object.
                found, joined, _, _ = await reader.find_joined(parent, query, options)
        total = sum(n for _, n in counts) if keys is not None else found
        if total > MAX_GROUP_INPUT:
            raise KinveyError("ResultSetSizeExceeded", f"_group folds at most {MAX_GROUP_INPUT} entities.")
        return fold_counts(spec, counts) if keys is not None else await run_group(spec, joined)

    async def remove_collection(self, app: AppRecord, collection: str) -> int:
        """Drop a whole collection with its settings and history; returns 1 (Kinvey's count).

        Raises:
            KinveyError: CollectionNotFound.
        """
        async with self._storage.writer() as writer:
            parent = await writer.get_parent(app.id, APPDATA, collection)
            if parent is None:
                raise KinveyError("CollectionNotFound", f"There is no collection {collection!r}.")
            await writer.delete_parent(parent)
        return 1


# -- helpers shared with users, groups, the delta set and aggregation ---------------------------


async def insert(
    writer: Writer,
    parent: ParentRecord,
    app: AppRecord,
    caller: Caller,
    entity_id: str,
    doc: Document,
    *,
    new: bool = False,
) -> StoredObject:
    """Create one entity; EntityAlreadyExists if ``entity_id`` is taken (``new``: a generated id,
    not looked up, see :meth:`~kinbase.storage.base.Writer.put`)."""
    policy = CollectionPolicy.of(parent.settings)
    check_create(caller, policy)
    build = build_entity(doc, entity_id, caller, policy, app)

    def create_only(ctx: WriteContext) -> NewVersion:
        if ctx.current is not None:
            raise KinveyError("EntityAlreadyExists", f"An entity with _id {entity_id!r} already exists.")
        version: NewVersion = build(ctx)
        return version

    return (await writer.put(parent, entity_id, create_only, new=new)).object
