"""Client numerals: digits ``int`` refuses and numerals too long to convert are never a 500."""

from __future__ import annotations

import pytest

from kinbase.numerals import BEYOND, is_uint, uint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("007", 7),
        ("123456789012345678", 123456789012345678),
        ("9" * 19, BEYOND),
        ("9" * 5000, BEYOND),
        ("0" * 5000 + "5", 5),
        ("²", None),
        ("٣", None),
        ("", None),
        ("-1", None),
        (" 1", None),
        ("1.0", None),
    ],
)
def test_uint(text: str, expected: int | None) -> None:
    assert uint(text) == expected


def test_max_digits_and_is_uint() -> None:
    assert uint("12345", max_digits=4) == BEYOND
    assert uint("1234", max_digits=4) == 1234
    assert is_uint("9" * 5000) and not is_uint("²") and not is_uint("")
