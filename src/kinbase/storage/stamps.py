"""Change stamps: integer milliseconds, strictly increasing within one parent.

The rule (Kinto's, which Kinvey's ``_kmd.lmt`` also satisfies): without a requested stamp the new
stamp is ``max(now, parent + 1)``. A requested stamp (Kinto lets a client send ``last_modified``)
is honoured only when it is newer than the object's current one: equal to the parent's stamp it is
bumped by one, ahead of it it becomes the parent's stamp, behind it it is kept for the object and
the parent's stamp stays.
"""

from __future__ import annotations

import time

from kinbase.errors import InvalidRequest
from kinbase.types import Stamp

__all__ = ["STAMP_MAX", "next_stamp", "now_ms"]

STAMP_MAX = 2**63 - 1 - 2**40
"""The largest stamp a client may request (room left for the stamps that follow it)."""


def now_ms() -> Stamp:
    """The current time in integer milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def next_stamp(
    parent_stamp: Stamp, now: Stamp, requested: Stamp | None = None, current: Stamp | None = None
) -> tuple[Stamp, Stamp]:
    """Return ``(object_stamp, new_parent_stamp)`` for one write.

    Args:
        parent_stamp: the parent's stamp before the write.
        now: the current time in ms.
        requested: a stamp the client asked for, if any.
        current: the stamp of the object being replaced, if it exists.
    """
    if requested is not None and requested > STAMP_MAX:
        raise InvalidRequest("The requested timestamp is out of range.")
    if requested is not None and requested >= 0 and (current is None or requested > current):
        if requested == parent_stamp:
            return parent_stamp + 1, parent_stamp + 1
        if requested > parent_stamp:
            return requested, requested
        return requested, parent_stamp
    stamp = max(now, parent_stamp + 1)
    return stamp, stamp
