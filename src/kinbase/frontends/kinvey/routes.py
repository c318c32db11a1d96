"""The Kinvey API as data: every route with its handler and the credentials it accepts.

Read by the router (:mod:`.router`), the OpenAPI document (:mod:`.openapi`) and the tests that
walk every endpoint. A path below a namespace that no route serves answers 404 with the
not-found name of that namespace (:data:`NOT_FOUND`), a name the SDKs map to their NotFoundError.
"""

from __future__ import annotations

from kinbase.core.flex.chain import CHAIN_SEGMENT
from kinbase.frontends.kinvey import (
    appconfig,
    appdata,
    file_bytes,
    files,
    groups,
    handshake,
    mfa,
    oauth,
    openapi,
    push,
    rpc,
    users,
)
from kinbase.frontends.kinvey.auth import ANY, APP, MASTER, USER, AuthKind
from kinbase.frontends.kinvey.router import Route

__all__ = ["NAMESPACES", "NESTED_NAMESPACES", "NOT_FOUND", "ROUTES"]

DATA: tuple[AuthKind, ...] = ("user", "master")
"""Session or master secret: what the SDKs send to collections (``SessionOrMaster``)."""

NOT_FOUND: dict[str, str] = {
    "appdata": "EntityNotFound",
    "user": "UserNotFound",
    "group": "EntityNotFound",
    "roles": "EntityNotFound",
    "rpc": "EntityNotFound",
    "blob": "BlobNotFound",
    "push": "EntityNotFound",
    "stream": "EntityNotFound",
    "oauth": "EntityNotFound",
    "kinvey": "EntityNotFound",
    "appconfig": "EntityNotFound",
    CHAIN_SEGMENT: "EntityNotFound",
}
"""The error name of an unknown path, per namespace (each maps to NotFoundError in the SDKs)."""

NAMESPACES = tuple(NOT_FOUND)
"""The first path segments that belong to Kinvey (``/blob``, ``/push``, ``/stream`` and the auth
host's ``/oauth`` are reserved before they are served: they never reach Kinto's redirects)."""

NESTED_NAMESPACES = (("v2", "oauth"), ("v3", "oauth"))
"""Two-segment prefixes of Kinvey's auth host (``/v3/oauth/...``), which Kinto's ``/v<n>`` would
otherwise claim."""

_A = "/appdata/{app_key}/{collection}"
_U = "/user/{app_key}"
_R = "/rpc/{app_key}"
_B = "/blob/{app_key}"
_C = "/appconfig/{app_key}"
_AUTH = f"{_U}/{{user_id}}/authenticators"

OAUTH_PREFIXES = {"": "", "/v2": "_v2", "/v3": "_v3"}
"""The auth host's path prefixes (the SDKs default to ``/v3``; the token refresh is unversioned)
and the suffix of their routes' names."""


def _route(
    method: str,
    path: str,
    handler: object,
    accepts: tuple[AuthKind, ...] | None,
    *,
    page: bool = False,
    suffix: str = "",
) -> Route:
    module = getattr(handler, "__module__", "").rpartition(".")[2]
    name = f"{module}_{getattr(handler, '__name__', 'handler')}{suffix}"
    return Route(method, path, handler, name, accepts, page=page)  # type: ignore[arg-type]


ROUTES: tuple[Route, ...] = (
    _route("GET", "/appdata", handshake.ping, None, page=True),
    _route("GET", "/appdata/{app_key}", handshake.handshake, ANY),
    _route("GET", "/kinvey/__api__", openapi.openapi, None, page=True),
    # -- collections (through the pipeline) ---------------------------------------------------
    _route("GET", _A, appdata.collection_get, DATA),
    _route("POST", _A, appdata.collection_post, DATA),
    _route("DELETE", _A, appdata.collection_delete, DATA),
    _route("GET", f"{_A}/_count", appdata.count, DATA),
    _route("POST", f"{_A}/_group", appdata.group, DATA),
    _route("GET", f"{_A}/_deltaset", appdata.deltaset, DATA),
    _route("GET", f"{_A}/{{entity_id}}", appdata.entity_get, DATA),
    _route("PUT", f"{_A}/{{entity_id}}", appdata.entity_put, DATA),
    _route("DELETE", f"{_A}/{{entity_id}}", appdata.entity_delete, DATA),
    _route("POST", f"{_R}/custom/{{endpoint}}", appdata.custom_endpoint, DATA),
    _route("GET", f"{_A}/_settings", appdata.settings_get, MASTER),
    _route("PUT", f"{_A}/_settings", appdata.settings_put, MASTER),
    # -- users --------------------------------------------------------------------------------
    _route("POST", _U, users.signup, APP),
    _route("GET", _U, users.users_get, DATA),
    _route("POST", f"{_U}/login", users.login, APP),
    _route("POST", f"{_U}/_logout", users.logout, USER),
    _route("GET", f"{_U}/_me", users.me, USER),
    _route("GET", f"{_U}/_count", users.count, DATA),
    _route("POST", f"{_U}/_lookup", users.lookup, DATA),
    _route("GET", f"{_U}/{{user_id}}", users.user_get, DATA),
    _route("PUT", f"{_U}/{{user_id}}", users.user_put, DATA),
    _route("DELETE", f"{_U}/{{user_id}}", users.user_delete, DATA),
    _route("POST", f"{_U}/{{user_id}}/_restore", users.restore, MASTER),
    _route("DELETE", f"{_U}/{{user_id}}/tokens", users.tokens_delete, DATA),
    _route("GET", f"{_U}/{{user_id}}/roles", users.roles_of, MASTER),
    # -- multi-factor authentication (API version 6) ------------------------------------------
    _route("POST", f"{_U}/mfa/challenge", mfa.challenge, None),
    _route("POST", f"{_U}/mfa/complete", mfa.complete, None),
    _route("POST", _AUTH, mfa.authenticator_create, None),
    _route("GET", _AUTH, mfa.authenticators_get, DATA),
    _route("POST", f"{_AUTH}/{{authenticator_id}}/verify", mfa.authenticator_verify, None),
    _route("DELETE", f"{_AUTH}/{{authenticator_id}}", mfa.authenticator_delete, DATA),
    _route("GET", f"{_U}/{{user_id}}/recovery-codes", mfa.recovery_codes_get, DATA),
    _route("POST", f"{_U}/{{user_id}}/recovery-codes", mfa.recovery_codes_post, DATA),
    _route("PUT", f"{_U}/{{user_id}}/roles/{{role_id}}", users.role_assign, MASTER),
    _route("DELETE", f"{_U}/{{user_id}}/roles/{{role_id}}", users.role_remove, MASTER),
    # -- groups and roles ---------------------------------------------------------------------
    _route("POST", "/group/{app_key}", groups.group_post, DATA),
    _route("GET", "/group/{app_key}/{group_id}", groups.group_get, DATA),
    _route("PUT", "/group/{app_key}/{group_id}", groups.group_put, DATA),
    _route("DELETE", "/group/{app_key}/{group_id}", groups.group_delete, DATA),
    _route("POST", "/roles/{app_key}", groups.role_post, DATA),
    _route("GET", "/roles/{app_key}", groups.roles_get, DATA),
    _route("GET", "/roles/{app_key}/{role_id}", groups.role_get, DATA),
    _route("PUT", "/roles/{app_key}/{role_id}", groups.role_put, DATA),
    _route("DELETE", "/roles/{app_key}/{role_id}", groups.role_delete, DATA),
    _route("GET", "/roles/{app_key}/{role_id}/membership", groups.role_members, DATA),
    # -- files (metadata in the envelope; the signed URLs carry their own credential) ----------
    _route("POST", _B, files.file_post, DATA),
    _route("GET", _B, files.files_find, DATA),
    _route("GET", f"{_B}/_count", files.files_count, DATA),
    _route("GET", f"{_B}/{{file_id}}", files.file_get, DATA),
    _route("PUT", f"{_B}/{{file_id}}", files.file_put, DATA),
    _route("DELETE", f"{_B}/{{file_id}}", files.file_delete, DATA),
    _route("PUT", f"{_B}/{{file_id}}/_upload", file_bytes.upload, None, page=True),
    _route("POST", f"{_B}/{{file_id}}/_upload", file_bytes.upload_post, None, page=True),
    _route("GET", f"{_B}/{{file_id}}/_download", file_bytes.download, None, page=True),
    _route("DELETE", f"{_B}/{{file_id}}/_remove", file_bytes.remove, None, page=True),
    _route("GET", f"{_B}/upload-loc/{{name}}", files.upload_loc, DATA),
    _route("GET", f"{_B}/download-loc/{{name}}", files.download_loc, DATA),
    _route("GET", f"{_B}/remove-loc/{{name}}", files.remove_loc, DATA),
    # -- rpc ----------------------------------------------------------------------------------
    _route("POST", f"{_R}/check-username-exists", rpc.check_username, APP),
    _route("POST", f"{_R}/user-forgot-username", rpc.forgot_username, APP),
    _route("POST", f"{_R}/remove-collection", rpc.remove_collection, MASTER),
    _route("POST", f"{_R}/{{login}}/user-password-reset-initiate", rpc.password_reset_initiate, APP),
    _route("POST", f"{_R}/{{login}}/user-email-verification-initiate", rpc.email_verification_initiate, ANY),
    _route("GET", f"{_R}/reset-password", rpc.reset_page, None, page=True),
    _route("POST", f"{_R}/reset-password", rpc.reset_submit, None, page=True),
    _route("GET", f"{_R}/verify-email", rpc.verify_page, None, page=True),
    _route("POST", f"{_R}/send-email", rpc.send_email, MASTER),
    # -- push ---------------------------------------------------------------------------------
    _route("POST", "/push/{app_key}/register-device", push.register_device, USER),
    _route("POST", "/push/{app_key}/unregister-device", push.unregister_device, USER),
    _route("POST", "/push/{app_key}/sendMessage", push.send_message, MASTER),
    _route("POST", "/push/{app_key}/sendBroadcast", push.send_broadcast, MASTER),
    # -- app configuration and schedules (kinbase's own, master secret) -----------------------
    _route("GET", _C, appconfig.get, MASTER),
    _route("PUT", _C, appconfig.put, MASTER),
    _route("GET", f"{_C}/schedules", appconfig.schedules, MASTER),
    _route("GET", f"{_C}/runs", appconfig.runs, MASTER),
    # -- the auth host (Mobile Identity Connect) ----------------------------------------------
    *(
        _route(method, f"{prefix}/oauth/{name}", handler, None, page=True, suffix=suffix)
        for prefix, suffix in OAUTH_PREFIXES.items()
        for method, name, handler in (
            ("GET", "auth", oauth.authorize_page),
            ("POST", "auth", oauth.authorize_api),
            ("POST", "login", oauth.login_submit),
            ("POST", "token", oauth.token),
        )
    ),
)
