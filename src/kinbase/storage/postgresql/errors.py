"""The mapping of PostgreSQL's (and psycopg's) errors to kinbase's.

A client's mistake becomes a typed 4xx: a value PostgreSQL cannot take (SQLSTATE class 22: a NUL
in text, an integer out of range, an invalid regular expression), a statement too complex for it
(class 54) or too many parameters. A statement cancelled by ``statement_timeout`` is a
:class:`QueryTimeout`. Anything else is a generic :class:`StorageError`; the driver's message stays
on ``.original`` for the log and never reaches a client.
"""

from __future__ import annotations

import psycopg
from psycopg import errors as pgerrors

from kinbase.errors import BaaSError, InvalidQuery, InvalidRequest, QueryTimeout
from kinbase.storage.exceptions import StampConflict, StorageError
from kinbase.storage.sql.statements import STAMP_CONFLICT

__all__ = ["broken", "classify"]


def broken(exc: BaseException, conn: psycopg.AsyncConnection[object] | None = None) -> bool:
    """Whether ``exc`` says the connection is gone (terminated, closed, network): a read may be
    retried once on another connection."""
    if isinstance(exc, pgerrors.AdminShutdown | pgerrors.CrashShutdown | pgerrors.IdleSessionTimeout):
        return True
    if conn is not None and (conn.broken or conn.closed):
        return True
    return isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None and "parameters" not in str(exc)


def classify(exc: BaseException, what: str) -> BaaSError:
    """The kinbase error for ``exc`` raised on a statement (``what``: "read" or "write")."""
    if isinstance(exc, psycopg.Error) and exc.sqlstate == STAMP_CONFLICT:
        return StampConflict("Another writer changed the collection first; retry.", original=exc)
    if isinstance(exc, pgerrors.QueryCanceled):
        return QueryTimeout()
    if isinstance(exc, pgerrors.InvalidRegularExpression):
        return InvalidQuery("The database refused the regular expression (too complex).")
    if isinstance(exc, psycopg.DataError):
        return InvalidRequest(
            "A value in the request cannot be stored or compared (a NUL character, a number out of range)."
        )
    if (isinstance(exc, psycopg.Error) and (exc.sqlstate or "").startswith("54")) or (
        isinstance(exc, psycopg.OperationalError) and "number of parameters" in str(exc)
    ):
        return InvalidQuery("The query is too complex: use fewer conditions.")
    if isinstance(exc, UnicodeEncodeError):
        return InvalidRequest("The request holds text that is not valid Unicode (a lone surrogate).")
    return StorageError(f"The database failed to {what}; retry later.", original=exc)
