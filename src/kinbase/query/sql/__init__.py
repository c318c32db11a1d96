"""Compile query ASTs to parameterised SQL for SQLite and PostgreSQL.

The storage engines use exactly this interface: :func:`compile_find` for reads and counts,
:func:`index_entries` and :func:`is_multikey` to maintain field indexes, and
:func:`register_sqlite_functions` on every SQLite connection. ``docs/query-language.md``
describes the semantics and how indexes are used.
"""

from __future__ import annotations

from typing import Any

from kinbase.errors import InvalidQuery
from kinbase.query.ast import And, Node, Query, simplify_and
from kinbase.query.geo import find_geo_near
from kinbase.query.sql.base import CompileContext, Dialect, Sql, render
from kinbase.query.sql.compiler import Compiler
from kinbase.query.sql.compound import plan_for_sort, sort_join_sql
from kinbase.query.sql.depth import MAX_DEPTH, TREE_BUDGET, statement_depth
from kinbase.query.sql.index import index_entries, is_multikey, row_condition, sort_join, sort_tiebreak
from kinbase.query.sql.quick import QuickSortRefused, quick_key_suspect, quick_sort_refused
from kinbase.query.sql.sqlite import SqliteDialect, register_sqlite_functions
from kinbase.query.values import INT64_MAX

__all__ = [
    "CompileContext",
    "Dialect",
    "QuickSortRefused",
    "Sql",
    "compile_find",
    "index_entries",
    "is_multikey",
    "quick_sort_refused",
    "register_sqlite_functions",
]


def compile_find(
    query: Query,
    ctx: CompileContext,
    *,
    select: str,
    where: Sql,
    count: bool = False,
    tree_budget: int = TREE_BUDGET,
) -> Sql:
    """The whole statement for ``query`` over ``objects o``.

    ``SELECT {select} FROM objects o [JOIN field_values fs ...] WHERE ({where}) AND (<filter>)
    ORDER BY ... LIMIT ... OFFSET ...``; with ``count``, ``SELECT count(*)`` ignoring order,
    skip and limit. A limited order that no index gives is a top-N sort of each row's ``oid`` and
    keys in a subquery, joined back to its objects (``SELECT {select} FROM (SELECT o.oid, <keys>
    ... LIMIT ...) s JOIN objects o ON o.oid = s.oid ORDER BY <keys>``), so the select list is
    computed, and the sort holds, the kept rows' documents only.

    The order is the sort keys, then ``o.oid`` in the direction of the first key; without keys,
    increasing distance for a query with ``$near``/``$nearSphere``, then ``o.oid``; otherwise
    ``o.oid`` (insertion order).

    Args:
        query: the parsed query (``fields`` is ignored).
        ctx: the parent, its indexes and system columns, and the dialect.
        select: the select list (fixed SQL text from the storage engine).
        where: the engine's own conditions on ``o``, already in this dialect.
        count: count the matching rows instead.
        tree_budget: how far path walks may be expanded inline (tests vary it).

    Raises:
        InvalidQuery: if the filter nests deeper than SQLite can parse (checked for both dialects,
            so a query means the same everywhere).
    """
    if query.filter is not None and statement_depth(query.filter, tree_budget) > MAX_DEPTH:
        raise InvalidQuery("The query is too complex: its conditions are nested too deeply.")
    compiler = Compiler(ctx, tree_budget)
    d = compiler.d
    ph = d.placeholder
    root = d.root()
    node = query.filter
    keys = () if count else query.sort

    # A single-valued field index on the first sort key drives the order: join its rows (one per
    # object), and answer the conditions on that same field from the joined row itself. A
    # compound index whose leading fields the filter pins to one value each comes first: its walk
    # is the filter and the order at once.
    join_sql = Sql("")
    sort_index = None
    if ctx.compounds and node is not None and not isinstance(node, And):
        node = And((node,))  # the compound plans look at the top-level conditions
    if keys:
        first = keys[0]
        index = ctx.indexes.get(first.path)
        children = list(node.children) if isinstance(node, And) else []
        compound = (
            plan_for_sort(ctx.compounds, children, first.path, ph)
            if ctx.compounds and ctx.index_sort and first.collation == "mongo"
            else None
        )
        if compound is not None and compiler.column_for(first.path) is None:
            sort_index = compound.index
            compiler.probed = True  # the join reads the rows of the pinned values only
            node = simplify_and([c for c in children if c not in compound.used])
            join_sql = sort_join_sql(compound, ph, ctx.parent_id)
        elif (
            ctx.index_sort
            and index is not None
            and not index.multikey
            and first.collation == "mongo"
            and compiler.column_for(first.path) is None
        ):
            sort_index = index
            pushed_rows: list[Sql] = []
            remaining: list[Node] = []
            for child in node.children if isinstance(node, And) else () if node is None else (node,):
                pushed = (
                    row_condition(child, ph, "fs") if getattr(child, "path", None) == first.path else None
                )
                if pushed is not None and pushed[1]:
                    pushed_rows.append(pushed[0])
                else:
                    remaining.append(child)
            node = simplify_and(remaining) if node is not None else None
            join_sql = sort_join(index, ctx.parent_id, ph, pushed_rows)
            compiler.probed = bool(pushed_rows)

    condition = compiler.cond(node, root, True, True) if node is not None else True
    filter_texts: list[str] = [" WHERE (", where.text, ")"]
    filter_params: list[Any] = [*where.params]
    if condition is not True:
        condition_sql = render(condition)
        condition_text = condition_sql.text
        if (
            ctx.dialect == "postgresql"
            and not count
            and query.limit is not None
            and "field_values" not in condition_text
            and "compound_values" not in condition_text
        ):
            # PostgreSQL has no statistics on document paths: it guesses that 0.5 % of the rows
            # match such a condition, and with a LIMIT then reads and sorts the whole parent
            # instead of walking the order's index until enough rows matched (5 ms against 0.1 ms
            # for 50 of 10,000). Inside COALESCE the condition is opaque to the estimator, which
            # assumes 50 %. Same rows: a NULL condition rejects its row either way. Not with an
            # index probe, which must stay a join.
            condition_text = f"COALESCE(({condition_text}), false)"
        filter_texts += [" AND (", condition_text, ")"]
        filter_params += condition_sql.params
    if count:
        texts = ["SELECT count(*) FROM objects o", *filter_texts]
        return Sql("".join(texts), filter_params, compiler.probed)

    # An order an index gives (a field or compound index, or a system column) with a limit: the
    # walk stops after skip + limit rows that pass the filter.
    walked = (
        query.limit is not None
        and bool(keys)
        and (sort_index is not None or compiler.column_for(keys[0].path) is not None)
    )
    # A top-N sort of computed keys (see below). PostgreSQL: a top-level field is read from the
    # document once per row, in the innermost query (``_v0``...), and its three sort parts test
    # that value (otherwise 4 reads of ``o.data -> 'n'`` per row: PostgreSQL shares none).
    top_n = query.limit is not None and not walked
    carry = top_n and ctx.dialect == "postgresql"
    values: list[Sql] = []
    terms: list[tuple[Sql, bool]] = []
    quick: dict[int, Sql] = {}  # SQLite: the term's key that reads the document once (mostly)
    if keys:
        first = keys[0]
        start = 0
        if sort_index is not None:
            exact_text = compiler.mongo_sort(first, root)[-1]  # the text (equal to it for a string)
            terms += [(Sql(f"fs.{c}"), first.descending) for c in ("t", "n", "s")]
            terms.append((sort_tiebreak(exact_text), first.descending))
            start = 1
        for key in keys[start:]:
            once = len(key.path) == 1 and key.collation == "mongo" and compiler.column_for(key.path) is None
            if carry and once:
                values.append(d.carrier(d.child(root, key.path[0])))
                value = d.from_carrier(f"o._v{len(values) - 1}")
                parts = compiler.mongo_sort_value(value, key.descending)
            else:
                parts = compiler.sort_terms(key, root)
                if top_n and once and ctx.quick_sort and isinstance(d, SqliteDialect):
                    (exact,) = parts
                    quick[len(terms)] = d.quick_sort_key(d.child(root, key.path[0]), exact)
            terms += [(t, key.descending) for t in parts]
        tie_desc = first.descending
    else:
        near = find_geo_near(query.filter)
        if near is not None:
            terms.append((compiler.near_order(near, root), False))
        tie_desc = False
    window: list[str] = []
    window_params: list[Any] = []
    if query.limit is not None or query.skip:
        # Beyond 64 bits both engines would fail; a window that large is the same as none.
        limit: int | None = None if query.limit is None else min(query.limit, INT64_MAX)
        skip = min(query.skip, INT64_MAX)
        if ctx.dialect == "sqlite":
            # Written in the statement (two integers): with bound values SQLite 3.51 plans an
            # index walk with a limit slower (a 50-row index list: 110 µs instead of 60 µs).
            window.append(f" LIMIT {-1 if limit is None else int(limit)} OFFSET {int(skip)}")
        else:
            window.append(f" LIMIT {ph} OFFSET {ph}")
            window_params += [limit, skip]
    tie_dir = " DESC" if tie_desc else ""
    if quick and query.limit is not None:
        sql = _quick_top_n(select, terms, quick, join_sql, filter_texts, filter_params, tie_dir, query)
        return Sql(sql.text, sql.params, compiler.probed)
    if top_n and terms:
        # A top-N sort of computed keys. Both engines evaluate the select list for every row they
        # sort, before the LIMIT (PostgreSQL's ``data::text``, 2 µs per row: 20 of the 22 ms of 50
        # of 10,000 unindexed; SQLite's ``json(o.data)``), and PostgreSQL's sort copies every
        # row it is given. The inner query sorts each row's oid with its keys as columns; the
        # outer one joins the kept rows back to their objects by primary key and renders them in
        # that order (PostgreSQL 50 of 10,000 unindexed: 20.1 -> 16.2 ms against sorting ``o.*``).
        inner = ["SELECT o.oid"]
        params: list[Any] = []
        order: list[str] = []
        for i, (term, descending) in enumerate(terms):
            inner += [", ", term.text, f" AS _k{i}"]
            params += term.params
            order.append(f"_k{i}" + (" DESC" if descending else ""))
        rows = [" FROM objects o", join_sql.text, *filter_texts]
        rows_params = [*join_sql.params, *filter_params]
        if values:
            # OFFSET 0 keeps the subquery one: flattened, each _v would be its expression again,
            # read from the document at each use.
            read = "".join(f", {v.text} AS _v{i}" for i, v in enumerate(values))
            rows = [" FROM (SELECT o.*", read, *rows, " OFFSET 0) o"]
            rows_params = [p for v in values for p in v.params] + rows_params
        inner += rows
        params += rows_params
        outer_order = ", ".join(f"s.{k}" for k in order)
        texts = [
            f"SELECT {select} FROM (",  # nosec B608: the engine's fixed column list; values bound
            *inner,
            " ORDER BY ",
            ", ".join(order),
            ", o.oid",
            tie_dir,
            *window,
            ") s JOIN objects o ON o.oid = s.oid ORDER BY ",
            outer_order,
            ", s.oid",
            tie_dir,
        ]
        return Sql("".join(texts), [*params, *window_params], compiler.probed)
    # `select` is the storage engine's fixed column list, never user input.
    texts = ["SELECT ", select, " FROM objects o", join_sql.text, *filter_texts]
    params = [*join_sql.params, *filter_params]
    separator = " ORDER BY "
    for term, descending in terms:
        texts += [separator, term.text, " DESC" if descending else ""]
        params += term.params
        separator = ", "
    texts += [separator, "o.oid", tie_dir]
    if ctx.dialect == "sqlite" and query.skip:
        # SQLite 3.51 runs a top-level ``EXISTS`` over several matching rows as a join that
        # stops at the first ("SCAN ... EXISTS"), but its OFFSET counts the rows that loop
        # skips, not the objects: an object with two matching array elements or grant rows was
        # counted twice and returned anyway. The offset applies to the rows of a subquery with a
        # LIMIT, which SQLite does not flatten (a co-routine: it still stops after skip + limit).
        end = -1 if query.limit is None else min(query.limit + query.skip, INT64_MAX)
        texts = ["SELECT * FROM (", *texts, f" LIMIT {int(end)})"]
    walk = walked and sort_index is not None
    return Sql("".join([*texts, *window]), [*params, *window_params], compiler.probed or walked, walk)


def _quick_top_n(
    select: str,
    terms: list[tuple[Sql, bool]],
    quick: dict[int, Sql],
    join_sql: Sql,
    filter_texts: list[str],
    filter_params: list[Any],
    tie_dir: str,
    query: Query,
) -> Sql:
    """SQLite's top-N sort by keys of which some are top-level fields, in the order of their quick
    keys (:meth:`SqliteDialect.quick_sort_key`: one read of the document for a number or a string,
    where the exact key takes two). A kept row whose quick key may order differently from its
    exact key (:func:`quick_key_suspect`) calls ``kb_quick_refuse()``: the storage engine then
    raises :class:`QuickSortRefused` and runs the query again with the exact keys.

    Checking the kept rows is enough: the quick order refines the exact one (a number keeps its
    integer value where the exact key compares it as a double), so a row that the exact order
    would take before a kept one, and the quick order does not, ties with that kept row as a
    double but not as a number: both are numbers of magnitude 2**53 or more, and the kept one is
    seen. The window is the first skip + limit rows, so the skipped ones are checked too; only the
    rows left after the skip are joined to their documents.

    ``SELECT {select} FROM (SELECT * FROM (<oid, quick keys ... LIMIT skip + limit>) WHERE
    <check> ORDER BY ... LIMIT ... OFFSET ...) s JOIN objects o ON o.oid = s.oid ORDER BY ...``
    """
    assert query.limit is not None
    limit, skip = min(query.limit, INT64_MAX), min(query.skip, INT64_MAX)
    names = [f"_k{i}" + (" DESC" if descending else "") for i, (_, descending) in enumerate(terms)]
    suspect = " OR ".join(quick_key_suspect(f"_k{i}") for i in sorted(quick))
    texts = [f"SELECT {select} FROM (SELECT * FROM (SELECT o.oid"]  # nosec B608: the engine's fixed column list; values bound
    params: list[Any] = []
    for i, (term, _) in enumerate(terms):
        chosen = quick.get(i, term)
        texts += [", ", chosen.text, f" AS _k{i}"]
        params += chosen.params
    texts += [
        " FROM objects o",
        join_sql.text,
        *filter_texts,
        " ORDER BY ",
        ", ".join(names),
        ", o.oid",
        tie_dir,
        f" LIMIT {min(limit + skip, INT64_MAX)}) WHERE CASE WHEN {suspect} THEN kb_quick_refuse() ELSE 1 END",
        " ORDER BY ",
        ", ".join(names),
        ", oid",
        tie_dir,
        f" LIMIT {int(limit)} OFFSET {int(skip)}) s JOIN objects o ON o.oid = s.oid ORDER BY ",
        ", ".join(f"s.{name}" for name in names),
        ", s.oid",
        tie_dir,
    ]
    return Sql("".join(texts), [*params, *join_sql.params, *filter_params])
