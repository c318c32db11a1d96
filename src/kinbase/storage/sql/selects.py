"""The select lists of the readers' text finds (``find_texts``, ``find_joined``): the stored text
of each row, or the tombstone of a deleted one, rendered by the database."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from kinbase.storage.base import FindOptions

__all__ = ["joined_sqlite", "texts_select", "tombstone_names"]

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def tombstone_names(options: FindOptions) -> list[str]:
    names = [
        p[0] if p is not None and len(p) == 1 else "" for p in (options.columns.id, options.columns.stamp)
    ]
    if not all(_NAME.fullmatch(name) for name in names):
        raise ValueError("find_texts needs one-segment id and stamp columns to render tombstones")
    return names


@lru_cache(maxsize=16)
def texts_select(dialect: str, options: FindOptions) -> str:
    """The select list of :meth:`SqlReader.find_texts`: the stored text, and with
    ``options.include_deleted`` the tombstone built by the database (``json_quote``/``to_json``
    escape an id exactly as orjson does; a test holds both engines to it). SQLite's
    ``json(o.data)`` is the expression that ``objects_parent_stamp_doc`` stores (migration 0004)."""
    data = "json(o.data)" if dialect == "sqlite" else "o.data::text"
    if not options.include_deleted:
        return data
    names = tombstone_names(options)
    quoted_id = "json_quote(o.id)" if dialect == "sqlite" else "to_json(o.id)::text"
    return (
        f"""CASE WHEN o.deleted THEN '{{"deleted":true,"{names[0]}":' || {quoted_id} || """
        f"""',"{names[1]}":' || o.stamp || '}}' ELSE {data} END"""
    )


@lru_cache(maxsize=16)
def joined_sqlite(options: FindOptions) -> str:
    """SQLite's select list of :meth:`SqlReader.find_joined`: each row's stored JSONB (every
    write stores JSONB, migration 0003 converted the rest) or, with ``options.include_deleted``,
    its tombstone as a JSONB object, for ``json_group_array`` to render once (the renderer of
    ``json()``: the same text as :func:`texts_select` gives, a test holds them to it) instead of
    ``json()`` per row and ``group_concat`` over the texts: 1,000 objects 0.34 -> 0.31 ms. The
    aggregate's result has the array's brackets. Not for a page in stamp order, whose texts the
    stamp index holds."""
    if not options.include_deleted:
        return "o.data AS t"
    names = tombstone_names(options)
    tombstone = f"jsonb_object('deleted', json('true'), '{names[0]}', o.id, '{names[1]}', o.stamp)"
    return f"CASE WHEN o.deleted THEN {tombstone} ELSE o.data END AS t"
