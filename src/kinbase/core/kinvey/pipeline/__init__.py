"""The Kinvey request pipeline: authorize → pre-hook → operation → post-hook.

The front-end authenticates the caller, parses the request into a :class:`KinveyRequest` and
renders the :data:`Outcome` this returns; everything between is here::

    front-end                       core (this package)
    ---------                       -------------------
    authenticate ─► KinveyRequest ─► authorize ─► pre-hook ─► backend.<operation> ─► post-hook
    render ◄──────────────────────────────────────────────────────────────────────── Outcome

``docs/architecture.md`` traces one request through it, file by file.
"""

from __future__ import annotations

from kinbase.core.kinvey.entities import check_collection_name
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.pipeline.backend import CollectionBackend, StoredCollections
from kinbase.core.kinvey.pipeline.logic import (
    CollectionTarget,
    DefaultResolver,
    EndpointHandler,
    PostHook,
    PreHook,
    Resolver,
)
from kinbase.core.kinvey.pipeline.outcome import (
    Count,
    Deleted,
    Delta,
    Entities,
    Entity,
    Inserted,
    ItemError,
    Outcome,
    Rendered,
    Reply,
    Value,
)
from kinbase.core.kinvey.pipeline.request import EVENTS, Event, KinveyRequest, Operation, Wire
from kinbase.errors import LimitExceeded

__all__ = [
    "EVENTS",
    "CollectionBackend",
    "CollectionTarget",
    "Count",
    "DefaultResolver",
    "Deleted",
    "Delta",
    "EndpointHandler",
    "Entities",
    "Entity",
    "Event",
    "Inserted",
    "ItemError",
    "KinveyPipeline",
    "KinveyRequest",
    "Operation",
    "Outcome",
    "PostHook",
    "PreHook",
    "Rendered",
    "Reply",
    "Resolver",
    "StoredCollections",
    "Value",
    "Wire",
]


class KinveyPipeline:
    """Runs appdata operations and custom endpoints.

    Args:
        resolver: which backend and hooks serve a collection, which handler an endpoint.
        max_insert: the most entities one multi-insert may carry.
    """

    def __init__(self, resolver: Resolver, *, max_insert: int) -> None:
        self.resolver = resolver
        self.max_insert = max_insert

    async def run(self, request: KinveyRequest) -> Outcome:
        """Serve ``request``.

        Raises:
            BaaSError: any refusal (the front-end renders it).
        """
        operation = request.operation
        if operation is Operation.CUSTOM:
            return await self._endpoint(request)
        check_collection_name(request.collection)
        if operation is Operation.INSERT_MANY:
            self._check_insert_many(request)
        target = await self.resolver.collection(request.app, request.collection)
        await target.backend.authorize(request)
        event = EVENTS[operation]
        logic = request.business_logic
        pre = target.pre.get(event) if logic and target.pre else None
        if pre is not None:
            changed = await pre(request)
            if isinstance(changed, Reply):
                return changed
            request = changed
        outcome: Outcome = await getattr(target.backend, operation.value)(request)
        post = target.post.get(event) if logic and target.post else None
        if post is not None:
            outcome = await post(request, outcome)
        return outcome

    def _check_insert_many(self, request: KinveyRequest) -> None:
        if request.api_version < 5:
            raise KinveyError("FeatureUnavailable", "Multi-insert needs X-Kinvey-API-Version 5 or later.")
        if isinstance(request.body, list) and len(request.body) > self.max_insert:
            raise LimitExceeded(f"A multi-insert carries at most {self.max_insert} entities.")

    async def _endpoint(self, request: KinveyRequest) -> Outcome:
        handler = await self.resolver.endpoint(request.app, request.collection)
        if handler is None:
            raise KinveyError("EntityNotFound", f"This app has no custom endpoint {request.collection!r}.")
        return await handler(request)
