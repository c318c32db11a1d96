"""Where a collection's operations are carried out: the interface, and the storage behind it.

:class:`CollectionBackend` has one method per appdata operation (named as
:class:`~.request.Operation`'s values). :class:`StoredCollections` is the storage implementation
(the entities and collection services); a collection backed by a Flex service object is another
implementation of the same interface.
"""

from __future__ import annotations

from typing import Protocol

from kinbase.core.kinvey.aggregate import parse_group
from kinbase.core.kinvey.collections import CollectionService
from kinbase.core.kinvey.entities import EntityService
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.pipeline.outcome import (
    Count,
    Deleted,
    Delta,
    Entities,
    Entity,
    Inserted,
    ItemError,
    Outcome,
    Value,
)
from kinbase.core.kinvey.pipeline.request import KinveyRequest

__all__ = ["CollectionBackend", "StoredCollections"]


class CollectionBackend(Protocol):
    """The operations of a collection. Each takes the whole request and returns an outcome (any
    of them may be a :class:`~.outcome.Reply`, e.g. a Flex service's own answer)."""

    async def authorize(self, request: KinveyRequest) -> None:
        """Refuse (raise) a request the caller may not make, before any hook runs."""

    async def list(self, request: KinveyRequest) -> Outcome:
        """``GET /appdata/:k/:c`` (``request.query``)."""

    async def get(self, request: KinveyRequest) -> Outcome:
        """``GET /appdata/:k/:c/:id``."""

    async def count(self, request: KinveyRequest) -> Outcome:
        """``GET /appdata/:k/:c/_count``."""

    async def group(self, request: KinveyRequest) -> Outcome:
        """``POST /appdata/:k/:c/_group`` (the aggregation in ``request.body``)."""

    async def deltaset(self, request: KinveyRequest) -> Outcome:
        """``GET /appdata/:k/:c/_deltaset?since=``."""

    async def create(self, request: KinveyRequest) -> Outcome:
        """``POST /appdata/:k/:c`` with one entity."""

    async def insert_many(self, request: KinveyRequest) -> Outcome:
        """``POST /appdata/:k/:c`` with an array (API version 5 and later)."""

    async def save(self, request: KinveyRequest) -> Outcome:
        """``PUT /appdata/:k/:c/:id``: replace, or create with that id."""

    async def delete(self, request: KinveyRequest) -> Outcome:
        """``DELETE /appdata/:k/:c/:id``."""

    async def delete_where(self, request: KinveyRequest) -> Outcome:
        """``DELETE /appdata/:k/:c?query=``."""


def _entity_id(request: KinveyRequest) -> str:
    if request.entity_id is None:
        raise KinveyError("MissingRequestParameter", "The entity id is missing from the path.")
    return request.entity_id


class StoredCollections:
    """Collections kept by kinbase's storage.

    Permissions are checked where the data is: one entity's ``_acl`` and the collection's level
    inside the transaction that reads or writes it (no second read, no race), lists and counts by
    the SQL filter on the grant rows. :meth:`authorize` therefore has nothing left to check.
    """

    def __init__(self, entities: EntityService, collections: CollectionService) -> None:
        self.entities = entities
        self.collections = collections

    async def authorize(self, request: KinveyRequest) -> None:
        return None

    async def list(self, request: KinveyRequest) -> Outcome:
        r = request
        result = await self.entities.find(
            r.app, r.caller, r.collection, r.query, api_version=r.api_version, with_count=r.with_count
        )
        return Entities(result.texts, result.start, result.count)

    async def get(self, request: KinveyRequest) -> Outcome:
        entity_id = _entity_id(request)
        text = await self.entities.get(request.app, request.caller, request.collection, entity_id)
        return Entity(text, entity_id)

    async def count(self, request: KinveyRequest) -> Outcome:
        result = await self.entities.count(request.app, request.caller, request.collection, request.query)
        return Count(result.count or 0, result.start)

    async def group(self, request: KinveyRequest) -> Outcome:
        spec = parse_group(request.body)
        return Value(await self.entities.group(request.app, request.caller, request.collection, spec))

    async def deltaset(self, request: KinveyRequest) -> Outcome:
        r = request
        delta = await self.collections.deltaset(r.app, r.caller, r.collection, r.params.get("since"), r.query)
        return Delta(delta.changed, delta.deleted, delta.start)

    async def create(self, request: KinveyRequest) -> Outcome:
        stored = await self.entities.create(request.app, request.caller, request.collection, request.body)
        return Entity(stored.data, stored.id, created=True)

    async def insert_many(self, request: KinveyRequest) -> Outcome:
        bodies = request.body if isinstance(request.body, list) else [request.body]
        texts, errors = await self.entities.insert_many(
            request.app, request.caller, request.collection, bodies
        )
        return Inserted(texts, [ItemError(index, error) for index, error in errors])

    async def save(self, request: KinveyRequest) -> Outcome:
        entity_id = _entity_id(request)
        stored, created = await self.entities.save(
            request.app, request.caller, request.collection, entity_id, request.body
        )
        return Entity(stored.data, entity_id, created=created)

    async def delete(self, request: KinveyRequest) -> Outcome:
        entity_id = _entity_id(request)
        return Deleted(await self.entities.delete(request.app, request.caller, request.collection, entity_id))

    async def delete_where(self, request: KinveyRequest) -> Outcome:
        count = await self.entities.delete_where(
            request.app, request.caller, request.collection, request.query
        )
        return Deleted(count)
