"""FlexFunctions: custom endpoints and pre/post hooks, the envelope, ``next()`` versus ``done()``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kinbase_flex.testing import FlexTestClient

ORIGINAL = {"authorization": "Kinvey test-session-token"}
REQUEST = {"headers": ORIGINAL, "username": "testuser", "userId": "testuser-id", "tempObjectStore": {}}


def test_custom_endpoint_envelope(client: FlexTestClient, flex: Any) -> None:
    @flex.functions.register("echo")
    def echo(context: Any, complete: Any, modules: Any) -> None:
        complete().setBody(
            {"got": context.body, "hookType": context.hookType, "objectName": context.objectName}
        ).ok().done()

    r = client.function("echo", {"a": 1}, object_name="echo")
    assert r.status_code == 200
    assert r.json() == {
        "request": {**REQUEST, "method": "POST", "objectName": "echo", "body": {"a": 1}},
        "response": {
            "status": 0,
            "headers": {},
            "body": {"got": {"a": 1}, "hookType": "customEndpoint", "objectName": "echo"},
            "statusCode": 200,
            "continue": False,
        },
    }


def test_context_of_a_function(client: FlexTestClient, flex: Any) -> None:
    flex.functions.register(
        "ctx", lambda context, complete, modules: complete({"context": context}).ok().done()
    )
    r = client.function(
        "ctx",
        {"x": 1},
        hook_type="pre",
        method="PUT",
        object_name="things",
        entity_id="t1",
        query={"query": '{"a":1}'},
    )
    assert r.json()["response"]["body"]["context"] == {
        "method": "PUT",
        "headers": ORIGINAL,
        "username": "testuser",
        "userId": "testuser-id",
        "objectName": "things",
        "hookType": "pre",
        "entityId": "t1",
        "body": {"x": 1},
        "query": {"query": '{"a":1}'},
    }


def test_query_sent_as_a_json_string_is_parsed_into_the_context(client: FlexTestClient, flex: Any) -> None:
    """Deviation from the Node SDK, which parses it but leaves ``context.query`` unset: the reference
    says ``query`` is "an object containing all query string parameters"."""
    flex.functions.register(
        "q", lambda context, complete, modules: complete({"query": context.query}).ok().done()
    )
    r = client.request("POST", "/_flexFunctions/q", json={"body": {}, "query": json.dumps({"limit": "2"})})
    assert r.json()["response"]["body"] == {"query": {"limit": "2"}}
    assert r.json()["request"]["query"] == {"limit": "2"}
    bad = client.request("POST", "/_flexFunctions/q", json={"body": {}, "query": "{not json"})
    assert bad.status_code == 400
    assert bad.json()["response"]["body"] == {
        "error": "BadRequest",
        "description": "Unable to understand the request",
        "debug": "Request body is not JSON",
    }


def test_pre_hook_next_replaces_the_request_body_and_query(client: FlexTestClient, flex: Any) -> None:
    @flex.functions.register("stamp")
    def stamp(context: Any, complete: Any, modules: Any) -> None:
        complete().setBody({**context.body, "stampedBy": "flex"}).setQuery(
            {"query": {"stamped": True}, "sort": {"n": -1}}
        ).ok().next()

    r = client.function("stamp", {"name": "n"}, hook_type="pre", object_name="things", query={"limit": "1"})
    body = r.json()
    assert r.status_code == 200
    assert body["request"]["body"] == {"name": "n", "stampedBy": "flex"}
    assert (
        body["request"]["query"]
        == body["request"]["params"]
        == {"query": '{"stamped":true}', "sort": '{"n":-1}'}
    )
    assert body["response"] == {"status": 0, "headers": {}, "body": {}, "statusCode": 200, "continue": True}


def test_pre_hook_set_query_with_a_query_object(client: FlexTestClient, flex: Any) -> None:
    def handler(context: Any, complete: Any, modules: Any) -> None:
        query = modules.Query().equalTo("owner", context.userId)
        query.limit = 10
        complete().setQuery(query).next()

    flex.functions.register("scope", handler)
    body = client.function("scope", {}, hook_type="pre", method="GET", object_name="things").json()
    assert body["request"]["query"] == {"query": '{"owner":"testuser-id"}', "limit": "10"}


def test_pre_hook_done_short_circuits(client: FlexTestClient, flex: Any) -> None:
    flex.functions.register(
        "deny", lambda context, complete, modules: complete().setBody("no saves today").forbidden().done()
    )
    body = client.function("deny", {"name": "n"}, hook_type="pre").json()
    assert body["request"]["body"] == {"name": "n"}
    assert body["response"] == {
        "status": 0,
        "headers": {},
        "body": {"error": "Forbidden", "description": "The request is forbidden", "debug": "no saves today"},
        "statusCode": 403,
        "continue": False,
    }


def test_post_hook_reads_and_replaces_the_response(client: FlexTestClient, flex: Any) -> None:
    @flex.functions.register("count")
    def count(context: Any, complete: Any, modules: Any) -> None:
        complete().setBody({"items": context.body, "n": len(context.body), "h": context.headers}).ok().next()

    response = {"status": 200, "headers": {"x-kinvey-api-version": "5"}, "body": [{"_id": "a"}, {"_id": "b"}]}
    r = client.function(
        "count", None, hook_type="post", method="GET", object_name="things", response=response
    )
    body = r.json()
    assert r.status_code == 200
    assert body["response"] == {
        "status": 200,
        "headers": {"x-kinvey-api-version": "5"},
        "body": {"items": response["body"], "n": 2, "h": {"x-kinvey-api-version": "5"}},
        "statusCode": 200,
        "continue": True,
    }


def test_post_hook_response_from_headers(client: FlexTestClient, flex: Any) -> None:
    flex.functions.register(
        "post",
        lambda context, complete, modules: complete({"saw": context.body, "h": context.headers}).next(),
    )
    extra = {
        "X-Kinvey-Response-Status": "201",
        "X-Kinvey-Response-Headers": '{"location": "/x"}',
        "X-Kinvey-Response-Body": '{"_id": "x"}',
    }
    headers = {**client.headers(), **extra}
    r = client.request("POST", "/_flexFunctions/post", json={"hookType": "post"}, headers=headers)
    response = r.json()["response"]
    assert response["status"] == 201
    assert response["body"] == {"saw": {"_id": "x"}, "h": {"location": "/x"}}


def test_next_without_a_body_keeps_the_original(client: FlexTestClient, flex: Any) -> None:
    flex.functions.register("pass", lambda context, complete, modules: complete().next())
    pre = client.function("pass", {"keep": 1}, hook_type="pre").json()
    assert pre["request"]["body"] == {"keep": 1}
    post = client.function(
        "pass", None, hook_type="post", response={"status": 201, "body": {"made": 1}}
    ).json()
    assert post["response"]["body"] == {"made": 1}
    assert post["response"]["statusCode"] == 200


def test_a_task_without_body_field_uses_the_whole_posted_body(client: FlexTestClient, flex: Any) -> None:
    """As the Node receiver: ``body.body || body``."""
    flex.functions.register("e", lambda context, complete, modules: complete({"b": context.body}).done())
    r = client.request("POST", "/_flexFunctions/e", json={"a": 1})
    assert r.json()["response"]["body"] == {"b": {"a": 1}}


def test_url_query_wins_over_the_posted_query(client: FlexTestClient, flex: Any) -> None:
    flex.functions.register("q", lambda context, complete, modules: complete({"q": context.query}).done())
    r = client.request("POST", "/_flexFunctions/q?limit=3", json={"body": {}, "query": {"skip": "1"}})
    assert r.json()["response"]["body"] == {"q": {"limit": "3"}}


@pytest.mark.parametrize(
    ("function", "status"),
    [
        ("ok", 200),
        ("created", 201),
        ("accepted", 202),
        ("notFound", 404),
        ("badRequest", 400),
        ("unauthorized", 401),
        ("forbidden", 403),
        ("notAllowed", 405),
        ("notImplemented", 501),
        ("runtimeError", 550),
    ],
)
def test_status_functions_set_the_http_status_and_statusCode(
    client: FlexTestClient, flex: Any, function: str, status: int
) -> None:
    flex.functions.register(
        "s", lambda context, complete, modules: getattr(complete({"v": 1}), function)().done()
    )
    r = client.function("s", {})
    assert r.status_code == r.json()["response"]["statusCode"] == status


def test_temp_object_store_travels_with_the_request(client: FlexTestClient, flex: Any) -> None:
    @flex.functions.register("pre")
    def pre(context: Any, complete: Any, modules: Any) -> None:
        modules.tempObjectStore.set("token", context.body["token"])
        complete().ok().next()

    @flex.functions.register("post")
    def post(context: Any, complete: Any, modules: Any) -> None:
        store = modules.temp_object_store
        complete().setBody(
            {"token": store.get("token"), "all": store.getAll(), "none": store.get("x")}
        ).ok().done()

    first = client.function("pre", {"token": "abc"}, hook_type="pre").json()
    carried = first["request"]["tempObjectStore"]
    assert carried == {"token": "abc"}
    second = client.function(
        "post", None, hook_type="post", response={"body": {}}, temp_object_store=carried
    ).json()
    assert second["response"]["body"] == {"token": "abc", "all": {"token": "abc"}, "none": None}


def test_custom_request_properties_flow_from_pre_to_post_hook(client: FlexTestClient, flex: Any) -> None:
    """The reference: properties set in a pre hook are seen by the post hook. The reply carries them
    in ``request.headers["x-kinvey-custom-request-properties"]`` (as the Node SDK 4.1 does; 3.3 does not)."""

    @flex.functions.register("pre")
    def pre(context: Any, complete: Any, modules: Any) -> None:
        rc = modules.requestContext
        if rc.getCustomRequestProperty("officeLocation") == "Paris":
            rc.setCustomRequestProperty("didPreprocess", True)
        complete().ok().next()

    original = {**ORIGINAL, "X-Kinvey-Custom-Request-Properties": '{"officeLocation": "Paris"}'}
    body = client.function("pre", {}, hook_type="pre", original_headers=original).json()
    headers = body["request"]["headers"]
    assert json.loads(headers["x-kinvey-custom-request-properties"]) == {
        "officeLocation": "Paris",
        "didPreprocess": True,
    }

    @flex.functions.register("post")
    def post(context: Any, complete: Any, modules: Any) -> None:
        complete({"did": modules.requestContext.getCustomRequestProperty("didPreprocess")}).done()

    reply = client.function(
        "post", None, hook_type="post", response={"body": {}}, original_headers=headers
    ).json()
    assert reply["response"]["body"] == {"did": True}


def test_unchanged_custom_properties_leave_the_headers_alone(client: FlexTestClient, flex: Any) -> None:
    flex.functions.register("read", lambda context, complete, modules: complete().next())
    original = {**ORIGINAL, "x-kinvey-custom-request-properties": '{"a": 1}'}
    body = client.function("read", {}, hook_type="pre", original_headers=original).json()
    assert body["request"]["headers"] == original


def test_missing_function_is_not_implemented(client: FlexTestClient) -> None:
    r = client.function("nope", {"a": 1})
    assert r.status_code == 501
    assert r.json()["response"] == {
        "status": 0,
        "headers": {},
        "body": {
            "error": "NotImplemented",
            "description": "The request invoked a method that is not implemented",
            "debug": "These methods are not implemented",
        },
        "statusCode": 501,
        "continue": False,
    }


def test_discovery_lists_functions_and_auth_handlers(client: FlexTestClient, flex: Any) -> None:
    flex.functions.register("a", lambda c, d, e: None)
    flex.businessLogic.register("b", lambda c, d, e: None)
    flex.auth.register("login", lambda c, d, e: None)
    assert client.discover().json() == {
        "dataLink": {"serviceObjects": []},
        "businessLogic": {"handlers": ["a", "b"]},
        "auth": {"handlers": ["login"]},
    }
