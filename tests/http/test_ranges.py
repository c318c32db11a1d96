"""``Range`` parsing and the byte responses both front-ends serve downloads with."""

from __future__ import annotations

import pytest

from kinbase.http.ranges import parse_range


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("", 10, None),
        ("bytes=0-4", 10, (0, 5)),
        ("bytes=5-", 10, (5, 10)),
        ("bytes=5-100", 10, (5, 10)),
        ("bytes=-3", 10, (7, 10)),
        ("bytes=-30", 10, (0, 10)),
        ("BYTES = 2-3", 10, (2, 4)),
        ("bytes=10-", 10, False),
        ("bytes=-0", 10, False),
        ("bytes=-1", 0, False),
        ("bytes=0-", 0, False),
        ("bytes=4-2", 10, None),  # invalid: ignored, the whole file
        ("bytes=0-1,4-5", 10, None),  # several ranges: the whole file
        ("items=0-1", 10, None),
        ("bytes=a-b", 10, None),
        ("bytes=1", 10, None),
        ("bytes=-", 10, None),
    ],
)
def test_parse_range(header: str | None, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    "header", ["bytes=²-", "bytes=-²", "bytes=0-" + "9" * 5000, "bytes=" + "9" * 5000 + "-"]
)
def test_odd_numerals_in_a_range_never_raise(header: str) -> None:
    """``int()`` refuses "²" and numerals over 4,300 digits (a 500 before)."""
    result = parse_range(header, 100)
    assert result in (None, False, (0, 100))
