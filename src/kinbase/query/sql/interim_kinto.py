"""INTERIM: a minimal compiler for the Kinto nodes, used until the query engine's compiler lands
on main (it replaces this module and the two lines of ``compile_find`` that call it).

Covers And/Or/Not/Const, KintoCompare, KintoLike, KintoHas, KintoContains and Kinto-collation
sorts, with Kinto's cross-type order (null < string < number < boolean < array < object <
missing). Values and JSON paths are bound parameters.
"""

from __future__ import annotations

from typing import Any

import orjson

from kinbase.query.ast import (
    And,
    Const,
    KintoCompare,
    KintoContains,
    KintoHas,
    KintoLike,
    Node,
    Not,
    Or,
    Query,
)
from kinbase.types import JSONValue, Path

__all__ = ["compile_kinto"]


class _Compiler:
    def __init__(self, dialect: str, id_path: Path | None, stamp_path: Path | None) -> None:
        self.dialect = dialect
        self.ph = "?" if dialect == "sqlite" else "%s"
        self.id_path = id_path
        self.stamp_path = stamp_path
        self.params: list[Any] = []

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return self.ph

    # -- JSON access --------------------------------------------------------------------------
    def jpath(self, path: Path) -> str:
        if self.dialect == "sqlite":
            return self.bind("$" + "".join(f'."{p}"' for p in path))
        return self.bind(list(path))

    def jtype(self, path: Path) -> str:
        if self.dialect == "sqlite":
            return f"json_type(o.data, {self.jpath(path)})"
        return f"jsonb_typeof(o.data #> {self.jpath(path)}::text[])"

    def rank(self, path: Path) -> str:
        if self.dialect == "sqlite":
            return (
                f"(CASE json_type(o.data, {self.jpath(path)}) WHEN 'null' THEN 0 WHEN 'text' THEN 1 "
                "WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'true' THEN 3 WHEN 'false' THEN 3 "
                "WHEN 'array' THEN 4 WHEN 'object' THEN 5 ELSE 7 END)"
            )
        return (
            f"(CASE jsonb_typeof(o.data #> {self.jpath(path)}::text[]) WHEN 'null' THEN 0 "
            "WHEN 'string' THEN 1 WHEN 'number' THEN 2 WHEN 'boolean' THEN 3 WHEN 'array' THEN 4 "
            "WHEN 'object' THEN 5 ELSE 7 END)"
        )

    @staticmethod
    def value_rank(value: JSONValue) -> int:
        if value is None:
            return 0
        if isinstance(value, bool):
            return 3
        if isinstance(value, str):
            return 1
        if isinstance(value, int | float):
            return 2
        return 4 if isinstance(value, list) else 5

    def scalar(self, path: Path, value: JSONValue) -> str:
        """The field's value as SQL, comparable with ``value`` of the same type."""
        if self.dialect == "sqlite":
            return f"json_extract(o.data, {self.jpath(path)})"
        text = f"(o.data #>> {self.jpath(path)}::text[])"
        if isinstance(value, bool):
            return f"{text}::boolean"
        if isinstance(value, int | float):
            return f"{text}::numeric"
        if isinstance(value, str):
            return f'{text} COLLATE "C"'
        return f"(o.data #> {self.jpath(path)}::text[])"

    def literal(self, value: JSONValue) -> str:
        if self.dialect == "sqlite":
            if isinstance(value, bool):
                return self.bind(1 if value else 0)
            if isinstance(value, list | dict):
                return f"json({self.bind(orjson.dumps(value).decode())})"
            return self.bind(value)
        if isinstance(value, bool | int | float | str):
            return self.bind(value)
        return f"{self.bind(orjson.dumps(value).decode())}::jsonb"

    # -- nodes --------------------------------------------------------------------------------
    def column(self, path: Path) -> str | None:
        if path == self.id_path:
            return "o.id"
        if path == self.stamp_path:
            return "o.stamp"
        return None

    def equal(self, path: Path, value: JSONValue) -> str:
        column = self.column(path)
        if column is not None:
            return f"{column} = {self.bind(value)}"
        if value is None:
            return f"({self.jtype(path)} = 'null')"
        if self.dialect == "postgresql":
            return (
                f"(o.data #> {self.jpath(path)}::text[] = {self.bind(orjson.dumps(value).decode())}::jsonb)"
            )
        rank = self.value_rank(value)
        types = {
            1: "('text')",
            2: "('integer','real')",
            3: "('true','false')",
            4: "('array')",
            5: "('object')",
        }
        if rank >= 4:
            return (
                f"({self.jtype(path)} IN {types[rank]} AND "
                f"json_extract(o.data, {self.jpath(path)}) = {self.literal(value)})"
            )
        return f"({self.jtype(path)} IN {types[rank]} AND {self.scalar(path, value)} = {self.literal(value)})"

    def order(self, path: Path, op: str, value: JSONValue) -> str:
        sql_op = {"lt": "<", "gt": ">", "min": ">=", "max": "<="}[op]
        column = self.column(path)
        if column is not None:
            return f"{column} {sql_op} {self.bind(value)}"
        rank = self.value_rank(value)
        strict = "<" if op in ("lt", "max") else ">"
        first, second = self.rank(path), self.rank(path)
        if rank >= 4:
            same = "1 = 1" if op in ("min", "max") else "1 = 0"
        else:
            same = f"{self.scalar(path, value)} {sql_op} {self.literal(value)}"
        return f"({first} {strict} {rank} OR ({second} = {rank} AND {same}))"

    def node(self, node: Node) -> str:
        if isinstance(node, Const):
            return "1 = 1" if node.value else "1 = 0"
        if isinstance(node, And):
            return "(" + " AND ".join(self.node(c) for c in node.children) + ")" if node.children else "1 = 1"
        if isinstance(node, Or):
            return "(" + " OR ".join(self.node(c) for c in node.children) + ")" if node.children else "1 = 0"
        if isinstance(node, Not):
            return f"NOT COALESCE({self.node(node.child)}, FALSE)"
        if isinstance(node, KintoHas):
            column = self.column(node.path)
            if column is not None:
                return "1 = 1" if node.present else "1 = 0"
            test = f"{self.jtype(node.path)} IS NOT NULL"
            return test if node.present else f"NOT ({test})"
        if isinstance(node, KintoCompare):
            if node.op == "eq":
                return f"COALESCE({self.equal(node.path, node.value)}, FALSE)"
            if node.op == "not":
                return f"NOT COALESCE({self.equal(node.path, node.value)}, FALSE)"
            if node.op in ("in", "exclude"):
                values = node.value if isinstance(node.value, list) else [node.value]
                branches = (
                    " OR ".join(f"COALESCE({self.equal(node.path, v)}, FALSE)" for v in values) or "1 = 0"
                )
                return f"({branches})" if node.op == "in" else f"NOT ({branches})"
            return f"COALESCE({self.order(node.path, node.op, node.value)}, FALSE)"
        if isinstance(node, KintoLike):
            pattern = node.pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = pattern.replace("*", "%") if "*" in pattern else f"%{pattern}%"
            if self.dialect == "sqlite":
                return (
                    f"({self.jtype(node.path)} = 'text' AND json_extract(o.data, {self.jpath(node.path)}) "
                    f"LIKE {self.bind(pattern)} ESCAPE '\\')"
                )
            return (
                f"({self.jtype(node.path)} = 'string' AND (o.data #>> {self.jpath(node.path)}::text[]) "
                f"ILIKE {self.bind(pattern)} ESCAPE '\\')"
            )
        if isinstance(node, KintoContains):
            is_array = f"{self.jtype(node.path)} = 'array'"
            if self.dialect == "postgresql":
                if node.any_:
                    parts = [
                        f"(o.data #> {self.jpath(node.path)}::text[] @> "
                        f"{self.bind(orjson.dumps([v]).decode())}::jsonb)"
                        for v in node.values
                    ]
                    inner = " OR ".join(parts) or "1 = 0"
                else:
                    encoded = orjson.dumps(list(node.values)).decode()
                    inner = f"o.data #> {self.jpath(node.path)}::text[] @> {self.bind(encoded)}::jsonb"
                return f"({is_array} AND ({inner}))"
            parts = [
                f"EXISTS (SELECT 1 FROM json_each(o.data, {self.jpath(node.path)}) j "
                f"WHERE j.value = {self.literal(v)})"
                for v in node.values
            ]
            joiner = " OR " if node.any_ else " AND "
            inner = joiner.join(parts) or ("1 = 0" if node.any_ else "1 = 1")
            return f"({is_array} AND ({inner}))"
        raise NotImplementedError(f"the interim compiler does not handle {type(node).__name__}")

    def sort_key(self, path: Path, descending: bool) -> str:
        direction = "DESC" if descending else "ASC"
        column = self.column(path)
        if column is not None:
            return f"{column} {direction}"
        rank = self.rank(path)
        if self.dialect == "sqlite":
            value = f"json_extract(o.data, {self.jpath(path)})"
        else:
            value = f"(o.data #> {self.jpath(path)}::text[])"
        return f"{rank} {direction}, {value} {direction}"


def compile_kinto(
    query: Query,
    dialect: str,
    id_path: Path | None,
    stamp_path: Path | None,
    select: str,
    where: str,
    where_params: list[Any],
    count: bool,
) -> tuple[str, list[Any]]:
    """The statement and its parameters."""
    c = _Compiler(dialect, id_path, stamp_path)
    c.params = list(where_params)
    text = where
    if query.filter is not None:
        text += " AND " + c.node(query.filter)
    if count:
        return f"SELECT count(*) FROM objects o WHERE {text}", c.params
    order = ", ".join(c.sort_key(k.path, k.descending) for k in query.sort) or "o.oid"
    if not any(k.path == stamp_path for k in query.sort):
        order += ", o.oid"
    sql = f"SELECT {select} FROM objects o WHERE {text} ORDER BY {order}"
    if query.limit is not None or query.skip:
        sql += f" LIMIT {c.ph} OFFSET {c.ph}"
        c.params += [
            query.limit if query.limit is not None else (-1 if dialect == "sqlite" else None),
            query.skip,
        ]
    return sql, c.params
