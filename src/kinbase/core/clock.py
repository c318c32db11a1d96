"""Times as Kinvey renders them: ISO-8601 UTC with milliseconds (``2019-02-12T14:41:41.432Z``)."""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
import time

from kinbase.types import Stamp

__all__ = ["iso_from_ms", "ms_from_iso"]

_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:?\d\d)?$")


def iso_from_ms(ms: Stamp) -> str:
    """Render integer milliseconds since the epoch."""
    seconds, millis = divmod(ms, 1000)
    return "%s.%03dZ" % (_second(seconds), millis)  # noqa: UP031  (faster than an f-string here)


@functools.lru_cache(maxsize=256)
def _second(seconds: int) -> str:
    """``2019-02-12T14:41:41``: the stamps rendered together mostly share their second."""
    t = time.gmtime(seconds)
    return "%04d-%02d-%02dT%02d:%02d:%02d" % (  # noqa: UP031  (twice as fast as an f-string here)
        t.tm_year,
        t.tm_mon,
        t.tm_mday,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
    )


def ms_from_iso(text: str) -> Stamp | None:
    """Parse an ISO-8601 time (UTC when no offset is given) to integer ms, or None if malformed."""
    match = _ISO.match(text.strip())
    if match is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return calendar.timegm(moment.utctimetuple()) * 1000 + moment.microsecond // 1000
