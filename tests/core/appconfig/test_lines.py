"""The key -> line map of a TOML document (for error messages that name the line)."""

from __future__ import annotations

import tomllib
from typing import Any

import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinbase.core.appconfig.lines import key_lines, line_of

TRICKY = '''# [not.a.table] = 1
[flex_services.billing]   # comment with "quotes" and [brackets]
url = "http://x/#not-a-comment"
secret = """first
[fake.header]
fake = "key"
"""
note = \'\'\'
also = 'text'
\'\'\'
escaped = "a \\" [b] = c"

[collections."odd name"]
a.b.c = 1
indexes = [
  ["status", "n"],   # trailing comment
  [
    "owner.id",
  ],
]
link = { service = "billing", nested = { deep = true } }

[[runs]]
n = 1
[[runs]]
n = 2
[runs.meta]
m = "x"
'''


def test_tricky_document() -> None:
    tomllib.loads(TRICKY)
    lines = key_lines(TRICKY)
    assert lines[("flex_services", "billing")] == 2
    assert lines[("flex_services", "billing", "url")] == 3
    assert lines[("flex_services", "billing", "secret")] == 4
    assert ("fake", "header") not in lines and ("fake",) not in lines
    assert lines[("flex_services", "billing", "note")] == 8
    assert ("flex_services", "billing", "also") not in lines
    assert lines[("flex_services", "billing", "escaped")] == 11
    assert lines[("collections", "odd name")] == 13
    assert lines[("collections", "odd name", "a", "b", "c")] == 14
    assert lines[("collections", "odd name", "indexes", 0)] == 16
    assert lines[("collections", "odd name", "indexes", 1)] == 17
    assert lines[("collections", "odd name", "indexes", 1, 0)] == 18
    assert lines[("collections", "odd name", "link", "nested", "deep")] == 21
    assert lines[("runs", 0, "n")] == 24
    assert lines[("runs", 1, "n")] == 26
    assert lines[("runs", 1, "meta", "m")] == 28


def test_line_of_falls_back_to_the_nearest_ancestor() -> None:
    lines = key_lines("[a.b]\nc = 1\n")
    assert line_of(lines, ("a", "b", "missing", "deeper")) == 1
    assert line_of(lines, ("a", "b", "c")) == 2
    assert line_of(lines, ("zzz",)) is None


_keys = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8)
_scalars = st.one_of(
    st.integers(-10, 10**6),
    st.booleans(),
    st.text(max_size=20).map(lambda s: s.replace("\r", "")),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=8,
)
_documents = st.dictionaries(_keys, st.dictionaries(_keys, _values, max_size=4) | _values, max_size=4)


def _leaves(value: Any, path: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))] or [path]
    return [path]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents)
def test_every_key_of_a_rendered_document_is_on_its_line(document: dict[str, Any]) -> None:
    text = tomlkit.dumps(document)
    assert tomllib.loads(text) == document
    lines = key_lines(text)
    source = text.split("\n")  # TOML lines end at LF only (not at NEL, U+2028...)
    for path in _leaves(document, ()):
        if not path:
            continue
        line = lines[path]
        key = path[-1]
        rendered = source[line - 1]
        # The key is written on that line, bare or quoted (tomlkit escapes some characters).
        assert key in rendered or tomlkit.key(key).as_string().strip() in rendered, (path, line, text)
