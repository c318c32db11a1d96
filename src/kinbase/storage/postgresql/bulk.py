"""PostgreSQL's bulk statements: many rows as one statement over arrays (``unnest``).

``executemany`` runs one statement per row: in pipeline mode that costs no round trip, but the
server still parses, plans and executes each row on its own (an import of 1,000 entities is
2,000+ statements). Here the rows travel as one array per column and one ``INSERT ... SELECT
FROM unnest(...)`` stores them all, the lookups by id are one ``= ANY(array)`` (one plan, whatever
the count), and the new objects' oids come back from the insert itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kinbase.storage.sql import SqlWriter

__all__ = ["PGBulkWriter"]


def _arrays(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, str, list[list[Any]]]:
    """The select list, the ``unnest`` arguments and the parameter arrays of ``rows``."""
    select: list[str] = []
    args: list[str] = []
    for i, column in enumerate(columns):
        kind = column.split()[1]
        if kind == "jsonb":
            select.append(f"u.c{i}::jsonb")
            args.append("%b::text[]")
        else:
            select.append(f"u.c{i}")
            args.append(f"%b::{kind}[]")
    arrays = [list(values) for values in zip(*rows, strict=True)]
    for i, column in enumerate(columns):
        if column.endswith(" float8"):  # one element type per array: 1 and 1.5 both as floats
            arrays[i] = [float(v) for v in arrays[i]]
    unnest = f"unnest({', '.join(args)}) AS u({', '.join(f'c{i}' for i in range(len(columns)))})"
    return ", ".join(select), unnest, arrays


class PGBulkWriter(SqlWriter):
    """The bulk statements of :class:`SqlWriter` as array statements (see the module)."""

    async def _insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, suffix: str = ""
    ) -> None:
        if not rows:
            return
        names = ", ".join(column.split()[0] for column in columns)
        select, unnest, arrays = _arrays(columns, rows)
        await self._send(
            f"INSERT INTO {table} ({names}) SELECT {select} FROM {unnest} {suffix}".rstrip(),  # nosec B608: constant table and columns; every value is bound
            arrays,
        )

    async def _rows_by_id(self, columns: str, parent_id: int, ids: Sequence[str]) -> list[Any]:
        if not ids:
            return []
        return await self._all(
            self.dialect(f"SELECT {columns} FROM objects o WHERE o.parent_id = ? AND o.id = ANY(%b::text[])"),  # nosec B608: constant columns; ids bound
            (parent_id, list(ids)),
        )

    async def _insert_objects(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[str, int]]:
        if not rows:
            return []
        columns = (
            "parent_id bigint",
            "id text",
            "stamp bigint",
            "created bigint",
            "creator text",
            "deleted boolean",
            "data jsonb",
        )
        select, unnest, arrays = _arrays(columns, rows)
        found = await self._all(
            "INSERT INTO objects (parent_id, id, stamp, created, creator, deleted, data) "  # nosec B608: constant columns; every value is bound
            f"SELECT {select} FROM {unnest} RETURNING id, oid",
            arrays,
        )
        return [(row[0], int(row[1])) for row in found]

    async def _update_objects(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        columns = (
            "stamp bigint",
            "created bigint",
            "creator text",
            "deleted boolean",
            "data jsonb",
            "oid bigint",
        )
        select, unnest, arrays = _arrays(columns, rows)
        await self._send(
            "UPDATE objects o SET stamp = v.stamp, created = v.created, creator = v.creator, "  # nosec B608: constant columns; every value is bound
            "deleted = v.deleted, data = v.data "
            f"FROM (SELECT {select} FROM {unnest}) AS v(stamp, created, creator, deleted, data, oid) "
            "WHERE o.oid = v.oid",
            arrays,
        )

    async def _delete_grants(self, oids: Sequence[int]) -> None:
        if oids:
            await self._send("DELETE FROM grants WHERE oid = ANY(%b::bigint[])", (list(oids),))
