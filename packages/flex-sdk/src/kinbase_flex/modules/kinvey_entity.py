"""``modules.kinveyEntity``: add Kinvey metadata (``_id``, ``_acl``, ``_kmd``) to entities.

An entity is a dict whose keys also read and write as attributes (``entity.name = "Sachin"``), and
whose ``_acl`` carries the ACL methods, so the reference's chains port as they are::

    modules.kinveyEntity.entity(doc)._acl.addReader(reader_id).addWriter(writer_id).getReaders()
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
import time
from typing import Any, Self

from kinbase_flex.modules.kinvey_date import iso_ms

__all__ = ["Acl", "KinveyEntity", "KinveyEntityModule", "object_id"]

_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_counter_lock = threading.Lock()
_process_random = os.urandom(5)


def object_id() -> str:
    """A new 24-hex-digit id in the layout of a BSON ObjectId (time, random, counter)."""
    with _counter_lock:
        count = next(_counter) & 0xFFFFFF
    raw = int(time.time()).to_bytes(4, "big") + _process_random + count.to_bytes(3, "big")
    return raw.hex()


class Acl(dict[str, Any]):
    """An entity's ``_acl`` with the reference's getters and chainable modifiers."""

    __slots__ = ()

    def _list(self, *path: str) -> list[Any]:
        node: Any = self
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                return []
        return node if isinstance(node, list) else []

    def _add(self, value: Any, *path: str) -> Self:
        node: dict[str, Any] = self
        for key in path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        items = node.get(path[-1])
        if not isinstance(items, list):
            items = node[path[-1]] = []
        if value not in items:
            items.append(value)
        return self

    def _remove(self, value: Any, *path: str) -> Self:
        items = self._list(*path)
        while value in items:
            items.remove(value)
        return self

    def getCreator(self) -> Any:
        return self.get("creator")

    def getReaders(self) -> list[Any]:
        return self._list("r")

    def getWriters(self) -> list[Any]:
        return self._list("w")

    def getReaderGroups(self) -> list[Any]:
        return self._list("groups", "r")

    def getWriterGroups(self) -> list[Any]:
        return self._list("groups", "w")

    def getReaderRoles(self) -> list[Any]:
        return self._list("roles", "r")

    def getUpdateRoles(self) -> list[Any]:
        return self._list("roles", "u")

    def getDeleteRoles(self) -> list[Any]:
        return self._list("roles", "d")

    def addReader(self, user_id: str) -> Self:
        return self._add(user_id, "r")

    def addWriter(self, user_id: str) -> Self:
        return self._add(user_id, "w")

    def addReaderGroup(self, group_id: str) -> Self:
        return self._add(group_id, "groups", "r")

    def addWriterGroup(self, group_id: str) -> Self:
        return self._add(group_id, "groups", "w")

    def addReaderRole(self, role_id: str) -> Self:
        return self._add(role_id, "roles", "r")

    def addUpdateRole(self, role_id: str) -> Self:
        return self._add(role_id, "roles", "u")

    def addDeleteRole(self, role_id: str) -> Self:
        return self._add(role_id, "roles", "d")

    def removeReader(self, user_id: str) -> Self:
        return self._remove(user_id, "r")

    def removeWriter(self, user_id: str) -> Self:
        return self._remove(user_id, "w")

    def removeReaderGroup(self, group_id: str) -> Self:
        return self._remove(group_id, "groups", "r")

    def removeWriterGroup(self, group_id: str) -> Self:
        return self._remove(group_id, "groups", "w")

    def removeReaderRole(self, role_id: str) -> Self:
        return self._remove(role_id, "roles", "r")

    def removeUpdateRole(self, role_id: str) -> Self:
        return self._remove(role_id, "roles", "u")

    def removeDeleteRole(self, role_id: str) -> Self:
        return self._remove(role_id, "roles", "d")

    def getGloballyReadable(self) -> Any:
        """``gr`` (``None`` if unset, and then ``gr: null`` is written, as the Node SDK does)."""
        return self.setdefault("gr", None)

    def getGloballyWritable(self) -> Any:
        return self.setdefault("gw", None)

    def setGloballyReadable(self, gr: bool) -> Self:
        self["gr"] = gr
        return self

    def setGloballyWritable(self, gw: bool) -> Self:
        self["gw"] = gw
        return self

    get_creator = getCreator
    get_readers = getReaders
    get_writers = getWriters
    get_reader_groups = getReaderGroups
    get_writer_groups = getWriterGroups
    get_reader_roles = getReaderRoles
    get_update_roles = getUpdateRoles
    get_delete_roles = getDeleteRoles
    add_reader = addReader
    add_writer = addWriter
    add_reader_group = addReaderGroup
    add_writer_group = addWriterGroup
    add_reader_role = addReaderRole
    add_update_role = addUpdateRole
    add_delete_role = addDeleteRole
    remove_reader = removeReader
    remove_writer = removeWriter
    remove_reader_group = removeReaderGroup
    remove_writer_group = removeWriterGroup
    remove_reader_role = removeReaderRole
    remove_update_role = removeUpdateRole
    remove_delete_role = removeDeleteRole
    get_globally_readable = getGloballyReadable
    get_globally_writable = getGloballyWritable
    set_globally_readable = setGloballyReadable
    set_globally_writable = setGloballyWritable


class KinveyEntity(dict[str, Any]):
    """A Kinvey entity: a dict whose keys also read and write as attributes."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


class KinveyEntityModule:
    """``entity()``, ``entity(id)``, ``entity(obj)`` and ``isKinveyEntity(obj)``."""

    def __init__(self, environment_id: Any) -> None:
        self._environment_id = environment_id

    def entity(self, entity_or_id: Any = None) -> KinveyEntity:
        """A new entity (with a generated or the given ``_id``), or ``entity_or_id`` with metadata added.

        Metadata already present is kept, except ``_kmd.lmt``, which is set to now. When a dict is
        passed, the returned entity is a new dict with the same keys; its ``_acl`` object is also
        stored back in the dict passed in.
        """
        now = iso_ms(dt.datetime.now(dt.UTC))
        if entity_or_id is None or isinstance(entity_or_id, str):
            entity = KinveyEntity(_acl=Acl(creator=self._environment_id), _kmd={"lmt": now, "ect": now})
            entity["_id"] = entity_or_id or object_id()
        elif isinstance(entity_or_id, dict):
            entity = entity_or_id if isinstance(entity_or_id, KinveyEntity) else KinveyEntity(entity_or_id)
            acl = entity.get("_acl")
            acl = acl if isinstance(acl, Acl) else Acl(acl if isinstance(acl, dict) else {})
            entity["_acl"] = acl
            if not entity.get("_id"):
                entity["_id"] = object_id()
            if not acl.get("creator"):
                acl["creator"] = self._environment_id
            kmd = entity.get("_kmd")
            if not isinstance(kmd, dict):
                kmd = entity["_kmd"] = {}
            if not kmd.get("ect"):
                kmd["ect"] = now
            kmd["lmt"] = now
            if entity is not entity_or_id:
                entity_or_id.update(entity)
        else:
            raise TypeError("entity() takes nothing, an id string or a dict")
        return entity

    @staticmethod
    def isKinveyEntity(value: Any) -> bool:
        """True for an entity returned by :meth:`entity`."""
        return isinstance(value, dict) and isinstance(value.get("_acl"), Acl) and "_kmd" in value

    is_kinvey_entity = isKinveyEntity
