"""Kinto's querystring filters and ``_sort`` to the AST, and the keyset condition that pages
through a sorted listing.

Every parameter starting with ``_`` is ignored here: :mod:`kinbase.query.kinto_querystring` parses
the whole querystring (``_sort``, ``_since``, ``_before``, ``_to``, ``_limit``, ``_token``,
``_fields``) with these functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import orjson

from kinbase.errors import InvalidQuery
from kinbase.numerals import is_uint, uint
from kinbase.query.ast import (
    MISSING,
    Const,
    KintoCompare,
    KintoContains,
    KintoHas,
    KintoLike,
    KintoOp,
    Node,
    Or,
    SortKey,
    simplify_and,
)
from kinbase.query.paths import MAX_PATH_CHARS, MAX_PATH_SEGMENTS
from kinbase.query.regex import like_program
from kinbase.query.values import INT64_MAX, INT64_MIN, is_number, unsafe_nested_number
from kinbase.types import JSONValue, Path

__all__ = [
    "keyset_after",
    "native_value",
    "parse_filters",
    "parse_path",
    "parse_sort",
    "parse_stamp",
    "safe_value",
    "split_filter",
]

_KEYWORD: Final = re.compile(r"^(lt|min|max|not|eq|gt|in|exclude|like|has|contains_any|contains)_([\w.]+)$")
_COMPARE: Final[dict[str, KintoOp]] = {
    "eq": "eq",
    "not": "not",
    "lt": "lt",
    "gt": "gt",
    "min": "min",
    "max": "max",
    "in": "in",
    "exclude": "exclude",
}


def parse_path(field: str, param: str) -> Path:
    """A dotted field name as a path.

    Raises:
        InvalidQuery: for an empty, too long or malformed name (``param`` names the parameter).
    """
    if not field or len(field) > MAX_PATH_CHARS:
        raise InvalidQuery(f"Invalid filter {param!r}: bad field name.")
    segments = tuple(field.split("."))
    if len(segments) > MAX_PATH_SEGMENTS:
        raise InvalidQuery(f"Invalid filter {param!r}: field name has too many segments.")
    for s in segments:
        if not s or any(ch in '"\\' or ord(ch) < 0x20 for ch in s):
            raise InvalidQuery(f"Invalid filter {param!r}: bad field name.")
    return segments


def native_value(text: str) -> JSONValue:
    """A querystring value as Kinto reads it: JSON when it parses, else the text itself."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return _checked(value, text)


def safe_value(value: JSONValue, param: str) -> JSONValue:
    """``value``, refused when it holds a number SQL cannot compare exactly.

    Raises:
        InvalidQuery: for a number inside an array or object beyond 2**53.
    """
    if unsafe_nested_number(value):
        raise InvalidQuery(
            f"Invalid value for {param!r}: numbers inside arrays and objects must be below 2**53."
        )
    return value


def _checked(value: JSONValue, text: str) -> JSONValue:
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        return text
    if isinstance(value, list):
        return [_checked(v, text) for v in value]
    if isinstance(value, dict):
        return {k: _checked(v, text) for k, v in value.items()}
    return value


def _unquoted(text: str) -> str:
    """A raw string value (ids): JSON string quotes removed when present."""
    value = native_value(text)
    return value if isinstance(value, str) else text


def parse_stamp(value: JSONValue, param: str, max_stamp: int | None) -> int:
    """A timestamp: a non-negative integer (or its digits as a string) below ``max_stamp``.

    Raises:
        InvalidQuery: for anything else.
    """
    if isinstance(value, str) and is_uint(value):
        value = uint(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidQuery(f"Invalid value for {param!r}: expected a non-negative integer.")
    if max_stamp is not None and value >= max_stamp:
        raise InvalidQuery(f"Invalid value for {param!r}: too far in the future.")
    if value > INT64_MAX:
        raise InvalidQuery(f"Invalid value for {param!r}: too large.")
    return value


def _list(text: str) -> list[JSONValue]:
    value = native_value(text)
    if isinstance(value, list):
        return value
    return [native_value(part) for part in text.split(",")]


def parse_filters(
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    id_field: str = "id",
    stamp_field: str = "last_modified",
    max_stamp: int | None = None,
) -> Node | None:
    """Parse Kinto's filter parameters (``field=``, ``<op>_field=``) into one node (None if there
    are none). Parameters starting with ``_`` are skipped.

    Args:
        params: the querystring, as a mapping or as (name, value) pairs (repeats allowed).
        id_field: the field holding the object id (its values are plain strings).
        stamp_field: the field holding the timestamp (its values must be non-negative integers).
        max_stamp: refuse timestamps at or beyond this value (Kinto: now + 1 day).

    Raises:
        InvalidQuery: for NUL characters, invalid timestamps, non-string ids, ``contains`` on the id
            or the timestamp, a bad ``has_`` value, or a bad field name.
    """
    items = params.items() if isinstance(params, Mapping) else params
    children: list[Node] = []
    for name, text in items:
        if name.startswith("_"):
            continue
        try:
            children.append(_filter(name, text, id_field, stamp_field, max_stamp))
        except InvalidQuery as exc:
            if exc.details is not None:
                raise
            raise InvalidQuery(exc.message, details={"name": name.replace("\x00", "")}) from None
    if not children:
        return None
    return simplify_and(children)


def split_filter(name: str) -> tuple[str, str]:
    """A filter parameter's operator and field: ``gt_a.b`` is ``("gt", "a.b")``, ``a`` is
    ``("eq", "a")``."""
    m = _KEYWORD.match(name)
    return (m.group(1), m.group(2)) if m else ("eq", name)


def _filter(name: str, text: str, id_field: str, stamp_field: str, max_stamp: int | None) -> Node:
    if "\x00" in name or "\x00" in text:
        raise InvalidQuery(f"Invalid filter {name[:40]!r}: NUL characters are not allowed.")
    op, field = split_filter(name)
    path = parse_path(field, name)
    is_id, is_stamp = field == id_field, field == stamp_field
    if op == "has":
        value = native_value(text)
        if isinstance(value, bool):
            return KintoHas(path, value)
        if is_number(value):
            return KintoHas(path, value != 0)
        raise InvalidQuery(f"Invalid value for {name!r}: expected true or false.")
    if op == "like":
        like_program(_unquoted(text))  # validates
        return KintoLike(path, _unquoted(text))
    if op in ("contains", "contains_any"):
        if is_id or is_stamp:
            raise InvalidQuery(f"Invalid filter {name!r}: not available on {field!r}.")
        value = native_value(text)
        values = (
            tuple(safe_value(v, name) for v in value)
            if isinstance(value, list)
            else (safe_value(value, name),)
        )
        return KintoContains(path, values, any_=op == "contains_any")
    if op in ("in", "exclude"):
        listed: list[JSONValue]
        if is_id:
            value = native_value(text)
            if isinstance(value, list):
                if not all(isinstance(v, str) for v in value):
                    raise InvalidQuery(f"Invalid value for {name!r}: ids are strings.")
                listed = value
            else:
                listed = [_unquoted(part) for part in text.split(",")]
        elif is_stamp:
            listed = [parse_stamp(v, name, max_stamp) for v in _list(text)]
        else:
            listed = [safe_value(v, name) for v in _list(text)]
        return KintoCompare(path, _COMPARE[op], listed)
    value = _unquoted(text) if is_id else safe_value(native_value(text), name)
    if is_stamp:
        value = parse_stamp(value, name, max_stamp)
    return KintoCompare(path, _COMPARE[op], value)


def parse_sort(value: str) -> tuple[SortKey, ...]:
    """Parse ``_sort=field1,-field2`` (Kinto collation).

    Raises:
        InvalidQuery: for a bad or repeated field name.
    """
    keys: list[SortKey] = []
    seen: set[Path] = set()
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        descending = part.startswith("-")
        field = part[1:] if part[0] in "+-" else part
        path = parse_path(field, "_sort")
        if path in seen:
            raise InvalidQuery(f"Invalid _sort: {field!r} appears twice.")
        seen.add(path)
        keys.append(SortKey(path, descending, "kinto"))
    return tuple(keys)


def _equal(key: SortKey, value: object) -> Node:
    if value is MISSING:
        return KintoHas(key.path, False)
    assert not isinstance(value, type(MISSING))
    v: JSONValue = value  # type: ignore[assignment]
    return simplify_and([KintoCompare(key.path, "min", v), KintoCompare(key.path, "max", v)])


def _beyond(key: SortKey, value: object) -> Node:
    if value is MISSING:
        return KintoHas(key.path, True) if key.descending else Const(False)
    v: JSONValue = value  # type: ignore[assignment]
    return KintoCompare(key.path, "lt" if key.descending else "gt", v)


def keyset_after(keys: Sequence[SortKey], last: Sequence[object]) -> Node:
    """The objects that come strictly after a position in a Kinto-sorted listing.

    ``last`` holds, for each key, the value the last returned object had (or ``MISSING``). Equality
    on the leading keys is collation equality (``min_`` and ``max_``: all arrays are equal, as are
    all objects), so the condition agrees with the sort order exactly.

    Raises:
        ValueError: if a key is not in Kinto collation or the lengths differ.
    """
    if len(keys) != len(last) or any(k.collation != "kinto" for k in keys):
        raise ValueError("keyset_after needs one value per Kinto sort key")
    branches: list[Node] = []
    for i, key in enumerate(keys):
        conditions = [_equal(k, v) for k, v in zip(keys[:i], last[:i], strict=True)]
        conditions.append(_beyond(key, last[i]))
        branch = simplify_and(conditions)
        if branch != Const(False):
            branches.append(branch)
    if not branches:
        return Const(False)
    return branches[0] if len(branches) == 1 else Or(tuple(branches))
