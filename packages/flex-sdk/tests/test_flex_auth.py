"""FlexAuth: tokens, attributes and the OAuth-style failures."""

from __future__ import annotations

from typing import Any

import pytest

from kinbase_flex.testing import FlexTestClient


def test_token_and_attributes(client: FlexTestClient, flex: Any) -> None:
    @flex.auth.register("myAuth")
    def authenticate(context: Any, complete: Any, modules: Any) -> None:
        body = context.body
        if body["password"] != "secret":
            complete().accessDenied("Wrong password").next()
            return
        (
            complete()
            .setToken({"access_token": f"tok-{body['username']}"})
            .addAttribute("email", f"{body['username']}@example.test")
            .addAttribute("temp", 1)
            .removeAttribute("temp")
            .ok()
            .next()
        )

    ok = client.auth("myAuth", "ann", "secret", options={"scope": "x"})
    assert (ok.status_code, ok.json()) == (
        200,
        {"token": {"access_token": "tok-ann"}, "authenticated": True, "email": "ann@example.test"},
    )
    denied = client.auth("myAuth", "ann", "nope")
    assert (denied.status_code, denied.json()) == (
        401,
        {"error": "access_denied", "error_description": "Wrong password"},
    )


def test_auth_context(client: FlexTestClient, flex: Any) -> None:
    flex.auth.register("ctx", lambda context, complete, modules: complete({"ctx": context}).ok().done())
    r = client.request(
        "POST", "/_auth/ctx", json={"username": "u", "password": "p", "options": {"o": 1}, "ignored": True}
    )
    assert r.json()["token"]["ctx"] == {
        "method": "POST",
        "headers": {"authorization": "Kinvey test-session-token"},
        "username": "testuser",
        "userId": "testuser-id",
        "body": {"username": "u", "password": "p", "options": {"o": 1}},
    }


@pytest.mark.parametrize(
    ("call", "status", "body"),
    [
        (
            lambda c: c().serverError("db down").done(),
            401,
            {"error": "server_error", "error_description": "db down"},
        ),
        (
            lambda c: c().server_error("db down").done(),
            401,
            {"error": "server_error", "error_description": "db down"},
        ),
        (
            lambda c: c("later").temporarilyUnavailable().done(),
            401,
            {"error": "temporarily_unavailable", "error_description": "later"},
        ),
        (
            lambda c: c().temporarily_unavailable("x").next(),
            401,
            {"error": "temporarily_unavailable", "error_description": "x"},
        ),
        (lambda c: c().accessDenied().done(), 401, {"error": "access_denied"}),
        (lambda c: c().access_denied(ValueError("v")).done(), 401, None),
        (
            lambda c: c().notImplemented().done(),
            401,
            {
                "error": "server_error",
                "error_description": "The request invoked a method that is not implemented",
            },
        ),
        (lambda c: c().setToken("abc").next(), 200, {"token": "abc", "authenticated": False}),
        (lambda c: c({"t": 1}).ok().done(), 200, {"token": {"t": 1}, "authenticated": True}),
        (
            lambda c: c().set_token("b64").add_attribute("k", "v").remove_attribute("k").ok().done(),
            200,
            {"token": "b64", "authenticated": True},
        ),
        (lambda c: c().done(), 200, {"token": {}, "authenticated": False}),
    ],
)
def test_auth_status_functions(client: FlexTestClient, flex: Any, call: Any, status: int, body: Any) -> None:
    flex.auth.register("h", lambda context, complete, modules: call(complete))
    r = client.auth("h", "u", "p")
    assert r.status_code == status
    if body is None:
        assert r.json()["error"] == "access_denied"
        assert r.json()["error_description"]["name"] == "ValueError"
    else:
        assert r.json() == body


def test_missing_auth_handler(client: FlexTestClient) -> None:
    r = client.auth("nobody", "u", "p")
    assert (r.status_code, r.json()) == (
        401,
        {
            "error": "server_error",
            "error_description": "The request invoked a method that is not implemented",
        },
    )
