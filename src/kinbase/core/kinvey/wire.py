"""The Kinvey wire form of stored entities: ISO times, ``_kmd``, splicing stored JSON.

Entities are stored exactly as they are served (``_id``, ``_acl``, ``_kmd`` included), so a read
joins the stored texts into the response without decoding them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from kinbase.core.clock import iso_from_ms, ms_from_iso
from kinbase.core.kinvey.errors import KinveyError
from kinbase.types import Stamp

__all__ = ["MAX_RESULTS", "check_no_nul", "iso_of", "join_array", "parse_iso", "stamp_of_iso"]

MAX_RESULTS = 10_000
"""Kinvey's cap on the entities one read returns."""

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
    """Refuse a decoded body (``raw`` its JSON text) with U+0000 in a string or a field name.

    PostgreSQL cannot store that character in ``jsonb`` or ``text``, so both engines refuse it the
    same way. Only bodies whose text holds the escape ``\\u0000`` are walked.

    Raises:
        KinveyError: BadRequest.
    """
    if b"\\u0000" not in raw:
        return
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found = "\x00" in item
        elif isinstance(item, dict):
            found = any("\x00" in key for key in item)
            stack.extend(item.values())
        else:
            found = False
            if isinstance(item, list):
                stack.extend(item)
        if found:
            raise KinveyError("BadRequest", "Strings and field names may not contain the character U+0000.")
