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

Matching runs on RE2 (Google's linear-time engine, PyPI ``google-re2``) everywhere except
PostgreSQL: SQLite's ``kb_regexp`` and the reference evaluator call :func:`matcher`, so no pattern
can make a match take more than time linear in the subject (Python ``re`` backtracks:
``^(a+)+$`` over 28 ``a`` and a ``!`` took 3.9 s). A pattern RE2 cannot compile (nested counted
repetitions above 1000 in all) is refused for every engine, so a query means the same everywhere.

The parser of the subset is in :mod:`~kinbase.query.regex.syntax`; writing it for each engine
(and the literal prefix an index can use) in :mod:`~kinbase.query.regex.program`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final

import re2  # type: ignore[import-untyped]

from kinbase.errors import InvalidQuery
from kinbase.query.regex.program import RegexProgram, write_program
from kinbase.query.regex.syntax import AnyChar, Assert, Item, Lit, Parser, Repeat, pattern_error

__all__ = ["MAX_PATTERN_LENGTH", "RegexProgram", "like_program", "matcher", "translate"]

MAX_PATTERN_LENGTH: Final = 1000

_OPTIONS: Final = re2.Options()
_OPTIONS.never_capture = True
_OPTIONS.log_errors = False
_UNANCHORED: Final = re2._re2.RE2.Anchor.UNANCHORED
_NO_MATCH: Final = (-1, -1)


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    compiled = re2._re2.RE2(pattern.encode(), _OPTIONS)
    return compiled if compiled.ok() else None


@lru_cache(maxsize=512)
def matcher(re2_pattern: str) -> Callable[[str], bool]:
    """A function telling whether a string holds a match of ``re2_pattern`` (a
    :attr:`RegexProgram.re2`), in time linear in the string. RE2 releases the GIL while it runs.

    Raises:
        InvalidQuery: if RE2 cannot compile the pattern.
    """
    compiled = _compiled(re2_pattern)
    if compiled is None:
        raise InvalidQuery("Invalid $regex: the pattern is too large.")
    match = compiled.Match

    def search(value: str) -> bool:
        data = value.encode("utf-8", "surrogatepass")
        return bool(match(_UNANCHORED, data, 0, len(data))[0] != _NO_MATCH)

    return search


def translate(pattern: str, flags: str = "") -> RegexProgram:
    """Validate a ``$regex`` pattern with its ``$options`` and write it for every engine.

    Raises:
        InvalidQuery: for an unknown flag, a pattern outside the supported subset, or one that is
            too long.
    """
    if any(f not in "imsx" for f in flags):
        raise InvalidQuery(f"Invalid $options {flags!r}: only the flags i, m, s and x are supported.")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise pattern_error(pattern, f"longer than {MAX_PATTERN_LENGTH} characters")
    return _translate(pattern, flags)


@lru_cache(maxsize=1024)
def _translate(pattern: str, flags: str) -> RegexProgram:
    alternatives = Parser(pattern, "x" in flags).parse()
    program = write_program(alternatives, flags)
    if _compiled(program.re2) is None:
        raise pattern_error(pattern, "the pattern is too large (nested repetitions above 1000 in all)")
    return program


def like_program(pattern: str) -> RegexProgram:
    """Kinto's ``like_``: ``*`` matches any run of characters, everything else is literal,
    case-insensitively (ASCII); without any ``*`` the value matches as a substring."""
    if "\x00" in pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise InvalidQuery("Invalid like_ pattern.")
    for ch in pattern:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise InvalidQuery("Invalid like_ pattern.")
    items: list[Item]
    if "*" in pattern:
        items = [Assert("A")]
        for ch in pattern:
            items.append(Repeat(AnyChar(), 0, None) if ch == "*" else Lit(ch))
        items.append(Assert("Z"))
    else:
        items = [Lit(ch) for ch in pattern]
    return write_program((tuple(items),), "is")
