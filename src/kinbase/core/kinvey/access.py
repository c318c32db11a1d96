"""Kinvey access control: ``_acl`` on every entity and permission levels per collection.

The rules (``docs/kinvey.md``, "Access control"), for a caller who is not the master secret:

- The **creator** (``_acl.creator``) may read, update and delete.
- **read**: ``_acl.gr`` (globally readable; when absent, the collection's level decides: false for
  ``private``, true otherwise), the user in ``r`` or ``w``, one of its groups in ``groups.r`` or
  ``groups.w``, or one of its roles in ``roles.r``.
- **update**: ``_acl.gw`` (when absent: true only for ``full``), the user in ``w``, a group in
  ``groups.w``, a role in ``roles.u``.
- **delete**: as update, with ``roles.d`` instead of ``roles.u``.
- A ``readonly`` collection refuses every create, update and delete (only the master may write).
- The master secret bypasses everything.

These rules compile to grant rows ``(perm, principal)`` kept with each object, so lists and counts
are filtered by the database (:class:`~kinbase.storage.base.AclFilter`). ``write`` grants read,
update and delete (:data:`kinbase.core.permissions.IMPLIED_BY`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.permissions import (
    AUTHENTICATED,
    IMPLIED_BY,
    Principals,
    group_principal,
    role_principal,
    user_principal,
)
from kinbase.storage.base import AclFilter, Reader, StoredObject
from kinbase.types import Document

__all__ = [
    "LEVELS",
    "Caller",
    "CollectionPolicy",
    "acl_filter",
    "check_access",
    "check_create",
    "check_write",
    "grants_of",
    "normalize_acl",
    "refuse",
]

LEVELS = ("private", "shared", "readonly", "full")
"""Collection permission levels (the Kinvey console's Private, Shared, Read Only and Full)."""

CallerKind = Literal["app", "master", "user"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a Kinvey request acts as (computed once per request)."""

    kind: CallerKind
    principals: Principals

    @property
    def is_master(self) -> bool:
        return self.kind == "master"

    @property
    def user_id(self) -> str | None:
        return self.principals.user_id

    @classmethod
    def master(cls) -> Caller:
        return cls("master", Principals.master())

    @classmethod
    def app(cls) -> Caller:
        return cls("app", Principals.anonymous())


@dataclass(frozen=True, slots=True)
class CollectionPolicy:
    """The permission settings of one collection (``settings["permissions"]`` of its parent)."""

    level: str = "shared"

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> CollectionPolicy:
        raw = settings.get("permissions")
        if isinstance(raw, Mapping) and raw.get("level") in LEVELS:
            return cls(level=str(raw["level"]))
        return cls()

    @property
    def default_gr(self) -> bool:
        return self.level != "private"

    @property
    def default_gw(self) -> bool:
        return self.level == "full"

    @property
    def users_may_write(self) -> bool:
        return self.level != "readonly"

    def settings(self) -> dict[str, Any]:
        return {"level": self.level}


def refuse(debug: str) -> KinveyError:
    """The error for valid credentials without the permission (never ``InvalidCredentials``)."""
    return KinveyError("InsufficientCredentials", debug)


def _ids(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KinveyError("BadRequest", f"_acl.{where} must be an array of id strings")
    return list(dict.fromkeys(value))


def normalize_acl(raw: Any, creator: str) -> Document:
    """A clean ``_acl`` with ``creator`` set.

    Raises:
        KinveyError: BadRequest if ``raw`` is not an ACL object.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise KinveyError("BadRequest", "_acl must be an object")
    acl: Document = {"creator": creator}
    for flag in ("gr", "gw"):
        if flag in raw and raw[flag] is not None:
            if not isinstance(raw[flag], bool):
                raise KinveyError("BadRequest", f"_acl.{flag} must be true or false")
            acl[flag] = raw[flag]
    for key in ("r", "w"):
        if key in raw:
            acl[key] = list(_ids(raw[key], key))
    for section, keys in (("groups", ("r", "w")), ("roles", ("r", "u", "d"))):
        if section not in raw or raw[section] is None:
            continue
        block = raw[section]
        if not isinstance(block, dict):
            raise KinveyError("BadRequest", f"_acl.{section} must be an object")
        clean: Document = {}
        for key in keys:
            if key in block:
                clean[key] = list(_ids(block[key], f"{section}.{key}"))
        acl[section] = clean
    return acl


def _list(acl: Mapping[str, Any], *path: str) -> list[str]:
    value: Any = acl
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


_FLAGS = frozenset(("creator", "gr", "gw"))
_LISTED: tuple[tuple[str, tuple[str, ...], Any], ...] = (
    ("read", ("r",), user_principal),
    ("write", ("w",), user_principal),
    ("read", ("groups", "r"), group_principal),
    ("write", ("groups", "w"), group_principal),
    ("read", ("roles", "r"), role_principal),
    ("update", ("roles", "u"), role_principal),
    ("delete", ("roles", "d"), role_principal),
)


def grants_of(acl: Mapping[str, Any], policy: CollectionPolicy) -> list[tuple[str, str]]:
    """The grant rows of an entity with this (normalized) ``_acl`` in a collection with ``policy``."""
    grants: set[tuple[str, str]] = set()
    creator = acl.get("creator")
    if isinstance(creator, str):
        grants.add(("write", user_principal(creator)))
    gr = acl.get("gr")
    gw = acl.get("gw")
    if gw if isinstance(gw, bool) else policy.default_gw:
        grants.add(("write", AUTHENTICATED))
    if gr if isinstance(gr, bool) else policy.default_gr:
        grants.add(("read", AUTHENTICATED))
    if not _FLAGS.issuperset(acl):  # most entities: no id lists to read
        for perm, path, principal in _LISTED:
            grants.update((perm, principal(v)) for v in _list(acl, *path))
    return sorted(grants)


def acl_filter(caller: Caller, permission: str, *, creator_holds: bool = False) -> AclFilter | None:
    """The storage filter that keeps the objects ``caller`` may ``permission`` (None for the master).

    ``creator_holds``: the objects' creator column is their ``_acl.creator``, who always holds
    ``write`` (:func:`grants_of`; entities and files), so the caller's own objects are kept on
    that column without reading their grant rows (the same objects, as :func:`check_access`).
    """
    if caller.is_master:
        return None
    creator = caller.user_id if creator_holds else None
    return AclFilter(perms=IMPLIED_BY[permission], principals=caller.principals.sorted(), creator=creator)


def check_create(caller: Caller, policy: CollectionPolicy) -> None:
    if not caller.is_master and not policy.users_may_write:
        raise refuse("This collection is read-only: only the master secret may create entities.")


def check_write(caller: Caller, policy: CollectionPolicy) -> None:
    if not caller.is_master and not policy.users_may_write:
        raise refuse("This collection is read-only: only the master secret may modify entities.")


async def check_access(reader: Reader, caller: Caller, obj: StoredObject, permission: str) -> None:
    """Raises InsufficientCredentials unless ``caller`` holds ``permission`` on ``obj``."""
    if caller.is_master or (caller.user_id is not None and obj.creator == caller.user_id):
        return
    if not caller.principals.holds(permission, await reader.get_grants(obj.oid)):
        raise refuse(f"You may not {permission} the entity {obj.id!r}.")
