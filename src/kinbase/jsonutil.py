"""JSON encoding and decoding for every layer (orjson), with kinbase's error on bad input."""

from __future__ import annotations

from typing import Any

import orjson

from kinbase.errors import InvalidJSON

__all__ = ["dumps", "dumps_str", "has_nul", "loads"]


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


def has_nul(raw: bytes, value: Any) -> bool:
    """Whether the decoded ``value`` (``raw`` its JSON text) holds U+0000 in a string or a key.

    PostgreSQL cannot store that character in ``jsonb`` or ``text``, so the front-ends refuse it
    on every engine alike. Only a text holding the escape ``\\u0000`` is walked.
    """
    if b"\\u0000" not in raw:
        return False
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            if any("\x00" in key for key in item):
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
