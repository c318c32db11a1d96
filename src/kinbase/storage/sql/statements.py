"""The statements' vocabulary shared by both SQL engines: the :class:`Dialect` markers, the column
lists and the decoding of rows into records.

Statements are written with ``?`` placeholders and the markers ``:J:`` (a JSON parameter),
``:TEXT:`` (after a JSON column: read it as text) and ``:FOR_UPDATE:`` (lock the selected rows); a
:class:`Dialect` rewrites them for one engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import orjson

from kinbase.errors import InvalidQuery, InvalidRequest
from kinbase.storage.base import AppRecord, FindOptions, ParentRecord, StoredObject

__all__ = [
    "APP_COLUMNS",
    "NO_OPTIONS",
    "OBJECT_COLUMNS",
    "PARENT_COLUMNS",
    "STAMP_CONFLICT",
    "Dialect",
    "Row",
    "app_from_row",
    "check_params",
    "check_text",
    "chunks",
    "clean_text",
    "dump_document",
    "loads_settings",
    "object_from_row",
    "parent_from_row",
]

Row = tuple[Any, ...]

STAMP_CONFLICT: Final = "KB409"
"""The SQLSTATE of a failed :attr:`Dialect.put_ahead`."""


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one engine spells the markers of the shared statements."""

    name: str  # "sqlite" | "postgresql"
    placeholder: str
    json_param: str
    text_cast: str
    """Appended to a JSON column read as text (PostgreSQL: ``::text``)."""
    for_update: str
    next_oid: str | None = None
    """An expression reserving the oid of an object about to be inserted, so the insert needs no
    answer (PostgreSQL: a sequence's ``nextval``); None when ``INSERT ... RETURNING oid`` costs
    nothing (SQLite)."""
    put_ahead: str | None = None
    """The locked part of an optimistic put of a new object as one statement: it locks the
    parent, checks that its version is the one given and its stamp below the one given, saves
    the stamp and counts one more live object, or fails with SQLSTATE :data:`STAMP_CONFLICT`;
    then inserts the object and its grants. Parameters: the object's oid (NULL: taken by the
    statement, from :attr:`next_oid`, under the parent's lock), parent id, id, stamp,
    creator and data, the parent's version, and the grants' permissions and principals as two
    arrays (PostgreSQL: ``kinbase_advance_parent`` feeding the inserts). None: no optimistic puts."""

    text_function: str = ""
    """A function around a JSON column read as text (SQLite: ``json``, the text of JSONB)."""

    def __call__(self, sql: str) -> str:
        return _translate(self, sql)


_TEXT_COLUMN: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*):TEXT:")


@lru_cache(maxsize=512)
def _translate(dialect: Dialect, sql: str) -> str:
    out = sql.replace(":J:", "\0J").replace("?", dialect.placeholder).replace("\0J", dialect.json_param)
    if dialect.text_function:
        out = _TEXT_COLUMN.sub(dialect.text_function + r"(\1)", out)
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


# -- text both engines can store ------------------------------------------------------------------
#
# PostgreSQL refuses a NUL character in text (and in jsonb strings), and neither driver can send a
# lone surrogate; SQLite would store a NUL. Both engines refuse such text from a write with the
# same 400, and a read by such an id or name finds nothing on both, so a client sees the same
# answer whichever engine runs.

_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_JSON_NUL: Final = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
"""An escaped NUL in JSON text (``\\u0000`` after an even number of backslashes)."""
_BAD_TEXT: Final = "Text cannot hold the NUL character (U+0000) or a lone surrogate."


def clean_text(value: str) -> bool:
    """Whether both engines can store ``value``."""
    return "\x00" not in value and (value.isascii() or _SURROGATE.search(value) is None)


def check_text(*values: str | None) -> None:
    """Raises InvalidRequest unless every value is :func:`clean_text`."""
    for value in values:
        if value is not None and not clean_text(value):
            raise InvalidRequest(_BAD_TEXT)


def check_params(params: Sequence[Any], *, json_text: bool = False) -> None:
    """Raises InvalidQuery if a text parameter of a query cannot be compared by both engines
    (with ``json_text``, parameters may be JSON texts: an escaped NUL counts too)."""
    for value in params:
        if isinstance(value, str) and (
            not clean_text(value) or (json_text and "\\u0000" in value and _JSON_NUL.search(value))
        ):
            raise InvalidQuery(_BAD_TEXT)


def dump_document(data: Any) -> str:
    """A document as stored JSON text.

    Raises:
        InvalidRequest: for a NUL in a string, or an integer beyond 64 bits.
    """
    try:
        text = orjson.dumps(data).decode()
    except orjson.JSONEncodeError as exc:
        raise InvalidRequest(f"The document cannot be stored: {str(exc).rstrip('.')}.") from None
    if "\\u0000" in text and _JSON_NUL.search(text) is not None:
        raise InvalidRequest(_BAD_TEXT)
    return text
