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

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kinbase.core.kinvey.access import LEVELS, Caller, CollectionPolicy, acl_filter, grants_of
from kinbase.core.kinvey.entities import APPDATA, COLUMNS, check_collection_name, history_start, read_start
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.querying import project
from kinbase.core.kinvey.wire import MAX_RESULTS, stamp_of_iso
from kinbase.query.ast import Query
from kinbase.storage.base import AppRecord, FindOptions, StorageBackend
from kinbase.storage.stamps import now_ms
from kinbase.types import Stamp

__all__ = ["DEFAULT_TTL_DAYS", "CollectionService", "DeltaSet"]

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
        return {
            "name": collection,
            "count": live,
            "deltaSet": {
                "enabled": bool(delta.get("enabled", False)),
                "deletedTtlDays": int(delta.get("ttl_days", DEFAULT_TTL_DAYS)),
            },
            "permissions": CollectionPolicy.of(settings).settings(),
        }

    async def configure(
        self,
        app: AppRecord,
        collection: str,
        *,
        delta_set: bool | None = None,
        ttl_days: int | None = None,
        level: str | None = None,
    ) -> dict[str, Any]:
        """Change a collection's settings (created if missing); returns :meth:`describe`.

        Changing the permission level recompiles the grants of every entity of the collection.

        Raises:
            KinveyError: BadRequest for an unknown level or a TTL below 1 day.
        """
        check_collection_name(collection)
        if level is not None and level not in LEVELS:
            raise KinveyError("BadRequest", f"permissions level must be one of {', '.join(LEVELS)}")
        if ttl_days is not None and not 1 <= ttl_days <= 3650:
            raise KinveyError("BadRequest", "deletedTtlDays must be between 1 and 3650")
        async with self._storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, APPDATA, collection)
            settings = dict(parent.settings)
            delta = dict(_delta(settings))
            if delta_set is not None and delta_set != bool(delta.get("enabled")):
                if delta_set:
                    delta["enabled_at"] = now_ms()
                delta["enabled"] = delta_set
                await writer.purge_tombstones(parent)
            if ttl_days is not None:
                delta["ttl_days"] = ttl_days
            settings["delta_set"] = delta
            old_policy = CollectionPolicy.of(settings)
            if level is not None:
                settings["permissions"] = {"level": level}
            parent = await writer.update_parent_settings(parent, settings)
            policy = CollectionPolicy.of(settings)
            if policy != old_policy:
                everything = await writer.find(parent, Query(), FindOptions(columns=COLUMNS))
                for obj in everything:
                    acl = orjson_acl(obj.data)
                    await writer.set_grants(obj.oid, grants_of(acl, policy))
            return self._render(collection, settings, parent.live)

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
                raise KinveyError(
                    "MissingConfiguration", f"Delta set is not enabled for {collection!r}.", status=403
                )
            since = stamp_of_iso(since_raw)
            if since < history_start(parent.settings):
                raise KinveyError(
                    "ParameterValueOutOfRange", "since is older than the change history of this collection."
                )
            start = read_start(parent)
            window = Query(filter=query.filter, sort=query.sort, limit=MAX_RESULTS + 1)
            changed = await reader.find(
                parent, window, FindOptions(acl=acl_filter(caller, "read"), since=since, columns=COLUMNS)
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
