"""Plural querystrings: filters, ``_sort``, ``_limit``, ``_token``, ``_since``/``_before``/``_to``,
``_fields``, and the ``Next-Page`` URL.

Filters become Kinto-semantics AST nodes (``KintoCompare``, ``KintoLike``, ``KintoHas``,
``KintoContains``); paging is keyset-based: the token carries the sort values of the last object
shown and becomes a condition "after that object" in the same order.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from kinbase.core.kinto.config import KintoConfig
from kinbase.core.kinto.listing import Listing
from kinbase.frontends.kinto.errors import invalid
from kinbase.query.ast import And, KintoCompare, KintoContains, KintoHas, KintoLike, Node, Or, SortKey
from kinbase.storage.base import StoredObject
from kinbase.types import JSONValue, Path

__all__ = ["Page", "next_page_url", "parse_listing", "project"]

_FILTER = re.compile(r"^(lt|min|max|not|eq|gt|in|exclude|like|has|contains_any|contains)_([\w\.]+)$")
_STAMP = ("last_modified",)
_ID = ("id",)
_DAY_MS = 86_400_000


def native(value: str) -> JSONValue:
    """A querystring value as JSON when it parses, else the string itself."""
    try:
        parsed: JSONValue = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    return parsed


def _stamp(name: str, raw: str) -> int:
    value = native(raw)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise invalid("querystring", name, "Invalid value for " + name)
    if value > time.time_ns() // 1_000_000 + _DAY_MS:
        raise invalid("querystring", name, "Invalid value for " + name)
    return value


@dataclass(frozen=True, slots=True)
class Page:
    """A parsed plural querystring: the listing, the projection, the page size asked for."""

    listing: Listing
    fields: tuple[Path, ...] | None
    limit: int | None
    offset: int
    deprecated_to: bool


def _filter(op: str, field: str, raw: str) -> Node:
    path = tuple(field.split("."))
    if op in ("in", "exclude"):
        items: list[JSONValue] = [native(v) for v in raw.split(",")] if raw != "" else []
        if path == _ID and not all(isinstance(v, str) for v in items):
            items = [str(v) for v in items]
        if path == _STAMP:
            items = [_stamp(f"{op}_{field}", str(v)) for v in items]
        return KintoCompare(path, "in" if op == "in" else "exclude", items)
    if op in ("contains", "contains_any"):
        if path in (_ID, _STAMP):
            raise invalid("querystring", f"{op}_{field}", f"Invalid value for {op}_{field}")
        parsed = native(raw)
        values = tuple(parsed) if isinstance(parsed, list) else (parsed,)
        return KintoContains(path, values, any_=op == "contains_any")
    if op == "has":
        value = native(raw)
        return KintoHas(path, value not in (False, 0, "false", "0"))
    if op == "like":
        return KintoLike(path, raw)
    name = field if op == "eq" else f"{op}_{field}"
    value = _stamp(name, raw) if path == _STAMP else native(raw)
    if path == _ID and not isinstance(value, str):
        value = raw
    return KintoCompare(path, op, value)  # type: ignore[arg-type]


def _sort(raw: str) -> tuple[SortKey, ...]:
    keys: list[SortKey] = []
    for part in raw.split(","):
        name = part.strip()
        if not name:
            continue
        descending = name.startswith("-")
        name = name.lstrip("-+")
        if "\x00" in name or not name:
            raise invalid("querystring", "_sort", "Invalid value for _sort")
        keys.append(SortKey(tuple(name.split(".")), descending, "kinto"))
    return tuple(keys)


def parse_listing(query: Sequence[tuple[str, str]], config: KintoConfig) -> Page:
    """Parse a plural querystring.

    Raises:
        KintoError: 400 for an invalid filter, limit, token or timestamp.
    """
    nodes: list[Node] = []
    sort: tuple[SortKey, ...] = ()
    limit: int | None = None
    token: str | None = None
    since = before = None
    fields: tuple[Path, ...] | None = None
    on_stamp = deprecated_to = False
    for key, raw in query:
        if "\x00" in key or "\x00" in raw:
            raise invalid("querystring", key.replace("\x00", ""), "Invalid character \\x00")
        if key.startswith("_"):
            if key == "_sort":
                sort = _sort(raw)
            elif key == "_limit":
                if not raw.isdigit():
                    raise invalid("querystring", "_limit", '"' + raw + '" is not a number')
                limit = int(raw)
            elif key == "_token":
                token = raw
            elif key == "_since":
                since, on_stamp = _stamp("_since", raw), True
            elif key in ("_before", "_to"):
                before, on_stamp = _stamp(key, raw), True
                deprecated_to = deprecated_to or key == "_to"
            elif key == "_fields":
                fields = tuple(tuple(f.strip().split(".")) for f in raw.split(",") if f.strip())
            continue
        match = _FILTER.match(key)
        op, field = (match.group(1), match.group(2)) if match else ("eq", key)
        node = _filter(op, field, raw)
        on_stamp = on_stamp or tuple(field.split(".")) == _STAMP
        nodes.append(node)
    if not any(k.path == _STAMP for k in sort):
        sort = (*sort, SortKey(_STAMP, True, "kinto"))
    cap = config.page_cap
    page_size = min(limit, cap) if limit is not None else cap
    after, offset = _decode_token(token, sort) if token is not None else (None, 0)
    combined: Node | None = nodes[0] if len(nodes) == 1 else And(tuple(nodes)) if nodes else None
    listing = Listing(combined, sort, page_size, after, since, before, include_deleted=on_stamp)
    return Page(listing, fields, limit, offset, deprecated_to)


def _decode_token(token: str, sort: tuple[SortKey, ...]) -> tuple[Node | None, int]:
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        last = decoded["last_object"]
        offset = int(decoded.get("offset", 0))
        if not isinstance(last, dict):
            raise TypeError
    except (ValueError, TypeError, KeyError, binascii.Error, orjson.JSONDecodeError):
        raise invalid("querystring", "_token", "_token has invalid content") from None
    return _after(last, sort), offset


_MISSING = object()


def _after(last: dict[str, Any], sort: tuple[SortKey, ...]) -> Node | None:
    """Objects strictly after ``last`` in the order ``sort`` (missing values sort last ascending)."""
    branches: list[Node] = []
    equal: list[Node] = []
    for key in sort:
        name = ".".join(key.path)
        value = last.get(name, _MISSING)
        if value is _MISSING:
            strict: Node | None = KintoHas(key.path, True) if key.descending else None
            same: Node = KintoHas(key.path, False)
        else:
            strict = KintoCompare(key.path, "lt" if key.descending else "gt", value)
            same = KintoCompare(key.path, "eq", value)
        if strict is not None:
            branches.append(And((*equal, strict)) if equal else strict)
        equal.append(same)
    if not branches:
        return KintoHas(_ID, False)
    return branches[0] if len(branches) == 1 else Or(tuple(branches))


def _lookup(doc: dict[str, Any], path: Path) -> Any:
    node: Any = doc
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def next_page_url(
    base: str, path: str, query: Sequence[tuple[str, str]], page: Page, last: StoredObject, shown: int
) -> str:
    """The absolute ``Next-Page`` URL after ``last``, with every original parameter kept."""
    doc = _document(last)
    values = {}
    for key in page.listing.sort:
        value = _lookup(doc, key.path)
        if value is not _MISSING:
            values[".".join(key.path)] = value
    token = {
        "last_object": values,
        "offset": page.offset + shown,
        "nonce": f"pagination-token-{uuid.uuid4()}",
    }
    encoded = base64.urlsafe_b64encode(orjson.dumps(token)).decode().rstrip("=")
    params = [(k, v) for k, v in query if k not in ("_limit", "_token")]
    assert page.listing.limit is not None
    params += [
        ("_limit", str(page.limit if page.limit is not None else page.listing.limit)),
        ("_token", encoded),
    ]
    return f"{base}{path}?{urlencode(params)}"


def _document(obj: StoredObject) -> dict[str, Any]:
    if obj.deleted:
        return {"id": obj.id, "last_modified": obj.stamp, "deleted": True}
    doc = orjson.loads(obj.data)
    assert isinstance(doc, dict)
    return doc


def project(doc: dict[str, Any], fields: tuple[Path, ...]) -> dict[str, Any]:
    """Kinto's ``_fields``: the listed (possibly dotted) fields, plus ``id`` and ``last_modified``."""
    out: dict[str, Any] = {}
    for path in (("id",), ("last_modified",), *fields):
        value = _lookup(doc, path)
        if value is _MISSING:
            continue
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out
