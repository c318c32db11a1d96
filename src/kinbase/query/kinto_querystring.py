"""A whole Kinto plural querystring: filters, ``_sort``, ``_limit``, ``_token``, ``_since``,
``_before``/``_to`` and ``_fields``, and the page tokens of ``Next-Page``.

This is the only parser of Kinto querystrings: the front-end turns the result into a listing and
maps :class:`~kinbase.errors.InvalidQuery` (whose ``details["name"]`` names the parameter) to
Kinto's 400/107. Paging is keyset-based: a token carries the sort values of the last object shown
and becomes, through :func:`~kinbase.query.kinto.keyset_after`, a condition "after that object".
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from kinbase.errors import InvalidQuery
from kinbase.numerals import uint
from kinbase.query.ast import MISSING, Node, SortKey
from kinbase.query.kinto import (
    keyset_after,
    native_value,
    parse_filters,
    parse_sort,
    parse_stamp,
    safe_value,
    split_filter,
)
from kinbase.types import JSONValue, Path

__all__ = ["KintoQuerystring", "lookup", "page_token", "parse_fields", "parse_querystring"]

ID: Final[Path] = ("id",)
STAMP: Final[Path] = ("last_modified",)
_DEFAULT_TIEBREAKER: Final = SortKey(STAMP, True, "kinto")


@dataclass(frozen=True, slots=True)
class KintoQuerystring:
    """A parsed plural querystring.

    Attributes:
        filter: the filters, None when there are none.
        sort: the order, the tiebreaker appended (``-last_modified`` by default).
        limit: ``_limit`` as asked (None when absent).
        after: the keyset condition of ``_token`` (None without a token).
        offset: how many objects the earlier pages showed (from the token).
        since, before: ``_since`` and ``_before`` (or ``_to``).
        fields: the ``_fields`` projection, None when absent.
        on_stamp: a filter or bound touches ``last_modified`` (Kinto then lists tombstones).
        deprecated_to: ``_to`` was used (Kinto answers with an ``Alert``).
    """

    filter: Node | None = None
    sort: tuple[SortKey, ...] = (_DEFAULT_TIEBREAKER,)
    limit: int | None = None
    after: Node | None = None
    offset: int = 0
    since: int | None = None
    before: int | None = None
    fields: tuple[Path, ...] | None = None
    on_stamp: bool = False
    deprecated_to: bool = False


def _invalid(name: str, message: str) -> InvalidQuery:
    return InvalidQuery(message, details={"name": name})


def _bound(name: str, text: str, max_stamp: int | None) -> int:
    try:
        return parse_stamp(native_value(text), name, max_stamp)
    except InvalidQuery as exc:
        raise _invalid(name, exc.message) from None


def parse_querystring(
    params: Sequence[tuple[str, str]],
    *,
    max_stamp: int | None = None,
    default_sort: tuple[SortKey, ...] = (),
    tiebreaker: SortKey = _DEFAULT_TIEBREAKER,
) -> KintoQuerystring:
    """Parse a Kinto plural querystring. Unknown ``_`` parameters are ignored.

    Args:
        params: the (name, value) pairs, in order (repeated filters are all applied).
        max_stamp: refuse timestamps at or beyond this value (Kinto: now + 1 day).
        default_sort: the order without ``_sort``.
        tiebreaker: appended to the order unless its field is already in it.

    Raises:
        InvalidQuery: with ``details["name"]`` the parameter at fault.
    """
    sort = default_sort
    limit: int | None = None
    token: str | None = None
    since = before = None
    fields: tuple[Path, ...] | None = None
    deprecated_to = on_stamp = False
    for name, text in params:
        if "\x00" in name or "\x00" in text:
            raise _invalid(name.replace("\x00", ""), "NUL characters are not allowed.")
        if not name.startswith("_"):
            on_stamp = on_stamp or split_filter(name)[1] == "last_modified"
        elif name == "_sort":
            try:
                sort = parse_sort(_first_occurrences(text))
            except InvalidQuery as exc:
                raise _invalid(name, exc.message) from None
        elif name == "_limit":
            parsed = uint(text)
            if parsed is None:
                raise _invalid(name, f'"{text[:40]}" is not a number')
            limit = parsed
        elif name == "_token":
            token = text
        elif name == "_since":
            since, on_stamp = _bound(name, text, max_stamp), True
        elif name in ("_before", "_to"):
            before, on_stamp = _bound(name, text, max_stamp), True
            deprecated_to = deprecated_to or name == "_to"
        elif name == "_fields":
            fields = parse_fields(text)
    node = parse_filters(params, max_stamp=max_stamp)
    if not any(k.path == tiebreaker.path for k in sort):
        sort = (*sort, tiebreaker)
    after, offset = _decode_token(token, sort) if token is not None else (None, 0)
    return KintoQuerystring(node, sort, limit, after, offset, since, before, fields, on_stamp, deprecated_to)


def _first_occurrences(text: str) -> str:
    """``_sort`` with each field kept once, where it first appears: what ``ORDER BY a, a DESC``
    does in Kinto's database (keyset paging needs distinct keys)."""
    seen: set[str] = set()
    parts: list[str] = []
    for part in text.split(","):
        field = part.strip()
        field = field[1:] if field[:1] in ("+", "-") else field
        if field not in seen:
            seen.add(field)
            parts.append(part)
    return ",".join(parts)


def parse_fields(text: str) -> tuple[Path, ...]:
    """``_fields=a,b.c`` as paths. Never refused, as in Kinto: a projection reaches no database,
    and a name that addresses nothing (``a..b``) selects nothing."""
    return tuple(tuple(f.strip().split(".")) for f in text.split(",") if f.strip())


def lookup(doc: Mapping[str, Any], path: Path) -> object:
    """The value at ``path`` in ``doc`` (nested objects only), or ``MISSING``."""
    node: Any = doc
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def page_token(sort: Sequence[SortKey], last: Mapping[str, Any], offset: int) -> str:
    """The ``_token`` of the page after ``last`` (the last object shown, as a document), once
    ``offset`` objects have been shown: Kinto's base64 JSON ``{last_object, offset, nonce}``."""
    values = {}
    for key in sort:
        value = lookup(last, key.path)
        if value is not MISSING:
            values[".".join(key.path)] = value
    token = {"last_object": values, "offset": offset, "nonce": f"pagination-token-{uuid.uuid4()}"}
    return base64.urlsafe_b64encode(orjson.dumps(token)).decode().rstrip("=")


def _decode_token(token: str, sort: tuple[SortKey, ...]) -> tuple[Node, int]:
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        last = decoded["last_object"]
        offset = decoded.get("offset", 0)
        if not isinstance(last, dict) or isinstance(offset, bool) or not isinstance(offset, int):
            raise TypeError
        values = [_token_value(key, last.get(".".join(key.path), MISSING)) for key in sort]
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error, InvalidQuery):
        raise _invalid("_token", "_token has invalid content") from None
    return keyset_after(sort, values), max(offset, 0)


def _token_value(key: SortKey, value: object) -> object:
    if value is MISSING:
        return value
    jvalue: JSONValue = value  # type: ignore[assignment]
    if key.path == STAMP:
        return parse_stamp(jvalue, "_token", None)
    if key.path == ID and not isinstance(jvalue, str):
        raise TypeError
    return safe_value(jvalue, "_token")
