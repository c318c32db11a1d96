"""The Kinvey REST API front-end: parse a Kinvey request, call the core, render Kinvey's format."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kinbase.frontends.kinvey import appdata, groups, rpc, users
from kinbase.frontends.kinvey.endpoint import not_found, preflight
from kinbase.frontends.kinvey.handshake import handshake, ping

__all__ = ["NAMESPACES", "routes"]

NAMESPACES = ("appdata", "user", "group", "roles", "blob", "rpc", "push")

Endpoint = Callable[[Request], Awaitable[Response]]


def route(path: str, endpoint: Endpoint, methods: list[str]) -> list[BaseRoute]:
    """The route with and without a trailing slash (Kinvey clients send both; no redirect)."""
    return [Route(path, endpoint, methods=methods), Route(path + "/", endpoint, methods=methods)]


def _table() -> list[tuple[str, Endpoint, str]]:
    """(path, endpoint, method), most specific paths first."""
    a = "/appdata/{app_key}/{collection}"
    u = "/user/{app_key}"
    r = "/rpc/{app_key}"
    return [
        ("/appdata/{app_key}", handshake, "GET"),
        (f"{a}/_count", appdata.count, "GET"),
        (f"{a}/_group", appdata.group, "POST"),
        (f"{a}/_deltaset", appdata.deltaset, "GET"),
        (f"{a}/_settings", appdata.settings_get, "GET"),
        (f"{a}/_settings", appdata.settings_put, "PUT"),
        (a, appdata.collection_get, "GET"),
        (a, appdata.collection_post, "POST"),
        (a, appdata.collection_delete, "DELETE"),
        (f"{a}/{{entity_id}}", appdata.entity_get, "GET"),
        (f"{a}/{{entity_id}}", appdata.entity_put, "PUT"),
        (f"{a}/{{entity_id}}", appdata.entity_delete, "DELETE"),
        (u, users.signup, "POST"),
        (u, users.users_get, "GET"),
        (f"{u}/login", users.login, "POST"),
        (f"{u}/_logout", users.logout, "POST"),
        (f"{u}/_me", users.me, "GET"),
        (f"{u}/_count", users.count, "GET"),
        (f"{u}/_lookup", users.lookup, "POST"),
        (f"{u}/{{user_id}}", users.user_get, "GET"),
        (f"{u}/{{user_id}}", users.user_put, "PUT"),
        (f"{u}/{{user_id}}", users.user_delete, "DELETE"),
        (f"{u}/{{user_id}}/_restore", users.restore, "POST"),
        (f"{u}/{{user_id}}/tokens", users.tokens_delete, "DELETE"),
        (f"{u}/{{user_id}}/roles", users.roles_of, "GET"),
        (f"{u}/{{user_id}}/roles/{{role_id}}", users.role_assign, "PUT"),
        (f"{u}/{{user_id}}/roles/{{role_id}}", users.role_remove, "DELETE"),
        ("/group/{app_key}", groups.group_post, "POST"),
        ("/group/{app_key}/{group_id}", groups.group_get, "GET"),
        ("/group/{app_key}/{group_id}", groups.group_put, "PUT"),
        ("/group/{app_key}/{group_id}", groups.group_delete, "DELETE"),
        ("/roles/{app_key}", groups.role_post, "POST"),
        ("/roles/{app_key}", groups.roles_get, "GET"),
        ("/roles/{app_key}/{role_id}/membership", groups.role_members, "GET"),
        ("/roles/{app_key}/{role_id}", groups.role_get, "GET"),
        ("/roles/{app_key}/{role_id}", groups.role_put, "PUT"),
        ("/roles/{app_key}/{role_id}", groups.role_delete, "DELETE"),
        (f"{r}/check-username-exists", rpc.check_username, "POST"),
        (f"{r}/user-forgot-username", rpc.forgot_username, "POST"),
        (f"{r}/remove-collection", rpc.remove_collection, "POST"),
        (f"{r}/reset-password", rpc.reset_page, "GET"),
        (f"{r}/reset-password", rpc.reset_submit, "POST"),
        (f"{r}/verify-email", rpc.verify_page, "GET"),
        (f"{r}/{{login}}/user-password-reset-initiate", rpc.password_reset_initiate, "POST"),
        (f"{r}/{{login}}/user-email-verification-initiate", rpc.email_verification_initiate, "POST"),
    ]


def routes() -> list[BaseRoute]:
    """Every Kinvey route, most specific first, then a preflight and a Kinvey-style 404 per namespace."""
    table: list[BaseRoute] = [
        Route("/appdata", ping, methods=["GET"]),
        Route("/appdata/", ping, methods=["GET"]),
    ]
    for path, endpoint, method in _table():
        table.extend(route(path, endpoint, [method]))
    for namespace in NAMESPACES:
        table.append(Route(f"/{namespace}/{{rest:path}}", preflight, methods=["OPTIONS"]))
        table.append(Route(f"/{namespace}", preflight, methods=["OPTIONS"]))
        table.append(
            Route(f"/{namespace}/{{rest:path}}", not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
        )
    return table
