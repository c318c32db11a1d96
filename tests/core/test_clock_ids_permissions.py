"""Small core pieces: time formats, id generators, stamps, principals."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinbase.core.clock import iso_from_ms, ms_from_iso
from kinbase.core.ids import object_id, uuid4
from kinbase.core.permissions import AUTHENTICATED, EVERYONE, Principals
from kinbase.storage.stamps import next_stamp


@given(st.integers(min_value=0, max_value=253402300799999))
def test_iso_round_trip(ms: int) -> None:
    text = iso_from_ms(ms)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    assert ms_from_iso(text) == ms


@given(st.lists(st.integers(min_value=0, max_value=253402300798999), min_size=2, max_size=6))
def test_iso_of_times_in_any_order_and_within_one_second(stamps: list[int]) -> None:
    """The second's rendering is reused from call to call: never for another second."""
    second = stamps[0] // 1000 * 1000
    for ms in [*stamps, stamps[0] + 1, second + 999, second + 1000]:
        text = iso_from_ms(ms)
        assert ms_from_iso(text) == ms, (ms, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-02-12T14:41:41.432Z", 1549982501432),
        ("2019-02-12T15:41:41.432+01:00", 1549982501432),
        ("2019-02-12T14:41:41Z", 1549982501000),
        ("2019-02-12T14:41:41", 1549982501000),
        ("yesterday", None),
        ("2019-02-30T00:00:00Z", None),
    ],
)
def test_parse_iso(text: str, expected: int | None) -> None:
    assert ms_from_iso(text) == expected


def test_ids() -> None:
    ids = {object_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(re.fullmatch(r"[0-9a-f]{24}", i) for i in ids)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", uuid4())


@pytest.mark.parametrize(
    ("parent", "now", "requested", "current", "expected"),
    [
        (100, 50, None, None, (101, 101)),
        (100, 500, None, None, (500, 500)),
        (100, 500, 100, None, (101, 101)),
        (100, 50, 900, None, (900, 900)),
        (100, 500, 40, None, (40, 100)),
        (100, 500, 40, 60, (500, 500)),
        (100, 500, -5, None, (500, 500)),
    ],
)
def test_next_stamp(
    parent: int, now: int, requested: int | None, current: int | None, expected: tuple[int, int]
) -> None:
    assert next_stamp(parent, now, requested, current) == expected


def test_principals() -> None:
    alice = Principals.for_user("alice", groups=["g1"], roles=["r1"])
    assert alice.principals == {EVERYONE, AUTHENTICATED, "user:alice", "group:g1", "role:r1"}
    assert alice.holds("read", [("write", "group:g1")])
    assert alice.holds("delete", [("delete", "role:r1")])
    assert not alice.holds("update", [("read", "user:alice"), ("delete", "user:alice")])
    assert not Principals.anonymous().holds("read", [("read", AUTHENTICATED)])
    assert Principals.master().holds("write", [])
