"""What the storage contract's tests share: storing a document, a collection to store it in, and
comparing what was read."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from kinbase.storage.base import (
    AppRecord,
    NewVersion,
    ParentRecord,
    StorageBackend,
    StoredObject,
    WriteContext,
)

__all__ = ["builder", "ids", "new_parent", "put_doc", "same"]


def builder(doc: dict[str, Any], creator: str | None = None, grants: list[tuple[str, str]] | None = None):  # type: ignore[no-untyped-def]
    def build(ctx: WriteContext) -> NewVersion:
        return NewVersion(
            data={**doc, "_stamp": ctx.stamp, "_created": ctx.created}, creator=creator, grants=grants
        )

    return build


async def put_doc(
    storage: StorageBackend,
    parent: ParentRecord,
    object_id: str,
    doc: dict[str, Any],
    *,
    creator: str | None = None,
    grants: list[tuple[str, str]] | None = None,
) -> Any:
    """Store one document in its own transaction; returns the PutResult."""
    async with storage.writer() as w:
        return await w.put(parent, object_id, builder(doc, creator, grants))


async def new_parent(storage: StorageBackend, app: AppRecord, name: str = "things") -> ParentRecord:
    async with storage.writer() as w:
        return await w.ensure_parent(app.id, "test.collection", name)


def ids(objects: list[Any]) -> list[str]:
    return [o.id for o in objects]


def same(a: StoredObject | None, b: StoredObject | None) -> bool:
    """Equal objects; the JSON text may be formatted differently by the engine."""
    if a is None or b is None:
        return a is b
    return dataclasses.replace(a, data="") == dataclasses.replace(b, data="") and orjson.loads(
        a.data
    ) == orjson.loads(b.data)
