"""Bulk import and export of a collection (``kinbase import`` / ``kinbase export``).

Imports run with the master secret's rights: ``_id``, ``_acl`` (creator included) and ``_kmd``
(``ect``, ``lmt``) are kept from the file when present, as Kinvey's console import did, so a team
leaving Kinvey keeps its ids, permissions and timestamps. An entity whose id exists is replaced.
Each chunk of :data:`IMPORT_CHUNK` entities is one transaction (the storage's bulk path).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson

from kinbase.core.ids import object_id
from kinbase.core.kinvey.access import Caller, CollectionPolicy
from kinbase.core.kinvey.entities import APPDATA, build_entity, check_collection_name, check_entity_id
from kinbase.core.kinvey.errors import KinveyError
from kinbase.query.ast import Query
from kinbase.storage.base import AppRecord, Builder, StorageBackend

__all__ = ["IMPORT_CHUNK", "export_texts", "import_batch", "read_csv", "read_json"]

IMPORT_CHUNK = 1000
"""Entities stored per transaction by an import."""


def read_json(data: bytes) -> list[dict[str, Any]]:
    """Entities from a JSON array (or one object per line).

    Raises:
        KinveyError: BadRequest for anything else.
    """
    text = data.strip()
    try:
        if text.startswith(b"["):
            value = orjson.loads(text)
        else:
            value = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    except orjson.JSONDecodeError as exc:
        raise KinveyError("BadRequest", f"The file is not JSON: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise KinveyError("BadRequest", "The file must hold an array of JSON objects.")
    return value


def _cell(raw: str) -> Any:
    """A CSV cell: JSON when it parses as JSON (numbers, booleans, objects...), else the text."""
    if raw == "":
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def read_csv(data: bytes) -> list[dict[str, Any]]:
    """Entities from a CSV file with a header row (Kinvey's export shape; JSON cells decoded)."""
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    out: list[dict[str, Any]] = []
    for row in reader:
        entity = {k: _cell(v) for k, v in row.items() if k and v is not None and v != ""}
        if "_id" in entity and not isinstance(entity["_id"], str):
            entity["_id"] = str(row["_id"])
        out.append(entity)
    return out


async def import_batch(
    storage: StorageBackend, app: AppRecord, collection: str, entities: list[dict[str, Any]]
) -> int:
    """Store a batch of entities, :data:`IMPORT_CHUNK` per transaction (yielding to the event
    loop between them, so a server sharing the database goes on serving); returns how many. If
    a transaction fails, the chunks before it stay stored: importing the same file again
    replaces the entities that carry an ``_id`` (and adds new copies of those without)."""
    check_collection_name(collection)
    caller = Caller.master()
    ids = [check_entity_id(entity["_id"]) if "_id" in entity else object_id() for entity in entities]
    for start in range(0, len(entities), IMPORT_CHUNK):
        async with storage.writer() as writer:
            parent = await writer.ensure_parent(app.id, APPDATA, collection)
            policy = CollectionPolicy.of(parent.settings)
            items: list[tuple[str, Builder]] = [
                (entity_id, build_entity(entity, entity_id, caller, policy, app))
                for entity_id, entity in zip(
                    ids[start : start + IMPORT_CHUNK], entities[start : start + IMPORT_CHUNK], strict=True
                )
            ]
            await writer.put_many(parent, items)
        await asyncio.sleep(0)
    return len(entities)


async def export_texts(
    storage: StorageBackend, app: AppRecord, collection: str, page: int = 5000
) -> AsyncIterator[str]:
    """Every entity of a collection, as stored JSON text, in insertion order."""
    skip = 0
    while True:
        async with storage.reader() as reader:
            parent = await reader.get_parent(app.id, APPDATA, collection)
            if parent is None:
                return
            found = await reader.find(parent, Query(skip=skip, limit=page))
        for obj in found:
            yield obj.data
        if len(found) < page:
            return
        skip += len(found)


def batches(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
