"""The pipeline's :class:`~kinbase.core.kinvey.pipeline.Resolver` built from each app's
configuration: a collection with a ``data_link`` is served by its Flex service object, the
``[collections.X.hooks]`` surround it, ``[endpoints.*]`` are custom endpoints. Everything the
configuration does not name goes to the resolver underneath (the storage, no hooks).

The targets are built once per configuration version (:meth:`AppConfigService.current` returns
the same object while the configuration is unchanged), so the request path costs a dict lookup.
"""

from __future__ import annotations

from kinbase.core.appconfig import AppConfig, AppConfigService
from kinbase.core.appconfig.model import FunctionRef
from kinbase.core.flex.calls import FlexCalls
from kinbase.core.flex.datalink import FlexDataBackend
from kinbase.core.flex.hooks import FlexEndpoint, FlexPostHook, FlexPreHook
from kinbase.core.kinvey.pipeline import (
    CollectionBackend,
    CollectionTarget,
    EndpointHandler,
    Event,
    PostHook,
    PreHook,
    Resolver,
)
from kinbase.storage.base import AppRecord, StorageBackend

__all__ = ["FlexResolver"]

_EVENTS: tuple[Event, ...] = ("save", "fetch", "delete")


class FlexResolver:
    """Per app: the Flex data links, hooks and endpoints of its configuration."""

    def __init__(
        self, appconfig: AppConfigService, calls: FlexCalls, storage: StorageBackend, fallback: Resolver
    ) -> None:
        self._appconfig = appconfig
        self._calls = calls
        self._storage = storage
        self.fallback = fallback
        self._targets: dict[tuple[int, str], tuple[AppConfig, CollectionTarget]] = {}
        self._endpoints: dict[tuple[int, str], tuple[AppConfig, EndpointHandler]] = {}

    async def collection(self, app: AppRecord, name: str) -> CollectionTarget:
        config = await self._appconfig.current(app)
        declared = config.collections.get(name)
        if declared is None or (declared.data_link is None and not declared.hooks):
            return await self.fallback.collection(app, name)
        key = (app.id, name)
        cached = self._targets.get(key)
        if cached is not None and cached[0] is config:
            return cached[1]
        backend: CollectionBackend
        if declared.data_link is not None:
            backend = FlexDataBackend(self._calls, self._storage, declared.data_link)
        else:
            backend = (await self.fallback.collection(app, name)).backend
        pre: dict[Event, PreHook] = {}
        post: dict[Event, PostHook] = {}
        for event in _EVENTS:
            if (ref := declared.hooks.get(f"pre_{event}")) is not None:
                pre[event] = FlexPreHook(self._calls, ref, event)
            if (ref := declared.hooks.get(f"post_{event}")) is not None:
                post[event] = FlexPostHook(self._calls, ref)
        target = CollectionTarget(backend, pre, post)
        self._targets[key] = (config, target)
        return target

    async def endpoint(self, app: AppRecord, name: str) -> EndpointHandler | None:
        config = await self._appconfig.current(app)
        declared = config.endpoints.get(name)
        if declared is None:
            return await self.fallback.endpoint(app, name)
        key = (app.id, name)
        cached = self._endpoints.get(key)
        if cached is not None and cached[0] is config:
            return cached[1]
        handler = FlexEndpoint(self._calls, FunctionRef(declared.service, declared.function))
        self._endpoints[key] = (config, handler)
        return handler
