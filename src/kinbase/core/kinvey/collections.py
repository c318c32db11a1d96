"""Collection settings (delta set, permission level) and the delta set itself.

Delta set (``GET .../_deltaset?since=``) is a read of the storage history: ``changed`` holds the
entities with a stamp after ``since`` that match the query and that the caller may read;
``deleted`` holds the ids of tombstones after ``since`` and of entities changed after ``since``
that no longer match or are no longer readable (a client that cached them must drop them; ids it
never had are ignored by the SDKs).

History window: tombstones are purged ``ttl_days`` (default 30) after the delete, lazily; the
cutoff of the last purge that forgot something is recorded (``purged_before``). A ``since`` older
than that cutoff, or older than the moment delta set was (re-)enabled, is answered
``ParameterValueOutOfRange`` (the SDKs then fetch everything), so a delta is never silently
wrong. Disabling delta set forgets every tombstone.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from kinbase.core.kinvey.access import LEVELS, Caller, CollectionPolicy, acl_filter, grants_of
from kinbase.core.kinvey.entities import APPDATA, check_collection_name
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.reading import COLUMNS, history_start, read_start
from kinbase.core.kinvey.wire import MAX_RESULTS, iso_of, project, stamp_of_iso
from kinbase.errors import Conflict, InvalidQuery
from kinbase.query.ast import Query
from kinbase.query.paths import parse_path
from kinbase.storage.base import AppRecord, FindOptions, StorageBackend, Writer
from kinbase.storage.indexing import build_index
from kinbase.storage.stamps import now_ms
from kinbase.types import Path, Stamp

__all__ = [
    "DECLARED_INDEXES",
    "DEFAULT_TTL_DAYS",
    "CollectionService",
    "DeltaSet",
    "IndexKey",
    "declared_state",
    "index_keys",
    "index_label",
    "settings_version",
]

DECLARED_INDEXES = "declared_indexes"
"""The parent setting that holds the indexes declared for a collection (lists of field names)."""

DEFAULT_TTL_DAYS = 30
_DAY_MS = 86_400_000
_PURGE_EVERY_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class DeltaSet:
    changed: list[str]
    deleted: list[str]
    start: Stamp


def _delta(settings: Mapping[str, Any]) -> Mapping[str, Any]:
    raw = settings.get("delta_set")
    return raw if isinstance(raw, Mapping) else {}


IndexKey = tuple[Path, ...]
"""The fields of a storage index, in order: one for a field index, several for a compound one."""


def index_keys(indexes: Sequence[Sequence[str]]) -> set[IndexKey]:
    """The storage indexes that serve declared indexes: a field index for a one-field declaration,
    a compound index (equality on the leading fields, range or order on the last) otherwise.

    Raises:
        KinveyError: BadRequest for an invalid field name or an empty declaration.
    """
    keys: set[IndexKey] = set()
    for fields in indexes:
        if not fields:
            raise KinveyError("BadRequest", "An index names at least one field.")
        try:
            keys.add(tuple(parse_path(name) for name in fields))
        except InvalidQuery as exc:
            raise KinveyError("BadRequest", exc.message) from None
    return keys


def index_label(key: IndexKey) -> str:
    """``status, n`` for the index on ``(status, n)``."""
    return ", ".join(".".join(path) for path in key)


def declared_state(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a collection that were set explicitly, keyed as in the app configuration
    file (``delta_set``, ``deleted_ttl_days``, ``permissions``, ``indexes``, ``auto_index``)."""
    state: dict[str, Any] = {}
    delta = _delta(settings)
    if "enabled" in delta:
        state["delta_set"] = bool(delta["enabled"])
    if "ttl_days" in delta:
        state["deleted_ttl_days"] = int(delta["ttl_days"])
    permissions = settings.get("permissions")
    if isinstance(permissions, Mapping) and permissions.get("level") in LEVELS:
        state["permissions"] = str(permissions["level"])
    if DECLARED_INDEXES in settings:
        state["indexes"] = [list(fields) for fields in settings[DECLARED_INDEXES]]
    if settings.get("auto_index") is not None:
        state["auto_index"] = bool(settings["auto_index"])
    return state


def settings_version(described: Mapping[str, Any]) -> str:
    """A version of a collection's permission level and delta set (of :meth:`CollectionService.
    describe`'s output): what a form that edits them was rendered from, for ``if_version``."""
    shown = {"permissions": described.get("permissions"), "deltaSet": described.get("deltaSet")}
    return hashlib.sha256(orjson.dumps(shown, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]


class CollectionService:
    """Configure collections and compute delta sets."""

    def __init__(self, storage: StorageBackend) -> None:
        self._storage = storage
        self._last_purge: dict[int, float] = {}

    async def describe(self, app: AppRecord, collection: str) -> dict[str, Any]:
        """The settings of a collection as the configuration API shows them."""
        async with self._storage.reader() as reader:
            parent = await reader.get_parent(app.id, APPDATA, collection)
        settings = parent.settings if parent is not None else {}
        return self._render(collection, settings, parent.live if parent is not None else 0)

    @staticmethod
    def _render(collection: str, settings: Mapping[str, Any], live: int) -> dict[str, Any]:
        delta = _delta(settings)
        described = {
            "name": collection,
            "count": live,
            "deltaSet": {
                "enabled": bool(delta.get("enabled", False)),
                "deletedTtlDays": int(delta.get("ttl_days", DEFAULT_TTL_DAYS)),
            },
            "permissions": CollectionPolicy.of(settings).settings(),
            "indexes": [list(fields) for fields in settings.get(DECLARED_INDEXES, [])],
            "autoIndexes": [
                {
                    "fields": [".".join(p) for p in auto["fields"]],
                    "created": iso_of(int(auto["created"])),
                    "lastUsed": iso_of(int(auto.get("used", auto["created"]))),
                }
                for auto in settings.get("auto_indexes", [])
            ],
        }
        if settings.get("auto_index") is not None:
            described["autoIndex"] = bool(settings["auto_index"])
        return described

    async def indexes(self, app: AppRecord, collection: str) -> list[dict[str, Any]]:
        """Every index of a collection: its fields, ``origin`` (``declared`` or ``automatic``),
        ``state`` (``ready`` or ``building``), ``multikey``, and for an automatic one when it was
        created and last used (as last written by a worker)."""
        async with self._storage.reader() as reader:
            parent = await reader.get_parent(app.id, APPDATA, collection)
        if parent is None:
            return []
        autos = {
            tuple(tuple(p) for p in auto["fields"]): auto for auto in parent.settings.get("auto_indexes", [])
        }
        declared = index_keys(parent.settings.get(DECLARED_INDEXES, []))
        out: list[dict[str, Any]] = []
        for index in parent.indexes:
            entry: dict[str, Any] = {
                "fields": [".".join(p) for p in index.fields],
                "origin": "automatic"
                if index.fields in autos and index.fields not in declared
                else "declared",
                "state": "ready" if index in parent.ready_indexes else "building",
                "multikey": index.multikey,
            }
            auto = autos.get(index.fields)
            if auto is not None:
                entry["created"] = iso_of(int(auto["created"]))
                entry["lastUsed"] = iso_of(int(auto.get("used", auto["created"])))
            out.append(entry)
        return out

    async def configure(
        self,
        app: AppRecord,
        collection: str,
        *,
        delta_set: bool | None = None,
        ttl_days: int | None = None,
        level: str | None = None,
        indexes: Sequence[Sequence[str]] | None = None,
        auto_index: bool | None = None,
        if_version: str | None = None,
    ) -> dict[str, Any]:
        """Change a collection's settings (created if missing); returns :meth:`describe`.

        Changing the permission level recompiles the grants of every entity of the collection.
        Declared indexes (each a list of dotted field names) replace the previously declared ones;
        a new index is built online after the change is committed (see :meth:`build_indexes`).
        With ``if_version`` (a :func:`settings_version`), nothing changes unless the level and
        delta set are still those that version was taken from.

        Raises:
            KinveyError: BadRequest for an unknown level, a TTL below 1 day or a bad field name.
            Conflict: ``if_version`` is no longer the collection's.
        """
        async with self._storage.writer() as writer:
            await self.configure_in(
                writer,
                app,
                collection,
                delta_set=delta_set,
                ttl_days=ttl_days,
                level=level,
                indexes=indexes,
                auto_index=auto_index,
                if_version=if_version,
            )
        await self.build_indexes(app, collection)
        return await self.describe(app, collection)

    async def configure_in(
        self,
        writer: Writer,
        app: AppRecord,
        collection: str,
        *,
        delta_set: bool | None = None,
        ttl_days: int | None = None,
        level: str | None = None,
        indexes: Sequence[Sequence[str]] | None = None,
        auto_index: bool | None = None,
        if_version: str | None = None,
    ) -> None:
        """:meth:`configure` inside the caller's transaction (indexes are declared, not built).

        Raises:
            KinveyError: BadRequest for an unknown level, a TTL below 1 day or a bad field name.
            Conflict: ``if_version`` is no longer the collection's.
        """
        check_collection_name(collection)
        if level is not None and level not in LEVELS:
            raise KinveyError("BadRequest", f"permissions level must be one of {', '.join(LEVELS)}")
        if ttl_days is not None and not 1 <= ttl_days <= 3650:
            raise KinveyError("BadRequest", "deletedTtlDays must be between 1 and 3650")
        wanted = index_keys(indexes) if indexes is not None else None
        # Locked before its settings are read: a concurrent change waits, then reads this one's.
        parent = await writer.lock_parent(await writer.ensure_parent(app.id, APPDATA, collection))
        if (
            if_version is not None
            and settings_version(self._render(collection, parent.settings, 0)) != if_version
        ):
            raise Conflict(f"The settings of {collection!r} were changed meanwhile: nothing was saved.")
        settings = dict(parent.settings)
        delta = dict(_delta(settings))
        if delta_set is not None and delta_set != bool(delta.get("enabled")):
            if delta_set:
                delta["enabled_at"] = now_ms()
            await writer.purge_tombstones(parent)
        if delta_set is not None:
            delta["enabled"] = delta_set
        if ttl_days is not None:
            delta["ttl_days"] = ttl_days
        settings["delta_set"] = delta
        old_policy = CollectionPolicy.of(settings)
        if level is not None:
            settings["permissions"] = {"level": level}
        if auto_index is not None:
            settings["auto_index"] = auto_index
        old_keys = index_keys(settings.get(DECLARED_INDEXES, []))
        if indexes is not None:
            settings[DECLARED_INDEXES] = [list(fields) for fields in indexes]
        parent = await writer.update_parent_settings(parent, settings)
        if wanted is not None:
            for key in sorted(old_keys - wanted):
                parent = await writer.drop_index(parent, key[-1], key[:-1])
            for key in sorted(wanted - old_keys):
                parent = await writer.begin_index(parent, key[-1], key[:-1])
        policy = CollectionPolicy.of(settings)
        if policy != old_policy:
            everything = await writer.find(parent, Query(), FindOptions(columns=COLUMNS))
            for obj in everything:
                acl = orjson_acl(obj.data)
                await writer.set_grants(obj.oid, grants_of(acl, policy))

    async def build_indexes(self, app: AppRecord, collection: str) -> list[IndexKey]:
        """Fill the declared indexes of a collection that are not ready yet (online, in short
        transactions; a build interrupted by a crash resumes here). Returns the indexes built."""
        async with self._storage.reader() as reader:
            parent = await reader.get_parent(app.id, APPDATA, collection)
        if parent is None:
            return []
        pending = [i for i in parent.indexes if i not in parent.ready_indexes]
        for index in pending:
            await build_index(self._storage, app.id, APPDATA, collection, index.path, prefix=index.prefix)
        return [index.fields for index in pending]

    async def deltaset(
        self, app: AppRecord, caller: Caller, collection: str, since_raw: str | None, query: Query
    ) -> DeltaSet:
        """The changes to ``query``'s result set since ``since_raw``.

        Raises:
            KinveyError: MissingRequestParameter (no since), MissingConfiguration (delta set off),
                ParameterValueOutOfRange (since outside the history), ResultSetSizeExceeded.
        """
        if since_raw is None or not since_raw.strip():
            raise KinveyError("MissingRequestParameter", "The since parameter is required.")
        async with self._storage.reader() as reader:
            parent = await reader.get_parent(app.id, APPDATA, collection)
            delta = _delta(parent.settings) if parent is not None else {}
            if parent is None or not delta.get("enabled"):
                raise KinveyError("MissingConfiguration", f"Delta set is not enabled for {collection!r}.")
            since = stamp_of_iso(since_raw)
            if since < history_start(parent.settings):
                raise KinveyError(
                    "ParameterValueOutOfRange", "since is older than the change history of this collection."
                )
            start = read_start(parent)
            window = Query(filter=query.filter, sort=query.sort, limit=MAX_RESULTS + 1)
            changed = await reader.find(
                parent,
                window,
                FindOptions(acl=acl_filter(caller, "read", creator_holds=True), since=since, columns=COLUMNS),
            )
            if len(changed) > MAX_RESULTS:
                raise KinveyError("ResultSetSizeExceeded", "More than 10,000 entities changed.")
            touched = await reader.find(
                parent, Query(), FindOptions(include_deleted=True, since=since, columns=COLUMNS)
            )
        kept = {o.id for o in changed}
        deleted = [o.id for o in touched if o.id not in kept]
        ttl = int(delta.get("ttl_days", DEFAULT_TTL_DAYS))
        await self._purge_now_and_then(parent.id, app, collection, now_ms() - ttl * _DAY_MS)
        texts = [o.data for o in changed]
        if query.fields:
            texts = [project(text, query.fields) for text in texts]
        return DeltaSet(texts, deleted, start)

    async def _purge_now_and_then(
        self, parent_id: int, app: AppRecord, collection: str, before: Stamp
    ) -> None:
        """Forget tombstones older than the history window (at most every few minutes per worker).

        ``purged_before`` records the cutoff, so a later ``since`` older than it is refused.
        """
        now = time.monotonic()
        if now - self._last_purge.get(parent_id, 0.0) < _PURGE_EVERY_SECONDS:
            return
        self._last_purge[parent_id] = now
        async with self._storage.writer() as writer:
            parent = await writer.get_parent(app.id, APPDATA, collection)
            if parent is not None and await writer.purge_tombstones(parent, before):
                settings = dict(parent.settings)
                settings["delta_set"] = {**_delta(settings), "purged_before": before}
                await writer.update_parent_settings(parent, settings)


def orjson_acl(text: str) -> dict[str, Any]:
    """The ``_acl`` of a stored entity."""
    import orjson

    doc = orjson.loads(text)
    acl = doc.get("_acl") if isinstance(doc, dict) else None
    return acl if isinstance(acl, dict) else {}
