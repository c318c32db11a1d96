"""Small helpers that reproduce the JavaScript semantics the wire protocol depends on."""

from __future__ import annotations

import math
import traceback
from typing import Any
from urllib.parse import parse_qsl

import orjson

__all__ = ["dumps", "loads", "normalize_error", "parse_query_string", "truthy"]


def truthy(value: object) -> bool:
    """JavaScript truthiness: ``[]`` and ``{}`` are true; ``None``, ``False``, ``0``, NaN, ``""`` false."""
    if value is None or value is False:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def normalize_error(value: Any) -> Any:
    """An exception becomes ``{name, message, stack}`` (as the Node SDK does with an ``Error``).

    A :class:`~kinbase_flex.errors.FlexError` also keeps its ``description`` and ``debug``.
    """
    if not isinstance(value, BaseException):
        return value
    from kinbase_flex.errors import FlexError

    if value.__traceback__ is not None:
        stack = "".join(traceback.format_exception(value)).rstrip("\n")
    else:
        stack = "".join(traceback.format_exception_only(value)).rstrip("\n")
    out: dict[str, Any] = {"name": type(value).__name__, "message": str(value), "stack": stack}
    if isinstance(value, FlexError):
        out["description"] = value.description
        out["debug"] = value.debug
    return out


def _default(value: Any) -> Any:
    if isinstance(value, BaseException):
        return normalize_error(value)
    for attr in ("to_json", "toJSON"):
        method = getattr(value, attr, None)
        if callable(method):
            return method()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def dumps(value: Any) -> bytes:
    """Serialize to compact JSON as ``JSON.stringify`` would (NaN and infinities become null)."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises ``ValueError`` on malformed input."""
    return orjson.loads(data)


def parse_query_string(query_string: str) -> dict[str, Any]:
    """Parse a query string as Express does for flat keys: repeated keys give a list of strings."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        if key in out:
            previous = out[key]
            out[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            out[key] = value
    return out


def try_parse_json(value: Any) -> tuple[bool, Any]:
    """``JSON.parse(value)`` for a string: ``(True, parsed)``, or ``(False, value)`` if it is not JSON."""
    if isinstance(value, str | bytes):
        try:
            return True, orjson.loads(value)
        except orjson.JSONDecodeError:
            return False, value
    return False, value
