"""A collection whose data a Flex service object holds (``[collections.X] data_link``).

:class:`FlexDataBackend` is a :class:`~kinbase.core.kinvey.pipeline.CollectionBackend`: each
appdata operation becomes the FlexData request of ``specs/flex-protocol.md`` §3, the client's
query string forwarded verbatim, and the service's answer becomes the Kinvey response as it is
(its ``404`` reaches the SDK as a ``404``). kinbase checks the collection's permission level
first (:meth:`FlexDataBackend.authorize`); what each entity may be seen by is the service's
business. An answer without the shape of the operation is ``BLRuntimeError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kinbase.core.appconfig.model import DataLink
from kinbase.core.flex.calls import FlexCalls
from kinbase.core.flex.service import DataMethod
from kinbase.core.kinvey.access import CollectionPolicy, refuse
from kinbase.core.kinvey.entities import APPDATA
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.pipeline import KinveyRequest, Operation, Outcome, Reply
from kinbase.storage.base import StorageBackend

__all__ = ["FlexDataBackend", "service_answer"]

_WRITES = frozenset(
    {Operation.CREATE, Operation.INSERT_MANY, Operation.SAVE, Operation.DELETE, Operation.DELETE_WHERE}
)


def _is_count(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and isinstance(body.get("count"), int)
        and not isinstance(body.get("count"), bool)
    )


def _is_entity(body: Any) -> bool:
    return isinstance(body, dict)


def _is_list(body: Any) -> bool:
    return isinstance(body, list)


def _is_inserted(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("entities"), list)


_ENTITY = (_is_entity, "an entity object")
_COUNT = (_is_count, 'an object {"count": n}')
_SHAPES: dict[Operation, tuple[Callable[[Any], bool], str]] = {
    Operation.LIST: (_is_list, "an array of entities"),
    Operation.GET: _ENTITY,
    Operation.CREATE: _ENTITY,
    Operation.SAVE: _ENTITY,
    Operation.INSERT_MANY: (_is_inserted, 'an object with "entities"'),
    Operation.COUNT: _COUNT,
    Operation.DELETE: _COUNT,
    Operation.DELETE_WHERE: _COUNT,
}


def service_answer(service: str, status: int, body: Any) -> Reply:
    """An error a Flex service chose (status 400 and above), as the client receives it.

    Its ``{error, description, debug}`` body passes through, except ``InvalidCredentials``: that
    name logs the SDK's user out, and the user's credentials are not what the service refused
    (usually kinbase's ``X-Auth-Key``), so it becomes ``InsufficientCredentials``.

    Raises:
        KinveyError: BLRuntimeError if the body is not a Kinvey error.
    """
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        raise KinveyError(
            "BLRuntimeError",
            f"The Flex service {service!r} answered {status} without an error object: {str(body)[:200]}",
        )
    if body["error"] == "InvalidCredentials":
        body = {**body, "error": "InsufficientCredentials"}
    return Reply(status, body)


class FlexDataBackend:
    """The operations of one collection, served by a FlexData service object."""

    def __init__(self, calls: FlexCalls, storage: StorageBackend, link: DataLink) -> None:
        self._calls = calls
        self._storage = storage
        self.link = link

    async def authorize(self, request: KinveyRequest) -> None:
        """A read-only collection refuses users' writes (the master secret may write). Entities
        are the service's: their ``_acl`` is not checked by kinbase."""
        if request.caller.is_master or request.operation not in _WRITES:
            return
        async with self._storage.reader() as reader:
            parent = await reader.get_parent(request.app.id, APPDATA, request.collection)
        policy = CollectionPolicy.of(parent.settings if parent is not None else {})
        if not policy.users_may_write:
            raise refuse("This collection is read-only: only the master secret may change it.")

    async def _call(
        self,
        request: KinveyRequest,
        method: DataMethod,
        *,
        entity_id: str | None = None,
        count: bool = False,
        query: bool = False,
        body: Any = None,
    ) -> Outcome:
        service = await self._calls.service(request.app, self.link.service)
        reply = await service.data(
            await self._calls.context(request),
            self.link.service_object,
            method,
            entity_id=entity_id,
            count=count,
            query_string=request.query_string if query else "",
            body=body,
        )
        if reply.status >= 400:
            return service_answer(service.name, reply.status, reply.body)
        check, shape = _SHAPES[request.operation]
        if not 200 <= reply.status < 300 or not check(reply.body):
            raise KinveyError(
                "BLRuntimeError",
                f"The Flex service {service.name!r} answered {reply.status} to "
                f"{method} /{self.link.service_object}; kinbase expected 2xx with {shape}.",
            )
        return Reply(reply.status, reply.body)

    @staticmethod
    def _id(request: KinveyRequest) -> str:
        if request.entity_id is None:
            raise KinveyError("MissingRequestParameter", "The entity id is missing from the path.")
        return request.entity_id

    async def list(self, request: KinveyRequest) -> Outcome:
        return await self._call(request, "GET", query=True)

    async def get(self, request: KinveyRequest) -> Outcome:
        return await self._call(request, "GET", entity_id=self._id(request))

    async def count(self, request: KinveyRequest) -> Outcome:
        return await self._call(request, "GET", count=True, query=True)

    async def group(self, request: KinveyRequest) -> Outcome:
        raise KinveyError(
            "FeatureUnavailable", "A collection backed by a Flex service has no _group aggregation."
        )

    async def deltaset(self, request: KinveyRequest) -> Outcome:
        raise KinveyError("FeatureUnavailable", "A collection backed by a Flex service has no delta set.")

    async def create(self, request: KinveyRequest) -> Outcome:
        return await self._call(request, "POST", body=request.body)

    async def insert_many(self, request: KinveyRequest) -> Outcome:
        return await self._call(request, "POST", body=request.body)

    async def save(self, request: KinveyRequest) -> Outcome:
        return await self._call(request, "PUT", entity_id=self._id(request), body=request.body)

    async def delete(self, request: KinveyRequest) -> Outcome:
        return await self._call(request, "DELETE", entity_id=self._id(request))

    async def delete_where(self, request: KinveyRequest) -> Outcome:
        return await self._call(request, "DELETE", query=True)
