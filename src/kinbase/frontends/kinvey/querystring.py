"""Kinvey's query string: ``query``, ``sort``, ``limit``, ``skip`` and ``fields``.

Parsed here, in the front-end, as Kinto's querystring is in its own. The filter and sort documents
go to the query engine (:mod:`kinbase.query.mongo`, through
:func:`kinbase.core.kinvey.wire.parse_filter` for Kinvey's dialect); this module handles Kinvey's
rules around them: the JSON is nested at most :data:`~kinbase.http.limits.MAX_JSON_DEPTH` levels,
``sort`` may be a bare field name, ``fields`` is a comma list, ``limit`` and ``skip`` are decimal
counts. Every refusal is rendered ``InvalidQuerySyntax``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.wire import parse_filter
from kinbase.errors import LimitExceeded
from kinbase.http.limits import check_json_depth
from kinbase.query.ast import Query, SortKey
from kinbase.query.mongo import parse_sort as parse_mongo_sort
from kinbase.types import Path

__all__ = ["DELTASET_PARAMS", "MAX_WINDOW", "parse_query", "parse_sort"]

MAX_WINDOW = 2**53 - 1
"""``limit`` and ``skip`` above this are read as this: the same result (no collection is that
large), and every engine stores it in a 64-bit integer."""

DELTASET_PARAMS = ("query", "sort", "fields")
"""What a delta set reads of the query string (the SDKs never page a delta)."""


def _json(raw: str, name: str) -> Any:
    try:
        check_json_depth(raw, location="querystring")
    except LimitExceeded as exc:
        raise KinveyError("InvalidQuerySyntax", f"{name}: {exc.message}") from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise KinveyError("InvalidQuerySyntax", f"{name} is not valid JSON: {raw[:200]!r}") from None


def parse_sort(raw: str) -> tuple[SortKey, ...]:
    """A ``sort`` parameter: a JSON object ``{"age": -1}`` or a bare field name.

    Raises:
        KinveyError: InvalidQuerySyntax for a malformed sort.
    """
    text = raw.strip()
    if not text:
        return ()
    value: Any = _json(text, "sort") if text[0] in '{["' else {text: 1}
    if isinstance(value, str):
        value = {value: 1}
    if not isinstance(value, dict):
        raise KinveyError("InvalidQuerySyntax", "sort must be a JSON object or a field name.")
    return tuple(parse_mongo_sort(value))


def _count(raw: str | None, name: str) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if not text.isascii() or not text.isdigit():
        raise KinveyError("InvalidQuerySyntax", f"{name} must be a non-negative integer, got {raw[:40]!r}")
    digits = text.lstrip("0") or "0"
    return MAX_WINDOW if len(digits) > 16 else min(int(digits), MAX_WINDOW)


def _fields(raw: str | None) -> tuple[Path, ...] | None:
    if raw is None:
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    return tuple(tuple(name.split(".")) for name in names) if names else None


def parse_query(params: Mapping[str, str]) -> Query:
    """The whole read described by a Kinvey query string.

    Raises:
        KinveyError: InvalidQuerySyntax for a malformed parameter.
        InvalidQuery: for a filter or sort outside the query language (InvalidQuerySyntax too).
    """
    raw = params.get("query")
    filter_node = parse_filter(_json(raw, "query")) if raw else None
    sort = parse_sort(params.get("sort") or "")
    return Query(
        filter=filter_node,
        sort=sort,
        skip=_count(params.get("skip"), "skip") or 0,
        limit=_count(params.get("limit"), "limit"),
        fields=_fields(params.get("fields")),
    )
