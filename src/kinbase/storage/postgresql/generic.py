"""Generic plans for index walks, once their shape is checked.

A compiled find whose order a field or compound index gives, with a limit (``Sql.walk``), has one
good plan whatever its values: walk that index in order, look each row's object up, stop after
the limit. Planning it again with each execution's values (the planned pool's
``force_custom_plan``) costs 0.20-0.30 ms, a third of what the suite's indexed Kinvey list costs
PostgreSQL; a prepared generic plan runs the same walk after 0.006 ms of planning.

A generic plan is chosen from average selectivities, though, and kept for the connection: the
planner can prefer a bitmap scan and a sort of the whole range when it believes a collection
small (the round-2 cliff of migration 0004: ~1,400 to ~70 req/s). So such a statement runs on a
third pool, whose connections plan prepared statements generically
(``plan_cache_mode = force_generic_plan``), only while :class:`GenericPlans` holds a verdict that
the generic plan of that statement text *is* the walk: ``EXPLAIN`` of the statement prepared on a
connection of that pool (:func:`is_walk`). Until the first check has answered, and whenever the
plan is anything else, the statement is planned with its values as before. The verdict is checked
again every :data:`CHECK_SECONDS` (an ``ANALYZE`` changes the statistics every connection plans
from); checks run off the request path, one per statement text at a time.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg

from kinbase.storage.sql import Row

__all__ = ["CHECK_SECONDS", "GENERIC_MODE", "GenericPlans", "is_walk", "numbered"]

log = logging.getLogger(__name__)

GENERIC_MODE = "force_generic_plan"
"""The ``plan_cache_mode`` of the generic pool's connections."""

CHECK_SECONDS = 30.0
"""How long a verdict holds before the statement's generic plan is checked again."""

MAX_VERDICTS = 512
"""Statement texts whose verdict is kept (the least recently checked are forgotten)."""

MAX_CHECKS = 4
"""Checks running at once; a statement met meanwhile is planned with its values."""

_STATEMENT = "kinbase_walk_check"

_PLACEHOLDER = re.compile(r"%[s%]")

Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Row]]]


def numbered(text: str) -> str:
    """``text`` with psycopg's ``%s`` placeholders as ``$1``, ``$2``... (and ``%%`` as ``%``), as
    ``PREPARE`` takes it."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() == "%%":
            return "%"
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, text)


def _child(node: Mapping[str, Any], relationship: str) -> Mapping[str, Any] | None:
    for child in node.get("Plans", ()):
        if child.get("Parent Relationship") == relationship:
            return child  # type: ignore[no-any-return]
    return None


_ABOVE_LIMIT = frozenset({"Aggregate", "Subquery Scan", "Result"})
_INDEX_SCANS = frozenset({"Index Scan", "Index Only Scan"})
_VALUES = frozenset({"field_values", "compound_values"})


def _probe(node: Mapping[str, Any]) -> bool:
    """An index scan with a condition (one probe per outer row)."""
    return node.get("Node Type") in _INDEX_SCANS and bool(node.get("Index Cond"))


def _in_order(node: Mapping[str, Any]) -> bool:
    """Rows in the order of an index of ``field_values`` or ``compound_values``, each joined by
    probes: that index's scan, or a nested loop (which keeps its outer side's order) whose outer
    side is in that order and whose inner side is an index probe (possibly memoized)."""
    if node.get("Node Type") == "Nested Loop":
        outer, inner = _child(node, "Outer"), _child(node, "Inner")
        if inner is not None and inner.get("Node Type") == "Memoize":
            inner = _child(inner, "Outer")
        return outer is not None and inner is not None and _in_order(outer) and _probe(inner)
    return _probe(node) and node.get("Relation Name") in _VALUES


def is_walk(plan: Mapping[str, Any]) -> bool:
    """Whether ``plan`` (a node of ``EXPLAIN (FORMAT JSON)``) is an index walk that stops at its
    limit: down from the top (through an aggregate over the page, ``find_joined``), a ``Limit``
    over an optional incremental sort (the keys after the index's, on rows the walk already
    ordered) over rows in the order of the index (:func:`_in_order`: its scan, joined to the
    objects and their grants by nested loops of index probes). A plain ``Sort``, a bitmap or
    sequential scan, a hash or merge join: not a walk."""
    node: Mapping[str, Any] | None = plan
    while node is not None and node.get("Node Type") in _ABOVE_LIMIT:
        node = _child(node, "Outer") or _child(node, "Subquery")
    if node is None or node.get("Node Type") != "Limit":
        return False
    node = _child(node, "Outer")
    if node is not None and node.get("Node Type") == "Incremental Sort":
        node = _child(node, "Outer")
    return node is not None and _in_order(node)


class GenericPlans:
    """The verdicts of one storage on which index-walk statements may run on generic plans.

    ``connect`` lends a connection of the generic pool (whose plans are the ones checked)."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._verdicts: OrderedDict[str, tuple[bool, float]] = OrderedDict()
        self._checking: dict[str, asyncio.Task[None]] = {}
        self.checks = 0
        """Checks run so far (tests and diagnostics)."""
        self._serial = 0

    def allowed(self, text: str, params: Sequence[Any]) -> bool:
        """Whether the statement ``text`` may run on the generic pool now: its last verdict,
        ``False`` if none yet. A missing or stale verdict schedules a check with ``params``
        (values of a real execution, so that ``EXPLAIN`` can run it)."""
        verdict = self._verdicts.get(text)
        stale = verdict is None or time.monotonic() - verdict[1] >= CHECK_SECONDS
        if stale and text not in self._checking and len(self._checking) < MAX_CHECKS:
            task = asyncio.get_running_loop().create_task(
                self._check(text, tuple(params)), name="kinbase-generic-plan-check"
            )
            self._checking[text] = task
        return verdict is not None and verdict[0]

    def verdict(self, text: str) -> bool | None:
        """The last verdict on ``text``, None if none (tests and diagnostics)."""
        verdict = self._verdicts.get(text)
        return None if verdict is None else verdict[0]

    async def wait(self) -> None:
        """Until the checks running now are done (tests)."""
        while self._checking:
            await asyncio.gather(*self._checking.values(), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._checking.values()):
            task.cancel()
        await asyncio.gather(*self._checking.values(), return_exceptions=True)
        self._checking.clear()

    async def _check(self, text: str, params: tuple[Any, ...]) -> None:
        try:
            plan = await self._explain(text, params)
            ok = is_walk(plan)
            if not ok:
                log.info("an index walk's generic plan is not the walk; it is planned with its values")
        except psycopg.Error as exc:
            log.info("checking an index walk's generic plan failed (%s); planned with its values", exc)
            ok = False
        except Exception:  # a check only steers plans: never fail a request for it
            log.exception("checking an index walk's generic plan failed; planned with its values")
            ok = False
        finally:
            self._checking.pop(text, None)
        self.checks += 1
        self._verdicts[text] = (ok, time.monotonic())
        self._verdicts.move_to_end(text)
        while len(self._verdicts) > MAX_VERDICTS:
            self._verdicts.popitem(last=False)

    async def _explain(self, text: str, params: tuple[Any, ...]) -> Mapping[str, Any]:
        """The generic plan of ``text``, prepared on a connection of the generic pool and
        explained with ``params`` written as literals (each converted to its parameter's type)."""
        self._serial += 1
        name = f"{_STATEMENT}_{self._serial}"  # a check cancelled at shutdown leaves its own name
        async with self._connect() as conn:
            await conn.execute(f"PREPARE {name} AS {numbered(text)}")  # nosec B608: a compiled statement; values stay parameters
            try:
                cur = psycopg.AsyncClientCursor(conn)
                values = f" ({', '.join(['%s'] * len(params))})" if params else ""
                await cur.execute(f"EXPLAIN (FORMAT JSON) EXECUTE {name}{values}", params)  # nosec B608: placeholders only; values quoted by psycopg
                row = await cur.fetchone()
            finally:
                await conn.execute(f"DEALLOCATE {name}")
        assert row is not None  # nosec B101: EXPLAIN answers one row
        document = row[0]
        return document[0]["Plan"]  # type: ignore[no-any-return]
