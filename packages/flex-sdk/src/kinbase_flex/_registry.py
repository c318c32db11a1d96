"""Registering handlers: ``flex.data``, ``flex.functions`` and ``flex.auth``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, overload

from kinbase_flex.types import Handler

__all__ = ["DATA_EVENTS", "FlexAuth", "FlexData", "FlexFunctions", "ServiceObject"]

DATA_EVENTS = (
    "onInsert",
    "onInsertMany",
    "onUpdate",
    "onDeleteById",
    "onDeleteByQuery",
    "onDeleteAll",
    "onGetAll",
    "onGetById",
    "onGetByQuery",
    "onGetCount",
    "onGetCountByQuery",
)


class ServiceObject:
    """A FlexData service object: one handler per data event.

    Each ``onX(handler)`` registers ``handler`` and returns it, so it also works as a decorator::

        widgets = flex.data.serviceObject("widgets")

        @widgets.onGetById
        def get_widget(context, complete, modules): ...
    """

    def __init__(self, service_object_name: str) -> None:
        self.serviceObjectName = service_object_name
        self._handlers: dict[str, Handler] = {}

    def register(self, data_op: str, handler: Handler) -> Handler:
        """Register ``handler`` for the event ``data_op`` (``"onGetAll"``...)."""
        if data_op not in DATA_EVENTS:
            raise ValueError("Operation not permitted")
        if not callable(handler):
            raise TypeError("A handler must be callable: handler(context, complete, modules)")
        self._handlers[data_op] = handler
        return handler

    def unregister(self, data_op: str) -> None:
        if data_op not in DATA_EVENTS:
            raise ValueError("Operation not permitted")
        self._handlers.pop(data_op, None)

    removeHandler = unregister
    remove_handler = unregister

    def resolve(self, data_op: str) -> Handler | None:
        """The handler of ``data_op``, or ``None`` (answered ``notImplemented``)."""
        return self._handlers.get(data_op)

    def onInsert(self, handler: Handler) -> Handler:
        """``POST /<so>``: create an entity."""
        return self.register("onInsert", handler)

    def onInsertMany(self, handler: Handler) -> Handler:
        """``POST /<so>`` with a JSON array."""
        return self.register("onInsertMany", handler)

    def onUpdate(self, handler: Handler) -> Handler:
        """``PUT /<so>/<id>``."""
        return self.register("onUpdate", handler)

    def onDeleteById(self, handler: Handler) -> Handler:
        """``DELETE /<so>/<id>``."""
        return self.register("onDeleteById", handler)

    def onDeleteByQuery(self, handler: Handler) -> Handler:
        """``DELETE /<so>?query=...``."""
        return self.register("onDeleteByQuery", handler)

    def onDeleteAll(self, handler: Handler) -> Handler:
        """``DELETE /<so>``."""
        return self.register("onDeleteAll", handler)

    def onGetAll(self, handler: Handler) -> Handler:
        """``GET /<so>``."""
        return self.register("onGetAll", handler)

    def onGetById(self, handler: Handler) -> Handler:
        """``GET /<so>/<id>``."""
        return self.register("onGetById", handler)

    def onGetByQuery(self, handler: Handler) -> Handler:
        """``GET /<so>?query=...``."""
        return self.register("onGetByQuery", handler)

    def onGetCount(self, handler: Handler) -> Handler:
        """``GET /<so>/_count``."""
        return self.register("onGetCount", handler)

    def onGetCountByQuery(self, handler: Handler) -> Handler:
        """``GET /<so>/_count?query=...``."""
        return self.register("onGetCountByQuery", handler)

    on_insert = onInsert
    on_insert_many = onInsertMany
    on_update = onUpdate
    on_delete_by_id = onDeleteById
    on_delete_by_query = onDeleteByQuery
    on_delete_all = onDeleteAll
    on_get_all = onGetAll
    on_get_by_id = onGetById
    on_get_by_query = onGetByQuery
    on_get_count = onGetCount
    on_get_count_by_query = onGetCountByQuery

    @property
    def service_object_name(self) -> str:
        return self.serviceObjectName


class FlexData:
    """``flex.data`` (also ``flex.dataLink``): the service objects of the service."""

    def __init__(self) -> None:
        self._objects: dict[str, ServiceObject] = {}

    def serviceObject(self, service_object_name: str) -> ServiceObject:
        """The service object of that name, created on first use."""
        found = self._objects.get(service_object_name)
        if found is None:
            found = self._objects[service_object_name] = ServiceObject(service_object_name)
        return found

    def getServiceObjects(self) -> list[str]:
        return list(self._objects)

    def removeServiceObject(self, service_object_name: str) -> None:
        self._objects.pop(service_object_name, None)

    def clearAll(self) -> None:
        self._objects.clear()

    def _find(self, service_object_name: str) -> ServiceObject | None:
        return self._objects.get(service_object_name)

    service_object = serviceObject
    get_service_objects = getServiceObjects
    remove_service_object = removeServiceObject
    clear_all = clearAll


class _Handlers:
    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    @overload
    def register(self, name: str, handler: None = None) -> Callable[[Handler], Handler]: ...

    @overload
    def register(self, name: str, handler: Handler) -> Handler: ...

    def register(self, name: str, handler: Handler | None = None) -> Any:
        """Register ``handler`` under ``name`` (and return it). Without a handler, a decorator."""
        if handler is None:

            def decorator(function: Handler) -> Handler:
                return self.register(name, function)

            return decorator
        if not callable(handler):
            raise TypeError("A handler must be callable: handler(context, complete, modules)")
        self._handlers[name] = handler
        return handler

    def unregister(self, name: str) -> None:
        self._handlers.pop(name, None)

    def getHandlers(self) -> list[str]:
        return list(self._handlers)

    def resolve(self, name: str) -> Handler | None:
        return self._handlers.get(name)

    def clearAll(self) -> None:
        self._handlers.clear()

    get_handlers = getHandlers
    clear_all = clearAll


class FlexFunctions(_Handlers):
    """``flex.functions`` (also ``flex.businessLogic``): handlers for custom endpoints and hooks,
    served at ``POST /_flexFunctions/<name>``."""


class FlexAuth(_Handlers):
    """``flex.auth``: FlexAuth handlers, served at ``POST /_auth/<name>``."""
