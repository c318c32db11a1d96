"""Reading a page of Kinvey entities: the capped window of a query over one collection, as the
stored JSON texts joined by the database, and the ``X-Kinvey-Request-Start`` it answers (lists
of entities, users and files)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kinbase.core.kinvey.access import Caller, acl_filter
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.wire import MAX_RESULTS, project
from kinbase.query.ast import Query
from kinbase.storage.base import RECORD_SEPARATOR, FindOptions, ParentRecord, Reader, SystemColumns
from kinbase.types import Stamp

__all__ = ["COLUMNS", "ReadResult", "history_start", "read_page", "read_start", "read_window"]

COLUMNS = SystemColumns(id=("_id",))
"""The document paths of a Kinvey entity that mirror columns: ``_id`` is the object id."""


@dataclass(frozen=True, slots=True)
class ReadResult:
    """Entities read, in their stored JSON text, and the stamp the read started from."""

    texts: list[str]
    start: Stamp
    count: int | None = None


def history_start(settings: Mapping[str, Any]) -> Stamp:
    """The oldest ``since`` a delta set of a collection with these settings can answer."""
    delta = settings.get("delta_set")
    if not isinstance(delta, Mapping):
        return 0
    return max(int(delta.get("enabled_at", 1)) - 1, int(delta.get("purged_before", 0)))


def read_start(parent: ParentRecord) -> Stamp:
    """The ``X-Kinvey-Request-Start`` of a read of ``parent`` that read its stamp before its data.

    Every write committed after the read gets a stamp above both the stamp read and the moment
    delta set was enabled, so ``since`` = this value never misses a change.
    """
    return max(parent.stamp, history_start(parent.settings))


async def read_window(
    reader: Reader,
    parent: ParentRecord,
    caller: Caller,
    query: Query,
    api_version: int,
    with_count: bool,
    *,
    creator_holds: bool = True,
) -> ReadResult:
    """The capped page of ``query`` over ``parent`` for ``caller`` (see :meth:`EntityService.find`;
    ``creator_holds``: see :func:`~kinbase.core.kinvey.access.acl_filter`), ``parent`` read by
    this reader."""
    result = await read_page(
        reader, parent, caller, query, api_version, with_count, creator_holds=creator_holds, fresh=True
    )
    assert result is not None
    return result


async def read_page(
    reader: Reader,
    parent: ParentRecord,
    caller: Caller,
    query: Query,
    api_version: int,
    with_count: bool,
    *,
    creator_holds: bool = True,
    fresh: bool = False,
) -> ReadResult | None:
    """:func:`read_window` with ``parent`` possibly cached: None when its row is no longer
    ``parent`` (deleted, recreated, its settings or indexes changed). ``fresh``: ``parent`` was
    read by this reader; its page is returned whatever happened to its row since."""
    options = FindOptions(acl=acl_filter(caller, "read", creator_holds=creator_holds), columns=COLUMNS)
    capped = query.limit is None or query.limit > MAX_RESULTS
    window = Query(
        filter=query.filter,
        sort=query.sort,
        skip=query.skip,
        limit=MAX_RESULTS + 1 if capped else query.limit,
    )
    # One row, the texts joined by the database (none becomes a row tuple), and the parent's
    # stamp read by the same statement: the stamp of the data read.
    count, joined, stamp, _ = await reader.find_joined(parent, window, options, separator=RECORD_SEPARATOR)
    if stamp is None:
        if not fresh:
            return None
        start = read_start(parent)
    else:
        start = max(stamp, history_start(parent.settings))
    texts = joined.split(RECORD_SEPARATOR) if count else []
    if len(texts) > MAX_RESULTS:
        if api_version >= 4:
            raise KinveyError(
                "ResultSetSizeExceeded", "More than 10,000 entities match: page with limit and skip."
            )
        texts = texts[:MAX_RESULTS]
    if query.fields:
        texts = [project(t, query.fields) for t in texts]
    total = await reader.count(parent, Query(filter=query.filter), options) if with_count else None
    return ReadResult(texts, start, total)
