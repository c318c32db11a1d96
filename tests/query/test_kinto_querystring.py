"""The whole Kinto querystring: bounds, paging parameters, projection and page tokens."""

from __future__ import annotations

import base64

import orjson
import pytest

from kinbase.errors import InvalidQuery
from kinbase.query.ast import And, Const, KintoCompare, KintoHas, Or, SortKey
from kinbase.query.kinto_querystring import page_token, parse_fields, parse_querystring

STAMP = SortKey(("last_modified",), True, "kinto")


def test_defaults_and_tiebreaker() -> None:
    parsed = parse_querystring([])
    assert parsed.sort == (STAMP,) and parsed.filter is None and parsed.limit is None
    assert not parsed.on_stamp and parsed.after is None and parsed.offset == 0
    parsed = parse_querystring([("_sort", "last_modified")])
    assert parsed.sort == (SortKey(("last_modified",), False, "kinto"),)
    uri = SortKey(("uri",), True, "kinto")
    parsed = parse_querystring([("_sort", "id")], default_sort=(uri,), tiebreaker=uri)
    assert parsed.sort == (SortKey(("id",), False, "kinto"), uri)
    assert parse_querystring([], default_sort=(uri,), tiebreaker=uri).sort == (uri,)
    parsed = parse_querystring([("_sort", "-a, a,b,+b,-last_modified,last_modified")])
    assert parsed.sort == (SortKey(("a",), True, "kinto"), SortKey(("b",), False, "kinto"), STAMP)


def test_bounds_and_stamp_filters_list_tombstones() -> None:
    parsed = parse_querystring([("_since", '"5"'), ("_to", "9"), ("_expected", "x")])
    assert (parsed.since, parsed.before, parsed.on_stamp, parsed.deprecated_to) == (5, 9, True, True)
    assert parse_querystring([("gt_last_modified", "3")]).on_stamp
    assert parse_querystring([("last_modified", "3")]).on_stamp
    assert not parse_querystring([("last_modified_by", "3")]).on_stamp
    assert parse_querystring([("_limit", "7"), ("_fields", "a, b.c")]).fields == (("a",), ("b", "c"))
    assert parse_fields("x") == (("x",),)
    assert parse_fields("a..b, ,c") == (("a", "", "b"), ("c",))


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ([("_since", "-1")], "_since"),
        ([("_before", "abc")], "_before"),
        ([("_to", "99999")], "_to"),
        ([("_limit", "x")], "_limit"),
        ([("_limit", "-1")], "_limit"),
        ([("_sort", "a..b")], "_sort"),
        ([("gt_last_modified", "x")], "gt_last_modified"),
        ([("has_x", "maybe")], "has_x"),
        ([("like_x", "\x00")], "like_x"),
        ([("_since\x00", "1")], "_since"),
        ([("_token", "!!!")], "_token"),
    ],
)
def test_errors_name_the_parameter(params: list[tuple[str, str]], name: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        parse_querystring(params, max_stamp=10_000)
    assert info.value.details == {"name": name}


def _token(payload: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def test_token_round_trip() -> None:
    sort = (SortKey(("n",), False, "kinto"), STAMP)
    token = page_token(sort, {"id": "r", "n": 5, "last_modified": 200, "x": 1}, 4)
    decoded = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert decoded["last_object"] == {"n": 5, "last_modified": 200} and decoded["offset"] == 4
    assert decoded["nonce"].startswith("pagination-token-")
    parsed = parse_querystring([("_sort", "n"), ("_token", token)])
    assert parsed.offset == 4
    assert parsed.after == Or(
        (
            KintoCompare(("n",), "gt", 5),
            And(
                (
                    KintoCompare(("n",), "min", 5),
                    KintoCompare(("n",), "max", 5),
                    KintoCompare(("last_modified",), "lt", 200),
                )
            ),
        )
    )


def test_token_with_a_missing_sort_value() -> None:
    token = page_token((SortKey(("n",), False, "kinto"), STAMP), {"id": "r", "last_modified": 3}, 1)
    after = parse_querystring([("_sort", "n"), ("_token", token)]).after
    assert after == And((KintoHas(("n",), False), KintoCompare(("last_modified",), "lt", 3)))
    only_missing = _token({"last_object": {}, "offset": 0})
    assert parse_querystring([("_sort", "last_modified"), ("_token", only_missing)]).after == Const(False)


@pytest.mark.parametrize(
    "payload",
    [
        {"offset": 1},
        {"last_object": [], "offset": 1},
        {"last_object": {}, "offset": "x"},
        {"last_object": {"last_modified": "abc"}},
        {"last_object": {"last_modified": -4}},
        {"last_object": {"id": 3}, "offset": 0},
        {"last_object": {"n": [9007199254740993]}},
        [1, 2],
    ],
)
def test_bad_tokens(payload: object) -> None:
    sort = "id" if isinstance(payload, dict) and "id" in payload.get("last_object", {}) else "n"
    with pytest.raises(InvalidQuery, match="_token has invalid content"):
        parse_querystring([("_sort", sort), ("_token", _token(payload))])
