# ruff: noqa: E501 - tables of requests and replies read better on one line
"""FlexData: the routes, the context each event gets, the status functions and the reply bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest

import kinbase_flex
from kinbase_flex.testing import FlexTestClient

ORIGINAL = {"authorization": "Kinvey test-session-token"}


def echo(event: str) -> Any:
    def handler(context: Any, complete: Any, modules: Any) -> None:
        complete().setBody({"event": event, "context": context}).ok().next()

    return handler


@pytest.fixture
def widgets(flex: kinbase_flex.FlexService) -> kinbase_flex.ServiceObject:
    so = flex.data.serviceObject("widgets")
    for event in (
        "onInsert",
        "onInsertMany",
        "onUpdate",
        "onDeleteById",
        "onDeleteByQuery",
        "onDeleteAll",
        "onGetAll",
        "onGetById",
        "onGetByQuery",
        "onGetCount",
        "onGetCountByQuery",
    ):
        getattr(so, event)(echo(event))
    return so


BASE = {"headers": ORIGINAL, "username": "testuser", "userId": "testuser-id", "serviceObjectName": "widgets"}

EVENTS = [
    ("GET", "/widgets", None, "onGetAll", {"method": "GET"}),
    ("GET", "/widgets/", None, "onGetAll", {"method": "GET"}),
    ("GET", "/widgets?query=%7B%22a%22%3A1%7D&limit=2", None, "onGetByQuery",
     {"method": "GET", "query": {"query": '{"a":1}', "limit": "2"}}),
    ("GET", "/widgets/w1", None, "onGetById", {"method": "GET", "entityId": "w1"}),
    ("GET", "/widgets/w%201/?fields=a", None, "onGetById",
     {"method": "GET", "entityId": "w 1", "query": {"fields": "a"}}),
    ("GET", "/widgets/_count", None, "onGetCount", {"method": "GET"}),
    ("GET", "/widgets/_count/?query=%7B%7D", None, "onGetCountByQuery", {"method": "GET", "query": {"query": "{}"}}),
    ("POST", "/widgets", {"name": "gear"}, "onInsert", {"method": "POST", "body": {"name": "gear"}}),
    ("POST", "/widgets", [{"a": 1}], "onInsertMany", {"method": "POST", "body": [{"a": 1}]}),
    ("PUT", "/widgets/w1", {"_id": "w1"}, "onUpdate", {"method": "PUT", "entityId": "w1", "body": {"_id": "w1"}}),
    ("DELETE", "/widgets/w1", None, "onDeleteById", {"method": "DELETE", "entityId": "w1"}),
    ("DELETE", "/widgets?query=%7B%7D", None, "onDeleteByQuery", {"method": "DELETE", "query": {"query": "{}"}}),
    ("DELETE", "/widgets", None, "onDeleteAll", {"method": "DELETE"}),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "event", "context"), EVENTS)
def test_every_event_gets_its_request(
    client: FlexTestClient,
    widgets: Any,
    method: str,
    path: str,
    body: Any,
    event: str,
    context: dict[str, Any],
) -> None:
    r = client.request(method, path, json=body if body is not None else kinbase_flex.testing._UNSET)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.json() == {"event": event, "context": {**BASE, **context}}


def test_discovery_lists_service_objects(client: FlexTestClient, widgets: Any, flex: Any) -> None:
    flex.data.serviceObject("gadgets")
    r = client.discover()
    assert r.status_code == 200
    assert r.json() == {
        "dataLink": {"serviceObjects": ["widgets", "gadgets"]},
        "businessLogic": {"handlers": []},
        "auth": {"handlers": []},
    }


def test_healthcheck(client: FlexTestClient) -> None:
    r = client.healthcheck()
    assert (r.status_code, r.json()) == (200, {"healthy": True})


ERRORS = {
    "notFound": (404, "NotFound", "The requested entity or entities were not found in the serviceObject"),
    "badRequest": (400, "BadRequest", "Unable to understand request"),
    "unauthorized": (401, "InvalidCredentials", "Invalid credentials. Please retry your request with correct credentials"),
    "forbidden": (403, "Forbidden", "The request is forbidden"),
    "notAllowed": (405, "NotAllowed", "The request is not allowed"),
    "notImplemented": (501, "NotImplemented", "The request invoked a method that is not implemented"),
    "runtimeError": (550, "FlexRuntimeError", "The Flex Service had a runtime error.  See debug message for details"),
}  # fmt: skip


@pytest.mark.parametrize("function", list(ERRORS))
@pytest.mark.parametrize("snake", [False, True])
def test_error_status_functions(client: FlexTestClient, flex: Any, function: str, snake: bool) -> None:
    name = "".join("_" + c.lower() if c.isupper() else c for c in function) if snake else function

    def handler(context: Any, complete: Any, modules: Any) -> None:
        which = context.entityId
        builder = complete().set_body("was set") if snake else complete().setBody("was set")
        if which == "debug":
            getattr(builder, name)({"why": 1}).done()
        elif which == "body":
            getattr(builder, name)().done()
        else:
            getattr(complete(), name)().next()

    flex.data.serviceObject("so").onGetById(handler)
    status, error, description = ERRORS[function]
    for which, debug in (("debug", {"why": 1}), ("body", "was set"), ("nothing", {})):
        r = client.data("GET", "so", which)
        assert r.status_code == status
        assert r.json() == {"error": error, "description": description, "debug": debug}


@pytest.mark.parametrize(("function", "status"), [("ok", 200), ("created", 201), ("accepted", 202)])
def test_success_status_functions(client: FlexTestClient, flex: Any, function: str, status: int) -> None:
    flex.data.serviceObject("so").onInsert(
        lambda context, complete, modules: getattr(complete(context.body), function)().done()
    )
    r = client.data("POST", "so", body={"a": 1})
    assert (r.status_code, r.json()) == (status, {"a": 1})


def test_exception_passed_to_an_error_status_is_normalized(client: FlexTestClient, flex: Any) -> None:
    def handler(context: Any, complete: Any, modules: Any) -> None:
        try:
            raise ValueError("bad value")
        except ValueError as exc:
            complete().setBody(exc).runtimeError().done()

    flex.data.serviceObject("so").onGetAll(handler)
    r = client.data("GET", "so")
    debug = r.json()["debug"]
    assert r.status_code == 550
    assert debug["name"] == "ValueError"
    assert debug["message"] == "bad value"
    assert debug["stack"].startswith("Traceback (most recent call last)")
    assert debug["stack"].endswith("ValueError: bad value")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, {}),  # complete() without a body: the response body stays {}
        (0, {}),  # falsy values do not replace the body, as in JavaScript
        ("", {}),
        (False, {}),
        ([], []),
        ({}, {}),
        ("plain text", "plain text"),
        ("123", 123),  # a string body that is JSON is sent as that JSON, as the Node SDK does
        ('{"a": [1]}', {"a": [1]}),
        ({"n": 1.5, "u": "é"}, {"n": 1.5, "u": "é"}),
    ],
)
def test_reply_bodies(client: FlexTestClient, flex: Any, body: Any, expected: Any) -> None:
    flex.data.serviceObject("so").onGetAll(lambda context, complete, modules: complete(body).ok().done())
    r = client.data("GET", "so")
    assert r.status_code == 200
    assert r.json() == expected


def test_default_status_is_200(client: FlexTestClient, flex: Any) -> None:
    flex.data.serviceObject("so").onDeleteAll(
        lambda context, complete, modules: complete({"count": 4}).done()
    )
    r = client.data("DELETE", "so")
    assert (r.status_code, r.json()) == (200, {"count": 4})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/so"),
        ("GET", "/so/1"),
        ("GET", "/so/_count"),
        ("POST", "/so"),
        ("PUT", "/so/1"),
        ("DELETE", "/so"),
    ],
)
def test_event_without_handler_is_not_implemented(
    client: FlexTestClient, flex: Any, method: str, path: str
) -> None:
    flex.data.serviceObject("so")
    r = client.request(method, path, json={} if method in ("POST", "PUT") else kinbase_flex.testing._UNSET)
    assert r.status_code == 501
    assert r.json() == {
        "error": "NotImplemented",
        "description": "The request invoked a method that is not implemented",
        "debug": "These methods are not implemented",
    }


def test_unregistered_service_object_is_not_implemented(client: FlexTestClient) -> None:
    assert client.data("GET", "nothing").status_code == 501


def test_handlers_can_be_removed(client: FlexTestClient, flex: Any) -> None:
    so = flex.data.serviceObject("so")
    so.onGetAll(lambda context, complete, modules: complete([]).ok().done())
    assert client.data("GET", "so").status_code == 200
    so.removeHandler("onGetAll")
    assert client.data("GET", "so").status_code == 501
    flex.data.removeServiceObject("so")
    assert flex.data.getServiceObjects() == []
    with pytest.raises(ValueError, match="Operation not permitted"):
        so.register("onSomething", lambda c, d, e: None)


def test_original_headers_and_metadata_headers(client: FlexTestClient, flex: Any) -> None:
    flex.data.serviceObject("so").onGetAll(lambda context, complete, modules: complete(context).ok().done())
    r = client.data("GET", "so", original_headers={"x-a": "1"}, username=None, user_id=None)
    assert r.json() == {
        "method": "GET",
        "headers": {"x-a": "1"},
        "username": "",
        "userId": "",
        "serviceObjectName": "so",
    }
    raw = client.request(
        "GET",
        "/so",
        headers={"X-Auth-Key": flex.sharedSecret, "X-Kinvey-Original-Request-Headers": "not json"},
    )
    assert raw.json()["headers"] == {}


def test_context_reads_as_attributes_and_snake_case(client: FlexTestClient, flex: Any) -> None:
    seen: dict[str, Any] = {}

    def handler(context: Any, complete: Any, modules: Any) -> None:
        seen.update(
            entity=(context.entityId, context.entity_id, context["entityId"]),
            so=(context.serviceObjectName, context.service_object_name),
            user=(context.userId, context.user_id),
            missing=(context.query, context.body),
        )
        with pytest.raises(AttributeError):
            _ = context.not_a_field
        complete().ok().done()

    flex.data.serviceObject("so").onGetById(handler)
    assert client.data("GET", "so", "e1").status_code == 200
    assert seen == {
        "entity": ("e1", "e1", "e1"),
        "so": ("so", "so"),
        "user": ("testuser-id", "testuser-id"),
        "missing": (None, None),
    }


def test_decorator_registration_and_async_handlers(client: FlexTestClient, flex: Any) -> None:
    so = flex.data.serviceObject("so")

    @so.on_get_by_id
    async def get_one(context: Any, complete: Any, modules: Any) -> None:
        complete({"_id": context.entityId}).ok().done()

    assert get_one.__name__ == "get_one"
    assert client.data("GET", "so", "x").json() == {"_id": "x"}


def test_a_body_that_is_not_json_is_a_bad_request(client: FlexTestClient, flex: Any) -> None:
    flex.data.serviceObject("so").onInsert(
        lambda context, complete, modules: complete(context.body).ok().done()
    )
    headers = client.headers()
    r = client.request("POST", "/so", headers=headers, json=kinbase_flex.testing._UNSET)
    assert r.json() == {}  # no body at all reads as {}
    bad = client._portal.call(lambda: client._client.post("/so", content=b"{nope", headers=headers))
    assert bad.status_code == 400
    assert bad.json()["debug"] == "Request body contains invalid JSON"
    scalar = client._portal.call(lambda: client._client.post("/so", content=b'"text"', headers=headers))
    assert scalar.status_code == 400
    text = client._portal.call(
        lambda: client._client.post(
            "/so", content=b"hello", headers={**headers, "Content-Type": "text/plain"}
        )
    )
    assert (text.status_code, text.json()) == (200, {})
    assert json.loads(client.data("POST", "so", body={"ok": True}).content) == {"ok": True}
