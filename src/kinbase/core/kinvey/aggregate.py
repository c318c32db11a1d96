"""``_group`` aggregation: group the readable entities matching ``condition`` by ``key`` and fold
each group with the ``reduce`` JavaScript function, starting from a copy of ``initial``.

The five reducers the SDKs generate (count, sum, min, max, average) are recognised and computed in
Python when every value is a number; anything else runs in QuickJS (an embedded engine without
I/O: no ``std``/``os`` modules are loaded) under a time and a memory limit, in a worker process
(:mod:`kinbase.core.kinvey.reducers`).
The SDKs send ``{"min": null}`` / ``{"max": null}`` because ``Infinity`` does not survive JSON;
the fast path reads a null start as +/-infinity, which is what the SDK means.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.reducers import REDUCERS
from kinbase.errors import InvalidQuery
from kinbase.query.paths import parse_path
from kinbase.types import Document, Path

__all__ = ["GroupSpec", "counted_keys", "fold_counts", "parse_group", "run_group"]

MAX_GROUP_INPUT = 100_000
"""The most entities one ``_group`` folds."""


@dataclass(frozen=True, slots=True)
class GroupSpec:
    key: tuple[str, ...]
    initial: Document
    reduce: str
    condition: Any


def parse_group(body: Any) -> GroupSpec:
    """Validate a ``_group`` body.

    Raises:
        KinveyError: BadRequest for a missing or malformed member.
    """
    if not isinstance(body, dict):
        raise KinveyError("BadRequest", "The _group body must be a JSON object.")
    key = body.get("key", {})
    if not isinstance(key, dict) or not all(isinstance(k, str) for k in key):
        raise KinveyError("BadRequest", "key must be an object of field names.")
    initial = body.get("initial", {})
    if not isinstance(initial, dict):
        raise KinveyError("BadRequest", "initial must be an object.")
    reduce = body.get("reduce", body.get("reduceFn"))
    if not isinstance(reduce, str) or not reduce.strip():
        raise KinveyError("BadRequest", "reduce must be the source of a JavaScript function.")
    condition = body.get("condition")
    if condition is None and isinstance(body.get("query"), dict):
        condition = body["query"].get("filter")
    return GroupSpec(tuple(k for k, v in key.items() if v), initial, reduce, condition)


def _get(doc: Any, path: str) -> Any:
    value = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


# -- the fast path ------------------------------------------------------------------------------

_FIELD = r"""doc(?:\[\s*["']([^"'\]]+)["']\s*\]|\.([A-Za-z_$][\w$]*))"""
_RET = r"(?:\s*;?\s*return\s+out\s*)?;?\s*"
_HEAD = r"^\s*function\s*\w*\s*\(\s*doc\s*,\s*out\s*\)\s*\{\s*"
_PATTERNS: dict[str, re.Pattern[str]] = {
    "count": re.compile(_HEAD + r"out\.count\s*(?:\+=\s*1|\+\+|=\s*out\.count\s*\+\s*1)" + _RET + r"\}\s*$"),
    "sum": re.compile(_HEAD + r"out\.sum\s*\+=\s*" + _FIELD + _RET + r"\}\s*$"),
    "min": re.compile(
        _HEAD + r"out\.min\s*=\s*Math\.min\(\s*out\.min\s*,\s*" + _FIELD + r"\s*\)" + _RET + r"\}\s*$"
    ),
    "max": re.compile(
        _HEAD + r"out\.max\s*=\s*Math\.max\(\s*out\.max\s*,\s*" + _FIELD + r"\s*\)" + _RET + r"\}\s*$"
    ),
    "average": re.compile(
        _HEAD
        + r"out\.count\s*(?:\+=\s*1|\+\+)\s*;\s*out\.average\s*=\s*out\.average\s*\+\s*\(\(\s*"
        + _FIELD
        + r"\s*-\s*out\.average\s*\)\s*/\s*out\.count\s*\)"
        + _RET
        + r"\}\s*$"
    ),
}


def _fast_reducer(source: str) -> tuple[str, str | None] | None:
    for name, pattern in _PATTERNS.items():
        match = pattern.match(source)
        if match:
            groups = [g for g in match.groups() if g]
            return name, groups[0] if groups else None
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fold_fast(kind: str, field: str | None, initial: Document, docs: list[Any]) -> dict[str, Any] | None:
    """The reduction in Python, or None when a value is not a number (then JavaScript decides)."""
    out: dict[str, Any] = dict(initial)
    values = [_get(d, field) for d in docs] if field is not None else []
    if field is not None and not all(_number(v) for v in values):
        return None
    if kind == "count":
        if not _number(out.get("count")):
            return None
        out["count"] = out["count"] + len(docs)
    elif kind == "sum":
        if not _number(out.get("sum")):
            return None
        out["sum"] = out["sum"] + sum(values)
    elif kind in ("min", "max"):
        start = out.get(kind)
        if start is not None and not _number(start):
            return None
        pick: Callable[..., Any] = min if kind == "min" else max
        candidates = values if start is None else [start, *values]
        out[kind] = pick(candidates) if candidates else (math.inf if kind == "min" else -math.inf)
        if isinstance(out[kind], float) and math.isinf(out[kind]):
            out[kind] = None
    else:
        if not (_number(out.get("count")) and _number(out.get("average"))):
            return None
        for value in values:
            out["count"] += 1
            out["average"] = out["average"] + (value - out["average"]) / out["count"]
    return out


def counted_keys(spec: GroupSpec) -> tuple[Path, ...] | None:
    """The paths of ``spec.key`` when ``spec`` only counts (the SDKs' count reducer from a numeric
    ``initial.count``), so the database can count per key (``Reader.count_by``); None when the
    reduce function must see the entities (another reducer, or a key name that is not a valid
    path: it groups under null as :func:`_get` reads it)."""
    fast = _fast_reducer(spec.reduce)
    if fast is None or fast[0] != "count" or not _number(spec.initial.get("count")):
        return None
    try:
        return tuple(parse_path(name) for name in spec.key)
    except InvalidQuery:
        return None


def fold_counts(spec: GroupSpec, counts: list[tuple[tuple[str, ...], int]]) -> list[Document]:
    """The ``_group`` result of a counting ``spec`` from ``Reader.count_by``'s groups: what
    :func:`run_group` answers for the same entities."""
    start: Any = spec.initial["count"]
    return [
        {**dict(zip(spec.key, map(orjson.loads, texts), strict=True)), **spec.initial, "count": start + n}
        for texts, n in counts
    ]


async def run_group(spec: GroupSpec, joined: str, *, time_limit: float | None = None) -> list[Document]:
    """Group and fold the entities ``joined`` (their stored JSON texts joined with ``,``) as
    ``spec`` says. A reduce function that is not one of the fast-path shapes runs in
    :data:`~kinbase.core.kinvey.reducers.REDUCERS` (worker processes, each reducer with its own
    CPU budget)."""

    def group() -> tuple[list[tuple[Document, list[Any]]], list[Any] | None]:
        buckets: dict[bytes, tuple[Document, list[Any]]] = {}
        for doc in orjson.loads(f"[{joined}]"):
            keys: Document = {name: _get(doc, name) for name in spec.key}
            marker = orjson.dumps([keys[name] for name in spec.key])
            buckets.setdefault(marker, (keys, []))[1].append(doc)
        groups = list(buckets.values())
        fast = _fast_reducer(spec.reduce)
        if fast is not None:
            folded = [_fold_fast(fast[0], fast[1], spec.initial, docs) for _, docs in groups]
            if all(f is not None for f in folded):
                return groups, folded
        return groups, None

    groups, outs = await asyncio.to_thread(group)
    if outs is None:
        outs = (
            await REDUCERS.run(spec.reduce, spec.initial, [docs for _, docs in groups], time_limit)
            if groups
            else []
        )
    pairs = zip(groups, outs, strict=True)
    return [{**keys, **(out if isinstance(out, dict) else {})} for (keys, _), out in pairs]
