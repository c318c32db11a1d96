"""How deeply the SQL for a filter nests, as SQLite's parser counts it.

SQLite's parser has a fixed stack: about 93 nested parentheses, but only 13 nested ``EXISTS`` or
18 nested ``CASE``. :func:`statement_depth` is an upper bound of what :func:`compile_find` writes
for a filter (the constants were measured on that SQL, and ``tests/query/test_sql_depth.py`` holds
the bound); a filter over :data:`MAX_DEPTH` is refused up front instead of failing in the
database.
"""

from __future__ import annotations

from typing import Final

from kinbase.query.ast import (
    All,
    And,
    Const,
    ElemMatch,
    Eq,
    Exists,
    GeoNear,
    GeoWithin,
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
    Range,
    Regex,
    Size,
    TypeIs,
)
from kinbase.query.paths import positional_index
from kinbase.types import Path

__all__ = ["MAX_DEPTH", "TREE_BUDGET", "statement_depth", "tree_leaves"]

TREE_BUDGET: Final = 4
"""Most leaf tests a path walk may expand to in tree shape before the chain shape is used (the
tree nests one CASE and one EXISTS per level)."""

MAX_DEPTH: Final = 90

_BASE: Final = 4
_LEAF: Final[dict[type, int]] = {
    Eq: 27,
    In: 31,
    Range: 24,
    Exists: 9,
    TypeIs: 29,
    Regex: 27,
    Size: 12,
    Mod: 29,
    GeoNear: 46,
    KintoCompare: 25,
    KintoContains: 25,
    KintoHas: 10,
    KintoLike: 25,
}
_GEO_WITHIN: Final = 64
_FORK: Final = 13
_CHAIN: Final = 12
_CHAIN_BODY: Final = 34
_LOGIC: Final = 3
_NEGATION: Final = 5
_ELEM_MATCH: Final = 15


def tree_leaves(path: Path, root_object: bool) -> int:
    """How many leaf tests the tree shape of a walk of ``path`` has."""
    leaves = 1
    for i, segment in enumerate(path):
        if i == 0 and root_object:
            continue
        leaves *= 3 if positional_index(segment) is not None else 2
    return leaves


def statement_depth(node: Node, tree_budget: int = TREE_BUDGET) -> int:
    """An upper bound of the SQLite parser nesting of a statement filtering on ``node``."""
    return _BASE + _depth(node, tree_budget, True)


def _depth(node: Node, tree_budget: int, root_object: bool) -> int:
    if isinstance(node, And | Or):
        return _LOGIC + max((_depth(c, tree_budget, root_object) for c in node.children), default=0)
    if isinstance(node, Nor):
        return (
            _NEGATION + _LOGIC + max((_depth(c, tree_budget, root_object) for c in node.children), default=0)
        )
    if isinstance(node, Not):
        return _NEGATION + _depth(node.child, tree_budget, root_object)
    if isinstance(node, Const):
        return 0
    if isinstance(node, All):
        return _LOGIC + _walk(node.path, tree_budget, root_object, _LEAF[Eq])
    path: Path = node.path  # type: ignore[attr-defined]
    if isinstance(node, ElemMatch):
        leaf = _ELEM_MATCH + _depth(node.condition, tree_budget, not node.on_value)
    elif isinstance(node, GeoWithin):
        leaf = _GEO_WITHIN
    else:
        leaf = _LEAF[type(node)]
    if isinstance(node, KintoCompare | KintoContains | KintoHas | KintoLike):
        return leaf
    return _walk(path, tree_budget, root_object, leaf)


def _walk(path: Path, tree_budget: int, root_object: bool, leaf: int) -> int:
    """``leaf`` placed at the end of the walk of ``path``."""
    if not path:
        return leaf
    if tree_leaves(path, root_object) <= tree_budget:
        return leaf + _FORK * (len(path) - (1 if root_object else 0))
    return max(leaf + _CHAIN, _CHAIN_BODY)
