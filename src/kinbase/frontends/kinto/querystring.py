"""Plural querystrings on the wire: the :class:`Page` a request asks for, Kinto's 400/107 for a bad
parameter, the ``Next-Page`` URL, and the ``_fields`` projection.

The parsing itself is :func:`kinbase.query.kinto_querystring.parse_querystring`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from kinbase.core.kinto.config import KintoConfig
from kinbase.core.kinto.listing import Listing
from kinbase.errors import InvalidQuery, LimitExceeded
from kinbase.frontends.kinto.errors import KintoError, invalid
from kinbase.http.limits import check_json_depth
from kinbase.query.ast import MISSING
from kinbase.query.kinto_querystring import KintoQuerystring, lookup, page_token, parse_querystring
from kinbase.types import Path

__all__ = ["Page", "kinto_querystring", "next_page_url", "parse_listing", "project", "query_error"]

_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Page:
    """A parsed plural querystring: the listing, the projection, the page size asked for."""

    listing: Listing
    fields: tuple[Path, ...] | None
    limit: int | None
    offset: int
    deprecated_to: bool


def query_error(exc: InvalidQuery, name: str = "") -> KintoError:
    """Kinto's 400/107 for a bad querystring parameter (``name`` unless the error names it)."""
    if isinstance(exc.details, dict):
        name = exc.details.get("name", name)
    return invalid("querystring", str(name), exc.message)


def kinto_querystring(query: Sequence[tuple[str, str]], **options: Any) -> KintoQuerystring:
    """:func:`parse_querystring` with Kinto's limit on timestamps (now + 1 day) and its errors.

    Raises:
        KintoError: 400/107 for an invalid parameter (U+0000, JSON nested too deep included).
    """
    for name, value in query:
        if "\x00" in name or "\x00" in value:
            raise invalid("querystring", name, "Parameters may not contain the character U+0000.")
        try:
            check_json_depth(value, location="querystring")
        except LimitExceeded as exc:
            raise invalid("querystring", name, exc.message) from None
    try:
        return parse_querystring(query, max_stamp=time.time_ns() // 1_000_000 + _DAY_MS + 1, **options)
    except InvalidQuery as exc:
        raise query_error(exc) from None


def parse_listing(query: Sequence[tuple[str, str]], config: KintoConfig) -> Page:
    """Parse a plural querystring.

    Raises:
        KintoError: 400 for an invalid filter, limit, token or timestamp.
    """
    parsed = kinto_querystring(query)
    cap = config.page_cap
    size = min(parsed.limit, cap) if parsed.limit is not None else cap
    listing = Listing(
        parsed.filter,
        parsed.sort,
        size,
        parsed.after,
        parsed.since,
        parsed.before,
        include_deleted=parsed.on_stamp,
    )
    return Page(listing, parsed.fields, parsed.limit, parsed.offset, parsed.deprecated_to)


def next_page_url(
    base: str, path: str, query: Sequence[tuple[str, str]], page: Page, last: dict[str, Any], shown: int
) -> str:
    """The absolute ``Next-Page`` URL after the document ``last`` (a tombstone's is
    ``{"deleted": true, "id": …, "last_modified": …}``), with every original parameter kept."""
    token = page_token(page.listing.sort, last, page.offset + shown)
    params = [(k, v) for k, v in query if k not in ("_limit", "_token")]
    assert page.listing.limit is not None
    params += [
        ("_limit", str(page.limit if page.limit is not None else page.listing.limit)),
        ("_token", token),
    ]
    return f"{base}{path}?{urlencode(params)}"


def project(doc: dict[str, Any], fields: tuple[Path, ...]) -> dict[str, Any]:
    """Kinto's ``_fields``: the listed (possibly dotted) fields, plus ``id`` and ``last_modified``."""
    out: dict[str, Any] = {}
    for path in (("id",), ("last_modified",), *fields):
        value = lookup(doc, path)
        if value is MISSING:
            continue
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out
