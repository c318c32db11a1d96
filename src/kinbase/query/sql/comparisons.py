"""Comparisons both SQL dialects compile the same way: a number against an integer column, booleans
in their order (false < true), and a string prefix as a range an index can seek."""

from __future__ import annotations

import math
from typing import Final

from kinbase.query.sql.base import Cond, Sql
from kinbase.query.sql.dialect import RangeOp
from kinbase.query.values import INT64_MAX, INT64_MIN, is_number
from kinbase.types import JSONValue

__all__ = ["SYMBOLS", "bool_kinds", "int_bound", "int_equal", "prefix_range", "successor"]

SYMBOLS: Final = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
"""The SQL operator of each range operator."""


def int_bound(op: RangeOp, value: int | float) -> tuple[str, int] | bool:
    """An integer column compared to a number: the equivalent integer comparison, or a constant."""
    if isinstance(value, float) and not value.is_integer():
        value = math.floor(value) if op in ("gt", "lte") else math.ceil(value)
    value = int(value)
    if value > INT64_MAX:
        return op in ("lt", "lte")
    if value < INT64_MIN:
        return op in ("gt", "gte")
    return SYMBOLS[op], value


def int_equal(value: JSONValue) -> int | None:
    """The integer an integer column must equal to JSON-equal ``value`` (None: none can)."""
    if is_number(value):
        assert isinstance(value, int | float)
        if (isinstance(value, int) or value.is_integer()) and INT64_MIN <= value <= INT64_MAX:
            return int(value)
    return None


def bool_kinds(op: RangeOp, value: bool) -> frozenset[str]:
    """Booleans compared to a boolean (false < true)."""
    table: dict[tuple[str, bool], tuple[str, ...]] = {
        ("gt", False): ("true",),
        ("gte", False): ("true", "false"),
        ("lt", False): (),
        ("lte", False): ("false",),
        ("gt", True): (),
        ("gte", True): ("true",),
        ("lt", True): ("false",),
        ("lte", True): ("true", "false"),
    }
    return frozenset(table[(op, value)])


def successor(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (None: there is none)."""
    chars = list(prefix)
    while chars:
        o = ord(chars[-1])
        if o < 0x10FFFF:
            chars[-1] = chr(0xE000 if o == 0xD7FF else o + 1)
            return "".join(chars)
        chars.pop()
    return None


def prefix_range(column: str, prefix: str | None, placeholder: str) -> Cond:
    """``column`` starts with ``prefix`` as a range an index can seek (None or '': no condition)."""
    if not prefix:
        return True
    upper = successor(prefix)
    if upper is None:
        return Sql(f"{column} >= {placeholder}", [prefix])
    return Sql(f"({column} >= {placeholder} AND {column} < {placeholder})", [prefix, upper])
