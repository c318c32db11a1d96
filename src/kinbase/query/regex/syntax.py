"""The regular expression subset: its parse tree and the parser that builds it (and refuses
everything outside the subset; see :mod:`kinbase.query.regex`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from kinbase.errors import InvalidQuery

__all__ = [
    "DIGIT",
    "NEWLINE",
    "SPACE",
    "WORD",
    "AnyChar",
    "Assert",
    "CharClass",
    "Group",
    "Item",
    "Lit",
    "Parser",
    "Repeat",
    "pattern_error",
]

_MAX_REPEAT: Final = 255  # PostgreSQL's RE_DUPMAX
_MAX_GROUP_DEPTH: Final = 50
_VERBOSE_SPACE: Final = " \t\n\r\v\f"

DIGIT: Final = (("0", "9"),)
WORD: Final = (("0", "9"), ("A", "Z"), ("_", "_"), ("a", "z"))
SPACE: Final = (("\t", "\r"), (" ", " "))
NEWLINE: Final = (("\n", "\n"),)


# -- the parse tree ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lit:
    ch: str


@dataclass(frozen=True, slots=True)
class AnyChar:
    pass


@dataclass(frozen=True, slots=True)
class CharClass:
    negated: bool
    ranges: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Group:
    alternatives: tuple[tuple[Item, ...], ...]


@dataclass(frozen=True, slots=True)
class Assert:
    kind: str  # "^", "$", "A", "Z", "b", "B"


@dataclass(frozen=True, slots=True)
class Repeat:
    item: Item
    low: int
    high: int | None


Item = Lit | AnyChar | CharClass | Group | Assert | Repeat


def pattern_error(pattern: str, why: str) -> InvalidQuery:
    shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
    return InvalidQuery(f"Invalid $regex {shown!r}: {why}.")


class Parser:
    def __init__(self, pattern: str, verbose: bool) -> None:
        self.p = pattern
        self.i = 0
        self.verbose = verbose

    def fail(self, why: str) -> InvalidQuery:
        return pattern_error(self.p, f"{why} at position {self.i}")

    def peek(self) -> str | None:
        return self.p[self.i] if self.i < len(self.p) else None

    def skip_verbose(self) -> None:
        if not self.verbose:
            return
        p = self.p
        while self.i < len(p):
            c = p[self.i]
            if c in _VERBOSE_SPACE:
                self.i += 1
            elif c == "#":
                while self.i < len(p) and p[self.i] != "\n":
                    self.i += 1
            else:
                return

    def parse(self) -> tuple[tuple[Item, ...], ...]:
        alternatives = self.alternation(0)
        if self.i < len(self.p):
            raise self.fail("unbalanced ')'")
        return alternatives

    def alternation(self, depth: int) -> tuple[tuple[Item, ...], ...]:
        alternatives = [self.sequence(depth)]
        while self.peek() == "|":
            self.i += 1
            alternatives.append(self.sequence(depth))
        return tuple(alternatives)

    def sequence(self, depth: int) -> tuple[Item, ...]:
        items: list[Item] = []
        while True:
            self.skip_verbose()
            c = self.peek()
            if c is None or c == "|" or c == ")":
                return tuple(items)
            item = self.atom(depth)
            quantifier = self.quantifier()
            if quantifier is not None:
                if isinstance(item, Assert):
                    raise self.fail("nothing to repeat")
                item = Repeat(item, *quantifier)
                self.skip_verbose()
                if self.peek() in ("*", "+", "?") or (self.peek() == "{" and self.bounds() is not None):
                    raise self.fail("multiple repeat")
            items.append(item)

    def bounds(self) -> tuple[int, int | None, int] | None:
        """Parse ``{m}``, ``{m,}``, ``{m,n}``, ``{,n}`` at the cursor without moving it: the bounds
        and the length of the text, or None when the brace is a literal."""
        m = re.match(r"\{([0-9]*)(,([0-9]*))?\}", self.p[self.i :])
        if m is None or (not m.group(1) and m.group(2) is None):
            return None
        low = int(m.group(1)) if m.group(1) else 0
        high: int | None = low
        if m.group(2) is not None:
            high = int(m.group(3)) if m.group(3) else None
        return low, high, m.end()

    def quantifier(self) -> tuple[int, int | None] | None:
        self.skip_verbose()
        c = self.peek()
        result: tuple[int, int | None]
        if c == "*":
            result, self.i = (0, None), self.i + 1
        elif c == "+":
            result, self.i = (1, None), self.i + 1
        elif c == "?":
            result, self.i = (0, 1), self.i + 1
        elif c == "{":
            parsed = self.bounds()
            if parsed is None:
                return None
            low, high, length = parsed
            if low > _MAX_REPEAT or (high is not None and high > _MAX_REPEAT):
                raise self.fail(f"repetition count above {_MAX_REPEAT}")
            if high is not None and high < low:
                raise self.fail("min repeat greater than max repeat")
            result, self.i = (low, high), self.i + length
        else:
            return None
        c = self.peek()
        if c == "?":
            self.i += 1  # lazy: same matches exist
        elif c == "+":
            raise self.fail("possessive quantifiers are not supported")
        return result

    def atom(self, depth: int) -> Item:
        c = self.p[self.i]
        self.i += 1
        if c == "(":
            if self.peek() == "?":
                if self.p[self.i : self.i + 2] != "?:":
                    raise self.fail("only (...) and (?:...) groups are supported")
                self.i += 2
            if depth >= _MAX_GROUP_DEPTH:
                raise self.fail("groups nested too deeply")
            alternatives = self.alternation(depth + 1)
            if self.peek() != ")":
                raise self.fail("missing ')'")
            self.i += 1
            return Group(alternatives)
        if c == "[":
            return self.char_class()
        if c == ".":
            return AnyChar()
        if c == "^":
            return Assert("^")
        if c == "$":
            return Assert("$")
        if c in "*+?":
            raise self.fail("nothing to repeat")
        if c == "\\":
            return self.escape()
        return Lit(self.checked(c))

    def checked(self, c: str) -> str:
        o = ord(c)
        if o == 0:
            raise self.fail("NUL is not allowed")
        if 0xD800 <= o <= 0xDFFF:
            raise self.fail("lone surrogates are not allowed")
        return c

    def hex_escape(self, digits: int) -> str:
        text = self.p[self.i : self.i + digits]
        if len(text) != digits or any(ch not in "0123456789abcdefABCDEF" for ch in text):
            raise self.fail(f"expected {digits} hex digits")
        self.i += digits
        value = int(text, 16)
        if value > 0x10FFFF:
            raise self.fail("code point out of range")
        return self.checked(chr(value))

    def escape_char(self) -> str | tuple[tuple[str, str], ...] | None:
        """One escape after ``\\``: a character, a class (``\\d \\w \\s``), or None for the
        negated classes, which the caller handles."""
        c = self.peek()
        if c is None:
            raise self.fail("trailing backslash")
        self.i += 1
        simple = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
        if c in simple:
            return simple[c]
        if c == "x":
            return self.hex_escape(2)
        if c == "u":
            return self.hex_escape(4)
        if c == "U":
            return self.hex_escape(8)
        if c == "d":
            return DIGIT
        if c == "w":
            return WORD
        if c == "s":
            return SPACE
        if c in "DWS":
            return None
        if c.isascii() and c.isalnum():
            self.i -= 1
            raise self.fail(f"unsupported escape '\\{c}'")
        return self.checked(c)

    def escape(self) -> Item:
        c = self.peek()
        if c in ("b", "B", "A", "Z"):
            self.i += 1
            return Assert(c)
        if c in ("D", "W", "S"):
            self.i += 1
            return CharClass(True, {"D": DIGIT, "W": WORD, "S": SPACE}[c])
        value = self.escape_char()
        if isinstance(value, str):
            return Lit(value)
        assert value is not None
        return CharClass(False, value)

    def class_char(self) -> str | tuple[tuple[str, str], ...]:
        c = self.peek()
        if c is None:
            raise self.fail("unterminated character class")
        self.i += 1
        if c != "\\":
            return self.checked(c)
        if self.peek() == "b":
            raise self.fail("'\\b' is not supported inside a class")
        value = self.escape_char()
        if value is None:
            raise self.fail("negated class escapes are not supported inside a class")
        return value

    def char_class(self) -> CharClass:
        negated = False
        if self.peek() == "^":
            negated = True
            self.i += 1
        ranges: list[tuple[str, str]] = []
        first = True
        while True:
            c = self.peek()
            if c is None:
                raise self.fail("unterminated character class")
            if c == "]" and not first:
                self.i += 1
                return CharClass(negated, tuple(ranges))
            first = False
            low = self.class_char()
            if isinstance(low, tuple):
                ranges.extend(low)
                continue
            if self.peek() == "-" and self.p[self.i + 1 : self.i + 2] not in ("]", ""):
                self.i += 1
                high = self.class_char()
                if isinstance(high, tuple):
                    raise self.fail("bad character range")
                if high < low:
                    raise self.fail(f"bad character range {low}-{high}")
                ranges.append((low, high))
            else:
                ranges.append((low, low))
