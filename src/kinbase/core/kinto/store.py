"""Storage access for the Kinto core: parents (cached by id), objects and their ACLs.

A parent's id never changes while it exists, and a dropped parent's id is never reused, so a
worker may keep the ids of the parents it has seen: a read through a stale id finds nothing, and
every miss is retried once with the parent read again. Stamps (ETags) are always read fresh.
"""

from __future__ import annotations

import orjson

from kinbase.core.kinto.acl import Acl, acl_of
from kinbase.core.kinto.model import KINDS, Resource, Target
from kinbase.storage.base import ParentRecord, Reader, StorageBackend, StoredObject, SystemColumns, Writer
from kinbase.types import Document, Stamp

__all__ = ["COLUMNS", "KintoStore", "Loaded", "tombstone_json"]

COLUMNS = SystemColumns(id=("id",), stamp=("last_modified",))
"""``id`` and ``last_modified`` are the object id and stamp columns: filters and sorts use them."""

_MAX_CACHED = 50_000
_MAX_STRUCTURE = 20_000
_STRUCTURAL = ("bucket", "collection", "group", "account")


def tombstone_json(object_id: str, stamp: Stamp) -> str:
    """The wire form of a tombstone."""
    return orjson.dumps({"deleted": True, "id": object_id, "last_modified": stamp}).decode()


class Loaded:
    """An object (or its absence) with its ACL."""

    __slots__ = ("acl", "obj")

    def __init__(self, obj: StoredObject | None, acl: Acl) -> None:
        self.obj = obj
        self.acl = acl

    @property
    def exists(self) -> bool:
        return self.obj is not None

    def document(self) -> Document:
        assert self.obj is not None
        doc = orjson.loads(self.obj.data)
        assert isinstance(doc, dict)
        return doc


_NOTHING = Loaded(None, {})


class KintoStore:
    """Parent lookups with an id cache, object and ACL reads."""

    def __init__(self, storage: StorageBackend) -> None:
        self.storage = storage
        self._parents: dict[tuple[int, str, str], ParentRecord] = {}
        self._acls: dict[tuple[int, Stamp, str], Acl] = {}
        self._structure: dict[int, tuple[Stamp, dict[tuple[str, str, str], Loaded]]] = {}

    def forget(self, app_id: int, kind: str, name: str) -> None:
        self._parents.pop((app_id, kind, name), None)

    def cached_parent(self, app_id: int, kind: str, name: str) -> ParentRecord | None:
        """The parent as this worker last read or locked it (possibly stale: for a write that
        checks it, :attr:`~kinbase.storage.base.Writer.puts_ahead`), or None."""
        return self._parents.get((app_id, kind, name))

    async def parent(
        self, reader: Reader, app_id: int, kind: str, name: str, *, fresh: bool = False
    ) -> ParentRecord | None:
        """The parent (its id possibly cached; use ``fresh`` for its stamp)."""
        key = (app_id, kind, name)
        if not fresh:
            cached = self._parents.get(key)
            if cached is not None:
                return cached
        found = await reader.get_parent(app_id, kind, name)
        if found is None:
            self._parents.pop(key, None)
        else:
            if len(self._parents) >= _MAX_CACHED:
                self._parents.clear()
            self._parents[key] = found
        return found

    async def ensure_parent(self, writer: Writer, app_id: int, kind: str, name: str) -> ParentRecord:
        """The parent, created if missing, locked for the rest of the transaction."""
        found = await writer.ensure_parent(app_id, kind, name)
        self._parents[(app_id, kind, name)] = found
        return found

    async def get(
        self, reader: Reader, app_id: int, kind: str, name: str, object_id: str, *, deleted: bool = False
    ) -> StoredObject | None:
        """One object (a tombstone too with ``deleted``), or None (one statement, by the parent's
        name: no cached parent id to go stale)."""
        return await reader.get_child(app_id, kind, name, object_id, include_deleted=deleted)

    async def load(self, reader: Reader, app_id: int, target: Target, version: Stamp | None = None) -> Loaded:
        """The object ``target`` names, with its ACL.

        With the app's structure ``version``, buckets, collections, groups and accounts come from a
        per-worker cache that any structure change (a new version) invalidates.
        """
        assert target.id is not None
        if version is None or target.resource not in _STRUCTURAL:
            return await self._load(reader, app_id, target)
        cached = self._structure.get(app_id)
        if cached is None or cached[0] != version:
            cached = (version, {})
            if len(self._structure) >= 1000:
                self._structure.clear()
            self._structure[app_id] = cached
        key = (target.resource, target.parent_name, target.id)
        found = cached[1].get(key)
        if found is None:
            found = await self._load(reader, app_id, target)
            if len(cached[1]) < _MAX_STRUCTURE:
                cached[1][key] = found
        return found

    async def _load(self, reader: Reader, app_id: int, target: Target) -> Loaded:
        assert target.id is not None
        obj = await self.get(reader, app_id, KINDS[target.resource], target.parent_name, target.id)
        if obj is None:
            return _NOTHING
        return Loaded(obj, await self.acl(reader, obj))

    async def acl(self, reader: Reader, obj: StoredObject) -> Acl:
        """The ACL of an object. Cached by (oid, stamp, id): every grant change of an object goes
        through a write that gives it a new stamp, so a cached ACL is never stale."""
        key = (obj.oid, obj.stamp, obj.id)
        found = self._acls.get(key)
        if found is None:
            found = acl_of(await reader.get_grants(obj.oid))
            if len(self._acls) >= _MAX_CACHED:
                self._acls.clear()
            self._acls[key] = found
        return found

    async def ancestors(
        self, reader: Reader, app_id: int, target: Target, version: Stamp | None = None
    ) -> dict[str, Loaded]:
        """The bucket (and collection) above ``target``, keyed by level."""
        out: dict[str, Loaded] = {}
        resource: Resource = target.resource
        if resource in ("collection", "group", "record", "history"):
            out["bucket"] = await self.load(reader, app_id, Target("bucket", id=target.bucket), version)
            if resource == "record" and out["bucket"].exists:
                out["collection"] = await self.load(
                    reader, app_id, Target("collection", target.bucket, id=target.collection), version
                )
            elif resource == "record":
                out["collection"] = _NOTHING
        return out
