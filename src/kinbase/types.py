"""Type aliases shared by every layer."""

from __future__ import annotations

from typing import TypeAlias

JSONScalar: TypeAlias = bool | int | float | str | None
JSONValue: TypeAlias = JSONScalar | list["JSONValue"] | dict[str, "JSONValue"]
Document: TypeAlias = dict[str, JSONValue]
"""A decoded JSON object: an entity, a record, a settings block."""

Path: TypeAlias = tuple[str, ...]
"""A dotted field path split into segments: ``"owner.address.city"`` -> ``("owner", "address", "city")``."""

Stamp: TypeAlias = int
"""A change stamp: integer milliseconds since the epoch, strictly increasing within one parent."""

Principal: TypeAlias = str
"""``system.Everyone``, ``system.Authenticated``, ``user:<id>``, ``group:<id>``, ``role:<id>``..."""
