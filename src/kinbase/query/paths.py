"""Field paths: parsing, validation and the positional-segment rule shared by every layer.

A path is the tuple of segments of a dotted field name (``"owner.address.city"``). Segments are
JSON object keys; a segment that is a canonical non-negative integer (``"0"``, ``"12"``, not
``"01"`` or ``"-1"``) also addresses an array position during a MongoDB walk.
"""

from __future__ import annotations

from typing import Final

from kinbase.errors import InvalidQuery
from kinbase.numerals import uint
from kinbase.types import Path

__all__ = ["MAX_PATH_SEGMENTS", "check_segment", "parse_path", "positional_index"]

MAX_PATH_SEGMENTS: Final = 32
"""Longest accepted path. Deep paths compile to a linear chain of SQL steps, so this is only a
guard against absurd input."""

MAX_PATH_CHARS: Final = 1024

_MAX_POSITION: Final = 10**9
"""Larger integer segments are plain keys: no array is that long."""


def check_segment(segment: str, *, field: str) -> None:
    """Refuse a segment that cannot be addressed the same way in Python, SQLite and PostgreSQL.

    Empty segments, a leading ``$`` (operator syntax), ``"`` and ``\\`` (they cannot be written in
    an SQLite JSON path: SQLite compares path labels against the raw, escaped key text) and
    control characters (including NUL) are refused.

    Raises:
        InvalidQuery: naming ``field``.
    """
    if not segment:
        raise InvalidQuery(f"Invalid field name {field!r}: empty path segment.")
    if segment[0] == "$":
        raise InvalidQuery(f"Invalid field name {field!r}: a field name cannot start with '$'.")
    for ch in segment:
        if ch in '"\\' or ord(ch) < 0x20:
            raise InvalidQuery(
                f"Invalid field name {field!r}: quotes, backslashes and control characters are not allowed."
            )


def parse_path(field: str) -> Path:
    """Split and validate a dotted field name.

    Raises:
        InvalidQuery: if the name is empty, too long, or has an invalid segment.
    """
    if not field:
        raise InvalidQuery("Invalid field name: it must be a non-empty string.")
    if len(field) > MAX_PATH_CHARS:
        raise InvalidQuery(f"Invalid field name {field[:40]!r}...: longer than {MAX_PATH_CHARS} characters.")
    segments = tuple(field.split("."))
    if len(segments) > MAX_PATH_SEGMENTS:
        raise InvalidQuery(f"Invalid field name {field!r}: more than {MAX_PATH_SEGMENTS} segments.")
    for segment in segments:
        check_segment(segment, field=field)
    return segments


def positional_index(segment: str) -> int | None:
    """The array position a segment addresses, or None.

    Only canonical decimal integers count: ``"0"`` and ``"17"`` do, ``"01"``, ``"+1"``, ``"-1"``
    and ``" 1"`` do not (they are plain object keys everywhere).
    """
    if not segment.isascii() or not segment.isdigit():
        return None
    if len(segment) > 1 and segment[0] == "0":
        return None
    value = uint(segment)
    return value if value is not None and value < _MAX_POSITION else None
