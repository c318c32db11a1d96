"""``GET /permissions``: every object on which the caller's principals hold a grant, with the
permissions that grant expands to (write implies the resource's other permissions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kinbase.core.kinto.acl import allowed
from kinbase.core.kinto.context import KintoContext, reading
from kinbase.core.kinto.model import KINDS, MEMBER, PERMISSIONS, Resource, Target
from kinbase.storage.base import StorageBackend

__all__ = ["list_permissions"]

_BY_KIND: dict[str, Resource] = {kind: resource for resource, kind in KINDS.items()}
_LISTED: tuple[Resource, ...] = ("bucket", "collection", "group", "record")


def _target(resource: Resource, parent_name: str, object_id: str) -> Target:
    if resource == "bucket":
        return Target("bucket", id=object_id)
    if resource == "record":
        bucket, _, collection = parent_name.partition("/")
        return Target("record", bucket, collection, object_id)
    return Target(resource, parent_name, id=object_id)


def _expand(resource: Resource, perms: Sequence[str]) -> list[str]:
    names = set(perms)
    if "write" in names:
        names.update(PERMISSIONS[resource])
    return sorted(names)


async def list_permissions(storage: StorageBackend, ctx: KintoContext) -> list[dict[str, Any]]:
    """The entries, unsorted and unfiltered (the caller filters, sorts and pages them)."""
    entries: list[dict[str, Any]] = []
    if allowed(ctx.config, ctx.principals, "bucket", "create", {}):
        entries.append({"uri": "/", "resource_name": "root", "permissions": ["bucket:create"], "id": ""})
    async with reading(storage, ctx) as reader:
        rows = await reader.find_granted(ctx.app.id, [KINDS[r] for r in _LISTED], sorted(ctx.principals))
    for parent, obj, perms in rows:
        resource = _BY_KIND[parent.kind]
        held = [p for p in perms if p != MEMBER]
        if not held:
            continue
        target = _target(resource, parent.name, obj.id)
        entries.append(
            {
                "uri": target.uri,
                "resource_name": resource,
                "permissions": _expand(resource, held),
                "id": obj.id,
                **target.ids(),
            }
        )
    return entries
