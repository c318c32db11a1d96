"""Writing a parsed pattern for Python ``re`` and for PostgreSQL's ARE engine, with the facts the
index planner uses (anchoring and the literal prefix)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from kinbase.query.regex.syntax import NEWLINE, AnyChar, Assert, CharClass, Group, Item, Lit

__all__ = ["RegexProgram", "write_program"]

_PY_BASE_FLAGS: Final = re.ASCII | re.DOTALL


@dataclass(frozen=True, slots=True)
class RegexProgram:
    """A validated pattern, ready for every engine.

    Attributes:
        python: the pattern for ``re.compile(python, python_flags)``; evaluate with ``search``.
        python_flags: the ``re`` flags to compile it with.
        postgres: the ARE pattern for ``text COLLATE "C" ~ postgres`` (options embedded).
        anchored: every top-level alternative starts with ``^`` or ``\\A``.
        prefix: a literal every match starts with at position 0 (None when the pattern is not
            anchored at the start of the string, or is case-insensitive); usable as an index range.
    """

    python: str
    python_flags: int
    postgres: str
    anchored: bool
    prefix: str | None


# -- writing the two dialects ---------------------------------------------------------------


def _char(c: str) -> str:
    """One literal character, escaped the same way for both engines."""
    if c.isascii():
        if c.isalnum():
            return c
        o = ord(c)
        if o < 0x20 or o == 0x7F:
            return f"\\u{o:04x}"
        return "\\" + c
    return c


class _Writer:
    def __init__(self, dotall: bool, multiline: bool) -> None:
        self.dotall = dotall
        self.multiline = multiline

    def items(self, items: tuple[Item, ...], py: list[str], pg: list[str]) -> None:
        for item in items:
            self.item(item, py, pg)

    def item(self, item: Item, py: list[str], pg: list[str]) -> None:
        if isinstance(item, Lit):
            text = _char(item.ch)
            py.append(text)
            pg.append(text)
        elif isinstance(item, AnyChar):
            if self.dotall:
                py.append(".")
                pg.append(".")
            else:
                self.item(CharClass(True, NEWLINE), py, pg)
        elif isinstance(item, CharClass):
            parts = ["[^" if item.negated else "["]
            for low, high in item.ranges:
                parts.append(_char(low) if low == high else f"{_char(low)}-{_char(high)}")
            parts.append("]")
            text = "".join(parts)
            py.append(text)
            pg.append(text)
        elif isinstance(item, Group):
            py.append("(?:")
            pg.append("(?:")
            for n, alternative in enumerate(item.alternatives):
                if n:
                    py.append("|")
                    pg.append("|")
                self.items(alternative, py, pg)
            py.append(")")
            pg.append(")")
        elif isinstance(item, Assert):
            py_text, pg_text = {
                "^": ("^", "^"),
                "$": ("$" if self.multiline else "\\Z", "$"),
                "A": ("\\A", "\\A"),
                "Z": ("\\Z", "\\Z"),
                "b": ("\\b", "\\y"),
                "B": ("\\B", "\\Y"),
            }[item.kind]
            py.append(py_text)
            pg.append(pg_text)
        else:
            self.item(item.item, py, pg)
            least, most = item.low, item.high
            if (least, most) == (0, None):
                text = "*"
            elif (least, most) == (1, None):
                text = "+"
            elif (least, most) == (0, 1):
                text = "?"
            elif most == least:
                text = f"{{{least}}}"
            elif most is None:
                text = f"{{{least},}}"
            else:
                text = f"{{{least},{most}}}"
            py.append(text)
            pg.append(text)


def write_program(alternatives: tuple[tuple[Item, ...], ...], flags: str) -> RegexProgram:
    """The program for a parsed pattern (its top-level ``alternatives``) under ``flags``."""
    case_insensitive = "i" in flags
    multiline = "m" in flags
    writer = _Writer(dotall="s" in flags, multiline=multiline)
    py: list[str] = []
    pg: list[str] = []
    for n, alternative in enumerate(alternatives):
        if n:
            py.append("|")
            pg.append("|")
        writer.items(alternative, py, pg)
    options = ("i" if case_insensitive else "") + ("w" if multiline else "")
    py_flags = (
        _PY_BASE_FLAGS | (re.IGNORECASE if case_insensitive else 0) | (re.MULTILINE if multiline else 0)
    )

    def starts_anchored(seq: tuple[Item, ...]) -> bool:
        return bool(seq) and isinstance(seq[0], Assert) and seq[0].kind in ("^", "A")

    anchored = all(starts_anchored(seq) for seq in alternatives)
    prefix: str | None = None
    seq = alternatives[0]
    if (
        len(alternatives) == 1
        and not case_insensitive
        and starts_anchored(seq)
        and not (multiline and isinstance(seq[0], Assert) and seq[0].kind == "^")
    ):
        chars: list[str] = []
        for item in seq[1:]:
            if not isinstance(item, Lit):
                break
            chars.append(item.ch)
        prefix = "".join(chars)
    return RegexProgram(
        python="".join(py),
        python_flags=py_flags,
        postgres=(f"(?{options})" if options else "") + "".join(pg),
        anchored=anchored,
        prefix=prefix,
    )
