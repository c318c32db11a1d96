"""SQLite primitives (the server's SQLite is 3.51, documents stored as JSONB: see
``kinbase.storage.sqlite.driver``; the same statements read JSON text documents).

Every value is addressed from the row's document ``o.data`` by a path *string* that is bound as a
parameter (``$."a"."b"[2]``) or computed at run time from an array row (``e1.fullkey || ?``): a
JSONB document is walked, never parsed (a JSON text is parsed once per statement, SQLite's JSON
parse cache), and an element's text is never re-parsed as JSON.

Functions registered by :func:`register_sqlite_functions`: ``kb_regexp(pattern, flags, value)``
(an RE2 search with the program of :mod:`kinbase.query.regex`, linear time), ``kb_json_eq(a, b)``
(JSON equality of two JSON texts) and ``kb_number(text)`` (the double of a JSON number's text).

SQLite's conversion of a number's text to a double (``sqlite3AtoF``, for ``json_extract`` as for
``CAST``) is exact for magnitudes between about 1e-83 and 1e117, and beyond them up to a few units
in the last place off, and not monotonic: ``1e-300`` and the double just below it read back as
each other. A number compared to a literal outside :data:`PLAIN_MIN` .. :data:`PLAIN_MAX` is
therefore read by Python (``kb_number``) when SQLite's reading falls within :data:`BAND_ULPS` of
the literal (:meth:`SqliteDialect.number_test`).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from typing import Final

import orjson

from kinbase.query.regex import RegexProgram, matcher
from kinbase.query.sql.base import Cond, Sql, and_, fmt, or_, render
from kinbase.query.sql.comparisons import SYMBOLS, bool_kinds, int_bound, int_equal, prefix_range
from kinbase.query.sql.dialect import JsonDialect, RangeOp, Val
from kinbase.query.sql.quick import quick_refuse
from kinbase.query.values import TWO_53, json_equal
from kinbase.types import JSONValue

__all__ = ["SqliteDialect", "register_sqlite_functions"]

_NUMBER: Final = frozenset({"number"})
PLAIN_MIN: Final = 1e-75
PLAIN_MAX: Final = 1e75
"""A number literal of magnitude within these bounds (or zero) is compared as SQLite reads the
stored numbers: every double within :data:`BAND_ULPS` of it is in the range SQLite reads exactly
(its conversion multiplies by 1e100 or 1e-100, the steps that round, only below about 1e-83 and
above 1e117; 0 misread in 16 million random doubles from 1e-80 to 1e109)."""
BAND_ULPS: Final = 16
"""How far, in units in the last place, SQLite may read a number from its double: at most 4 were
measured (16 million random doubles below 1e-217, as many above 1e204: the conversion rounds at
each of its at most 3 multiplications by 1e100 or 1e-100), and the band takes four times that."""
_SORT_NULL: Final = "-9e999"
"""The sort key of null and of a missing value: -Infinity, below every stored (finite) number."""
_TYPE_NAMES: Final = {
    "null": ("null",),
    "bool": ("true", "false"),
    "true": ("true",),
    "false": ("false",),
    "number": ("integer", "real"),
    "string": ("text",),
    "array": ("array",),
    "object": ("object",),
}


def _in_list(values: list[object]) -> Sql:
    return Sql("(" + ", ".join("?" for _ in values) + ")", list(values))


def plain_number(value: float) -> bool:
    """Whether SQLite's reading of a stored number compares to ``value`` as the number itself does
    (see :data:`PLAIN_MIN`)."""
    return value == 0 or PLAIN_MIN <= abs(value) <= PLAIN_MAX


def band(value: float) -> tuple[float, float]:
    """The doubles :data:`BAND_ULPS` units in the last place below and above ``value`` (infinite
    past the largest double)."""
    low = high = value
    for _ in range(BAND_ULPS):
        low, high = math.nextafter(low, -math.inf), math.nextafter(high, math.inf)
    return low, high


class SqliteDialect(JsonDialect):
    placeholder = "?"

    def root(self) -> Val:
        return Val("")

    # -- addressing ------------------------------------------------------------------------

    @staticmethod
    def path(v: Val) -> Sql:
        suffix = "".join(f'."{s}"' if isinstance(s, str) else f"[{s}]" for s in v.steps)
        if not v.base:
            return Sql("?", ["$" + suffix])
        if not suffix:
            return Sql(v.base)
        return Sql(f"{v.base} || ?", [suffix])

    def type_(self, v: Val) -> Sql:
        if v.alias is not None:
            return Sql(f"{v.alias}.type")
        return fmt("json_type(o.data, {})", self.path(v))

    def value(self, v: Val) -> Sql:
        if v.column is not None:
            return Sql(v.column)
        if v.alias is not None:
            return Sql(f"{v.alias}.value")
        return fmt("json_extract(o.data, {})", self.path(v))

    def elements(self, v: Val, alias: str) -> tuple[Sql, Val]:
        return fmt("json_each(o.data, {}) AS " + alias, self.path(v)), Val(f"{alias}.fullkey", alias=alias)

    def carrier(self, v: Val) -> Sql:
        return self.path(v)

    def from_carrier(self, column: str) -> Val:
        return Val(column)

    def missing_carrier(self, v: Val) -> Sql:
        return self.path(v.step(0))

    # -- kinds -------------------------------------------------------------------------------

    def kind_in(self, v: Val, kinds: frozenset[str]) -> Cond:
        if v.column is not None:
            return ("string" if v.column_kind == "string" else "number") in kinds
        names = sorted({n for k in kinds for n in _TYPE_NAMES[k]})
        if not names:
            return False
        if len(names) == 1:
            return fmt(f"{{}} = '{names[0]}'", self.type_(v))
        return fmt("{} IN (" + ", ".join(f"'{n}'" for n in names) + ")", self.type_(v))

    def present(self, v: Val) -> Cond:
        return True if v.column is not None else fmt("{} IS NOT NULL", self.type_(v))

    def missing(self, v: Val) -> Cond:
        return False if v.column is not None else fmt("{} IS NULL", self.type_(v))

    def is_empty_array(self, v: Val) -> Cond:
        if v.column is not None:
            return False
        return fmt("({} = 'array' AND json_array_length(o.data, {}) = 0)", self.type_(v), self.path(v))

    def array_length_is(self, v: Val, size: int) -> Cond:
        if v.column is not None:
            return False
        return fmt("({} = 'array' AND json_array_length(o.data, {}) = ?)", self.type_(v), self.path(v)) + Sql(
            "", [size]
        )

    # -- comparisons ----------------------------------------------------------------------------

    def eq(self, v: Val, value: JSONValue) -> Cond:
        if v.column is not None:
            if v.column_kind == "string":
                return Sql(f"{v.column} = ?", [value]) if isinstance(value, str) else False
            target = int_equal(value)
            return False if target is None else Sql(f"{v.column} = ?", [target])
        if value is None or isinstance(value, bool):
            return self.kind_in(v, frozenset({"null" if value is None else ("true" if value else "false")}))
        if isinstance(value, int | float):
            if not plain_number(float(value)):
                return self.number_test(v, "=", float(value))
            if abs(value) >= TWO_53:
                return and_(
                    self.kind_in(v, _NUMBER), fmt("{} + 0.0 = ?", self.value(v)) + Sql("", [float(value)])
                )
            # Exact comparison agrees with double comparison below 2**53; only true/false (1/0)
            # can be mistaken for a number.
            if value in (0, 1):
                return and_(fmt("{} = ?", self.value(v)) + Sql("", [value]), self.kind_in(v, _NUMBER))
            return fmt("{} = ?", self.value(v)) + Sql("", [value])
        if isinstance(value, str):
            test = fmt("{} = ?", self.value(v)) + Sql("", [value])
            return and_(self.kind_in(v, frozenset({"string"})), test) if value[:1] in ("{", "[") else test
        kind = "array" if isinstance(value, list) else "object"
        return and_(
            self.kind_in(v, frozenset({kind})),
            fmt("kb_json_eq({}, ?)", self.value(v)) + Sql("", [orjson.dumps(value).decode()]),
        )

    def eq_candidate(self, v: Val, value: JSONValue) -> Cond | None:
        return self.in_candidates(v, (value,)) if isinstance(value, str) else None

    def in_candidates(self, v: Val, values: tuple[JSONValue, ...]) -> Cond | None:
        """Strings only: ``v`` is one of them, or an array with one as an element, reading the
        document once unless ``v`` is an object or an array. ``jsonb_extract`` gives a string
        as its text and an object or an array as a JSONB blob, which ``min(x, X'')`` turns into
        ``X''``; the CASE's base is evaluated once (the generic test reads the value, then its
        type for every row that is not equal: two reads for most rows of a filter). 10,000 rows,
        a quarter equal: 2.86 -> 2.55 ms for the statement (3.92 -> 3.50 ms on a connection
        without lookaside memory left, where each JSON call and ``min``'s copy of the text
        mallocs)."""
        if v.column is not None or v.alias is not None or not values:
            return None
        if not all(isinstance(x, str) for x in values):
            return None
        strings: list[object] = list(values)
        p = self.path(v)
        return (
            fmt("CASE min(jsonb_extract(o.data, {}), X'')", p)
            + Sql(" WHEN ? THEN 1" * len(strings), strings)
            + fmt(
                " WHEN X'' THEN (json_type(o.data, {}) = 'array' AND EXISTS (SELECT 1 FROM "
                "json_each(o.data, {}) AS kq WHERE kq.type = 'text' AND kq.value IN ",
                p,
                p,
            )
            + _in_list(strings)
            + Sql(")) ELSE 0 END")
        )

    def in_values(self, v: Val, values: tuple[JSONValue, ...]) -> Cond:
        if v.column is not None:
            if v.column_kind == "string":
                wanted: list[object] = [x for x in values if isinstance(x, str)]
            else:
                wanted = [t for t in (int_equal(x) for x in values) if t is not None]
            if not wanted:
                return False
            return Sql(v.column + " IN ") + _in_list(wanted)
        plain: list[object] = []
        big: list[object] = []
        zero_one: list[object] = []
        braced: list[object] = []
        parts: list[Cond] = []
        kinds: set[str] = set()
        for x in values:
            if x is None:
                kinds.add("null")
            elif isinstance(x, bool):
                kinds.add("true" if x else "false")
            elif isinstance(x, int | float):
                if not plain_number(float(x)):
                    parts.append(self.number_test(v, "=", float(x)))
                elif abs(x) >= TWO_53:
                    big.append(float(x))
                else:
                    (zero_one if x in (0, 1) else plain).append(x)
            elif isinstance(x, str):
                (braced if x[:1] in ("{", "[") else plain).append(x)
            else:
                parts.append(self.eq(v, x))
        if kinds:
            parts.append(self.kind_in(v, frozenset(kinds)))
        if plain:
            parts.append(fmt("{} IN ", self.value(v)) + _in_list(plain))
        if big:
            parts.append(and_(self.kind_in(v, _NUMBER), fmt("{} + 0.0 IN ", self.value(v)) + _in_list(big)))
        if zero_one:
            parts.append(
                and_(
                    fmt("{} IN ", self.value(v)) + _in_list(zero_one), self.kind_in(v, frozenset({"number"}))
                )
            )
        if braced:
            parts.append(
                and_(self.kind_in(v, frozenset({"string"})), fmt("{} IN ", self.value(v)) + _in_list(braced))
            )
        return or_(*parts)

    def compare(self, v: Val, op: RangeOp, value: int | float | str | bool) -> Cond:
        if isinstance(value, bool):
            return self.kind_in(v, bool_kinds(op, value))
        if v.column is not None:
            if v.column_kind == "string":
                return Sql(f"{v.column} {SYMBOLS[op]} ?", [value]) if isinstance(value, str) else False
            if isinstance(value, str):
                return False
            bound = int_bound(op, value)
            if isinstance(bound, bool):
                return bound
            return Sql(f"{v.column} {bound[0]} ?", [bound[1]])
        if isinstance(value, str):
            test = fmt("{} " + SYMBOLS[op] + " ?", self.value(v)) + Sql("", [value])
            return and_(self.kind_in(v, frozenset({"string"})), test)
        if not plain_number(float(value)):
            test = self.number_test(v, SYMBOLS[op], float(value))
        elif abs(value) >= TWO_53:
            test = fmt("{} + 0.0 " + SYMBOLS[op] + " ?", self.value(v)) + Sql("", [float(value)])
        else:
            test = fmt("{} " + SYMBOLS[op] + " ?", self.value(v)) + Sql("", [value])
        return and_(self.kind_in(v, _NUMBER), test)

    def number_test(self, v: Val, sym: str, value: float) -> Sql:
        """``v`` (a JSON value, not a column) compares ``sym`` (``=``, ``<``, ``<=``, ``>``,
        ``>=``) to ``value``, a literal outside the plain range (:func:`plain_number`), as the
        doubles do: SQLite's reading of ``v`` decides beyond :func:`band`, Python's reading of its
        text (``kb_number``, NULL for what is not a number) within it, so only the rows SQLite
        reads within a few units of ``value`` cost a call into Python. ``v`` is read once: a
        reading clamped to an end of the band is that far from ``value``, on that side of it."""
        x = self.value(v)
        low, high = band(value)
        exact = Sql("kb_number(o.data -> (") + self.path(v) + Sql(f")) {sym} ?", [value])
        if sym == "=":
            return Sql("(") + x + Sql(" BETWEEN ? AND ? AND ", [low, high]) + exact + Sql(")")
        below, above = ("0", "1") if sym in (">", ">=") else ("1", "0")
        clamped = Sql("max(min(") + x + Sql(", ?), ?)", [high, low])
        ends = Sql(f" WHEN ? THEN {below} WHEN ? THEN {above} ELSE ", [low, high])
        return Sql("CASE ") + clamped + ends + exact + Sql(" END")

    def regex(self, v: Val, program: RegexProgram) -> Cond:
        test = fmt("kb_regexp(?, 0, {})", self.value(v))
        test.params[:0] = [program.re2]
        if v.column is not None:
            if v.column_kind != "string":
                return False
            return and_(prefix_range(v.column, program.prefix, "?"), test)
        return and_(self.kind_in(v, frozenset({"string"})), test)

    def number_class(self, v: Val, cls: str) -> Cond:
        in32 = "{} BETWEEN -2147483648 AND 2147483647"
        if v.column is not None:
            if v.column_kind == "string" or cls == "double":
                return False
            bounds = Sql(in32.replace("{}", v.column))
            return bounds if cls == "int" else fmt("NOT {}", bounds)
        x = fmt("({} + 0.0)", self.value(v))
        integral = fmt("{} = CAST({} AS INTEGER)", x, x)
        if cls == "int":
            test: Cond = and_(integral, fmt(in32, x))
        elif cls == "long":
            test = and_(integral, fmt("NOT " + in32, x))
        else:
            test = fmt("{} <> CAST({} AS INTEGER)", x, x)
        return and_(self.kind_in(v, frozenset({"number"})), test)

    def mod(self, v: Val, divisor: int, remainder: int) -> Cond:
        if v.column is not None:
            if v.column_kind == "string":
                return False
            return Sql(f"{v.column} % ? = ?", [divisor, remainder])
        x = fmt("({} + 0.0)", self.value(v))
        return and_(
            self.kind_in(v, frozenset({"number"})),
            fmt(
                "({} > -9223372036854775808.0 AND {} < 9223372036854775808.0"
                " AND CAST({} AS INTEGER) % ? = ?)",
                x,
                x,
                x,
            )
            + Sql("", [divisor, remainder]),
        )

    # -- values ------------------------------------------------------------------------------

    def float_(self, v: Val) -> Sql:
        return self.value(v)

    def mongo_rank(self, v: Val) -> Sql:
        if v.column is not None:
            return Sql("3" if v.column_kind == "string" else "2")
        return fmt(
            "CASE {} WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'text' THEN 3 WHEN 'object' THEN 4 "
            "WHEN 'array' THEN 5 WHEN 'true' THEN 6 WHEN 'false' THEN 6 ELSE 1 END",
            self.type_(v),
        )

    def kinto_rank(self, v: Val) -> Sql:
        if v.column is not None:
            return Sql("1" if v.column_kind == "string" else "2")
        return fmt(
            "CASE {} WHEN 'null' THEN 0 WHEN 'text' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 "
            "WHEN 'true' THEN 3 WHEN 'false' THEN 3 WHEN 'array' THEN 4 WHEN 'object' THEN 5 ELSE 6 END",
            self.type_(v),
        )

    def sort_number(self, v: Val) -> Sql:
        if v.column is not None:
            return Sql(v.column if v.column_kind == "integer" else "NULL")
        return fmt(
            "CASE WHEN {} IN ('integer', 'real', 'true', 'false') THEN {} + 0.0 END",
            self.type_(v),
            self.value(v),
        )

    def sort_text(self, v: Val) -> Sql:
        if v.column is not None:
            return Sql(v.column if v.column_kind == "string" else "NULL")
        return fmt("CASE WHEN {} = 'text' THEN {} END", self.type_(v), self.value(v))

    def mongo_sort_parts(self, v: Val, element: Val, best: Callable[[Sql], Sql]) -> list[Sql]:
        # One part, a key whose SQLite order (NULL < numbers < TEXT < BLOB) is MongoDB's: an empty
        # array NULL (rank 0), null or missing -Infinity (rank 1: a stored number is finite, orjson
        # refuses the others), a number or a boolean's rank 6 as a REAL or BLOB, a string as TEXT,
        # an object X'04', an array element that is an array X'05', false X'0600', true X'0601'.
        # A scan evaluates every ORDER BY part of every row: one part tests the type once and
        # reads the value once (two JSON calls on one cached parse) where (rank, value) parts
        # cost three, and it is still, for a string, equal to its text (``sort_tiebreak``).
        t, x = self.type_(v), self.value(v)
        return [
            fmt(
                "CASE {} WHEN 'array' THEN {} WHEN 'integer' THEN {} + 0.0 WHEN 'real' THEN {} + 0.0 "
                "WHEN 'text' THEN {} WHEN 'object' THEN X'04' WHEN 'true' THEN X'0601' "
                "WHEN 'false' THEN X'0600' ELSE " + _SORT_NULL + " END",
                t,
                best(self._element_sort_key(element)),
                x,
                x,
                x,
            )
        ]

    def quick_sort_key(self, v: Val, exact: Sql) -> Sql:
        """A sort key of the top-level field ``v`` (``exact`` its :meth:`mongo_sort_parts` key)
        that reads the document once for most values, where ``exact`` reads it twice.

        ``jsonb_extract`` gives the value itself for a string or a number, NULL for null or a
        missing field, a JSONB blob for an object or an array, and 1 or 0 for true and false:
        ``min(x, X'')`` turns every blob into ``X''`` (the least blob, above every number and
        text), and ``nullif`` sends that, 0 and 1 to ``exact``. Each other value is its key as
        it is, except that ``exact`` compares a number as a double (``+ 0.0``) where this key
        keeps an integer's exact value: the two orders differ only between numbers that are
        equal as doubles, which needs a magnitude of 2**53 or more (see
        :mod:`kinbase.query.sql.quick`)."""
        assert not v.base and len(v.steps) == 1, "a top-level field of the document"
        return fmt(
            "coalesce(nullif(nullif(nullif(ifnull(min(jsonb_extract(o.data, {}), X''), "
            + _SORT_NULL
            + "), X''), 0), 1), {})",
            self.path(v),
            exact,
        )

    def _element_sort_key(self, e: Val) -> Sql:
        """The sort key of :meth:`mongo_sort_parts` of an array element (never NULL)."""
        x = self.value(e)
        return fmt(
            "CASE {} WHEN 'integer' THEN {} + 0.0 WHEN 'real' THEN {} + 0.0 WHEN 'text' THEN {} "
            "WHEN 'object' THEN X'04' WHEN 'array' THEN X'05' WHEN 'true' THEN X'0601' "
            "WHEN 'false' THEN X'0600' ELSE " + _SORT_NULL + " END",
            self.type_(e),
            x,
            x,
            x,
        )

    def modulo(self, a: Sql, b: Sql) -> Sql:
        return fmt("({} % {})", a, b)

    def bool_int(self, c: Cond) -> Sql:
        if isinstance(c, bool):
            return Sql("1" if c else "0")
        return fmt("CASE WHEN {} THEN 1 ELSE 0 END", render(c))


def register_sqlite_functions(conn: sqlite3.Connection) -> None:
    """Register ``kb_regexp``, ``kb_json_eq`` and ``kb_number`` on ``conn`` (deterministic, so
    SQLite may use them anywhere), and ``kb_quick_refuse()`` (:mod:`kinbase.query.sql.quick`).
    ``kb_regexp(pattern, 0, value)`` matches with RE2 (linear time; the middle argument is kept
    for the statement's shape); compiled patterns are cached. ``kb_number(text)`` is the double
    of a JSON number's text, NULL for any other text."""

    def kb_regexp(pattern: str, flags: int, value: object) -> int | None:
        if not isinstance(value, str):
            return None
        return 1 if matcher(pattern)(value) else 0

    def kb_json_eq(a: object, b: object) -> int | None:
        if not isinstance(a, str) or not isinstance(b, str):
            return None
        try:
            return 1 if json_equal(orjson.loads(a), orjson.loads(b)) else 0
        except orjson.JSONDecodeError:
            return 0

    def kb_number(text: object) -> float | None:
        if not isinstance(text, str):
            return None
        try:
            return float(text)  # correctly rounded, as the evaluator reads the document
        except ValueError:  # a JSON text that is not a number
            return None

    functions: list[tuple[str, int, Callable[..., float | int | None]]] = [
        ("kb_regexp", 3, kb_regexp),
        ("kb_json_eq", 2, kb_json_eq),
        ("kb_number", 1, kb_number),
    ]
    for name, nargs, fn in functions:
        conn.create_function(name, nargs, fn, deterministic=True)
    # Not deterministic: it marks the thread (quick_sort_refused), and must run where it is written.
    conn.create_function("kb_quick_refuse", 0, quick_refuse)
