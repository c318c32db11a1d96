"""The regular expression subset, parsed once and written out for Python ``re`` and for
PostgreSQL's ARE engine so that both decide every match the same way.

Supported (see ``docs/query-language.md``): literals, ``.``, ``[...]`` classes with ranges and
negation, ``\\d \\w \\s`` and their negations, ``\\b \\B \\A \\Z``, ``^ $``, groups ``(...)`` and
``(?:...)``, alternation, the quantifiers ``* + ? {m} {m,} {m,n}`` (lazy forms accepted and
treated as greedy: only whether a match exists matters), escapes ``\\t \\n \\r \\f \\v \\xhh
\\uhhhh \\Uhhhhhhhh`` and a backslash before any ASCII punctuation. Flags ``i m s x``.

Character classes and case-insensitivity are ASCII-only (Python's ``re.ASCII``, PostgreSQL's
``C`` collation), ``.`` excludes ``\\n`` unless ``s``, ``$`` is the very end of the string unless
``m`` (Python's "before a final newline" rule is not kept). Anything else (backreferences,
lookarounds, inline flags, named groups, POSIX classes, possessive quantifiers) is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from kinbase.errors import InvalidQuery

__all__ = ["MAX_PATTERN_LENGTH", "RegexProgram", "like_program", "translate"]

MAX_PATTERN_LENGTH: Final = 1000
_MAX_REPEAT: Final = 255  # PostgreSQL's RE_DUPMAX
_MAX_GROUP_DEPTH: Final = 50
_PY_BASE_FLAGS: Final = re.ASCII | re.DOTALL
_VERBOSE_SPACE: Final = " \t\n\r\v\f"

_DIGIT: Final = (("0", "9"),)
_WORD: Final = (("0", "9"), ("A", "Z"), ("_", "_"), ("a", "z"))
_SPACE: Final = (("\t", "\r"), (" ", " "))
_NEWLINE: Final = (("\n", "\n"),)


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


# -- the parse tree ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lit:
    ch: str


@dataclass(frozen=True, slots=True)
class _Any:
    pass


@dataclass(frozen=True, slots=True)
class _Class:
    negated: bool
    ranges: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _Group:
    alternatives: tuple[tuple[_Item, ...], ...]


@dataclass(frozen=True, slots=True)
class _Assert:
    kind: str  # "^", "$", "A", "Z", "b", "B"


@dataclass(frozen=True, slots=True)
class _Repeat:
    item: _Item
    low: int
    high: int | None


_Item = _Lit | _Any | _Class | _Group | _Assert | _Repeat


def _error(pattern: str, why: str) -> InvalidQuery:
    shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
    return InvalidQuery(f"Invalid $regex {shown!r}: {why}.")


class _Parser:
    def __init__(self, pattern: str, verbose: bool) -> None:
        self.p = pattern
        self.i = 0
        self.verbose = verbose

    def fail(self, why: str) -> InvalidQuery:
        return _error(self.p, f"{why} at position {self.i}")

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

    def parse(self) -> tuple[tuple[_Item, ...], ...]:
        alternatives = self.alternation(0)
        if self.i < len(self.p):
            raise self.fail("unbalanced ')'")
        return alternatives

    def alternation(self, depth: int) -> tuple[tuple[_Item, ...], ...]:
        alternatives = [self.sequence(depth)]
        while self.peek() == "|":
            self.i += 1
            alternatives.append(self.sequence(depth))
        return tuple(alternatives)

    def sequence(self, depth: int) -> tuple[_Item, ...]:
        items: list[_Item] = []
        while True:
            self.skip_verbose()
            c = self.peek()
            if c is None or c == "|" or c == ")":
                return tuple(items)
            item = self.atom(depth)
            quantifier = self.quantifier()
            if quantifier is not None:
                if isinstance(item, _Assert):
                    raise self.fail("nothing to repeat")
                item = _Repeat(item, *quantifier)
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

    def atom(self, depth: int) -> _Item:
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
            return _Group(alternatives)
        if c == "[":
            return self.char_class()
        if c == ".":
            return _Any()
        if c == "^":
            return _Assert("^")
        if c == "$":
            return _Assert("$")
        if c in "*+?":
            raise self.fail("nothing to repeat")
        if c == "\\":
            return self.escape()
        return _Lit(self.checked(c))

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
            return _DIGIT
        if c == "w":
            return _WORD
        if c == "s":
            return _SPACE
        if c in "DWS":
            return None
        if c.isascii() and c.isalnum():
            self.i -= 1
            raise self.fail(f"unsupported escape '\\{c}'")
        return self.checked(c)

    def escape(self) -> _Item:
        c = self.peek()
        if c in ("b", "B", "A", "Z"):
            self.i += 1
            return _Assert(c)
        if c in ("D", "W", "S"):
            self.i += 1
            return _Class(True, {"D": _DIGIT, "W": _WORD, "S": _SPACE}[c])
        value = self.escape_char()
        if isinstance(value, str):
            return _Lit(value)
        assert value is not None
        return _Class(False, value)

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

    def char_class(self) -> _Class:
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
                return _Class(negated, tuple(ranges))
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

    def items(self, items: tuple[_Item, ...], py: list[str], pg: list[str]) -> None:
        for item in items:
            self.item(item, py, pg)

    def item(self, item: _Item, py: list[str], pg: list[str]) -> None:
        if isinstance(item, _Lit):
            text = _char(item.ch)
            py.append(text)
            pg.append(text)
        elif isinstance(item, _Any):
            if self.dotall:
                py.append(".")
                pg.append(".")
            else:
                self.item(_Class(True, _NEWLINE), py, pg)
        elif isinstance(item, _Class):
            parts = ["[^" if item.negated else "["]
            for low, high in item.ranges:
                parts.append(_char(low) if low == high else f"{_char(low)}-{_char(high)}")
            parts.append("]")
            text = "".join(parts)
            py.append(text)
            pg.append(text)
        elif isinstance(item, _Group):
            py.append("(?:")
            pg.append("(?:")
            for n, alternative in enumerate(item.alternatives):
                if n:
                    py.append("|")
                    pg.append("|")
                self.items(alternative, py, pg)
            py.append(")")
            pg.append(")")
        elif isinstance(item, _Assert):
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


def _program(alternatives: tuple[tuple[_Item, ...], ...], flags: str) -> RegexProgram:
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

    def starts_anchored(seq: tuple[_Item, ...]) -> bool:
        return bool(seq) and isinstance(seq[0], _Assert) and seq[0].kind in ("^", "A")

    anchored = all(starts_anchored(seq) for seq in alternatives)
    prefix: str | None = None
    seq = alternatives[0]
    if (
        len(alternatives) == 1
        and not case_insensitive
        and starts_anchored(seq)
        and not (multiline and isinstance(seq[0], _Assert) and seq[0].kind == "^")
    ):
        chars: list[str] = []
        for item in seq[1:]:
            if not isinstance(item, _Lit):
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


def translate(pattern: str, flags: str = "") -> RegexProgram:
    """Validate a ``$regex`` pattern with its ``$options`` and write it for every engine.

    Raises:
        InvalidQuery: for an unknown flag, a pattern outside the supported subset, or one that is
            too long.
    """
    if any(f not in "imsx" for f in flags):
        raise InvalidQuery(f"Invalid $options {flags!r}: only the flags i, m, s and x are supported.")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise _error(pattern, f"longer than {MAX_PATTERN_LENGTH} characters")
    alternatives = _Parser(pattern, "x" in flags).parse()
    return _program(alternatives, flags)


def like_program(pattern: str) -> RegexProgram:
    """Kinto's ``like_``: ``*`` matches any run of characters, everything else is literal,
    case-insensitively (ASCII); without any ``*`` the value matches as a substring."""
    if "\x00" in pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidQuery("Invalid like_ pattern.")
    for ch in pattern:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise InvalidQuery("Invalid like_ pattern.")
    items: list[_Item]
    if "*" in pattern:
        items = [_Assert("A")]
        for ch in pattern:
            items.append(_Repeat(_Any(), 0, None) if ch == "*" else _Lit(ch))
        items.append(_Assert("Z"))
    else:
        items = [_Lit(ch) for ch in pattern]
    return _program((tuple(items),), "is")
