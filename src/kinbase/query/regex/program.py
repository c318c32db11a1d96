"""Writing a parsed pattern for RE2 (the linear-time engine SQLite's ``kb_regexp`` and the reference
evaluator run), for Python ``re`` (kept as a cross-check in the tests) and for PostgreSQL's ARE
engine, with the facts the index planner uses (anchoring and the literal prefix).

RE2 has no ASCII-only case folding (its ``(?i)`` folds Unicode: ``k`` would match the Kelvin sign),
so a case-insensitive pattern is written for RE2 with each ASCII letter spelled as a class of its
two cases, and no flag."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from kinbase.query.regex.syntax import NEWLINE, AnyChar, Assert, CharClass, Group, Item, Lit

__all__ = ["RegexProgram", "write_program"]

_PY_BASE_FLAGS: Final = re.ASCII | re.DOTALL


@dataclass(frozen=True, slots=True)
class RegexProgram:
    """A validated pattern, ready for every engine.

    Attributes:
        re2: the pattern for RE2 (flags embedded, case folding spelled out); evaluate with an
            unanchored match (:func:`kinbase.query.regex.matcher`).
        python: the pattern for ``re.compile(python, python_flags)``; evaluate with ``search``.
        python_flags: the ``re`` flags to compile it with.
        postgres: the ARE pattern for ``text COLLATE "C" ~ postgres`` (options embedded).
        anchored: every top-level alternative starts with ``^`` or ``\\A``.
        prefix: a literal every match starts with at position 0 (None when the pattern is not
            anchored at the start of the string, or is case-insensitive); usable as an index range.
    """

    re2: str
    python: str
    python_flags: int
    postgres: str
    anchored: bool
    prefix: str | None


# -- writing the dialects ---------------------------------------------------------------------


def _char(c: str) -> str:
    """One literal character, escaped the same way for Python and PostgreSQL."""
    if c.isascii():
        if c.isalnum():
            return c
        o = ord(c)
        if o < 0x20 or o == 0x7F:
            return f"\\u{o:04x}"
        return "\\" + c
    return c


def _re2_char(c: str) -> str:
    """One literal character for RE2 (which spells code points ``\\x{hh}``, not ``\\uhhhh``)."""
    if c.isascii():
        if c.isalnum():
            return c
        o = ord(c)
        if o < 0x20 or o == 0x7F:
            return f"\\x{{{o:02x}}}"
        return "\\" + c
    return c


def _fold(ranges: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """``ranges`` with the other case of every ASCII letter they hold (ASCII case folding)."""
    extra: list[tuple[str, str]] = []
    for low, high in ranges:
        for first, last, shift in (("a", "z", -32), ("A", "Z", 32)):
            lo, hi = max(low, first), min(high, last)
            if lo <= hi:
                extra.append((chr(ord(lo) + shift), chr(ord(hi) + shift)))
    return ranges + tuple(extra)


def _class_text(negated: bool, ranges: tuple[tuple[str, str], ...], char: Callable[[str], str]) -> str:
    parts = ["[^" if negated else "["]
    for low, high in ranges:
        parts.append(char(low) if low == high else f"{char(low)}-{char(high)}")
    parts.append("]")
    return "".join(parts)


class _Writer:
    """Writes items to three outputs: Python ``re`` (``py``), PostgreSQL (``pg``) and RE2 (``r2``)."""

    def __init__(self, dotall: bool, multiline: bool, fold: bool) -> None:
        self.dotall = dotall
        self.multiline = multiline
        self.fold = fold
        self.py: list[str] = []
        self.pg: list[str] = []
        self.r2: list[str] = []

    def emit(self, text: str, r2: str | None = None) -> None:
        self.py.append(text)
        self.pg.append(text)
        self.r2.append(text if r2 is None else r2)

    def items(self, items: tuple[Item, ...]) -> None:
        for item in items:
            self.item(item)

    def item(self, item: Item) -> None:
        if isinstance(item, Lit):
            r2 = _re2_char(item.ch)
            if self.fold and item.ch.isascii() and item.ch.isalpha():
                r2 = f"[{item.ch.lower()}{item.ch.upper()}]"
            self.emit(_char(item.ch), r2)
        elif isinstance(item, AnyChar):
            if self.dotall:
                self.emit(".")
            else:
                self.item(CharClass(True, NEWLINE))
        elif isinstance(item, CharClass):
            r2_ranges = _fold(item.ranges) if self.fold else item.ranges
            self.emit(
                _class_text(item.negated, item.ranges, _char),
                _class_text(item.negated, r2_ranges, _re2_char),
            )
        elif isinstance(item, Group):
            self.emit("(?:")
            for n, alternative in enumerate(item.alternatives):
                if n:
                    self.emit("|")
                self.items(alternative)
            self.emit(")")
        elif isinstance(item, Assert):
            py_text, pg_text, r2_text = {
                "^": ("^", "^", "^"),
                "$": ("$", "$", "$") if self.multiline else ("\\Z", "$", "\\z"),
                "A": ("\\A", "\\A", "\\A"),
                "Z": ("\\Z", "\\Z", "\\z"),
                "b": ("\\b", "\\y", "\\b"),
                "B": ("\\B", "\\Y", "\\B"),
            }[item.kind]
            self.py.append(py_text)
            self.pg.append(pg_text)
            self.r2.append(r2_text)
        else:
            self.item(item.item)
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
            self.emit(text)


def write_program(alternatives: tuple[tuple[Item, ...], ...], flags: str) -> RegexProgram:
    """The program for a parsed pattern (its top-level ``alternatives``) under ``flags``."""
    case_insensitive = "i" in flags
    multiline = "m" in flags
    writer = _Writer(dotall="s" in flags, multiline=multiline, fold=case_insensitive)
    for n, alternative in enumerate(alternatives):
        if n:
            writer.emit("|")
        writer.items(alternative)
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
        re2=("(?sm)" if multiline else "(?s)") + "".join(writer.r2),
        python="".join(writer.py),
        python_flags=py_flags,
        postgres=(f"(?{options})" if options else "") + "".join(writer.pg),
        anchored=anchored,
        prefix=prefix,
    )
