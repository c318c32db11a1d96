"""JSON value helpers shared by the evaluator, the index and the compilers: kinds, equality,
number classes and the two sort orders (MongoDB's and Kinto's)."""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

from kinbase.query.ast import MISSING
from kinbase.types import JSONValue

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "INT64_MAX",
    "INT64_MIN",
    "K_ARRAY",
    "K_BOOL",
    "K_MISSING",
    "K_NULL",
    "K_NUMBER",
    "K_OBJECT",
    "K_STRING",
    "R_ARRAY",
    "R_BOOL",
    "R_EMPTY",
    "R_NULL",
    "R_NUMBER",
    "R_OBJECT",
    "R_STRING",
    "Kind",
    "is_number",
    "json_equal",
    "kind",
    "kinto_rank",
    "mongo_rank",
    "number_class",
    "unsafe_nested_number",
]

Kind: TypeAlias = Literal["null", "bool", "number", "string", "array", "object"]

INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
TWO_53: Final = 2.0**53
TWO_63: Final = 2.0**63

# MongoDB collation ranks (sort keys and field index ``t``): empty array < null < numbers < strings
# < objects < arrays < booleans.
R_EMPTY: Final = 0
R_NULL: Final = 1
R_NUMBER: Final = 2
R_STRING: Final = 3
R_OBJECT: Final = 4
R_ARRAY: Final = 5
R_BOOL: Final = 6

# Kinto collation ranks: null < string < number < boolean < array < object < missing.
K_NULL: Final = 0
K_STRING: Final = 1
K_NUMBER: Final = 2
K_BOOL: Final = 3
K_ARRAY: Final = 4
K_OBJECT: Final = 5
K_MISSING: Final = 6


def is_number(value: object) -> bool:
    """A JSON number (booleans are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def kind(value: JSONValue) -> Kind:
    """The JSON kind of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def json_equal(a: JSONValue, b: JSONValue) -> bool:
    """JSON equality: numbers as doubles (``1 == 1.0``, and ``2**53 + 1 == 2**53``), booleans are
    not numbers, arrays in order, objects regardless of key order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float):
        return isinstance(b, int | float) and float(a) == float(b)
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and len(a) == len(b)
            and all(k in b and json_equal(v, b[k]) for k, v in a.items())
        )
    return type(a) is type(b) and a == b


def unsafe_nested_number(value: JSONValue) -> bool:
    """Whether an array or object holds a number of magnitude 2**53 or more at any depth.

    Such operands are refused: PostgreSQL compares numbers nested in jsonb exactly, as decimals,
    where every other comparison in kinbase is on doubles; below 2**53 the two always agree."""
    if isinstance(value, list):
        return any(_unsafe(v) for v in value)
    if isinstance(value, dict):
        return any(_unsafe(v) for v in value.values())
    return False


def _unsafe(value: JSONValue) -> bool:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return abs(value) >= TWO_53
    return unsafe_nested_number(value)


def number_class(value: int | float) -> Literal["int", "long", "double"]:
    """``int``: integral within 32 bits; ``long``: integral, in ``[-2**63, 2**63)`` but not 32
    bits; ``double``: every other number. Decided on the double value, never on how the number was
    written, so ``1.0`` is an int and ``2**63 - 1`` (which rounds to ``2**63``) is a double."""
    f = float(value)
    if f.is_integer():
        if INT32_MIN <= f <= INT32_MAX:
            return "int"
        if -TWO_63 <= f < TWO_63:
            return "long"
    return "double"


def mongo_rank(value: object) -> int:
    """Rank of a sort candidate in MongoDB order (a missing value sorts as null; arrays met here are
    nested arrays, since terminal arrays contribute their elements)."""
    if value is None or value is MISSING:
        return R_NULL
    if isinstance(value, bool):
        return R_BOOL
    if isinstance(value, int | float):
        return R_NUMBER
    if isinstance(value, str):
        return R_STRING
    if isinstance(value, list):
        return R_ARRAY
    return R_OBJECT


def kinto_rank(value: object) -> int:
    """Rank of a value in Kinto's cross-type order."""
    if value is MISSING:
        return K_MISSING
    if value is None:
        return K_NULL
    if isinstance(value, bool):
        return K_BOOL
    if isinstance(value, int | float):
        return K_NUMBER
    if isinstance(value, str):
        return K_STRING
    if isinstance(value, list):
        return K_ARRAY
    return K_OBJECT
