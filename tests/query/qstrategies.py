"""Hypothesis strategies for documents and queries that hit the hard cases: missing vs null,
arrays of scalars and objects, nested arrays, mixed types, ints vs floats vs booleans, unicode
(non-BMP too), long strings past the index prefix, numbers past 2**53, numeric keys."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from kinbase.query.ast import (
    All,
    And,
    ElemMatch,
    Eq,
    Exists,
    In,
    KintoCompare,
    KintoContains,
    KintoHas,
    KintoLike,
    Mod,
    Node,
    Nor,
    Not,
    Or,
    Query,
    Range,
    Regex,
    Size,
    SortKey,
    TypeIs,
)
from kinbase.query.values import unsafe_nested_number
from kinbase.types import JSONValue, Path

KEYS = ["a", "a", "b", "b", "c", "0", "1", "k é", "😀"]
PATH_KEYS = ["a", "a", "b", "b", "c", "0", "1", "k é"]
LONG_A = "x" * 300 + "a"
LONG_B = "x" * 300 + "b"
STRINGS = [
    "",
    "a",
    "b",
    "ab",
    "abc",
    "B",
    "é",
    "É",
    "😀",
    "{x",
    "[1]",
    "1",
    "a\nb",
    " a",
    "a b",
    LONG_A,
    LONG_B,
]
NUMBERS: list[int | float] = [
    0,
    1,
    -1,
    2,
    3,
    0.5,
    -0.0,
    1.0,
    -2.5,
    1e300,
    2**31 - 1,
    2**31,
    2**53,
    2**53 + 1,
    -(2**53) - 1,
    2**62,
]
TYPES = ["double", "int", "long", "number", "string", "object", "array", "bool", "null"]

small_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=4
)

_core: st.SearchStrategy[JSONValue] = st.sampled_from(
    [None, True, False, 0, 1, 1.0, 2, "a", "b", "ab", LONG_A]
)
_pool: st.SearchStrategy[JSONValue] = st.one_of(
    _core, _core, st.sampled_from([None, True, False, *NUMBERS, *STRINGS])
)

scalars: st.SearchStrategy[JSONValue] = st.one_of(
    _pool,
    _pool,
    _pool,
    st.integers(-3, 3),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    small_text,
)

json_values: st.SearchStrategy[JSONValue] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "0", "c"]), children, max_size=3),
    ),
    max_leaves=6,
)

documents: st.SearchStrategy[dict[str, JSONValue]] = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(("a", "b", "c", "0", "1", "k é", "😀"), json_values)
)

_key = st.sampled_from(PATH_KEYS)
paths: st.SearchStrategy[Path] = st.one_of(
    st.lists(_key, min_size=1, max_size=1),
    st.lists(_key, min_size=2, max_size=2),
    st.lists(_key, min_size=1, max_size=4),
).map(tuple)

operands: st.SearchStrategy[JSONValue] = st.one_of(
    _pool,
    _pool,
    st.integers(-3, 3),
    st.lists(st.one_of(st.integers(-2, 2), st.sampled_from(["a", "b"]), st.none()), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 2), max_size=2),
    scalars,
)

range_operands: st.SearchStrategy[int | float | str | bool] = st.one_of(
    st.booleans(), st.sampled_from(NUMBERS), st.integers(-3, 3), st.sampled_from(STRINGS), st.floats(-4, 4)
)

_atoms = st.sampled_from(
    [
        "a",
        "b",
        "A",
        "é",
        "x",
        "1",
        " ",
        ".",
        "\\d",
        "\\w",
        "\\s",
        "\\W",
        "[ab]",
        "[^a]",
        "[a-c]",
        "\\.",
        "😀",
        "\\n",
        "(a|b)",
        "(?:ab|c)",
        "\\b",
        "\\{",
        "[\\]x]",
    ]
)
_quantifiers = st.sampled_from(["", "", "", "*", "+", "?", "{1,2}", "{2}", "*?"])


@st.composite
def regexes(draw: st.DrawFn) -> tuple[str, str]:
    parts = []
    if draw(st.booleans()):
        parts.append("^")
    for _ in range(draw(st.integers(0, 4))):
        atom = draw(_atoms)
        quantifier = "" if atom == "\\b" else draw(_quantifiers)
        parts.append(atom + quantifier)
    if draw(st.integers(0, 3)) == 0:
        parts.append("$")
    if draw(st.integers(0, 4)) == 0:
        parts.append("|" + draw(_atoms))
    flags = "".join(f for f in "ims" if draw(st.integers(0, 3)) == 0)
    return "".join(parts), flags


def field_nodes(path: st.SearchStrategy[Path], inner: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.builds(Eq, path, operands),
        st.builds(Eq, path, operands),
        st.builds(In, path, st.lists(operands, max_size=3).map(tuple)),
        st.builds(Range, path, st.sampled_from(["gt", "gte", "lt", "lte"]), range_operands),
        st.builds(Exists, path, st.booleans()),
        st.builds(TypeIs, path, st.frozensets(st.sampled_from(TYPES), min_size=1, max_size=2)),
        st.builds(lambda p, rx: Regex(p, rx[0], rx[1]), path, regexes()),
        st.builds(Size, path, st.integers(0, 3)),
        st.builds(All, path, st.lists(operands, max_size=2).map(tuple)),
        st.builds(Mod, path, st.sampled_from([-3, -2, 2, 3, 1]), st.integers(-2, 2)),
        st.builds(lambda p, c: ElemMatch(p, c, False), path, inner),
        st.builds(lambda p, c: ElemMatch(p, c, True), path, value_conditions),
    )


def logic(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    many = st.lists(children, min_size=1, max_size=3).map(tuple)
    return st.one_of(
        st.builds(And, many), st.builds(Or, many), st.builds(Nor, many), st.builds(Not, children)
    )


_empty_path: st.SearchStrategy[Path] = st.just(())
value_conditions: st.SearchStrategy[Node] = st.deferred(
    lambda: st.one_of(
        st.builds(Eq, _empty_path, operands),
        st.builds(Range, _empty_path, st.sampled_from(["gt", "gte", "lt", "lte"]), range_operands),
        st.builds(TypeIs, _empty_path, st.frozensets(st.sampled_from(TYPES), min_size=1, max_size=2)),
        st.builds(Exists, _empty_path, st.booleans()),
        st.builds(Not, st.builds(Eq, _empty_path, operands)),
    )
)

_relative_leaves: st.SearchStrategy[Node] = st.deferred(
    lambda: field_nodes(st.lists(_key, min_size=1, max_size=2).map(tuple), st.nothing())
)
relative_filters: st.SearchStrategy[Node] = st.one_of(_relative_leaves, logic(_relative_leaves))
_leaves: st.SearchStrategy[Node] = st.deferred(lambda: field_nodes(paths, relative_filters))
filters: st.SearchStrategy[Node] = st.one_of(
    _leaves, _leaves, logic(_leaves), logic(st.one_of(_leaves, logic(_leaves)))
)

sort_keys: st.SearchStrategy[tuple[SortKey, ...]] = st.lists(
    st.builds(SortKey, paths, st.booleans()), max_size=2, unique_by=lambda k: k.path
).map(tuple)


@st.composite
def queries(draw: st.DrawFn, filter_strategy: st.SearchStrategy[Node] = filters) -> Query:
    node = None if draw(st.integers(0, 9)) == 0 else draw(filter_strategy)
    sort = draw(sort_keys)
    windowed = draw(st.integers(0, 3)) == 0
    skip = draw(st.integers(0, 3)) if windowed else 0
    limit = draw(st.one_of(st.none(), st.integers(0, 5))) if windowed else None
    return Query(filter=node, sort=sort, skip=skip, limit=limit)


# -- Kinto ----------------------------------------------------------------------------------------

kinto_paths: st.SearchStrategy[Path] = st.lists(st.sampled_from(PATH_KEYS), min_size=1, max_size=2).map(tuple)
kinto_leaves: st.SearchStrategy[Node] = st.one_of(
    st.builds(KintoCompare, kinto_paths, st.sampled_from(["eq", "not", "lt", "gt", "min", "max"]), operands),
    st.builds(
        KintoCompare,
        kinto_paths,
        st.sampled_from(["in", "exclude"]),
        st.lists(operands, min_size=1, max_size=3),
    ),
    st.builds(KintoHas, kinto_paths, st.booleans()),
    st.builds(KintoLike, kinto_paths, st.sampled_from(["a", "*a", "a*", "*", "é*", "A*b", "x*a", "1"])),
    st.builds(KintoContains, kinto_paths, st.lists(operands, max_size=2).map(tuple), st.booleans()),
)
kinto_filters: st.SearchStrategy[Node] = st.one_of(kinto_leaves, kinto_leaves, logic(kinto_leaves))
kinto_keys: st.SearchStrategy[SortKey] = st.builds(
    lambda p, d: SortKey(p, d, "kinto"), kinto_paths, st.booleans()
)
kinto_sorts: st.SearchStrategy[tuple[SortKey, ...]] = st.lists(
    kinto_keys, max_size=2, unique_by=lambda k: k.path
).map(tuple)


def top_paths(node: Node | None) -> set[Path]:
    """Field paths used outside ``$elemMatch`` (the ones a field index can serve)."""
    out: set[Path] = set()
    if node is None:
        return out
    if isinstance(node, And | Or | Nor):
        for child in node.children:
            out |= top_paths(child)
    elif isinstance(node, Not):
        out |= top_paths(node.child)
    elif hasattr(node, "path"):
        path: Any = node.path
        if path:
            out.add(path)
    return out


@st.composite
def derived_filters(draw: st.DrawFn, docs: list[dict[str, JSONValue]]) -> Node:
    """A condition built from a value that really is in one of ``docs`` (so it often matches
    some documents but not all)."""
    value: Any = draw(st.sampled_from(docs))
    path: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        if isinstance(value, dict) and value:
            key = draw(st.sampled_from(sorted(value)))
            path.append(key)
            value = value[key]
        elif isinstance(value, list) and value and path:
            position = draw(st.integers(0, len(value) - 1))
            if draw(st.booleans()):
                path.append(str(position))
            value = value[position]
        else:
            break
    if not path:
        path = ["a"]
    p = tuple(path)
    if unsafe_nested_number(value):
        return Exists(p, draw(st.booleans()))  # the parsers refuse such operands
    scalar = value if not isinstance(value, list | dict) else draw(operands)
    choice = draw(st.integers(0, 7))
    if choice == 0 and isinstance(scalar, int | float | str | bool):
        return Range(p, draw(st.sampled_from(["gt", "gte", "lt", "lte"])), scalar)
    if choice == 1:
        return In(p, (value, draw(operands)))
    if choice == 2:
        return Exists(p, draw(st.booleans()))
    if choice == 3 and isinstance(value, str) and value:
        return Regex(
            p, "^" + "".join("\\" + c if not c.isalnum() else c for c in value[: draw(st.integers(0, 3))]), ""
        )
    if choice == 4 and isinstance(value, list):
        return Size(p, len(value))
    if choice == 5:
        return Not(Eq(p, value))
    if choice == 6:
        return Eq(p, None)
    return Eq(p, value)
