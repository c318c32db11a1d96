"""The Kinvey wire form of stored entities: ISO times, ``_kmd``, splicing stored JSON.

Entities are stored exactly as they are served (``_id``, ``_acl``, ``_kmd`` included), so a read
joins the stored texts into the response without decoding them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from kinbase.core.clock import iso_from_ms, ms_from_iso
from kinbase.core.kinvey.errors import KinveyError
from kinbase.jsonutil import has_nul
from kinbase.query.ast import Node
from kinbase.query.mongo import EARTH_RADIUS_MILES
from kinbase.query.mongo import parse_filter as parse_mongo_filter
from kinbase.types import Document, Path, Stamp

__all__ = [
    "MAX_RESULTS",
    "SYSTEM_FIELDS",
    "check_no_nul",
    "iso_of",
    "join_array",
    "parse_filter",
    "parse_iso",
    "project",
    "stamp_of_iso",
]

MAX_RESULTS = 10_000
"""Kinvey's cap on the entities one read returns."""

SYSTEM_FIELDS = ("_id", "_acl", "_kmd")
"""Kept by every projection (``fields``)."""

_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:?\d\d)?$")


def iso_of(stamp: Stamp) -> str:
    """``2019-02-12T14:41:41.432Z`` for a stamp in ms (``_kmd`` times, ``X-Kinvey-Request-Start``)."""
    return iso_from_ms(stamp)


def parse_iso(value: str) -> dt.datetime:
    """Parse an ISO-8601 time (a missing zone is UTC).

    Raises:
        ValueError: if ``value`` is not an ISO-8601 date and time.
    """
    if not _ISO.match(value.strip()):
        raise ValueError(value)
    moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def stamp_of_iso(value: str, parameter: str = "since") -> Stamp:
    """The stamp (ms) of an ISO time sent by a client.

    Raises:
        KinveyError: ParameterValueOutOfRange for a malformed value.
    """
    stamp = ms_from_iso(value)
    if stamp is None:
        raise KinveyError("ParameterValueOutOfRange", f"{parameter}={value!r} is not an ISO-8601 time")
    return stamp


def join_array(texts: Iterable[str]) -> bytes:
    """A JSON array of already-encoded JSON values."""
    return ("[" + ",".join(texts) + "]").encode()


def check_no_nul(raw: bytes, value: Any) -> None:
    """Refuse a decoded body (``raw`` its JSON text) with U+0000 in a string or a field name
    (PostgreSQL cannot store it: both engines refuse it the same way).

    Raises:
        KinveyError: BadRequest.
    """
    if has_nul(raw, value):
        raise KinveyError("BadRequest", "Strings and field names may not contain the character U+0000.")


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


def parse_filter(value: Any) -> Node | None:
    """The AST of a decoded Kinvey filter (``query``, ``_lookup``, a ``_group`` condition): None
    for an empty one; ``$nearSphere`` distances in miles, ``$regex`` anchored (Kinvey's rules).

    Raises:
        KinveyError: InvalidQuerySyntax for a filter that is not a JSON object.
        InvalidQuery: for one outside the query language (rendered as InvalidQuerySyntax).
    """
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise KinveyError("InvalidQuerySyntax", "The query must be a JSON object.")
    return parse_mongo_filter(value, sphere_radius=EARTH_RADIUS_MILES)
