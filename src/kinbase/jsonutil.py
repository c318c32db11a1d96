"""JSON encoding and decoding for every layer (orjson), with kinbase's error on bad input."""

from __future__ import annotations

from typing import Any

import orjson

from kinbase.errors import InvalidJSON

__all__ = ["dumps", "dumps_str", "loads"]


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Decode JSON text.

    Raises:
        InvalidJSON: if ``data`` is not valid JSON (including NaN, Infinity and lone surrogates).
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"Unable to parse the JSON: {exc}") from exc


def dumps(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON."""
    return orjson.dumps(value)


def dumps_str(value: Any) -> str:
    """Encode ``value`` as compact JSON text."""
    return orjson.dumps(value).decode()
