"""The route table, the router, Kinvey's namespaces in the server's dispatch, unknown paths."""

from __future__ import annotations

import httpx
import pytest

from kinbase.frontends.kinvey import ROUTES
from kinbase.frontends.kinvey.router import Match, MethodNotAllowed, Route, Router, split

from .conftest import Kinvey, error_of

pytestmark = pytest.mark.anyio


async def _noop() -> None:
    return None


def test_every_route_matches_its_own_template_with_and_without_a_trailing_slash() -> None:
    router = Router(ROUTES)
    for route in ROUTES:
        path = "/" + "/".join(s.strip("{}") + "_v" if s.startswith("{") else s for s in route.segments)
        for variant in (path, path + "/"):
            found = router.match(route.method, split(variant))
            assert isinstance(found, Match) and found.route is route, (route.path, variant)
            assert all(value == name + "_v" for name, value in found.params.items())


def test_literal_segments_win_over_parameters_and_fall_back_by_method() -> None:
    router = Router(ROUTES)
    count = router.match("GET", split("/appdata/k/c/_count"))
    assert isinstance(count, Match) and count.route.name == "appdata_count"
    entity = router.match("GET", split("/appdata/k/c/_counter"))
    assert isinstance(entity, Match) and entity.params["entity_id"] == "_counter"
    # /user/k/login is POST only: a GET of it is the user whose id is "login".
    user = router.match("GET", split("/user/k/login"))
    assert (
        isinstance(user, Match) and user.route.name == "users_user_get" and user.params["user_id"] == "login"
    )


def test_another_method_lists_the_allowed_ones_and_unknown_paths_match_nothing() -> None:
    router = Router(ROUTES)
    found = router.match("PATCH", split("/appdata/k/c"))
    assert isinstance(found, MethodNotAllowed) and found.allow == ("DELETE", "GET", "HEAD", "OPTIONS", "POST")
    assert router.match("GET", split("/appdata/k/c/e/extra")) is None
    assert router.match("GET", split("/nowhere")) is None
    assert router.match("GET", split("/appdata//c")) is None, "an empty segment is no parameter"


def test_segments_are_split_before_decoding() -> None:
    assert split("/appdata/k/c/a%2Fb") == ["appdata", "k", "c", "a/b"]
    assert split("/appdata/k/") == ["appdata", "k"]
    assert split("/") == []
    assert split("/appdata") == ["appdata"]


def test_a_table_with_two_names_for_one_parameter_is_refused() -> None:
    with pytest.raises(ValueError, match="parameter"):
        Router([Route("GET", "/a/{x}", _noop, "one"), Route("GET", "/a/{y}/b", _noop, "two")])
    with pytest.raises(ValueError, match="two routes"):
        Router([Route("GET", "/a", _noop, "one"), Route("GET", "/a", _noop, "two")])


async def test_an_id_holding_a_slash_is_addressable_by_its_location(kv: Kinvey) -> None:
    created = await kv.post("/appdata/{k}/c", json={"_id": "a/b", "v": 1})
    assert created.status_code == 201, created.text
    location = httpx.URL(created.headers["location"])
    assert location.raw_path.endswith(b"/c/a%2Fb")
    r = await kv.http.get(location.raw_path.decode(), headers=kv.master)
    assert r.status_code == 200 and r.json()["_id"] == "a/b"


RESERVED = [
    ("GET", "/oauth/userinfo", "EntityNotFound"),
    ("POST", "/oauth/token/extra", "EntityNotFound"),
    ("GET", "/v2/oauth/nothing", "EntityNotFound"),
    ("POST", "/v3/oauth/revoke", "EntityNotFound"),
    ("GET", "/v3/oauth/other?client_id=x&redirect_uri=y", "EntityNotFound"),
    ("POST", "/blob/{k}/some-id/deeper/still", "BlobNotFound"),
    ("GET", "/blob/{k}/some-id", "BlobNotFound"),
    ("POST", "/push/{k}/unknown-action", "EntityNotFound"),
    ("GET", "/stream/{k}", "EntityNotFound"),
    ("GET", "/appdata/{k}/c/e/extra", "EntityNotFound"),
    ("GET", "/user/{k}/u/unknown/deeper", "UserNotFound"),
    ("GET", "/group/{k}/g/members", "EntityNotFound"),
    ("GET", "/roles/{k}/r/membership/x", "EntityNotFound"),
    ("POST", "/rpc/{k}/no-such-helper", "EntityNotFound"),
    ("GET", "/kinvey/nothing", "EntityNotFound"),
]


@pytest.mark.parametrize(("method", "path", "name"), RESERVED)
async def test_kinvey_namespaces_answer_kinvey_not_found(
    kv: Kinvey, method: str, path: str, name: str
) -> None:
    """Kinvey's reserved paths (the auth host's included) never reach Kinto's redirect or errors."""
    r = await kv.request(method, path)
    assert r.status_code == 404, r.text
    assert error_of(r) == name
    assert r.headers["x-kinvey-request-id"] and "location" not in r.headers


async def test_unknown_kinvey_paths_answer_with_cors_and_a_preflight(kv: Kinvey) -> None:
    origin = {"Origin": "http://localhost:8100"}
    r = await kv.request("GET", "/v3/oauth/userinfo", headers=origin)
    assert r.status_code == 404 and r.headers["access-control-allow-origin"] == "http://localhost:8100"
    r = await kv.http.options("/v3/oauth/token", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204 and "POST" in r.headers["access-control-allow-methods"]


async def test_kinto_keeps_its_own_version_prefixes(kv: Kinvey) -> None:
    """``/v2/...`` outside ``/v2/oauth`` is still Kinto's (its version-not-available error)."""
    r = await kv.http.get("/v2/buckets")
    assert r.status_code == 404 and r.json()["errno"] == 116
    r = await kv.http.get("/v3/")
    assert r.status_code == 404 and r.json()["errno"] == 116
    r = await kv.http.get("/buckets", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/v1/buckets"


async def test_server_routes(kv: Kinvey) -> None:
    r = await kv.http.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    r = await kv.http.post("/healthz")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    r = await kv.http.get("/healthz/deeper")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
