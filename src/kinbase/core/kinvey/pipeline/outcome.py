"""What an operation produced, typed, for the front-end to render.

Entities stay in their stored JSON text (the front-end splices them into the response, never
decoding them). :class:`Reply` is an answer business logic chose outright: a pre-hook that ends
the request, a post-hook that replaces the response, a custom endpoint, a Flex data link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from kinbase.core.kinvey.errors import KinveyError
from kinbase.types import Stamp

__all__ = [
    "Count",
    "Deleted",
    "Delta",
    "Entities",
    "Entity",
    "Inserted",
    "ItemError",
    "Outcome",
    "Rendered",
    "Reply",
    "Value",
]


@dataclass(frozen=True, slots=True)
class Entity:
    """One entity (a read, or a write: ``created`` tells a PUT that created from one that replaced)."""

    text: str
    entity_id: str
    created: bool | None = None


@dataclass(frozen=True, slots=True)
class Entities:
    """A list: the entities' texts, the stamp the read started from, the total when asked."""

    texts: list[str]
    start: Stamp
    count: int | None = None


@dataclass(frozen=True, slots=True)
class Count:
    count: int
    start: Stamp


@dataclass(frozen=True, slots=True)
class Deleted:
    count: int


@dataclass(frozen=True, slots=True)
class ItemError:
    """The failure of one item of a multi-insert."""

    index: int
    error: KinveyError


@dataclass(frozen=True, slots=True)
class Inserted:
    """A multi-insert: one text (or None where the item failed) per item, and the failures."""

    entities: list[str | None]
    errors: list[ItemError]


@dataclass(frozen=True, slots=True)
class Delta:
    """A delta set: entities changed since ``since``, ids deleted (or no longer visible) since."""

    changed: list[str]
    deleted: list[str]
    start: Stamp


@dataclass(frozen=True, slots=True)
class Value:
    """A JSON value computed by the operation (``_group``'s result)."""

    value: Any
    status: int = 200


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer given by business logic: sent as it is (status, headers, JSON body)."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


Outcome: TypeAlias = Entity | Entities | Count | Deleted | Inserted | Delta | Value | Reply


@dataclass(frozen=True, slots=True)
class Rendered:
    """An outcome on the wire: what the client receives (the front-end renders it)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
