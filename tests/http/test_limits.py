"""The edge checks of the HTTP layer, on their own (the protocol tests cover their rendering)."""

from __future__ import annotations

import orjson
import pytest

from kinbase.errors import InvalidPath, LimitExceeded
from kinbase.http.limits import MAX_JSON_DEPTH, check_headers, check_json_depth, check_path


def nested(depth: int, leaf: str = "1") -> str:
    text = leaf
    for level in range(depth):
        text = f"[{text}]" if level % 2 else f'{{"k":{text}}}'
    return text


@pytest.mark.parametrize("depth", [0, 1, 2, 99, MAX_JSON_DEPTH])
def test_json_up_to_the_limit_passes(depth: int) -> None:
    text = nested(depth)
    check_json_depth(text)
    check_json_depth(text.encode())
    orjson.loads(text)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 300, 5000])
def test_json_past_the_limit_is_refused_before_decoding(depth: int) -> None:
    with pytest.raises(LimitExceeded) as caught:
        check_json_depth(nested(depth))
    assert caught.value.location == "body"


def test_brackets_inside_strings_do_not_count() -> None:
    text = orjson.dumps({"s": "[" * 500 + "{" * 500, "t": ['\\"[[[', "]]]"]}).decode()
    check_json_depth(text)


def test_many_shallow_values_pass() -> None:
    check_json_depth(orjson.dumps([{"a": [1, 2], "b": {"c": 3}} for _ in range(2000)]))


def test_unbalanced_text_is_left_to_the_decoder() -> None:
    check_json_depth("[" * 150 + "}" * 150)
    check_json_depth("[" * 150)


def test_a_custom_limit_and_location() -> None:
    with pytest.raises(LimitExceeded) as caught:
        check_json_depth(nested(4), 3, location="querystring")
    assert caught.value.location == "querystring"
    check_json_depth(nested(3), 3)


@pytest.mark.parametrize("path", ["/v1/a\nb", "/x\x00", "/\r", "/a\x7f", "/a\x85", "/a\ufffdb", "/\t"])
def test_control_characters_in_a_path_are_refused(path: str) -> None:
    with pytest.raises(InvalidPath):
        check_path(path)


@pytest.mark.parametrize("path", ["/", "/v1/buckets/b", "/appdata/k/c/日本", "/a b/é/%0A", "/x/\u00a0"])
def test_ordinary_paths_pass(path: str) -> None:
    check_path(path)


def test_header_block_limit() -> None:
    headers = [(b"authorization", b"x" * 100), (b"host", b"h")]
    check_headers(headers, 200)
    with pytest.raises(LimitExceeded) as caught:
        check_headers([*headers, (b"x-big", b"y" * 100)], 200)
    assert caught.value.location == "header"
