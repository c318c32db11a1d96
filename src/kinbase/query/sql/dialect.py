"""The interface between the dialect-neutral compiler and one SQL dialect.

A :class:`Val` designates a JSON value of the current row: a place in ``o.data`` (possibly reached
through array rows of ``json_each``/``jsonb_array_elements``), or a system column. It may turn out
to be MISSING at run time. The dialect turns ``Val`` s into SQL for the few primitive tests the
compiler combines.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from kinbase.query.regex import RegexProgram
from kinbase.query.sql.base import Cond, Sql, fmt, or_, render
from kinbase.types import JSONValue

__all__ = ["ColumnKind", "JsonDialect", "RangeOp", "Val"]

ColumnKind: TypeAlias = Literal["string", "integer"]
RangeOp: TypeAlias = Literal["gt", "gte", "lt", "lte"]

KINDS = frozenset({"null", "bool", "true", "false", "number", "string", "array", "object"})


@dataclass(frozen=True, slots=True)
class Val:
    """A JSON value of the current row.

    Attributes:
        base: the SQL the value is reached from (SQLite: a path-text expression, ``""`` for the
            document root; PostgreSQL: a jsonb expression).
        steps: keys (``str``) and array positions (``int``) applied after ``base``.
        alias: when the value *is* an array row (``json_each``/``jsonb_array_elements`` alias).
        column: a system column standing for the value (never MISSING, never an array).
        column_kind: the JSON kind of ``column``.
    """

    base: str
    steps: tuple[str | int, ...] = ()
    alias: str | None = None
    column: str | None = None
    column_kind: ColumnKind = "string"

    def step(self, key: str | int) -> Val:
        return Val(self.base, (*self.steps, key), None, self.column, self.column_kind)


class JsonDialect(ABC):
    """SQL for the primitive tests on :class:`Val` s."""

    placeholder: str

    # -- reaching values -----------------------------------------------------------------------

    @abstractmethod
    def root(self) -> Val:
        """The document itself (always an object)."""

    def column(self, column: str, kind: ColumnKind) -> Val:
        return Val("", column=column, column_kind=kind)

    def child(self, v: Val, key: str) -> Val:
        """``v[key]``: MISSING unless ``v`` is an object with that key."""
        assert v.column is None, "system columns have no children"
        return v.step(key)

    def index(self, v: Val, position: int) -> Val:
        """``v[position]``: MISSING unless ``v`` is an array that long."""
        assert v.column is None, "system columns have no elements"
        return v.step(position)

    @abstractmethod
    def elements(self, v: Val, alias: str) -> tuple[Sql, Val]:
        """A FROM item named ``alias`` iterating the elements of ``v`` and the Val of one element.

        Only meaningful when ``v`` is an array: callers guard it with ``is_array``."""

    @abstractmethod
    def carrier(self, v: Val) -> Sql:
        """An SQL expression that stores ``v`` in a CTE column (see :meth:`from_carrier`)."""

    @abstractmethod
    def from_carrier(self, column: str) -> Val:
        """The value stored by :meth:`carrier` in ``column``."""

    @abstractmethod
    def missing_carrier(self, v: Val) -> Sql:
        """A carrier for a MISSING value (derived from ``v``, an empty array)."""

    # -- kinds ---------------------------------------------------------------------------------

    @abstractmethod
    def kind_in(self, v: Val, kinds: frozenset[str]) -> Cond:
        """``v`` is present and of one of ``kinds`` (null, bool, true, false, number, string, array,
        object)."""

    def is_array(self, v: Val) -> Cond:
        return self.kind_in(v, frozenset({"array"}))

    @abstractmethod
    def present(self, v: Val) -> Cond:
        """``v`` is not MISSING (never NULL)."""

    @abstractmethod
    def missing(self, v: Val) -> Cond:
        """``v`` is MISSING (never NULL)."""

    @abstractmethod
    def is_empty_array(self, v: Val) -> Cond: ...

    @abstractmethod
    def array_length_is(self, v: Val, size: int) -> Cond: ...

    # -- comparisons ---------------------------------------------------------------------------

    @abstractmethod
    def eq(self, v: Val, value: JSONValue) -> Cond:
        """``v`` JSON-equals ``value`` (no element expansion)."""

    def eq_candidate(self, v: Val, value: JSONValue) -> Cond | None:
        """``v`` equals the scalar ``value`` or is an array with such an element, if the dialect
        has a shortcut for it."""
        return None

    def in_values(self, v: Val, values: tuple[JSONValue, ...]) -> Cond:
        """``v`` JSON-equals one of ``values``."""
        return or_(*(self.eq(v, x) for x in values))

    def in_candidates(self, v: Val, values: tuple[JSONValue, ...]) -> Cond | None:
        """Like :meth:`eq_candidate` for several scalars."""
        return None

    @abstractmethod
    def compare(self, v: Val, op: RangeOp, value: int | float | str | bool) -> Cond:
        """``v`` is of the kind of ``value`` and compares ``op`` to it."""

    @abstractmethod
    def regex(self, v: Val, program: RegexProgram) -> Cond:
        """``v`` is a string in which ``program`` finds a match."""

    @abstractmethod
    def number_class(self, v: Val, cls: str) -> Cond:
        """``v`` is a number of class ``int``, ``long`` or ``double`` (see values.number_class)."""

    @abstractmethod
    def mod(self, v: Val, divisor: int, remainder: int) -> Cond: ...

    # -- values for arithmetic and ordering -------------------------------------------------------

    @abstractmethod
    def float_(self, v: Val) -> Sql:
        """``v`` as a double (only evaluated where ``v`` is known to be a number)."""

    @abstractmethod
    def mongo_rank(self, v: Val) -> Sql: ...

    @abstractmethod
    def kinto_rank(self, v: Val) -> Sql: ...

    @abstractmethod
    def sort_number(self, v: Val) -> Sql:
        """The number of a number or boolean (0/1), else NULL."""

    @abstractmethod
    def mongo_sort_parts(self, v: Val, element: Val, best: Callable[[Sql], Sql]) -> list[Sql]:
        """The ORDER BY parts of a JSON value ``v`` (not a column) in MongoDB's order: its rank
        (:meth:`mongo_rank`), then its number and text (:meth:`sort_number`, :meth:`sort_text`;
        the last part is the text, or a value equal to it for a string); when ``v`` is an array,
        those of its best element (``best(part of element)``). Each part tests the type of ``v``
        once (on SQLite, a JSON parse of the document per test, for every row a scan reads)."""

    @abstractmethod
    def sort_text(self, v: Val) -> Sql:
        """The text of a string (ordered by code point), else NULL."""

    @abstractmethod
    def modulo(self, a: Sql, b: Sql) -> Sql: ...

    @abstractmethod
    def bool_int(self, c: Cond) -> Sql:
        """1 if ``c`` holds, else 0."""

    # -- structure -------------------------------------------------------------------------------

    def exists(self, from_: Sql, where: Cond) -> Cond:
        if where is False:
            return False
        if where is True:
            return fmt("EXISTS (SELECT 1 FROM {})", from_)
        return fmt("EXISTS (SELECT 1 FROM {} WHERE {})", from_, render(where))

    def param(self, value: object) -> Sql:
        return Sql(self.placeholder, [value])
