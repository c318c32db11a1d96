"""Business logic as insertions into the pipeline: hooks, custom endpoints, and the resolver that
says, per app, which backend serves a collection and which hooks surround it.

The default (:class:`DefaultResolver`) is "the storage, no hooks, no endpoints". The app
configuration (Flex services bound to collections, hooks and endpoints) is another
:class:`Resolver`; the pipeline does not change when it does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kinbase.core.kinvey.pipeline.backend import CollectionBackend
from kinbase.core.kinvey.pipeline.outcome import Outcome, Reply
from kinbase.core.kinvey.pipeline.request import Event, KinveyRequest
from kinbase.storage.base import AppRecord

__all__ = ["CollectionTarget", "DefaultResolver", "EndpointHandler", "PostHook", "PreHook", "Resolver"]


class PreHook(Protocol):
    """Runs before the operation (Kinvey's ``onPreSave``, ``onPreFetch``, ``onPreDelete``)."""

    async def __call__(self, request: KinveyRequest) -> KinveyRequest | Reply:
        """The request to carry out (the same, or a changed copy: body, query), or a
        :class:`~.outcome.Reply` that ends the request without the operation."""


class PostHook(Protocol):
    """Runs after the operation (``onPostSave``, ``onPostFetch``, ``onPostDelete``)."""

    async def __call__(self, request: KinveyRequest, outcome: Outcome) -> Outcome:
        """The outcome to send (the same, or another: usually a :class:`~.outcome.Reply`)."""


class EndpointHandler(Protocol):
    """A custom endpoint (``POST /rpc/:appKey/custom/:name``)."""

    async def __call__(self, request: KinveyRequest) -> Outcome:
        """The answer (usually a :class:`~.outcome.Reply`)."""


@dataclass(frozen=True, slots=True)
class CollectionTarget:
    """What serves one collection: a backend, and the hooks bound per event."""

    backend: CollectionBackend
    pre: Mapping[Event, PreHook] = field(default_factory=dict)
    post: Mapping[Event, PostHook] = field(default_factory=dict)


class Resolver(Protocol):
    """Per app: the target of a collection, the handler of a custom endpoint."""

    async def collection(self, app: AppRecord, name: str) -> CollectionTarget:
        """What serves the collection ``name`` of ``app``."""

    async def endpoint(self, app: AppRecord, name: str) -> EndpointHandler | None:
        """The custom endpoint ``name`` of ``app``, or None if it has none by that name."""


class DefaultResolver:
    """Every collection in the storage, without hooks; no custom endpoints."""

    def __init__(self, storage: CollectionBackend) -> None:
        self.target = CollectionTarget(storage)

    async def collection(self, app: AppRecord, name: str) -> CollectionTarget:
        return self.target

    async def endpoint(self, app: AppRecord, name: str) -> EndpointHandler | None:
        return None
