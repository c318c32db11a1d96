"""SQLite's quick sort keys: which of their values cannot be trusted, and how a statement that kept
one tells the storage engine (``kb_quick_refuse()``, :func:`quick_sort_refused`), which then runs
the query again with the exact keys (:class:`QuickSortRefused`). The keys themselves are
:meth:`kinbase.query.sql.sqlite.SqliteDialect.quick_sort_key`."""

from __future__ import annotations

import threading
from typing import Final

__all__ = ["QUICK_KEY_LIMIT", "QuickSortRefused", "quick_key_suspect", "quick_refuse", "quick_sort_refused"]

_SORT_NULL: Final = "-9e999"
"""The sort key of null and of a missing value (as in :mod:`kinbase.query.sql.sqlite`)."""
QUICK_KEY_LIMIT: Final = 9007199254740992.0
"""2**53: below it in magnitude, an integer is exactly a double, so :meth:`SqliteDialect.quick_sort_key`
and the exact key order every number the same way."""


def quick_key_suspect(column: str) -> str:
    """Whether a row's :meth:`SqliteDialect.quick_sort_key` in ``column`` is a number of magnitude
    :data:`QUICK_KEY_LIMIT` or more (null's -Infinity excepted): only then may its order differ
    from the exact key's."""
    limit = repr(QUICK_KEY_LIMIT)
    return (
        f"(typeof({column}) IN ('integer', 'real') AND ({column} >= {limit} "
        f"OR ({column} <= -{limit} AND {column} > {_SORT_NULL})))"
    )


class QuickSortRefused(Exception):
    """A statement ordered by quick sort keys kept a row whose quick key it cannot trust: run the
    query again with the exact keys (raised by the storage engine, see :func:`quick_sort_refused`)."""


_QUICK = threading.local()


def quick_refuse() -> int:
    """``kb_quick_refuse()``: marks the calling thread (see :func:`quick_sort_refused`)."""
    _QUICK.refused = True
    return 1


def quick_sort_refused() -> bool:
    """Whether a statement this thread ran since the last call called ``kb_quick_refuse()``
    (clears the mark). A connection runs its statements, and their functions, in the calling
    thread: the storage engine calls this after each read it ran, in the same thread."""
    if getattr(_QUICK, "refused", False):
        _QUICK.refused = False
        return True
    return False
