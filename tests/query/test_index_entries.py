"""field_values rows: one sort row per single-valued object, markers, prefixes, multikey."""

from __future__ import annotations

from typing import Any

import pytest

from kinbase.query.sql import index_entries, is_multikey
from kinbase.query.sql.index import PREFIX, T_EMPTY, T_PRESENT

A = ("a",)
AB = ("a", "b")

CASES: list[tuple[dict[str, Any], tuple[str, ...], list[tuple[int, float, str]], bool]] = [
    ({"a": 1}, A, [(2, 1.0, "")], False),
    ({"a": 1.5}, A, [(2, 1.5, "")], False),
    ({"a": "x"}, A, [(3, 0.0, "x")], False),
    ({"a": True}, A, [(6, 1.0, "")], False),
    ({"a": False}, A, [(6, 0.0, "")], False),
    ({"a": {"b": 1}}, A, [(4, 0.0, "")], False),
    ({}, A, [(1, 0.0, "")], False),
    ({"a": None}, A, [(1, 0.0, ""), (T_PRESENT, 0.0, "")], False),
    ({"a": []}, A, [(T_EMPTY, 0.0, "")], True),
    ({"a": [None]}, A, [(1, 0.0, ""), (T_PRESENT, 0.0, "")], True),
    ({"a": [1, 1.0, "x", [2], {}]}, A, [(2, 1.0, ""), (3, 0.0, "x"), (4, 0.0, ""), (5, 0.0, "")], True),
    ({"a": [{"b": 1}]}, AB, [(2, 1.0, "")], False),
    ({"a": [{"b": 1}, {"c": 2}]}, AB, [(1, 0.0, ""), (2, 1.0, "")], True),
    ({"a": [{"b": 1}, {"b": 1}]}, AB, [(2, 1.0, "")], True),
    ({"a": {"b": [3, 4]}}, AB, [(2, 3.0, ""), (2, 4.0, "")], True),
    ({"a": "y" * 300}, A, [(3, 0.0, "y" * PREFIX)], False),
    ({"a": 2**63 - 1}, A, [(2, float(2**63), "")], False),
]


@pytest.mark.parametrize(("doc", "path", "rows", "multikey"), CASES, ids=[str(c[0])[:40] for c in CASES])
def test_entries(
    doc: dict[str, Any], path: tuple[str, ...], rows: list[tuple[int, float, str]], multikey: bool
) -> None:
    assert index_entries(doc, path) == rows
    assert is_multikey(doc, path) is multikey
    if not multikey:
        assert len([r for r in rows if r[0] < T_EMPTY]) == 1
