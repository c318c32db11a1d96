"""The storage logic shared by the SQL engines.

SQLite and PostgreSQL run the same statements and the same write algorithm; an engine only provides
four primitives (:meth:`SqlReader._one`, ``_all``, ``SqlWriter._run``, ``_run_many``) and a
:class:`Dialect` that rewrites the few spots where the two SQLs differ (see
:mod:`kinbase.storage.sql.statements`).

Modules: ``statements`` (dialect markers, column lists, row decoding), ``reader`` (:class:`SqlReader`),
``parents`` (apps, parents and their locks), ``indexes`` (field indexes), ``objects`` (put, delete,
grants), ``bulk`` (``put_many``; :class:`SqlWriter`, the complete writer).
"""

from kinbase.storage.sql.bulk import SqlWriter
from kinbase.storage.sql.reader import SqlReader
from kinbase.storage.sql.statements import Dialect, Row

__all__ = ["Dialect", "Row", "SqlReader", "SqlWriter"]
