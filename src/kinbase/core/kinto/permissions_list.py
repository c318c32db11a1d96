"""``GET /permissions``: every object on which the caller holds something, with the permissions
that expand from it (write implies the resource's other permissions), as Kinto lists them.

Two sources, merged per URI:

- the objects' own grants to one of the caller's principals (buckets, collections, groups,
  records, accounts), read in one indexed query;
- the settings-level principals (``bucket_create_principals``, ``account_create_principals``,
  ``<resource>_<perm>_principals`` in ``root_principals``) that hold one of the caller's
  principals: a ``<resource>:create`` setting applies to the parent type (``/`` for buckets and
  accounts, every bucket for collections and groups, every collection for records), any other
  permission to every bucket, collection or group (Kinto does not expand records or accounts).

The list is derived, not stored, so it is filtered, sorted and paged here, in memory, with the
query package's evaluator (Kinto does the same).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kinbase.core.kinto.acl import settings_grant
from kinbase.core.kinto.config import KintoConfig
from kinbase.core.kinto.context import KintoContext, reading
from kinbase.core.kinto.model import KINDS, MEMBER, PERMISSIONS, Resource, Target
from kinbase.core.kinto.store import COLUMNS
from kinbase.query.ast import Query
from kinbase.query.evaluate import matches, sort_docs
from kinbase.query.kinto_querystring import KintoQuerystring
from kinbase.storage.base import FindOptions, Reader, StorageBackend
from kinbase.types import Principal

__all__ = ["PermissionsPage", "list_permissions"]

_BY_KIND: dict[str, Resource] = {kind: resource for resource, kind in KINDS.items()}
_LISTED: tuple[Resource, ...] = ("bucket", "collection", "group", "record", "account")
_CREATE_ON: dict[str, str] = {
    "bucket": "root",
    "account": "root",
    "collection": "bucket",
    "group": "bucket",
    "record": "collection",
}
_EXPANDED: tuple[Resource, ...] = ("bucket", "collection", "group")


@dataclass(frozen=True, slots=True)
class PermissionsPage:
    """One page of entries, whether more follow, and how many entries the filters select."""

    entries: list[dict[str, Any]]
    more: bool
    total: int


def _target(resource: Resource, parent_name: str, object_id: str) -> Target:
    if resource in ("bucket", "account"):
        return Target(resource, id=object_id)
    if resource == "record":
        bucket, _, collection = parent_name.partition("/")
        return Target("record", bucket, collection, object_id)
    return Target(resource, parent_name, id=object_id)


def _expand(resource: str, perms: Iterable[str]) -> list[str]:
    names = set(perms)
    if "write" in names and resource in PERMISSIONS:
        names.update(PERMISSIONS[resource])
    return sorted(names)


def _setting_pairs(config: KintoConfig) -> list[tuple[str, str]]:
    pairs = [("bucket", "create")]
    if config.accounts:
        pairs += [("account", "create"), ("account", "write"), ("account", "read")]
    return pairs + [p for p in config.root_principals if p not in pairs]


def from_settings(config: KintoConfig, principals: frozenset[Principal]) -> dict[str, set[str]]:
    """The permissions the settings give ``principals``, by the type of object they apply to
    (``root`` for ``/``): ``{"bucket": {"write", "collection:create"}, "root": {"bucket:create"}}``."""
    out: dict[str, set[str]] = {}
    for resource, perm in _setting_pairs(config):
        if perm not in ("create", "read", "write") or not settings_grant(config, principals, resource, perm):
            continue
        if perm == "create":
            out.setdefault(_CREATE_ON[resource], set()).add(f"{resource}:create")
        else:
            out.setdefault(resource, set()).add(perm)
    return out


def _entry(target: Target, perms: Iterable[str]) -> dict[str, Any]:
    assert target.id is not None
    ids = {"account_id": target.id} if target.resource == "account" else target.ids()
    return {
        "uri": target.uri,
        "resource_name": target.resource,
        "permissions": _expand(target.resource, perms),
        "id": target.id,
        **ids,
    }


async def _every(reader: Reader, ctx: KintoContext, resource: Resource) -> list[Target]:
    """Every live object of a type in the app."""
    targets: list[Target] = []
    for parent in await reader.list_parents(ctx.app.id, KINDS[resource]):
        for obj in await reader.find(parent, Query(), FindOptions(columns=COLUMNS)):
            targets.append(_target(resource, parent.name, obj.id))
    return targets


async def _entries(storage: StorageBackend, ctx: KintoContext) -> list[dict[str, Any]]:
    settings = from_settings(ctx.config, ctx.principals)
    held: dict[str, tuple[Target | None, set[str]]] = {}
    if settings.get("root"):
        held["/"] = (None, set(settings["root"]))
    async with reading(storage, ctx) as reader:
        rows = await reader.find_granted(ctx.app.id, [KINDS[r] for r in _LISTED], sorted(ctx.principals))
        for parent, obj, perms in rows:
            granted = [p for p in perms if p != MEMBER]
            if granted:
                target = _target(_BY_KIND[parent.kind], parent.name, obj.id)
                held.setdefault(target.uri, (target, set()))[1].update(granted)
        for resource in _EXPANDED:
            if settings.get(resource):
                for every in await _every(reader, ctx, resource):
                    held.setdefault(every.uri, (every, set()))[1].update(settings[resource])
    entries: list[dict[str, Any]] = []
    for uri, (found, names) in held.items():
        if found is None:
            entries.append({"uri": uri, "resource_name": "root", "permissions": sorted(names)})
        else:
            entries.append(_entry(found, names))
    return entries


async def list_permissions(
    storage: StorageBackend, ctx: KintoContext, qs: KintoQuerystring, limit: int | None
) -> PermissionsPage:
    """The page of entries ``qs`` selects (filters, order, token), at most ``limit`` of them."""
    entries = [e for e in await _entries(storage, ctx) if matches(qs.filter, e)]
    total = len(entries)
    if qs.after is not None:
        entries = [e for e in entries if matches(qs.after, e)]
    ordered: Sequence[dict[str, Any]] = [entries[i] for i in sort_docs(entries, qs.sort)]
    more = limit is not None and len(ordered) > limit
    return PermissionsPage(list(ordered[:limit] if more else ordered), more, total)
