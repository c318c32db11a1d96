"""The request edge on the Kinto side (issue 16): control characters in paths, encoded redirects,
nesting and size limits, U+0000, and 503s that keep database messages to the log."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from kinbase.storage.base import StorageBackend
from kinbase.storage.exceptions import StorageError
from tests.support.server import run_server

from .conftest import Kinto, basic
from .test_error_shape import assert_error

pytestmark = pytest.mark.anyio

R = "/buckets/b/collections/c/records"


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    "path",
    [
        "/buckets/a%0Ab/groups",
        "/accounts/%0A",
        "/accounts/%0D%0ASet-Cookie:%20x=y",
        "/buckets/b%00/collections",
        "/buckets/%1B[31m",
        "/buckets/%FF",
    ],
)
async def test_control_characters_in_a_path_are_a_400(kinto: Kinto, path: str) -> None:
    for full in (kinto.url(path), f"/kinto/{kinto.app.key}{path}", "/v1" + path, path):
        r = await kinto.http.get(full, headers=basic("alice"), follow_redirects=False)
        assert_error(r, 400, 107)
        assert r.json()["details"][0]["location"] == "path"
        assert "location" not in r.headers


async def test_the_account_list_is_never_served_for_a_control_character(kinto: Kinto) -> None:
    r = await kinto.get("/accounts/%0A", "admin")
    assert r.status_code == 400 and "data" not in r.json()


async def test_redirects_encode_the_path(kinto: Kinto) -> None:
    base = f"/kinto/{kinto.app.key}"
    r = await kinto.http.get(f"{base}/buckets/%C3%A9%20x?a=%20b", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == f"{base}/v1/buckets/%C3%A9%20x?a=%20b"
    r = await kinto.http.get(f"{base}/v1/buckets/%C3%A9/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == f"{base}/v1/buckets/%C3%A9"


async def test_a_body_nested_too_deep_is_a_400_and_changes_nothing(kinto: Kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.put(f"{R}/deep", "alice", json={"data": nested(300)})
    assert_error(r, 400, 107)
    assert r.json()["details"][0]["location"] == "body"
    assert (await kinto.get(f"{R}/deep", "alice")).status_code == 404
    r = await kinto.put(f"{R}/deep", "alice", json={"data": nested(95)})
    assert r.status_code == 201, r.text
    r = await kinto.get(f"{R}/deep", "alice")
    assert r.status_code == 200 and r.json()["data"]["k"] == nested(94)


async def test_a_querystring_nested_too_deep_is_a_400(kinto: Kinto) -> None:
    await kinto.tree("alice")
    deep = "[" * 300 + "1" + "]" * 300
    r = await kinto.get(R, "alice", params={"in_x": deep})
    assert_error(r, 400, 107)
    assert r.json()["details"][0]["location"] == "querystring"


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": {"title": "a\\u0000b"}}',
        b'{"data": {"k\\u0000": 1}}',
        b'{"data": {"list": [{"x": ["\\u0000"]}]}}',
        b'{"permissions": {"read": ["account:\\u0000"]}}',
    ],
)
async def test_nul_in_a_body_is_a_400_on_every_engine(kinto: Kinto, body: bytes) -> None:
    await kinto.tree("alice")
    headers = {**basic("alice"), "Content-Type": "application/json"}
    for method, path in (("PUT", f"{R}/n"), ("POST", R), ("PATCH", "/buckets/b")):
        r = await kinto.http.request(method, kinto.url(path), content=body, headers=headers)
        assert_error(r, 400, 107)
    assert (await kinto.get(f"{R}/n", "alice")).status_code == 404


async def test_nul_in_a_basic_username_is_a_401_on_every_engine(kinto: Kinto) -> None:
    await kinto.tree("alice")
    for user, password in (("ali\x00ce", "alice-pw"), ("alice", "pw\x00"), ("\x00", "x")):
        r = await kinto.get(R, headers=basic(user, password))
        assert_error(r, 401, 104)
    requests = [{"method": "GET", "path": R, "headers": basic("a\x00", "b")}]
    r = await kinto.post("/batch", "alice", json={"requests": requests})
    assert r.status_code == 200, r.text
    assert r.json()["responses"][0]["status"] == 401


async def test_nul_in_a_querystring_is_a_400(kinto: Kinto) -> None:
    await kinto.tree("alice")
    r = await kinto.get(R, "alice", params={"title": "a\x00b"})
    assert_error(r, 400, 107)


async def test_a_batch_subrequest_with_control_characters_is_refused(kinto: Kinto) -> None:
    await kinto.tree("alice")
    for sub in ({"path": "/buckets/a\nb"}, {"path": R, "headers": {"X-Evil": "a\r\nb"}}):
        r = await kinto.post("/batch", "alice", json={"requests": [{"method": "GET", **sub}]})
        assert_error(r, 400, 107)


async def test_an_oversized_header_block_is_a_400(kinto: Kinto) -> None:
    r = await kinto.get("/buckets", "alice", headers={"X-Big": "x" * 20_000})
    assert_error(r, 400, 107)
    assert r.json()["details"][0]["location"] == "header"


async def test_a_503_keeps_the_database_message_in_the_log(
    kinto: Kinto, storage: StorageBackend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise StorageError('relation "objects" does not exist at character 42')

    monkeypatch.setattr(type(storage), "reader", broken)
    with caplog.at_level(logging.WARNING, logger="kinbase"):
        r = await kinto.get("/buckets", "alice")
    assert_error(r, 503, 201)
    assert "relation" not in r.text and r.headers["retry-after"]
    assert any("relation" in rec.getMessage() and "request id" in rec.getMessage() for rec in caplog.records)


@pytest.mark.slow
def test_newline_paths_never_drop_the_connection(tmp_path: Path) -> None:
    """Over a real socket: each odd path gets its 400 and the connection serves the next request."""
    with run_server("--data-dir", str(tmp_path / "data"), workdir=tmp_path) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            reader = sock.makefile("rb")
            for path in ("/v1/buckets/a%0Ab/groups", "/v1/accounts/%0A", "/buckets/a%0Ab", "/appdata/%0A"):
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                status = reader.readline()
                assert status.startswith(b"HTTP/1.1 400"), (path, status)
                length = 0
                while (line := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                reader.read(length)
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            assert reader.readline().startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("numeral", ["9" * 5000, "²", "9" * 30])
async def test_odd_numerals_in_headers_and_querystrings_are_never_a_500(kinto: Kinto, numeral: str) -> None:
    """``int()`` refuses "²" (which ``isdigit`` accepts) and numerals over 4,300 digits: both
    raised deep in a handler and answered 500."""
    await kinto.tree("alice")
    assert (await kinto.put(f"{R}/r1", "alice", json={"data": {"list": [1, 2]}})).status_code == 201
    quoted = {"If-Match": f'"{numeral}"'.encode()}
    r = await kinto.put(f"{R}/r1", "alice", json={"data": {"x": 1}}, headers=quoted)
    assert r.status_code in (400, 412), r.text
    r = await kinto.get(f"{R}/r1", "alice", headers={"If-None-Match": f'"{numeral}"'.encode()})
    assert r.status_code in (200, 400), r.text
    r = await kinto.get(R, "alice", params={"_limit": numeral})
    assert r.status_code in (200, 400), r.text
    r = await kinto.get(R, "alice", params={"_since": numeral})
    assert r.status_code == 400, r.text
    patch = [{"op": "replace", "path": f"/data/list/{numeral}", "value": 3}]
    headers = {"Content-Type": "application/json-patch+json"}
    r = await kinto.patch(f"{R}/r1", "alice", json=patch, headers=headers)
    assert r.status_code == 400, r.text
    assert (await kinto.get(f"{R}/r1", "alice")).json()["data"]["list"] == [1, 2]
