"""One Kinvey request as the pipeline sees it, whatever serves it (the storage, a Flex service).

The front-end builds a :class:`KinveyRequest` after authentication; every stage after that
(authorization, pre-hooks, the operation, post-hooks) reads it, and a pre-hook may hand on a
changed copy (:meth:`KinveyRequest.with_body`, :meth:`KinveyRequest.with_params`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlencode

from kinbase.core.kinvey.access import Caller
from kinbase.query.ast import Query
from kinbase.storage.base import AppRecord

if TYPE_CHECKING:
    from kinbase.core.kinvey.pipeline.outcome import Outcome, Rendered

__all__ = ["EVENTS", "FLEX_CHAIN_HEADER", "Event", "KinveyRequest", "Operation", "Wire"]

FLEX_CHAIN_HEADER = "x-kinbase-flex-chain"
"""Set by the front-end on a Flex service's call back into kinbase (never taken from a client):
the chain of Flex calls it belongs to (``kinbase.core.flex.chain``)."""


class Operation(StrEnum):
    """What a request does. The value is the :class:`~.backend.CollectionBackend` method's name."""

    LIST = "list"
    GET = "get"
    COUNT = "count"
    GROUP = "group"
    DELTASET = "deltaset"
    CREATE = "create"
    INSERT_MANY = "insert_many"
    SAVE = "save"
    DELETE = "delete"
    DELETE_WHERE = "delete_where"
    CUSTOM = "custom"
    """A custom endpoint (``POST /rpc/:appKey/custom/:name``)."""


Event = Literal["fetch", "save", "delete"]
"""The hook family of an operation: Kinvey's ``onPreFetch``/``onPostFetch``, ``…Save``, ``…Delete``."""

EVENTS: Mapping[Operation, Event] = {
    Operation.LIST: "fetch",
    Operation.GET: "fetch",
    Operation.COUNT: "fetch",
    Operation.GROUP: "fetch",
    Operation.DELTASET: "fetch",
    Operation.CREATE: "save",
    Operation.INSERT_MANY: "save",
    Operation.SAVE: "save",
    Operation.DELETE: "delete",
    Operation.DELETE_WHERE: "delete",
}


class Wire(Protocol):
    """The protocol's parsing and rendering, lent by the front-end to the stages that need it (a
    hook that rewrites the query string, a post-hook that sends the response to a Flex service)."""

    def parse_query(self, params: Mapping[str, str]) -> Query:
        """The read described by Kinvey query parameters (``query``, ``sort``, ``limit``…).

        Raises:
            BaaSError: for a malformed parameter (rendered as ``InvalidQuerySyntax``).
        """

    def render(self, request: KinveyRequest, outcome: Outcome) -> Rendered:
        """``outcome`` as the client would receive it: status, headers and JSON body."""


@dataclass(slots=True)
class KinveyRequest:
    """A request to a collection or a custom endpoint.

    Attributes:
        app: the app of the path.
        caller: who the request acts as (kind ``app``, ``master`` or ``user``, and principals).
        token: the session token (``Authorization: Kinvey <token>``), if any.
        operation: what the request does.
        collection: the collection, or the custom endpoint's name.
        entity_id: the entity of the path, if any.
        query: the parsed read (filter, sort, skip, limit, fields).
        params: the query parameters as sent (last value of a repeated name).
        query_string: the query string exactly as sent (a Flex data link forwards it verbatim).
        body: the decoded JSON body (None without one).
        headers: the original headers, names in lower case.
        api_version: the effective ``X-Kinvey-API-Version``.
        request_id: the id logged with the request and sent back in ``X-Kinvey-Request-Id``.
        base_url: ``scheme://host[:port]`` of this server as the client sees it.
        skip_business_logic: ``X-Kinvey-Skip-Business-Logic: true`` (honoured for the master, and
            for a Flex service's call back into kinbase with the user's credentials).
        with_count: ``X-Kinvey-Include-Items-Count: true`` on a list.
        temp: the ``tempObjectStore`` a pre-hook shares with the post-hook of the same request.
        wire: the front-end's parsing and rendering.
    """

    app: AppRecord
    caller: Caller
    operation: Operation
    collection: str
    wire: Wire
    token: str | None = None
    entity_id: str | None = None
    query: Query = field(default_factory=Query)
    params: Mapping[str, str] = field(default_factory=dict)
    query_string: str = ""
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    api_version: int = 3
    request_id: str = ""
    base_url: str = ""
    skip_business_logic: bool = False
    with_count: bool = False
    temp: dict[str, Any] = field(default_factory=dict)

    @property
    def business_logic(self) -> bool:
        """Whether hooks run: always, unless the master secret (or a Flex callback) asks to skip them."""
        return not (self.skip_business_logic and (self.caller.is_master or FLEX_CHAIN_HEADER in self.headers))

    def with_body(self, body: Any) -> KinveyRequest:
        """A copy with another body (what a pre-hook's ``setBody`` does)."""
        return dataclasses.replace(self, body=body)

    def with_params(self, params: Mapping[str, str]) -> KinveyRequest:
        """A copy with other query parameters, parsed again (what a pre-hook's ``setQuery`` does).

        Raises:
            BaaSError: for a malformed parameter.
        """
        return dataclasses.replace(
            self, params=dict(params), query=self.wire.parse_query(params), query_string=urlencode(params)
        )
