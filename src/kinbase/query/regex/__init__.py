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

The parser of the subset is in :mod:`~kinbase.query.regex.syntax`; writing it for each engine
(and the literal prefix an index can use) in :mod:`~kinbase.query.regex.program`.
"""

from __future__ import annotations

from typing import Final

from kinbase.errors import InvalidQuery
from kinbase.query.regex.program import RegexProgram, write_program
from kinbase.query.regex.syntax import AnyChar, Assert, Item, Lit, Parser, Repeat, pattern_error

__all__ = ["MAX_PATTERN_LENGTH", "RegexProgram", "like_program", "translate"]

MAX_PATTERN_LENGTH: Final = 1000


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
    alternatives = Parser(pattern, "x" in flags).parse()
    return write_program(alternatives, flags)


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
