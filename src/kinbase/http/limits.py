"""Checks at the edge, before anything is parsed: the path, the headers, the nesting of JSON.

Each refusal is a :class:`~kinbase.errors.LimitExceeded` (or :class:`~kinbase.errors.InvalidPath`)
that the front-end of the path renders in its protocol's format as a 400; nothing past the edge
ever sees a control character in a path, an oversized header block, or JSON nested deeper than
:data:`MAX_JSON_DEPTH`.
"""

from __future__ import annotations

import re
from typing import Final

from kinbase.errors import InvalidPath, LimitExceeded

__all__ = ["MAX_JSON_DEPTH", "check_headers", "check_json_depth", "check_path"]

MAX_JSON_DEPTH: Final = 100
"""Deepest nesting of arrays and objects accepted in a JSON body or a JSON query parameter
(orjson encodes at most 254 levels; real data is rarely deeper than 10)."""

_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\ufffd]")
"""Characters no identifier can hold: C0 and C1 controls, DEL, and U+FFFD (what an invalid UTF-8
percent-escape decodes to)."""

_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_PAIR: Final = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")


def check_path(path: str) -> None:
    """Refuse a (percent-decoded) path with a control character or an invalid UTF-8 escape.

    Raises:
        InvalidPath: naming the first offending character.
    """
    found = _CONTROL.search(path)
    if found is not None:
        raise InvalidPath(
            f"The path contains the character U+{ord(found.group()):04X}, which no identifier may hold."
        )


def check_headers(headers: list[tuple[bytes, bytes]], limit: int) -> None:
    """Refuse a header block whose names and values add up to more than ``limit`` bytes.

    Raises:
        LimitExceeded: location ``header``.
    """
    size = 0
    for name, value in headers:
        size += len(name) + len(value)
    if size > limit:
        raise LimitExceeded(f"The request headers add up to more than {limit} bytes.", location="header")


def check_json_depth(raw: bytes | str, limit: int = MAX_JSON_DEPTH, *, location: str = "body") -> None:
    """Refuse JSON text nested deeper than ``limit`` before decoding it.

    Text with at most ``limit`` brackets cannot be deeper (the common case costs two counts).
    Otherwise the strings are removed, then innermost ``[]``/``{}`` pairs are collapsed once per
    level, at most ``limit`` times; whatever nesting is left is too deep. Unbalanced text is left
    for the decoder to refuse.

    Raises:
        LimitExceeded: for text nested deeper than ``limit``.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= limit:
        return
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        collapsed = _PAIR.sub(b"", brackets)
        if collapsed == brackets or not collapsed:
            return
        brackets = collapsed
    if _PAIR.search(brackets) is not None:
        raise LimitExceeded(f"The JSON is nested deeper than {limit} levels.", location=location)
