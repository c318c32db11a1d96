"""PostgreSQL (15, jsonb, psycopg ``%s`` placeholders) primitives.

Values are jsonb expressions: ``o.data`` followed by ``->`` steps with bound keys (``#>`` with a
bound ``text[]`` for runs of keys that PostgreSQL cannot mistake for array positions), or the
``value`` of a ``jsonb_array_elements`` row. Operand values are bound as JSON text and cast to
jsonb, so jsonb's own equality (numbers by value, objects by content) applies. Functions that
fail on the wrong kind (``jsonb_array_elements``, ``::numeric``) only ever see guarded input.
The SQL text never contains a literal ``%``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Final

import orjson

from kinbase.query.regex import RegexProgram
from kinbase.query.sql.base import Cond, Sql, and_, fmt, or_, render
from kinbase.query.sql.comparisons import SYMBOLS, bool_kinds, int_bound, int_equal, prefix_range
from kinbase.query.sql.dialect import JsonDialect, RangeOp, Val
from kinbase.query.values import R_EMPTY, TWO_53, TWO_63
from kinbase.types import JSONValue

__all__ = ["PostgresDialect"]

_TEXT: Final = '({} #>> ARRAY[]::text[]) COLLATE "C"'
"""The text of a jsonb string (template taking the jsonb expression), ordered by code point."""

_DIGIT: Final = re.compile(r"[0-9]")

_TYPE_NAMES: Final = {
    "null": "null",
    "bool": "boolean",
    "number": "number",
    "string": "string",
    "array": "array",
    "object": "object",
}


def _big(value: object) -> bool:
    """A number that jsonb's exact decimal comparison could tell apart from an equal double."""
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= TWO_53


def _jsonb(value: JSONValue) -> Sql:
    return Sql("%s::jsonb", [orjson.dumps(value).decode()])


def _list(values: Sequence[object], cast: str = "") -> Sql:
    return Sql("(" + ", ".join("%s" + cast for _ in values) + ")", list(values))


class PostgresDialect(JsonDialect):
    placeholder = "%s"

    def root(self) -> Val:
        return Val("o.data")

    # -- addressing ------------------------------------------------------------------------

    @staticmethod
    def expr(v: Val) -> Sql:
        if v.column is not None:
            return Sql(f"to_jsonb({v.column})")
        text = v.base
        params: list[object] = []
        run: list[str] = []

        def flush(text: str) -> str:
            if len(run) >= 2:
                # No digit in these keys, so #> cannot read one of them as an array position.
                params.append(list(run))
                text = f"({text} #> %s::text[])"
            elif run:
                params.append(run[0])
                text = f"({text} -> %s::text)"
            run.clear()
            return text

        for step in v.steps:
            if isinstance(step, str) and _DIGIT.search(step) is None:
                run.append(step)
                continue
            text = flush(text)
            params.append(step)
            text = f"({text} -> %s::int)" if isinstance(step, int) else f"({text} -> %s::text)"
        return Sql(flush(text), params)

    def elements(self, v: Val, alias: str) -> tuple[Sql, Val]:
        x = self.expr(v)
        return (
            fmt("jsonb_array_elements(CASE WHEN jsonb_typeof({}) = 'array' THEN {} END) AS " + alias, x, x),
            Val(f"{alias}.value"),
        )

    def carrier(self, v: Val) -> Sql:
        return self.expr(v)

    def from_carrier(self, column: str) -> Val:
        return Val(column)

    def missing_carrier(self, v: Val) -> Sql:
        return Sql("NULL::jsonb")

    # -- kinds -------------------------------------------------------------------------------

    def kind_in(self, v: Val, kinds: frozenset[str]) -> Cond:
        if v.column is not None:
            return ("string" if v.column_kind == "string" else "number") in kinds
        x = self.expr(v)
        names = sorted({_TYPE_NAMES[k] for k in kinds if k in _TYPE_NAMES})
        if "true" in kinds and "false" in kinds and "boolean" not in names:
            names = sorted([*names, "boolean"])
        parts: list[Cond] = []
        if names:
            if len(names) == 1:
                parts.append(fmt(f"jsonb_typeof({{}}) = '{names[0]}'", x))
            else:
                parts.append(fmt("jsonb_typeof({}) IN (" + ", ".join(f"'{n}'" for n in names) + ")", x))
        if "boolean" not in names:
            for b in ("true", "false"):
                if b in kinds:
                    parts.append(fmt(f"{{}} = '{b}'::jsonb", x))
        return or_(*parts)

    def present(self, v: Val) -> Cond:
        return True if v.column is not None else fmt("{} IS NOT NULL", self.expr(v))

    def missing(self, v: Val) -> Cond:
        return False if v.column is not None else fmt("{} IS NULL", self.expr(v))

    def is_empty_array(self, v: Val) -> Cond:
        return False if v.column is not None else fmt("{} = '[]'::jsonb", self.expr(v))

    def array_length_is(self, v: Val, size: int) -> Cond:
        if v.column is not None:
            return False
        x = self.expr(v)
        return fmt(
            "CASE WHEN jsonb_typeof({}) = 'array' THEN jsonb_array_length({}) = %s ELSE FALSE END", x, x
        ) + Sql("", [size])

    # -- comparisons ----------------------------------------------------------------------------

    def eq(self, v: Val, value: JSONValue) -> Cond:
        if v.column is not None:
            if v.column_kind == "string":
                return Sql(f"{v.column} = %s", [value]) if isinstance(value, str) else False
            target = int_equal(value)
            return False if target is None else Sql(f"{v.column} = %s", [target])
        if _big(value):
            return self._float_test(v, "= %s", [float(value)])  # type: ignore[arg-type]
        return fmt("{} = {}", self.expr(v), _jsonb(value))

    def _float_test(self, v: Val, test: str, params: Sequence[object]) -> Sql:
        """``test`` on the value as a double (``{}`` stands for it), false for non-numbers."""
        x = self.expr(v)
        return fmt(
            "CASE WHEN jsonb_typeof({}) = 'number' THEN ({})::float8 " + test + " ELSE FALSE END", x, x
        ) + Sql("", list(params))

    def eq_candidate(self, v: Val, value: JSONValue) -> Cond | None:
        if v.column is not None or isinstance(value, list | dict) or _big(value):
            return None
        # jsonb containment of a scalar: the value itself, or an array with it as an element.
        return fmt("{} @> {}", self.expr(v), _jsonb(value))

    def in_values(self, v: Val, values: tuple[JSONValue, ...]) -> Cond:
        if v.column is not None:
            if v.column_kind == "string":
                wanted: list[object] = [x for x in values if isinstance(x, str)]
            else:
                wanted = [t for t in (int_equal(x) for x in values) if t is not None]
            return Sql(f"{v.column} IN ") + _list(wanted) if wanted else False
        if not values:
            return False
        big = [float(x) for x in values if _big(x)]  # type: ignore[arg-type]
        rest = [orjson.dumps(x).decode() for x in values if not _big(x)]
        exact = fmt("{} IN ", self.expr(v)) + _list(rest, "::jsonb") if rest else False
        return or_(exact, self._float_test(v, "IN " + _list(big).text, big) if big else False)

    def in_candidates(self, v: Val, values: tuple[JSONValue, ...]) -> Cond | None:
        if v.column is not None or any(isinstance(x, list | dict) or _big(x) for x in values):
            return None
        if not values:
            return False
        items = ", ".join("%s::jsonb" for _ in values)
        return fmt("{} @> ANY (ARRAY[" + items + "])", self.expr(v)) + Sql(
            "", [orjson.dumps(x).decode() for x in values]
        )

    def compare(self, v: Val, op: RangeOp, value: int | float | str | bool) -> Cond:
        if isinstance(value, bool):
            return self.kind_in(v, bool_kinds(op, value))
        if v.column is not None:
            if v.column_kind == "string":
                return Sql(f"{v.column} {SYMBOLS[op]} %s", [value]) if isinstance(value, str) else False
            if isinstance(value, str):
                return False
            bound = int_bound(op, value)
            if isinstance(bound, bool):
                return bound
            return Sql(f"{v.column} {bound[0]} %s", [bound[1]])
        x = self.expr(v)
        if isinstance(value, str):
            test = fmt("(jsonb_typeof({}) = 'string' AND " + _TEXT + " " + SYMBOLS[op] + " %s)", x, x)
            return test + Sql("", [value])
        return self._float_test(v, SYMBOLS[op] + " %s", [float(value)])

    def regex(self, v: Val, program: RegexProgram) -> Cond:
        if v.column is not None:
            if v.column_kind != "string":
                return False
            return and_(
                prefix_range(v.column, program.prefix, "%s"), Sql(f"{v.column} ~ %s", [program.postgres])
            )
        x = self.expr(v)
        return fmt("(jsonb_typeof({}) = 'string' AND " + _TEXT + " ~ %s)", x, x) + Sql("", [program.postgres])

    def number_class(self, v: Val, cls: str) -> Cond:
        in32 = "{} BETWEEN -2147483648 AND 2147483647"
        if v.column is not None:
            if v.column_kind == "string" or cls == "double":
                return False
            bounds = Sql(in32.replace("{}", v.column))
            return bounds if cls == "int" else fmt("NOT {}", bounds)
        x = self.expr(v)
        f = fmt("({})::float8", x)
        integral = fmt(
            "({} = trunc({}) AND {} >= {} AND {} < {})", f, f, f, self.param(-TWO_63), f, self.param(TWO_63)
        )
        if cls == "int":
            body = fmt("({} AND " + in32 + ")", integral, f)
        elif cls == "long":
            body = fmt("({} AND NOT " + in32 + ")", integral, f)
        else:
            body = fmt("NOT {}", integral)
        return fmt("CASE WHEN jsonb_typeof({}) = 'number' THEN {} ELSE FALSE END", x, body)

    def mod(self, v: Val, divisor: int, remainder: int) -> Cond:
        if v.column is not None:
            if v.column_kind == "string":
                return False
            return Sql(f"mod({v.column}, %s) = %s", [divisor, remainder])
        x = self.expr(v)
        f = fmt("({})::float8", x)
        # Nested CASEs: the bigint cast must only see doubles within range.
        inner = fmt(
            "CASE WHEN {} > {} AND {} < {} THEN mod(trunc({})::bigint, {}) = {} ELSE FALSE END",
            f,
            self.param(-TWO_63),
            f,
            self.param(TWO_63),
            f,
            self.param(divisor),
            self.param(remainder),
        )
        return fmt("CASE WHEN jsonb_typeof({}) = 'number' THEN {} ELSE FALSE END", x, inner)

    # -- values ------------------------------------------------------------------------------

    def float_(self, v: Val) -> Sql:
        return fmt("({})::float8", self.expr(v))

    def mongo_rank(self, v: Val) -> Sql:
        if v.column is not None:
            return Sql("3" if v.column_kind == "string" else "2")
        return fmt(
            "CASE jsonb_typeof({}) WHEN 'number' THEN 2 WHEN 'string' THEN 3 WHEN 'object' THEN 4 "
            "WHEN 'array' THEN 5 WHEN 'boolean' THEN 6 ELSE 1 END",
            self.expr(v),
        )

    def kinto_rank(self, v: Val) -> Sql:
        if v.column is not None:
            return Sql("1" if v.column_kind == "string" else "2")
        return fmt(
            "CASE jsonb_typeof({}) WHEN 'null' THEN 0 WHEN 'string' THEN 1 WHEN 'number' THEN 2 "
            "WHEN 'boolean' THEN 3 WHEN 'array' THEN 4 WHEN 'object' THEN 5 ELSE 6 END",
            self.expr(v),
        )

    def sort_number(self, v: Val) -> Sql:
        if v.column is not None:
            return Sql(f"({v.column})::float8" if v.column_kind == "integer" else "NULL::float8")
        x = self.expr(v)
        return fmt(
            "CASE jsonb_typeof({}) WHEN 'number' THEN ({})::float8 "
            "WHEN 'boolean' THEN CASE WHEN {} = 'true'::jsonb THEN 1 ELSE 0 END END",
            x,
            x,
            x,
        )

    def sort_text(self, v: Val) -> Sql:
        if v.column is not None:
            return Sql(v.column if v.column_kind == "string" else 'NULL::text COLLATE "C"')
        x = self.expr(v)
        return fmt(
            "(CASE WHEN jsonb_typeof({}) = 'string' THEN {} #>> ARRAY[]::text[] END) COLLATE \"C\"", x, x
        )

    def mongo_sort_parts(self, v: Val, element: Val, best: Callable[[Sql], Sql]) -> list[Sql]:
        x = self.expr(v)
        array_rank = fmt("coalesce({}, " + str(R_EMPTY) + ")", best(self.mongo_rank(element)))
        array_number, array_text = best(self.sort_number(element)), best(self.sort_text(element))
        return [
            fmt(
                "CASE jsonb_typeof({}) WHEN 'array' THEN {} WHEN 'number' THEN 2 WHEN 'string' THEN 3 "
                "WHEN 'object' THEN 4 WHEN 'boolean' THEN 6 ELSE 1 END",
                x,
                array_rank,
            ),
            fmt(
                "CASE jsonb_typeof({}) WHEN 'array' THEN {} WHEN 'number' THEN ({})::float8 "
                "WHEN 'boolean' THEN CASE WHEN {} = 'true'::jsonb THEN 1 ELSE 0 END END",
                x,
                array_number,
                x,
                x,
            ),
            fmt(
                "CASE jsonb_typeof({}) WHEN 'array' THEN {} WHEN 'string' THEN {} #>> ARRAY[]::text[] END",
                x,
                array_text,
                x,
            ),
        ]

    def modulo(self, a: Sql, b: Sql) -> Sql:
        return fmt("mod({}, {})", a, b)

    def bool_int(self, c: Cond) -> Sql:
        if isinstance(c, bool):
            return Sql("1" if c else "0")
        return fmt("CASE WHEN {} THEN 1 ELSE 0 END", render(c))
