"""``modules.kinveyDate``: convert to and from Kinvey's ``ISODate("...")`` strings."""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = ["KinveyDate", "iso_ms"]

_PREFIX = 'ISODate("'
_SUFFIX = '")'


def iso_ms(moment: dt.datetime) -> str:
    """``2013-05-08T13:48:36.123Z``: UTC, milliseconds, as JavaScript's ``toISOString()``."""
    utc = moment.astimezone(dt.UTC) if moment.tzinfo else moment
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _parse(text: str) -> dt.datetime | None:
    candidate = text.strip()
    if not candidate:
        return None
    try:
        parsed = dt.datetime.fromisoformat(candidate)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(candidate)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


class KinveyDate:
    """``toKinveyDateString`` and ``fromKinveyDateString``. Naive datetimes are taken as UTC."""

    @staticmethod
    def toKinveyDateString(date: Any) -> str | None:
        """A ``datetime``, ``date`` or date string as ``ISODate("<ISO-8601>")``.

        ``"Invalid date"`` for a string that is not a date, ``None`` for ``None`` and other types.
        """
        if date is None:
            return None
        if isinstance(date, str):
            if date.startswith(_PREFIX):
                return date
            parsed = _parse(date)
            if parsed is None:
                return "Invalid date"
            return f"{_PREFIX}{iso_ms(parsed)}{_SUFFIX}"
        if isinstance(date, dt.datetime):
            moment = date if date.tzinfo else date.replace(tzinfo=dt.UTC)
            return f"{_PREFIX}{iso_ms(moment)}{_SUFFIX}"
        if isinstance(date, dt.date):
            return f"{_PREFIX}{iso_ms(dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC))}{_SUFFIX}"
        return None

    @staticmethod
    def fromKinveyDateString(kinvey_date_string: Any, format: str = "date") -> Any:
        """Decode ``ISODate("...")``: ``"date"`` (default) and ``"moment"`` give an aware ``datetime``,
        ``"string"`` the ISO string. ``"Invalid date"`` for bad input, ``"Invalid Format."`` for an
        unknown format."""
        if (
            not isinstance(kinvey_date_string, str)
            or not kinvey_date_string.startswith(_PREFIX)
            or not kinvey_date_string.endswith(_SUFFIX)
            or kinvey_date_string == 'ISODate("")'
        ):
            return "Invalid date"
        inner = kinvey_date_string.split('"')[1]
        if format == "string":
            return inner
        if format in ("date", "moment"):
            parsed = _parse(inner)
            return "Invalid date" if parsed is None else parsed
        return "Invalid Format."

    to_kinvey_date_string = toKinveyDateString
    from_kinvey_date_string = fromKinveyDateString
