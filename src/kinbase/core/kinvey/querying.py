"""Kinvey's query string: ``query``, ``sort``, ``limit``, ``skip`` and ``fields``.

The MongoDB filter and sort documents are parsed by the query engine
(:mod:`kinbase.query.mongo`); this module handles Kinvey's own rules around them: ``$where`` and
``$query`` are refused, ``sort`` may be a bare field name, ``fields`` is a comma list, the
projection always keeps ``_id``, ``_acl`` and ``_kmd``, and the ``$maxDistance`` of
``$nearSphere`` is in miles (Kinvey's ``Query.near(field, coord, miles)``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from kinbase.core.kinvey.errors import KinveyError
from kinbase.errors import InvalidQuery
from kinbase.query.ast import Node, Query, SortKey
from kinbase.types import Document, Path

__all__ = ["SYSTEM_FIELDS", "parse_filter", "parse_query", "parse_sort", "project"]

SYSTEM_FIELDS = ("_id", "_acl", "_kmd")
_REFUSED = ("$where", "$query")


def _mongo() -> Any:
    try:
        return importlib.import_module("kinbase.query.mongo")
    except ImportError:
        raise KinveyError(
            "FeatureUnavailable", "Filters and sorts need the query engine, which is not installed."
        ) from None


def _refuse_operators(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _REFUSED:
                raise KinveyError("InvalidQuerySyntax", f"The {key} operator is not supported.")
            _refuse_operators(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_operators(item)


def _json(raw: str, name: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise KinveyError("InvalidQuerySyntax", f"{name} is not valid JSON: {raw[:200]!r}") from None


def parse_filter(value: Any) -> Node | None:
    """The AST of a MongoDB filter document (None for an empty filter).

    Raises:
        KinveyError: InvalidQuerySyntax for a malformed or refused filter.
    """
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise KinveyError("InvalidQuerySyntax", "The query must be a JSON object.")
    _refuse_operators(value)
    try:
        mongo = _mongo()
        node: Node | None = mongo.parse_filter(value, sphere_radius=mongo.EARTH_RADIUS_MILES)
    except InvalidQuery as exc:
        raise KinveyError("InvalidQuerySyntax", exc.message) from exc
    return node


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
    try:
        keys: tuple[SortKey, ...] = tuple(_mongo().parse_sort(value))
    except InvalidQuery as exc:
        raise KinveyError("InvalidQuerySyntax", exc.message) from exc
    return keys


MAX_WINDOW = 2**53 - 1
"""``limit`` and ``skip`` above this are read as this: the same result (no collection is that
large), and every engine stores it in a 64-bit integer."""


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
    """
    raw = params.get("query")
    filter_node = parse_filter(_json(raw, "query")) if raw not in (None, "") else None
    sort = parse_sort(params.get("sort") or "")
    return Query(
        filter=filter_node,
        sort=sort,
        skip=_count(params.get("skip"), "skip") or 0,
        limit=_count(params.get("limit"), "limit"),
        fields=_fields(params.get("fields")),
    )


def _pick(doc: Mapping[str, Any], path: Sequence[str], out: Document) -> None:
    head, *rest = path
    if head not in doc:
        return
    if not rest:
        out[head] = doc[head]
        return
    value = doc[head]
    if isinstance(value, dict):
        inner = out.get(head)
        target: Document = inner if isinstance(inner, dict) else {}
        _pick(value, rest, target)
        if target:
            out[head] = target


def project(text: str, fields: Sequence[Path]) -> str:
    """The stored entity ``text`` reduced to ``fields`` plus ``_id``, ``_acl`` and ``_kmd``."""
    doc = orjson.loads(text)
    out: Document = {}
    for name in SYSTEM_FIELDS:
        if name in doc:
            out[name] = doc[name]
    for path in fields:
        _pick(doc, path, out)
    return orjson.dumps(out).decode()
