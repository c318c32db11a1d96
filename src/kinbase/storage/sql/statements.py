"""The statements' vocabulary shared by both SQL engines: the :class:`Dialect` markers, the column
lists and the decoding of rows into records.

Statements are written with ``?`` placeholders and the markers ``:J:`` (a JSON parameter),
``:TEXT:`` (after a JSON column: read it as text) and ``:FOR_UPDATE:`` (lock the selected rows); a
:class:`Dialect` rewrites them for one engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from kinbase.storage.base import AppRecord, FindOptions, ParentRecord, StoredObject

__all__ = [
    "APP_COLUMNS",
    "NO_OPTIONS",
    "OBJECT_COLUMNS",
    "PARENT_COLUMNS",
    "Dialect",
    "Row",
    "app_from_row",
    "chunks",
    "loads_settings",
    "object_from_row",
    "parent_from_row",
]

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one engine spells the markers of the shared statements."""

    name: str  # "sqlite" | "postgresql"
    placeholder: str
    json_param: str
    text_cast: str
    for_update: str
    next_oid: str | None = None
    """A statement reserving the oid of an object about to be inserted, so the insert needs no
    answer (PostgreSQL: a sequence); None when ``INSERT ... RETURNING oid`` costs nothing (SQLite)."""

    def __call__(self, sql: str) -> str:
        return _translate(self, sql)


@lru_cache(maxsize=512)
def _translate(dialect: Dialect, sql: str) -> str:
    out = sql.replace(":J:", "\0J").replace("?", dialect.placeholder).replace("\0J", dialect.json_param)
    return out.replace(":TEXT:", dialect.text_cast).replace(":FOR_UPDATE:", dialect.for_update)


APP_COLUMNS = "id, app_key, name, app_secret, master_secret, settings:TEXT:, version, created"
PARENT_COLUMNS = "p.id, p.app_id, p.kind, p.name, p.stamp, p.settings:TEXT:, p.version, p.created, p.live"
OBJECT_COLUMNS = "o.oid, o.id, o.stamp, o.created, o.creator, o.deleted, o.data:TEXT:"


def loads_settings(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    result = orjson.loads(value)
    assert isinstance(result, dict)
    return result


def app_from_row(row: Row) -> AppRecord:
    return AppRecord(
        id=int(row[0]),
        key=row[1],
        name=row[2],
        app_secret=row[3],
        master_secret=row[4],
        settings=loads_settings(row[5]),
        version=int(row[6]),
        created=int(row[7]),
    )


def parent_from_row(row: Row) -> ParentRecord:
    return ParentRecord(
        id=int(row[0]),
        app_id=int(row[1]),
        kind=row[2],
        name=row[3],
        stamp=int(row[4]),
        settings=loads_settings(row[5]),
        version=int(row[6]),
        created=int(row[7]),
        live=int(row[8]),
    )


def object_from_row(row: Row) -> StoredObject:
    # Positional: this runs once per row of every read (both drivers return ints for the integer
    # columns; SQLite returns 0/1 for ``deleted``).
    return StoredObject(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6])


NO_OPTIONS = FindOptions()


def chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
