"""The querystring parser and the page tokens."""

from __future__ import annotations

import base64

import orjson
import pytest

from kinbase.core.kinto.config import KintoConfig
from kinbase.frontends.kinto.errors import KintoError
from kinbase.frontends.kinto.querystring import next_page_url, parse_listing, project
from kinbase.query.ast import KintoCompare, KintoContains, KintoHas, KintoLike, Or, SortKey

CONFIG = KintoConfig()


def test_defaults() -> None:
    page = parse_listing([], CONFIG)
    assert page.listing.sort == (SortKey(("last_modified",), True, "kinto"),)
    assert page.listing.limit == 10000 and page.listing.filter is None
    assert not page.listing.include_deleted


def test_filters_become_kinto_nodes() -> None:
    page = parse_listing([("like_title", "a*"), ("has_x", "false"), ("contains_any_t", '["a",1]')], CONFIG)
    assert page.listing.filter.children == (  # type: ignore[union-attr]
        KintoLike(("title",), "a*"),
        KintoHas(("x",), False),
        KintoContains(("t",), ("a", 1), any_=True),
    )
    page = parse_listing([("in_id", "a,b"), ("gt_last_modified", "5")], CONFIG)
    assert page.listing.filter.children == (  # type: ignore[union-attr]
        KintoCompare(("id",), "in", ["a", "b"]),
        KintoCompare(("last_modified",), "gt", 5),
    )
    assert page.listing.include_deleted


def test_sort_and_tiebreaker() -> None:
    page = parse_listing([("_sort", "-a,b.c")], CONFIG)
    assert [(k.path, k.descending) for k in page.listing.sort] == [
        (("a",), True),
        (("b", "c"), False),
        (("last_modified",), True),
    ]


def test_token_round_trip() -> None:
    page = parse_listing([("_sort", "n"), ("_limit", "2"), ("x", "1")], CONFIG)
    last = {"id": "r2", "n": 5, "last_modified": 200}
    query = [("_sort", "n"), ("x", "1")]
    url = next_page_url("http://h/v1", "/buckets/b/collections/c/records", query, page, last, 2)
    assert url.startswith("http://h/v1/buckets/b/collections/c/records?_sort=n&x=1&_limit=2&_token=")
    token = url.rsplit("_token=", 1)[1]
    decoded = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert decoded["last_object"] == {"n": 5, "last_modified": 200} and decoded["offset"] == 2
    follow = parse_listing([("_sort", "n"), ("_token", token)], CONFIG)
    after = follow.listing.after
    assert isinstance(after, Or) and len(after.children) == 2
    assert follow.offset == 2


def test_bad_token() -> None:
    with pytest.raises(KintoError):
        parse_listing([("_token", "!!!")], CONFIG)
    token = base64.urlsafe_b64encode(b'{"offset": 1}').decode()
    with pytest.raises(KintoError):
        parse_listing([("_token", token)], CONFIG)


def test_projection() -> None:
    doc = {"id": "a", "last_modified": 1, "x": {"y": 1, "z": 2}, "w": 3}
    assert project(doc, (("x", "y"),)) == {"id": "a", "last_modified": 1, "x": {"y": 1}}
    assert project(doc, (("missing",),)) == {"id": "a", "last_modified": 1}
