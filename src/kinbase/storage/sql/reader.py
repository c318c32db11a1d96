"""Reads, written once for both SQL engines."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Final

import orjson

from kinbase.errors import InvalidQuery
from kinbase.query.ast import And, ElemMatch, Node, Nor, Not, Or, Query
from kinbase.query.sql import CompileContext, QuickSortRefused, Sql, compile_find
from kinbase.storage.base import (
    RECORD_SEPARATOR,
    AclFilter,
    AppRecord,
    FindOptions,
    ParentRecord,
    Reader,
    StoredObject,
)
from kinbase.storage.sql.selects import joined_sqlite, texts_select
from kinbase.storage.sql.statements import (
    APP_COLUMNS,
    NO_OPTIONS,
    OBJECT_COLUMNS,
    PARENT_COLUMNS,
    Dialect,
    Row,
    app_from_row,
    check_params,
    clean_text,
    object_from_row,
    parent_from_row,
)
from kinbase.types import Path, Stamp

__all__ = ["DROPPED_KIND", "SCAN_ON_LOOP_ROWS", "SqlReader"]

SEPARATORS: Final = (",", RECORD_SEPARATOR)

SCAN_ON_LOOP_ROWS = 200

"""A parent this small is scanned on the event loop (well under a millisecond): a read of a larger
one that no index bounds runs on a thread."""

_COMPILE_ON_LOOP = 64
"""Filters with more nodes than this are compiled on a thread."""


def _size(node: Node, limit: int) -> int:
    """The number of nodes of a filter, counted up to just past ``limit``."""
    count = 0
    stack: list[Node] = [node]
    while stack and count <= limit:
        current = stack.pop()
        count += 1
        if isinstance(current, And | Or | Nor):
            stack.extend(current.children)
        elif isinstance(current, Not):
            stack.append(current.child)
        elif isinstance(current, ElemMatch):
            stack.append(current.condition)
    return count


_PARENT_STAMP = (
    "(SELECT p.stamp FROM parents p WHERE p.id = ? AND p.kind = ? AND p.name = ? AND p.version = ?)"
)
"""The stamp of a parent's row if it is still that parent with the same settings (``find_joined``)."""


def _as_is(sql: Sql) -> tuple[str, Sequence[Any]]:
    return sql.text, sql.params


class _Slot:
    """Stands in the compiled statement of :data:`_COMPILED` for the ``index``-th value of the
    engine's own conditions (:meth:`SqlReader._base_where`)."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


class _Template:
    """A compiled statement whose engine condition values are :class:`_Slot` placeholders."""

    __slots__ = ("indexed", "params", "slots", "text", "walk")

    def __init__(self, sql: Sql) -> None:
        self.text = sql.text
        self.indexed = sql.indexed
        self.walk = sql.walk
        self.params = tuple(sql.params)
        self.slots = tuple((i, p.index) for i, p in enumerate(sql.params) if isinstance(p, _Slot))

    def bind(self, values: Sequence[Any]) -> Sql:
        """The statement with the engine's condition values ``values``."""
        params = list(self.params)
        for position, index in self.slots:
            params[position] = values[index]
        return Sql(self.text, params, self.indexed, self.walk)


_COMPILED: Final[OrderedDict[Hashable, _Template]] = OrderedDict()
"""Statements compiled by :meth:`SqlReader._compiled`, most recently used last. Compiling the
suite's indexed list (sort by one field, limit 50) costs ~0.1 ms: more than the statement on
SQLite. The key is everything the statement depends on but the values of the engine's own
conditions (parent id, ACL principals), which are bound at each use."""

_COMPILED_SIZE = 512
_COMPILED_QUERY_CHARS = 4096
"""A query whose ``repr`` is longer is compiled every time (it would hold its memory in the cache)."""

_WATCHED_STAMP = "(SELECT w.stamp FROM parents w WHERE w.app_id = ? AND w.kind = ? AND w.name = ?)"
"""The stamp of the parent ``find_joined`` watches (a probe of its unique key)."""

DROPPED_KIND = "kinbase.dropped"
"""The kind of a parent detached by ``delete_parent`` whose rows are being purged."""


class SqlReader(Reader):
    """Reads, written once for both engines."""

    dialect: Dialect

    # -- primitives an engine provides ------------------------------------------------------
    @abstractmethod
    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Run a statement (already translated) and return its first row."""

    @abstractmethod
    async def _all(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        long: bool = False,
        custom_plan: bool = False,
        walk: bool = False,
    ) -> list[Row]:
        """Run a statement and return every row. ``long`` marks a statement that may take long;
        ``custom_plan`` one whose plan depends on its values (a compiled find): PostgreSQL plans
        it with them at every execution instead of settling on a generic plan (chosen from average
        selectivities over every collection and index slot, and kept for the connection: the
        suite saw an indexed list fall from ~1,400 to ~70 req/s on every connection at once).
        ``walk`` marks a compiled find that is an index walk (``Sql.walk``): PostgreSQL keeps its
        generic plan once checked to be that walk (:mod:`kinbase.storage.postgresql.generic`)."""

    # -- helpers --------------------------------------------------------------------------
    def _parent_sql(self, where: str) -> str:
        return self.dialect(f"SELECT {PARENT_COLUMNS} FROM parents p WHERE {where}")  # nosec B608: WHERE from callers' constants

    @property
    def _json_params(self) -> bool:
        return self.dialect.name == "postgresql"

    async def _compiled(self, query: Query, parent: ParentRecord, options: FindOptions, **kwargs: Any) -> Sql:
        """:meth:`_compile`, on a thread for a filter of more than :data:`_COMPILE_ON_LOOP` nodes
        (compiling takes about a millisecond per condition: a query of a thousand would hold the
        event loop for a second). A statement compiled before for the same query, parent
        indexes and options is taken from :data:`_COMPILED` (the engine's conditions' values,
        e.g. the caller's principals, are bound anew). ``exact_sort=True``: without SQLite's
        quick sort keys (``_found`` after a ``QuickSortRefused``); other engines ignore it."""
        where = self._base_where(parent, options)
        # The query by its repr, not by equality: 1, 1.0 and True are equal in Python but not
        # in a query (MongoDB's types), and a value may be an unhashable list or object.
        shape = repr(query)
        # SQLite orders a top-N sort by quick keys unless told the exact ones (``_found``).
        quick = not kwargs.pop("exact_sort", False)
        key = (
            self.dialect.name,
            shape,
            parent.id,
            parent.ready_indexes,
            options.columns,
            options.include_deleted,
            quick,
            where.text,
            len(where.params),
            tuple(sorted(kwargs.items())),
        )
        if (template := _COMPILED.get(key)) is not None:
            _COMPILED.move_to_end(key)
            return template.bind(where.params)
        slots = Sql(where.text, [_Slot(i) for i in range(len(where.params))])
        if query.filter is not None and _size(query.filter, _COMPILE_ON_LOOP) > _COMPILE_ON_LOOP:
            compiled = await asyncio.to_thread(self._compile, query, parent, options, slots, quick, **kwargs)
        else:
            compiled = self._compile(query, parent, options, slots, quick, **kwargs)
        template = _Template(compiled)
        if len(shape) > _COMPILED_QUERY_CHARS:
            return template.bind(where.params)
        _COMPILED[key] = template
        if len(_COMPILED) > _COMPILED_SIZE:
            _COMPILED.popitem(last=False)
        return template.bind(where.params)

    def _compile(
        self,
        query: Query,
        parent: ParentRecord,
        options: FindOptions,
        where: Sql | None = None,
        quick: bool = False,
        **kwargs: Any,
    ) -> Sql:
        if where is None:
            where = self._base_where(parent, options)
        try:
            return compile_find(query, self._context(parent, options, quick), where=where, **kwargs)
        except orjson.JSONEncodeError:
            raise InvalidQuery("A value of the query cannot be encoded (a lone surrogate).") from None

    def _context(self, parent: ParentRecord, options: FindOptions, quick: bool = False) -> CompileContext:
        return CompileContext(
            dialect="sqlite" if self.dialect.name == "sqlite" else "postgresql",
            parent_id=parent.id,
            indexes={i.path: i for i in parent.ready_indexes if not i.prefix},
            compounds=tuple(i for i in parent.ready_indexes if i.prefix),
            id_path=options.columns.id,
            stamp_path=options.columns.stamp,
            index_sort=not options.include_deleted,
            quick_sort=quick,
        )

    def _base_where(self, parent: ParentRecord, options: FindOptions) -> Sql:
        ph = self.dialect.placeholder
        text = f"o.parent_id = {ph}"
        params: list[Any] = [parent.id]
        if not options.include_deleted:
            text += " AND NOT o.deleted"
        if options.since is not None:
            text += f" AND o.stamp > {ph}"
            params.append(options.since)
        if options.before is not None:
            text += f" AND o.stamp < {ph}"
            params.append(options.before)
        if options.acl is not None:
            text += " AND " + self._acl_sql(options.acl, params)
        return Sql(text, params)

    def _acl_sql(self, acl: AclFilter, params: list[Any]) -> str:
        if not acl.perms or not acl.principals:
            return "1 = 0"
        ph = self.dialect.placeholder
        perms = ", ".join([ph] * len(acl.perms))
        principals = ", ".join([ph] * len(acl.principals))
        # SQLite: the unary plus keeps the IN lists off the indexes, so each row is one seek of
        # its grants by oid (the primary key; an object has a few rows), not one probe of
        # grants_principal per perm and principal (6 for a user: 20 ms instead of 5 for 10,000
        # rows). PostgreSQL plans the semi-join itself (and has no unary plus on text).
        plus = "+" if self.dialect.name == "sqlite" else ""
        grants = (
            "EXISTS (SELECT 1 FROM grants g WHERE g.oid = o.oid "  # nosec B608: '?' lists only; values bound
            f"AND {plus}g.perm IN ({perms}) AND {plus}g.principal IN ({principals}))"
        )
        if acl.creator is None:
            params.extend(acl.perms)
            params.extend(acl.principals)
            return grants
        # The caller's own objects pass on the creator column, before any grant row is read.
        params.append(acl.creator)
        params.extend(acl.perms)
        params.extend(acl.principals)
        return f"(o.creator = {ph} OR {grants})"

    def _is_long(self, parent: ParentRecord, sql: Sql, options: FindOptions = NO_OPTIONS) -> bool:
        """Whether a read may scan enough rows to be run off the event loop (SQLite): any
        statement that no index bounds (``Sql.indexed``) over a parent of more than
        :data:`SCAN_ON_LOOP_ROWS` live objects. An index probe stays on the loop (a thread hop
        would cost more than the read), under the engine's loop slice; so does a read of the
        changes since a stamp (delta sets, Kinto ``_since``), which walks the stamp index."""
        return not sql.indexed and options.since is None and parent.live > SCAN_ON_LOOP_ROWS

    # -- apps -----------------------------------------------------------------------------
    async def get_app(self, key: str) -> AppRecord | None:
        row = await self._one(self.dialect(f"SELECT {APP_COLUMNS} FROM apps WHERE app_key = ?"), (key,))  # nosec B608: constant columns and placeholders; every value is bound
        return app_from_row(row) if row else None

    async def get_app_by_id(self, app_id: int) -> AppRecord | None:
        row = await self._one(self.dialect(f"SELECT {APP_COLUMNS} FROM apps WHERE id = ?"), (app_id,))  # nosec B608: constant columns and placeholders; every value is bound
        return app_from_row(row) if row else None

    async def list_apps(self) -> list[AppRecord]:
        rows = await self._all(self.dialect(f"SELECT {APP_COLUMNS} FROM apps ORDER BY id"))  # nosec B608: constant columns and placeholders; every value is bound
        return [app_from_row(r) for r in rows]

    async def get_meta(self, key: str) -> str | None:
        row = await self._one(self.dialect("SELECT value FROM server_meta WHERE key = ?"), (key,))
        return row[0] if row else None

    # -- parents --------------------------------------------------------------------------
    async def get_parent(self, app_id: int, kind: str, name: str) -> ParentRecord | None:
        if not clean_text(name):
            return None
        row = await self._one(
            self._parent_sql("p.app_id = ? AND p.kind = ? AND p.name = ?"), (app_id, kind, name)
        )
        return parent_from_row(row) if row else None

    async def list_parents(self, app_id: int, kind: str, name_prefix: str = "") -> list[ParentRecord]:
        rows = await self._all(
            self._parent_sql("p.app_id = ? AND p.kind = ? AND substr(p.name, 1, ?) = ? ORDER BY p.name"),
            (app_id, kind, len(name_prefix), name_prefix),
        )
        return [parent_from_row(r) for r in rows]

    # -- objects --------------------------------------------------------------------------
    async def get_object(
        self, parent: ParentRecord, object_id: str, *, include_deleted: bool = False
    ) -> StoredObject | None:
        if not clean_text(object_id):
            return None
        sql = f"SELECT {OBJECT_COLUMNS} FROM objects o WHERE o.parent_id = ? AND o.id = ?"  # nosec B608: constant columns and placeholders; every value is bound
        if not include_deleted:
            sql += " AND NOT o.deleted"
        row = await self._one(self.dialect(sql), (parent.id, object_id))
        return object_from_row(row) if row else None

    async def get_child(
        self, app_id: int, kind: str, parent_name: str, object_id: str, *, include_deleted: bool = False
    ) -> StoredObject | None:
        if not (clean_text(object_id) and clean_text(parent_name)):
            return None
        sql = (
            f"SELECT {OBJECT_COLUMNS} FROM parents p JOIN objects o ON o.parent_id = p.id "  # nosec B608: constant columns and placeholders; every value is bound
            "WHERE p.app_id = ? AND p.kind = ? AND p.name = ? AND o.id = ?"
        )
        if not include_deleted:
            sql += " AND NOT o.deleted"
        row = await self._one(self.dialect(sql), (app_id, kind, parent_name, object_id))
        return object_from_row(row) if row else None

    async def _found(
        self,
        query: Query,
        parent: ParentRecord,
        options: FindOptions,
        wrap: Callable[[Sql], tuple[str, Sequence[Any]]],
        *,
        select: str,
        walk: bool = True,
    ) -> list[Row]:
        """The rows of ``query``'s statement, as ``wrap`` embeds it. A statement that ordered by
        quick sort keys and refused a row it kept (SQLite: ``QuickSortRefused``) runs again with
        the exact keys."""
        sql = await self._compiled(query, parent, options, select=select)
        check_params(sql.params, json_text=self._json_params)
        long = self._is_long(parent, sql, options)
        text, params = wrap(sql)
        try:
            return await self._all(text, params, long=long, custom_plan=True, walk=walk and sql.walk)
        except QuickSortRefused:
            sql = await self._compiled(query, parent, options, select=select, exact_sort=True)
            text, params = wrap(sql)
            return await self._all(text, params, long=long, custom_plan=True, walk=walk and sql.walk)

    async def find(
        self, parent: ParentRecord, query: Query, options: FindOptions | None = None
    ) -> list[StoredObject]:
        opts = options or NO_OPTIONS
        rows = await self._found(query, parent, opts, _as_is, select=self.dialect(OBJECT_COLUMNS))
        return [object_from_row(r) for r in rows]

    async def find_texts(
        self, parent: ParentRecord, query: Query, options: FindOptions | None = None
    ) -> list[str]:
        opts = options or NO_OPTIONS
        rows = await self._found(query, parent, opts, _as_is, select=texts_select(self.dialect.name, opts))
        return [row[0] for row in rows]

    async def find_joined(
        self,
        parent: ParentRecord,
        query: Query,
        options: FindOptions | None = None,
        *,
        separator: str = ",",
        watch: tuple[int, str, str] | None = None,
    ) -> tuple[int, str, Stamp | None, Stamp | None]:
        if separator not in SEPARATORS:
            raise ValueError(f"find_joined joins with one of {SEPARATORS!r}")
        opts = options or NO_OPTIONS
        # SQLite joins its JSONB with json_group_array (rendered once), unless another separator
        # or stamp order (objects_parent_stamp_doc holds the texts, migration 0004)
        stamp_order = bool(query.sort) and query.sort[0].path == opts.columns.stamp
        sqlite = self.dialect.name == "sqlite" and separator == "," and not stamp_order
        if sqlite:
            select = joined_sqlite(opts)
            agg = "json_group_array(q.t)"
        else:
            select = texts_select(self.dialect.name, opts) + " AS t"
            sep = "','" if separator == "," else ("char(30)" if self.dialect.name == "sqlite" else "chr(30)")
            concat = "group_concat" if self.dialect.name == "sqlite" else "string_agg"
            agg = f"coalesce({concat}(q.t, {sep}), '')"
        # The page's statement (ORDER BY and LIMIT) is a subquery of a plain aggregate: both
        # engines feed the aggregate its rows in the subquery's order (SQLite does not flatten a
        # limited subquery into an aggregate; PostgreSQL documents a sorted subquery for it).
        watched = self.dialect(_WATCHED_STAMP) if watch is not None else "NULL"
        head = f"SELECT count(*), {agg}, {self.dialect(_PARENT_STAMP)}, {watched} FROM ("  # nosec B608: constant subqueries; every value is bound
        head_params = (parent.id, parent.kind, parent.name, parent.version, *(watch or ()))

        def wrap(sql: Sql) -> tuple[str, Sequence[Any]]:
            return head + sql.text + ") AS q", (*head_params, *sql.params)

        rows = await self._found(query, parent, opts, wrap, select=select)
        count, joined, stamp, other = rows[0]
        if sqlite:
            joined = joined[1:-1]  # the array's brackets
        return (
            int(count),
            joined,
            int(stamp) if stamp is not None else None,
            int(other) if other is not None else None,
        )

    async def count_by(
        self, parent: ParentRecord, keys: Sequence[Path], query: Query, options: FindOptions | None = None
    ) -> list[tuple[tuple[str, ...], int]]:
        opts = options or NO_OPTIONS
        exprs: list[str] = []
        key_params: list[Any] = []
        for path in keys:
            if self.dialect.name == "sqlite":
                exprs.append("coalesce(q.d -> ?, 'null')")
                key_params.append("$" + "".join(f'."{segment}"' for segment in path))
            else:
                # One `->` per segment: a key addresses an object member, never an array position.
                steps = "".join(" -> %s::text" for _ in path)
                exprs.append(f"coalesce((q.d{steps})::text, 'null')")
                key_params.extend(path)
        select = ", ".join([*exprs, "count(*)"])
        group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""

        def wrap(sql: Sql) -> tuple[str, Sequence[Any]]:
            text = f"SELECT {select} FROM ({sql.text}) AS q{group} ORDER BY min(q.oid)"  # nosec B608: the compiled statement and constant key expressions; every value is bound
            return text, (*key_params, *sql.params)

        rows = await self._found(query, parent, opts, wrap, select="o.oid AS oid, o.data AS d", walk=False)
        return [(tuple(row[: len(keys)]), int(row[len(keys)])) for row in rows if row[len(keys)]]

    async def count(self, parent: ParentRecord, query: Query, options: FindOptions | None = None) -> int:
        opts = options or NO_OPTIONS
        if query.filter is None and opts == NO_OPTIONS:
            return await self._live(parent.id)
        sql = await self._compiled(query, parent, opts, select="count(*)", count=True)
        check_params(sql.params, json_text=self._json_params)
        rows = await self._all(sql.text, sql.params, long=self._is_long(parent, sql, opts), custom_plan=True)
        return int(rows[0][0])

    async def dropped_parents(self) -> list[int]:
        """The ids of parents detached by ``delete_parent`` whose rows are not purged yet."""
        rows = await self._all(self.dialect("SELECT id FROM parents WHERE kind = ?"), (DROPPED_KIND,))
        return [int(row[0]) for row in rows]

    async def _live(self, parent_id: int) -> int:
        row = await self._one(self.dialect("SELECT live FROM parents WHERE id = ?"), (parent_id,))
        return int(row[0]) if row else 0

    async def get_grants(self, oid: int) -> list[tuple[str, str]]:
        rows = await self._all(
            self.dialect("SELECT perm, principal FROM grants WHERE oid = ? ORDER BY perm, principal"), (oid,)
        )
        return [(r[0], r[1]) for r in rows]

    async def find_granted(
        self, app_id: int, kinds: Sequence[str], principals: Sequence[str]
    ) -> list[tuple[ParentRecord, StoredObject, list[str]]]:
        if not kinds or not principals:
            return []
        check_params(principals)
        ph = self.dialect.placeholder
        sql = self.dialect(
            f"SELECT {PARENT_COLUMNS}, {OBJECT_COLUMNS}, g.perm "  # nosec B608: constant columns and placeholders; every value is bound
            "FROM grants g JOIN objects o ON o.oid = g.oid JOIN parents p ON p.id = o.parent_id "
            "WHERE p.app_id = ? AND NOT o.deleted "
        )
        sql += f"AND p.kind IN ({', '.join([ph] * len(kinds))}) "
        sql += f"AND g.principal IN ({', '.join([ph] * len(principals))}) ORDER BY o.oid, g.perm"
        rows = await self._all(sql, (app_id, *kinds, *principals), long=True)
        result: list[tuple[ParentRecord, StoredObject, list[str]]] = []
        for row in rows:
            perm = row[16]
            if result and result[-1][1].oid == int(row[9]):
                if perm not in result[-1][2]:
                    result[-1][2].append(perm)
                continue
            result.append((parent_from_row(row[:9]), object_from_row(row[9:16]), [perm]))
        return result
