"""The regex subset: translation, and RE2, Python ``re`` and PostgreSQL's ARE on many strings."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinbase.errors import InvalidQuery
from kinbase.query.regex import like_program, matcher, translate
from tests.query.qharness import PgDatabase
from tests.query.qstrategies import regexes

# Each test process has its own PostgreSQL schema, so these may run in parallel.
pytestmark = pytest.mark.postgres


@pytest.mark.parametrize(
    ("pattern", "flags", "python", "postgres", "prefix"),
    [
        ("^abc", "", "^abc", "^abc", "abc"),
        ("^a.c$", "", "^a[^\\u000a]c\\Z", "^a[^\\u000a]c$", "a"),
        ("^a.c$", "s", "^a.c\\Z", "^a.c$", "a"),
        ("^a$", "m", "^a$", "(?w)^a$", None),
        ("^ab", "i", "^ab", "(?i)^ab", None),
        ("^a # comment\n b", "x", "^ab", "^ab", "ab"),
        (
            "^\\d\\w\\s",
            "",
            "^[0-9][0-9A-Z\\_a-z][\\u0009-\\u000d\\ ]",
            "^[0-9][0-9A-Z\\_a-z][\\u0009-\\u000d\\ ]",
            "",
        ),
        ("^\\bx\\B", "", "^\\bx\\B", "^\\yx\\Y", ""),
        ("^(a|b)+?c{2,}", "", "^(?:a|b)+c{2,}", "^(?:a|b)+c{2,}", ""),
        ("^x*y", "", "^x*y", "^x*y", ""),
        ("^\\.\\u00e9😀", "", "^\\.é😀", "^\\.é😀", ".é😀"),
        ("a|^b", "", "a|^b", "a|^b", None),
        ("^[^\\]-]", "", "^[^\\]\\-]", "^[^\\]\\-]", ""),
        ("^a{,2}", "", "^a{0,2}", "^a{0,2}", ""),
        ("^a{", "", "^a\\{", "^a\\{", "a{"),
    ],
)
def test_translation(pattern: str, flags: str, python: str, postgres: str, prefix: str | None) -> None:
    program = translate(pattern, flags)
    assert program.python == python
    assert program.postgres == postgres
    assert program.prefix == prefix


def test_like() -> None:
    assert like_program("a*b.c").python == "\\Aa.*b\\.c\\Z"
    assert like_program("a_%").postgres == "(?i)a\\_\\%"
    assert like_program("x").prefix is None


subjects = st.lists(
    st.text(alphabet=st.sampled_from(list("abAB1 _.\n\t-xé😀É{[]c")), max_size=8), min_size=1, max_size=30
)


@pytest.fixture(scope="module")
def pg_regex() -> Iterator[PgDatabase]:
    database = PgDatabase()
    yield database
    database.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rx=regexes(), strings=subjects)
def test_re2_python_and_postgres_agree(pg_regex: PgDatabase, rx: tuple[str, str], strings: list[str]) -> None:
    program = translate(*rx)
    compiled = re.compile(program.python, program.python_flags)
    expected = [compiled.search(s) is not None for s in strings]
    search = matcher(program.re2)
    assert [search(s) for s in strings] == expected, (rx, program)
    row = pg_regex.conn.execute(
        'SELECT array_agg(s COLLATE "C" ~ %s ORDER BY n) FROM unnest(%s::text[]) WITH ORDINALITY AS u(s, n)',
        [program.postgres, strings],
    ).fetchone()
    assert row is not None
    assert row[0] == expected, (rx, program)
    if program.prefix:
        for s, hit in zip(strings, expected, strict=True):
            if hit:
                assert s.startswith(program.prefix), (rx, s)


@pytest.mark.parametrize(
    ("pattern", "flags", "subject", "hit"),
    [
        ("k", "i", "\u212a", False),  # the Kelvin sign folds to k only under Unicode rules
        ("^[^a]", "i", "A", False),
        ("^[a-c]x", "i", "Bx", True),
        ("a$", "", "a\n", False),  # $ is the very end unless m
        ("^$", "m", "a\n", True),
        ("\\x01.", "", "\x01\n", False),
        ("\\x01.", "s", "\x01\n", True),
        ("\\bx\\b", "", "é x", True),
    ],
)
def test_re2_edge_cases(pattern: str, flags: str, subject: str, hit: bool) -> None:
    program = translate(pattern, flags)
    assert matcher(program.re2)(subject) is hit
    assert (re.search(program.python, subject, program.python_flags) is not None) is hit


def test_catastrophic_patterns_run_in_linear_time() -> None:
    """Python ``re`` takes 3.9 s for the first (issue 16) and doubles per extra character."""
    cases = [("^(a+)+$", "a" * 28 + "!"), ("^(a|aa)+$", "a" * 5000 + "!"), ("(x+x+)+y", "x" * 20000)]
    for pattern, subject in cases:
        search = matcher(translate(pattern).re2)
        started = time.perf_counter()
        assert search(subject) is False
        assert time.perf_counter() - started < 0.5, pattern  # backtracking takes seconds


def test_patterns_re2_cannot_compile_are_refused() -> None:
    with pytest.raises(InvalidQuery, match="too large"):
        translate("(?:a{255}){4}")
