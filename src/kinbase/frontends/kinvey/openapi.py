"""``GET /kinvey/__api__``: an OpenAPI 3.1 document of the Kinvey API, built from the route table.

Every route of :data:`~.routes.ROUTES` is an operation (its ``name`` the ``operationId``); what
the table does not say (bodies, responses, parameters, links) is in :data:`OPERATIONS`, and a test
holds the two to the same set. Good enough to generate a client and to fuzz the server with
(``schemathesis``): every request body and response has a schema, every error is ``Error``, the
security schemes are the four credentials, and creations link to the reads and writes of what
they created.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kinbase import __version__
from kinbase.core.services import Core
from kinbase.frontends.kinvey.auth import AuthKind
from kinbase.frontends.kinvey.openapi_schemas import COMPONENTS, ref
from kinbase.frontends.kinvey.router import Route
from kinbase.http.request import HttpRequest
from kinbase.http.response import HttpResponse, json_response

__all__ = ["OPERATIONS", "Op", "document", "openapi"]

JSON = "application/json"
HTML = "text/html"
FORM = "application/x-www-form-urlencoded"
OCTETS = "application/octet-stream"
TOML = "application/toml"
ANY_MEDIA = "*/*"
"""The file's own media type (its ``mimeType``)."""
_LIST = ("query", "sort", "limit", "skip", "fields")


@dataclass(frozen=True, slots=True)
class Op:
    """What the OpenAPI document says about one route beyond the table."""

    summary: str
    tag: str
    response: str | None = None
    status: int = 200
    body: str | None = None
    query: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    links: dict[str, tuple[str, str]] = field(default_factory=dict)
    """link name → (operationId, the path parameter the created ``_id`` fills)."""
    media: str = JSON
    extra: dict[int, str] = field(default_factory=dict)
    """Other success statuses → schema name (in ``media``; ``""``: no body)."""
    body_media: str | None = None
    """The request body's media type when it is not JSON (or a form, for HTML pages)."""
    also: tuple[str, ...] = ()
    """Other media types of the body and the answer (the app configuration as TOML)."""
    security: tuple[str, ...] | None = None
    """The security schemes, when the route checks its credentials itself."""
    error: str = "Error"
    """The schema of a JSON error."""


_NO_CONTENT_BEFORE_V2 = {204: ""}
"""Deletes answer 204 without a body before API version 2, ``{"count": n}`` from 2."""


def _crud(kind: str, prefix: str, id_param: str) -> dict[str, tuple[str, str]]:
    return {
        f"Get{kind}": (f"{prefix}_get", id_param),
        f"Update{kind}": (f"{prefix}_put", id_param),
        f"Delete{kind}": (f"{prefix}_delete", id_param),
    }


OPERATIONS: dict[str, Op] = {
    "handshake_ping": Op("Ping the server (no credentials)", "Handshake", "Handshake"),
    "handshake_handshake": Op("The app handshake", "Handshake", "Handshake"),
    "openapi_openapi": Op("This document", "Handshake", "Any"),
    # -- collections --------------------------------------------------------------------------
    "appdata_collection_get": Op(
        "List the entities the caller may read",
        "Data",
        "Entities",
        query=_LIST,
        headers=("items_count", "skip_bl"),
    ),
    "appdata_collection_post": Op(
        "Create an entity (an array: several, API version 5 and later)",
        "Data",
        "Entity",
        201,
        "EntityInput",
        headers=("skip_bl",),
        links=_crud("Entity", "appdata_entity", "entity_id"),
        extra={207: "MultiInsert"},
    ),
    "appdata_collection_delete": Op(
        "Delete the entities matching the query",
        "Data",
        "Count",
        query=("query",),
        headers=("skip_bl",),
        extra=_NO_CONTENT_BEFORE_V2,
    ),
    "appdata_count": Op(
        "Count the matching entities", "Data", "Count", query=("query",), headers=("skip_bl",)
    ),
    "appdata_group": Op(
        "Aggregate (_group)", "Data", "GroupResult", body="GroupRequest", headers=("skip_bl",)
    ),
    "appdata_deltaset": Op(
        "What changed since a read (delta set)",
        "Data",
        "DeltaSet",
        query=("since", "query", "sort", "fields"),
    ),
    "appdata_entity_get": Op("One entity", "Data", "Entity", headers=("skip_bl",)),
    "appdata_entity_put": Op(
        "Replace an entity, or create it with this id",
        "Data",
        "Entity",
        body="EntityInput",
        headers=("skip_bl",),
        extra={201: "Entity"},
    ),
    "appdata_entity_delete": Op(
        "Delete an entity", "Data", "Count", headers=("skip_bl",), extra=_NO_CONTENT_BEFORE_V2
    ),
    "appdata_custom_endpoint": Op("Run a custom endpoint", "Business logic", "Any", body="Any"),
    "appdata_settings_get": Op("A collection's settings", "Collections", "CollectionSettings"),
    "appdata_settings_put": Op(
        "Configure delta set and the permission level",
        "Collections",
        "CollectionSettings",
        body="CollectionSettings",
    ),
    # -- users --------------------------------------------------------------------------------
    "users_signup": Op(
        "Sign up", "Users", "User", 201, "UserInput", links=_crud("User", "users_user", "user_id")
    ),
    "users_users_get": Op("List users", "Users", "Users", query=_LIST, headers=("items_count",)),
    "users_login": Op(
        "Log in (the user with _kmd.authtoken, or the MFA challenge)", "Users", "LoginAnswer", body="Login"
    ),
    "users_logout": Op("Log out (ends this session)", "Users", status=204),
    "users_me": Op("The session's user", "Users", "User"),
    "users_count": Op("Count users", "Users", "Count", query=("query",)),
    "users_lookup": Op("Find users by a filter", "Users", "Users", body="Filter"),
    "users_user_get": Op("One user", "Users", "User"),
    "users_user_put": Op("Update a user", "Users", "User", body="UserInput"),
    "users_user_delete": Op(
        "Disable (or, with hard=true, delete) a user", "Users", status=204, query=("hard", "soft")
    ),
    "users_restore": Op("Re-enable a disabled user", "Users", status=204),
    "users_tokens_delete": Op("End every session of a user", "Users", status=204),
    "users_roles_of": Op("The roles of a user", "Roles", "Memberships"),
    "users_role_assign": Op("Give a user a role", "Roles", status=204),
    "users_role_remove": Op("Take a role from a user", "Roles", status=204),
    # -- multi-factor authentication ----------------------------------------------------------
    "mfa_challenge": Op(
        "Choose the authenticator of an MFA login",
        "MFA",
        status=204,
        body="ChallengeInput",
        security=("mfaSession",),
    ),
    "mfa_complete": Op(
        "Finish an MFA login with a code", "MFA", "MfaComplete", body="MfaCode", security=("mfaSession",)
    ),
    "mfa_authenticator_create": Op(
        "Create a TOTP authenticator (unverified)",
        "MFA",
        "Authenticator",
        201,
        "AuthenticatorInput",
        security=("session", "mfaSession", "masterSecret"),
    ),
    "mfa_authenticators_get": Op("The user's verified authenticators", "MFA", "Authenticators"),
    "mfa_authenticator_verify": Op(
        "Verify an authenticator with a first code (the first one issues recovery codes)",
        "MFA",
        "RecoveryCodes",
        body="MfaCode",
        security=("session", "mfaSession", "masterSecret"),
    ),
    "mfa_authenticator_delete": Op("Remove an authenticator", "MFA", status=204),
    "mfa_recovery_codes_get": Op("How many recovery codes are left", "MFA", "RecoveryCodes"),
    "mfa_recovery_codes_post": Op("Replace the recovery codes", "MFA", "RecoveryCodes"),
    # -- groups and roles ---------------------------------------------------------------------
    "groups_group_post": Op(
        "Create a group",
        "Groups",
        "Entity",
        201,
        "GroupInput",
        links=_crud("Group", "groups_group", "group_id"),
    ),
    "groups_group_get": Op("One group", "Groups", "Entity"),
    "groups_group_put": Op(
        "Replace (or create) a group", "Groups", "Entity", body="GroupInput", extra={201: "Entity"}
    ),
    "groups_group_delete": Op("Delete a group", "Groups", "Count"),
    "groups_role_post": Op(
        "Create a role", "Roles", "Entity", 201, "RoleInput", links=_crud("Role", "groups_role", "role_id")
    ),
    "groups_roles_get": Op("List roles", "Roles", "Roles"),
    "groups_role_get": Op("One role", "Roles", "Entity"),
    "groups_role_put": Op(
        "Replace (or create) a role", "Roles", "Entity", body="RoleInput", extra={201: "Entity"}
    ),
    "groups_role_delete": Op("Delete a role", "Roles", "Count"),
    "groups_role_members": Op("The users of a role", "Roles", "Memberships"),
    # -- files --------------------------------------------------------------------------------
    "files_file_post": Op(
        "Create a file's metadata; the answer carries _uploadURL",
        "Files",
        "FileUpload",
        201,
        "FileInput",
        headers=("content_type",),
        links={
            "GetFile": ("files_file_get", "file_id"),
            "UpdateFile": ("files_file_put", "file_id"),
            "DeleteFile": ("files_file_delete", "file_id"),
        },
    ),
    "files_files_find": Op(
        "List the files the caller may read, with their _downloadURL",
        "Files",
        "Files",
        query=(*_LIST, "tls", "ttl_in_seconds"),
        headers=("items_count",),
    ),
    "files_files_count": Op("Count the matching files", "Files", "Count", query=("query",)),
    "files_file_get": Op(
        "A file's metadata with a signed _downloadURL (302 to it before API version 2)",
        "Files",
        "File",
        query=("tls", "ttl_in_seconds"),
        extra={302: ""},
    ),
    "files_file_put": Op(
        "Replace (or create) a file's metadata; a new _uploadURL",
        "Files",
        "FileUpload",
        body="FileInput",
        headers=("content_type",),
        extra={201: "FileUpload"},
    ),
    "files_file_delete": Op(
        "Delete a file (metadata and bytes)", "Files", "Count", extra=_NO_CONTENT_BEFORE_V2
    ),
    "file_bytes_upload": Op(
        "Upload bytes (resumable: Content-Range chunks, 308 with Range until complete)",
        "Files",
        "File",
        body="Bytes",
        query=("link_token",),
        headers=("content_range",),
        body_media=OCTETS,
        extra={308: ""},
    ),
    "file_bytes_upload_post": Op(
        "Upload the whole file in one request",
        "Files",
        "File",
        body="Bytes",
        query=("link_token",),
        body_media=OCTETS,
    ),
    "file_bytes_download": Op(
        "Download the bytes (Range, ETag)",
        "Files",
        "Bytes",
        query=("link_token",),
        media=ANY_MEDIA,
        extra={206: "Bytes"},
    ),
    "file_bytes_remove": Op(
        "Delete the file of a remove-loc URL", "Files", status=204, query=("link_token",)
    ),
    "files_upload_loc": Op("Legacy: a URL to PUT a file of this name to", "Files", "LegacyURL"),
    "files_download_loc": Op(
        "Legacy: the download URL of a file of this name (302 to it before API version 2)",
        "Files",
        "LegacyURL",
        extra={302: ""},
    ),
    "files_remove_loc": Op("Legacy: a URL that deletes a file of this name", "Files", "LegacyURL"),
    # -- rpc ----------------------------------------------------------------------------------
    "rpc_check_username": Op("Whether a username is taken", "Users", "UsernameExists", body="UsernameQuery"),
    "rpc_forgot_username": Op("Mail the usernames of an address", "Users", status=204, body="EmailQuery"),
    "rpc_remove_collection": Op(
        "Drop a collection", "Collections", "Count", body="RemoveCollection", headers=("delete_collection",)
    ),
    "rpc_password_reset_initiate": Op("Mail a password reset link", "Users", status=204),
    "rpc_email_verification_initiate": Op("Mail an address verification link", "Users", status=204),
    "rpc_reset_page": Op("The password reset form (HTML)", "Pages", "Any", query=("token",), media=HTML),
    "rpc_reset_submit": Op("Set the new password (HTML form post)", "Pages", "Any", body="Any", media=HTML),
    "rpc_verify_page": Op("Confirm an address (HTML)", "Pages", "Any", query=("token",), media=HTML),
    "rpc_send_email": Op(
        "Send an email (the Flex email module)", "Business logic", "MailResult", body="Email"
    ),
    "push_register_device": Op(
        "Register a push device for the session's user", "Push", status=204, body="Device"
    ),
    "push_unregister_device": Op(
        "Forget a push device of the session's user", "Push", status=204, body="Device"
    ),
    "push_send_message": Op("Push a message to users' devices", "Push", "PushReport", body="PushMessage"),
    "push_send_broadcast": Op("Push a message to every device", "Push", "PushReport", body="PushBroadcast"),
    # -- app configuration and schedules ------------------------------------------------------
    "appconfig_get": Op(
        "The app configuration in force (JSON, or TOML)",
        "App configuration",
        "AppConfig",
        query=("format",),
        also=(TOML,),
    ),
    "appconfig_put": Op(
        "Apply a whole app configuration (TOML or JSON); dry_run=true changes nothing",
        "App configuration",
        "ApplyResult",
        body="AppConfig",
        query=("dry_run",),
        also=(TOML,),
    ),
    "appconfig_schedules": Op("The schedules and their next run", "App configuration", "Schedules"),
    "appconfig_runs": Op(
        "The latest scheduled runs, newest first",
        "App configuration",
        "ScheduleRuns",
        query=("schedule", "limit"),
    ),
}
for _suffix in ("", "_v2", "_v3"):
    OPERATIONS |= {
        f"oauth_authorize_page{_suffix}": Op(
            "The login page (HTML)",
            "Auth host",
            "Any",
            query=("client_id", "redirect_uri", "response_type", "state"),
            media=HTML,
            # A valid client and redirect_uri but a wrong request: 302 to redirect_uri?error=…
            extra={302: ""},
        ),
        f"oauth_authorize_api{_suffix}": Op(
            "The URL of the login form (legacy AuthorizationCodeAPI flow)",
            "Auth host",
            "TempLogin",
            body="AuthorizeForm",
            error="OAuthError",
            body_media=FORM,
        ),
        f"oauth_login_submit{_suffix}": Op(
            "Post the login form: 302 to redirect_uri?code=… (or ?error=…)",
            "Auth host",
            status=302,
            body="LoginForm",
            query=("state",),
            media=HTML,
        ),
        f"oauth_token{_suffix}": Op(
            "Exchange a code, a password or a refresh token for tokens",
            "Auth host",
            "TokenPair",
            body="TokenForm",
            security=("oauthClient",),
            error="OAuthError",
            body_media=FORM,
        ),
    }

_SECURITY: dict[str, str] = {"app": "appSecret", "master": "masterSecret", "user": "session"}


def _security(accepts: tuple[AuthKind, ...] | None, op: Op) -> list[dict[str, list[str]]]:
    if op.security is not None:
        return [{name: []} for name in op.security]
    if accepts is None:
        return []
    schemes: list[dict[str, list[str]]] = [{_SECURITY[kind]: []} for kind in accepts]
    if "user" in accepts:
        schemes.append({"userPassword": []})
    return schemes


def _content(schema: str, media: str) -> dict[str, Any]:
    return {media: {"schema": ref(schema)}}


def _operation(route: Route, op: Op) -> dict[str, Any]:
    params = [ref(p.strip("{}"), "parameters") for p in route.segments if p.startswith("{")]
    params += [ref(name, "parameters") for name in op.query]
    if not route.page:
        params += [ref(name, "parameters") for name in ("api_version", *op.headers)]
    success: dict[str, Any] = {"description": op.summary}
    if op.response is not None:
        success["content"] = _content(op.response, op.media)
        for media in op.also:
            success["content"][media] = {"schema": {"type": "string"}}
    if op.links:
        success["links"] = {
            name: {
                "operationId": target,
                "parameters": {
                    **{
                        p.strip("{}"): f"$request.path.{p.strip('{}')}"
                        for p in route.segments
                        if p.startswith("{")
                    },
                    id_param: "$response.body#/_id",
                },
            }
            for name, (target, id_param) in op.links.items()
        }
    responses: dict[str, Any] = {str(op.status): success}
    for status, schema in op.extra.items():
        responses[str(status)] = {"description": f"{op.summary} ({status})"}
        if schema:
            responses[str(status)]["content"] = _content(schema, op.media)
    error_content = _content(op.error, JSON)
    if route.page and op.media == HTML:
        # A page answers its errors as a page; the checks at the edge (a header block over its
        # limit, a control character in the path) answer them in Kinvey's JSON before any route.
        error_content = {**_content("Any", HTML), **error_content}
    error = {"description": "An error", "content": error_content}
    responses["4XX"] = error
    responses["5XX"] = error
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": params,
        "responses": responses,
        "security": _security(route.accepts, op),
    }
    if op.body is not None:
        media = op.body_media or (FORM if op.media == HTML else JSON)
        operation["requestBody"] = {"required": op.body != "Any", "content": _content(op.body, media)}
        for also in op.also:
            operation["requestBody"]["content"][also] = {"schema": {"type": "string"}}
    return operation


def document(routes: tuple[Route, ...], server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, OPERATIONS[route.name])
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kinbase: Kinvey REST API",
            "version": __version__,
            "description": (
                "The Kinvey REST API as kinbase serves it. Errors are `{error, description, debug}`; "
                "see docs/kinvey.md for what differs from Kinvey."
            ),
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": COMPONENTS,
    }


async def openapi(core: Core, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """The document, for this server's base URL."""
    # The route table names this handler, so it is read when the document is asked for.
    from kinbase.frontends.kinvey.routes import ROUTES

    return json_response(document(ROUTES, request.origin), headers={"Cache-Control": "max-age=60"})
