"""Type aliases shared by the SDK."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

JSONScalar: TypeAlias = bool | int | float | str | None
JSONValue: TypeAlias = JSONScalar | list["JSONValue"] | dict[str, "JSONValue"]
JSONObject: TypeAlias = dict[str, Any]
"""A decoded JSON object. Values are typed ``Any`` so handler code can index into them freely."""

Handler: TypeAlias = Callable[[Any, Any, Any], Awaitable[object] | object]
"""A Flex handler: ``handler(context, complete, modules)``, a plain function or ``async def``."""

Callback: TypeAlias = Callable[..., Awaitable[object] | object]
"""A module callback in the Node style: ``callback(err, result)`` (or ``callback(err)``)."""

__all__ = ["Callback", "Handler", "JSONObject", "JSONScalar", "JSONValue"]
