"""Decimal numerals sent by clients, for every layer.

``str.isdigit`` accepts digits that ``int`` refuses (``"²"``), and ``int`` refuses strings of more
than 4,300 digits (CPython's guard against quadratic conversion): both raised ``ValueError`` deep
in a handler, which reached clients as 500s. Every client-sent integer goes through :func:`uint`.
"""

from __future__ import annotations

__all__ = ["BEYOND", "is_uint", "uint"]

BEYOND = 2**63
"""Stands for a numeral too long to convert: larger than any 64-bit value kinbase stores."""


def is_uint(text: str) -> bool:
    """Whether ``text`` is one or more ASCII digits (of any length)."""
    return text.isascii() and text.isdigit()


def uint(text: str, max_digits: int = 18) -> int | None:
    """``text`` as a non-negative integer when it is ASCII digits with at most ``max_digits``
    significant ones; :data:`BEYOND` when it is ASCII digits but longer; ``None`` otherwise."""
    if not is_uint(text):
        return None
    significant = text.lstrip("0") or "0"
    return int(significant) if len(significant) <= max_digits else BEYOND
